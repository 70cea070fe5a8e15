//! The read tables beside the PostgreSQL journal: accounts, holdings, registry transactions,
//! trades and the audit trail as plain SQL tables, for operators, replicas and analysts' SQL.
//!
//! They are a projection of the journal, never a source: each journal batch updates them in the
//! same SQL transaction (so a reader never sees one without the other), and every start rebuilds
//! them from the replayed state.

use std::collections::BTreeSet;

use ets_market::Market;
use ets_pg::quote;
use postgres::{Client, Transaction};

use ets_access::Audit;

/// Where the market stood before a batch; the read tables take in what came after.
#[derive(Clone, Copy, Debug)]
pub struct Marks {
    /// The registry's next transaction sequence number.
    pub seq: u64,
    /// Trades recorded by the exchange.
    pub trades: usize,
    /// Accounts opened.
    pub accounts: usize,
}

impl Marks {
    /// Before anything: a projection from here is the whole state.
    pub const START: Marks = Marks {
        seq: 1,
        trades: 0,
        accounts: 0,
    };

    pub fn of(market: &Market) -> Marks {
        Marks {
            seq: market.registry().next_seq(),
            trades: market.exchange().map_or(0, |e| e.trades().len()),
            accounts: market.registry().accounts().len(),
        }
    }
}

/// Creates the read tables of `schema` if they are absent.
pub fn create(client: &mut Client, schema: &str) -> Result<(), postgres::Error> {
    let q = quote(schema);
    client.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {q}.accounts (
             id integer PRIMARY KEY, number text NOT NULL, kind text NOT NULL,
             holder text NOT NULL, status text NOT NULL, opened_on text NOT NULL);
         CREATE TABLE IF NOT EXISTS {q}.holdings (
             account integer NOT NULL, class text NOT NULL, quantity_t bigint NOT NULL,
             PRIMARY KEY (account, class));
         CREATE TABLE IF NOT EXISTS {q}.transactions (
             seq bigint PRIMARY KEY, kind text NOT NULL, class text NOT NULL,
             quantity_t bigint NOT NULL, from_account integer, to_account integer NOT NULL);
         CREATE TABLE IF NOT EXISTS {q}.trades (
             id bigint PRIMARY KEY, date text NOT NULL, minute integer NOT NULL,
             class text NOT NULL, price_fen bigint NOT NULL, quantity_t bigint NOT NULL,
             buyer integer NOT NULL, seller integer NOT NULL, kind text NOT NULL);
         CREATE TABLE IF NOT EXISTS {q}.audit (
             journal_seq bigint PRIMARY KEY, at_ms bigint NOT NULL, who text NOT NULL,
             role text, from_addr text NOT NULL, method text NOT NULL, path text NOT NULL,
             status integer NOT NULL, code text);
         ALTER TABLE {q}.audit ADD COLUMN IF NOT EXISTS requests bigint NOT NULL DEFAULT 1;"
    ))
}

fn tag<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// Empties the tables and fills them from the state (the audit table from the journal's tail
/// held in memory is not rebuilt: its rows stay, keyed by journal sequence number).
pub fn rebuild(client: &mut Client, schema: &str, market: &Market) -> Result<(), postgres::Error> {
    let q = quote(schema);
    let mut tx = client.transaction()?;
    tx.batch_execute(&format!(
        "TRUNCATE {q}.accounts, {q}.holdings, {q}.transactions, {q}.trades"
    ))?;
    project(&mut tx, schema, market, Marks::START, &[], 0)?;
    tx.commit()
}

/// Brings the tables up to date after a batch that started at `from`: the registry transactions,
/// trades and accounts since, the holdings of every account those touched, and the batch's audit
/// entries (journal sequence numbers from `first_seq`).
pub fn project(
    tx: &mut Transaction<'_>,
    schema: &str,
    market: &Market,
    from: Marks,
    audits: &[(u64, Audit)],
    first_seq: u64,
) -> Result<(), postgres::Error> {
    let q = quote(schema);
    let registry = market.registry();
    let mut touched = BTreeSet::new();

    // Sequence numbers run from 1 without gaps: transaction `seq` is at index `seq - 1`.
    let all = registry.transactions();
    let txs: Vec<_> = all[(from.seq.max(1) as usize - 1).min(all.len())..]
        .iter()
        .collect();
    if !txs.is_empty() {
        let seq: Vec<i64> = txs.iter().map(|t| t.seq as i64).collect();
        let kind: Vec<String> = txs.iter().map(|t| tag(&t.kind)).collect();
        let class: Vec<String> = txs.iter().map(|t| t.class.to_string()).collect();
        let qty: Vec<i64> = txs.iter().map(|t| t.quantity as i64).collect();
        let from: Vec<Option<i32>> = txs.iter().map(|t| t.from.map(|a| a.0 as i32)).collect();
        let to: Vec<i32> = txs.iter().map(|t| t.to.0 as i32).collect();
        tx.execute(
            &format!(
                "INSERT INTO {q}.transactions SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::integer[], $6::integer[])"
            ),
            &[&seq, &kind, &class, &qty, &from, &to],
        )?;
        for t in &txs {
            touched.extend(t.from);
            touched.insert(t.to);
        }
    }

    if let Some(exchange) = market.exchange() {
        let trades = &exchange.trades()[from.trades.min(exchange.trades().len())..];
        if !trades.is_empty() {
            let id: Vec<i64> = trades.iter().map(|t| t.id as i64).collect();
            let date: Vec<String> = trades.iter().map(|t| t.date.to_string()).collect();
            let minute: Vec<i32> = trades.iter().map(|t| i32::from(t.minute)).collect();
            let class: Vec<String> = trades.iter().map(|t| t.class.to_string()).collect();
            let price: Vec<i64> = trades.iter().map(|t| t.price).collect();
            let qty: Vec<i64> = trades.iter().map(|t| t.qty as i64).collect();
            let buyer: Vec<i32> = trades.iter().map(|t| t.buyer.0 as i32).collect();
            let seller: Vec<i32> = trades.iter().map(|t| t.seller.0 as i32).collect();
            let kind: Vec<String> = trades.iter().map(|t| tag(&t.kind)).collect();
            tx.execute(
                &format!(
                    "INSERT INTO {q}.trades SELECT * FROM unnest($1::bigint[], $2::text[], $3::integer[], $4::text[], $5::bigint[], $6::bigint[], $7::integer[], $8::integer[], $9::text[]) \
                     ON CONFLICT (id) DO NOTHING"
                ),
                &[&id, &date, &minute, &class, &price, &qty, &buyer, &seller, &kind],
            )?;
        }
    }

    // Accounts: new ones (opened since `accounts_from`) and those whose holdings moved.
    let accounts: Vec<_> = registry
        .accounts()
        .iter()
        .enumerate()
        .filter(|(i, a)| *i >= from.accounts || touched.contains(&a.id))
        .map(|(_, a)| a)
        .collect();
    if !accounts.is_empty() {
        let id: Vec<i32> = accounts.iter().map(|a| a.id.0 as i32).collect();
        let number: Vec<String> = accounts.iter().map(|a| a.id.to_string()).collect();
        let kind: Vec<String> = accounts.iter().map(|a| tag(&a.kind)).collect();
        let holder: Vec<String> = accounts.iter().map(|a| a.holder.clone()).collect();
        let status: Vec<String> = accounts.iter().map(|a| tag(&a.status)).collect();
        let opened: Vec<String> = accounts.iter().map(|a| a.opened_on.to_string()).collect();
        tx.execute(
            &format!(
                "INSERT INTO {q}.accounts SELECT * FROM unnest($1::integer[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) \
                 ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status"
            ),
            &[&id, &number, &kind, &holder, &status, &opened],
        )?;
    }

    if !touched.is_empty() {
        let ids: Vec<i32> = touched.iter().map(|a| a.0 as i32).collect();
        tx.execute(
            &format!("DELETE FROM {q}.holdings WHERE account = ANY($1)"),
            &[&ids],
        )?;
        let (mut account, mut class, mut qty) = (Vec::new(), Vec::new(), Vec::<i64>::new());
        for a in &touched {
            for (c, n) in registry.holdings_of(*a) {
                if n > 0 {
                    account.push(a.0 as i32);
                    class.push(c.to_string());
                    qty.push(n as i64);
                }
            }
        }
        tx.execute(
            &format!(
                "INSERT INTO {q}.holdings SELECT * FROM unnest($1::integer[], $2::text[], $3::bigint[])"
            ),
            &[&account, &class, &qty],
        )?;
    }

    if !audits.is_empty() {
        let seq: Vec<i64> = audits.iter().map(|(i, _)| (first_seq + i) as i64).collect();
        let audits: Vec<&Audit> = audits.iter().map(|(_, a)| a).collect();
        let at: Vec<i64> = audits.iter().map(|a| a.at).collect();
        let who: Vec<&str> = audits.iter().map(|a| a.who.as_str()).collect();
        let role: Vec<Option<&str>> = audits.iter().map(|a| a.role.map(|r| r.as_str())).collect();
        let from: Vec<&str> = audits.iter().map(|a| a.from.as_str()).collect();
        let method: Vec<&str> = audits.iter().map(|a| a.method.as_str()).collect();
        let path: Vec<&str> = audits.iter().map(|a| a.path.as_str()).collect();
        let status: Vec<i32> = audits.iter().map(|a| i32::from(a.status)).collect();
        let code: Vec<Option<&str>> = audits.iter().map(|a| a.code.as_deref()).collect();
        // An aggregated entry stands for `count` requests (refusals and anonymous requests).
        let requests: Vec<i64> = audits
            .iter()
            .map(|a| i64::try_from(a.count.unwrap_or(1)).unwrap_or(i64::MAX))
            .collect();
        tx.execute(
            &format!(
                "INSERT INTO {q}.audit (journal_seq, at_ms, who, role, from_addr, method, path, status, code, requests) \
                 SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::integer[], $9::text[], $10::bigint[]) \
                 ON CONFLICT (journal_seq) DO NOTHING"
            ),
            &[&seq, &at, &who, &role, &from, &method, &path, &status, &code, &requests],
        )?;
    }
    Ok(())
}
