//! The rulebook: boundary cases for every trading rule of DOMAIN.md §4, as data
//! (`tests/rulebook/cases.toml`), run through the HTTP API of the real server.
//!
//! A case names its rule and gives a scenario: the minute of the day and date on the server's
//! clock (the exchange takes the time from the server, never from the client), the steps that
//! set it up, the request under test, and the outcome expected just inside the rule and just
//! outside it (accepted, or refused with a stable `code` and its figures). Figures come from the
//! shipped market file (`markets/cn-seee.toml`, read as plain TOML; see `rulebook/expr.rs`), so
//! the suite follows the file.
//!
//! One set-up through the API (the regulator, companies and a trader as `common::setup` makes
//! them, with a third company), frozen; every side of every case runs on a fresh server forked
//! from that store, so cases do not see each other. The test prints a table of rule, case,
//! expected and got, and fails listing every mismatch. Cases marked `pending` are skipped with a
//! note. `every_rule_has_an_inside_and_an_outside_case` checks the data file's coverage of §4.
//!
//! Run: `cargo nextest run -p ets-server --test rulebook` (`--no-capture` shows the table);
//! `RULEBOOK_ONLY=listed.band` runs the cases whose rule starts with that text;
//! `RULEBOOK_PENDING=1` runs the pending sides too and says which pass now (they never fail the
//! test).

mod common;
#[path = "rulebook/expr.rs"]
mod expr;

use std::collections::BTreeMap;

use common::{Harness, Kind};
use ets_server::clock;
use ets_types::Date;
use expr::{Arg, Market, Num};
use serde::Deserialize;
use serde_json::{Value, json};

const CASES: &str = include_str!("rulebook/cases.toml");
const MARKET_FILE: &str = "../../markets/cn-seee.toml";

// ---------------------------------------------------------------------------------------------
// The data file

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Book {
    rows: Vec<Row>,
    rules: BTreeMap<String, Rule>,
    case: Vec<Case>,
}

/// A row of DOMAIN.md §4's table (or another section's rule) and the rules that cover it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    /// The section of DOMAIN.md: `4`, or another for rules outside the trading rules' table.
    section: String,
    row: String,
    rules: Vec<String>,
    /// What of the row has no case, and why.
    #[serde(default)]
    untested: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rule {
    /// The rule as DOMAIN.md states it.
    text: String,
    /// Its flag and source ([C] S33…).
    flag: String,
    /// The market file's keys that hold its value.
    #[serde(default)]
    values: Vec<String>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct Case {
    rule: String,
    name: String,
    #[serde(default)]
    note: Option<String>,
    /// `YYYY-MM-DD HH:MM` (Beijing time) on the server's clock; the time may be `=expression`.
    at: String,
    /// Whether the trading day of `at` is opened before the steps (default yes).
    #[serde(default = "yes")]
    open_day: bool,
    #[serde(default)]
    given: Vec<toml::Table>,
    /// The request under test (each side may change its fields with `with`, or replace it).
    #[serde(default)]
    when: Option<toml::Table>,
    #[serde(default)]
    inside: Option<Side>,
    #[serde(default)]
    outside: Option<Side>,
    #[serde(default)]
    pending: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
struct Side {
    /// Steps after the case's own.
    #[serde(default)]
    given: Vec<toml::Table>,
    /// The time (or date and time) of the request under test, when not the case's.
    #[serde(default)]
    at: Option<String>,
    /// Fields replaced in the case's request.
    #[serde(default)]
    with: toml::Table,
    #[serde(default)]
    when: Option<toml::Table>,
    /// `accepted`, or the code of the refusal.
    expect: String,
    /// Figures of the refusal (a subset of its `params`).
    #[serde(default)]
    params: toml::Table,
    /// Steps and checks after the request.
    #[serde(default)]
    then: Vec<toml::Table>,
    #[serde(default)]
    pending: Option<String>,
}

fn book() -> Book {
    toml::from_str(CASES).unwrap_or_else(|e| panic!("tests/rulebook/cases.toml: {e}"))
}

fn market_text() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(MARKET_FILE);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// Coverage

/// The rows of DOMAIN.md §4's table, when the shared folder is at hand (`ETS_SHARED`, default
/// the folder beside the workspace).
fn domain_rows() -> Option<Vec<String>> {
    let shared = std::env::var("ETS_SHARED")
        .unwrap_or_else(|_| format!("{}/../../../shared", env!("CARGO_MANIFEST_DIR")));
    let text = std::fs::read_to_string(format!("{shared}/DOMAIN.md")).ok()?;
    let start = text.find("\n## 4.")?;
    let rest = &text[start + 1..];
    let end = rest[1..].find("\n## ").map_or(rest.len(), |e| e + 1);
    let rows = rest[..end]
        .lines()
        .filter(|l| l.starts_with('|') && !l.starts_with("|---") && !l.starts_with("| Item"))
        .filter_map(|l| l.split('|').nth(1).map(|c| c.trim().to_string()))
        .collect();
    Some(rows)
}

#[test]
fn every_rule_has_an_inside_and_an_outside_case() {
    let b = book();
    let mut problems = Vec::new();
    for row in &b.rows {
        if row.rules.is_empty() {
            problems.push(format!("§4 row {:?} has no rule", row.row));
        }
        for r in &row.rules {
            if !b.rules.contains_key(r) {
                problems.push(format!("§4 row {:?} names unknown rule {r}", row.row));
            }
        }
    }
    for (id, _) in &b.rules {
        if !b.rows.iter().any(|row| row.rules.contains(id)) {
            problems.push(format!("rule {id} belongs to no row"));
        }
        let sides = |f: fn(&Case) -> &Option<Side>| {
            b.case
                .iter()
                .filter(|c| &c.rule == id && f(c).is_some())
                .count()
        };
        if sides(|c| &c.inside) == 0 {
            problems.push(format!("rule {id} has no inside case"));
        }
        if sides(|c| &c.outside) == 0 {
            problems.push(format!("rule {id} has no outside case"));
        }
    }
    let mut names = std::collections::BTreeSet::new();
    for c in &b.case {
        if !b.rules.contains_key(&c.rule) {
            problems.push(format!("case {} names unknown rule {}", c.name, c.rule));
        }
        if !names.insert(case_id(c)) {
            problems.push(format!("two cases are named {}", case_id(c)));
        }
        if c.inside.is_none() && c.outside.is_none() {
            problems.push(format!("case {} has neither side", case_id(c)));
        }
    }
    match domain_rows() {
        Some(rows) => {
            for r in rows {
                if !b.rows.iter().any(|s| s.section == "4" && s.row == r) {
                    problems.push(format!("DOMAIN.md §4 row {r:?} is not in the rulebook"));
                }
            }
        }
        None => eprintln!("note: DOMAIN.md not found (ETS_SHARED); its rows were not compared"),
    }
    assert!(
        problems.is_empty(),
        "the rulebook does not cover §4:\n  {}",
        problems.join("\n  ")
    );
}

/// A case's name: its rule, then what it tries (`listed.band.upper_edge`).
fn case_id(c: &Case) -> String {
    format!("{}.{}", c.rule, c.name)
}

// ---------------------------------------------------------------------------------------------
// The cast

/// Who acts in the cases: a name of the data file, its holder id and token.
#[derive(Clone)]
struct Actor {
    holder: String,
    token: String,
    account: String,
}

struct Cast {
    regulator: String,
    actors: BTreeMap<String, Actor>,
}

/// The set-up every case starts from: `common::setup` (companies SX0001 and HB0001 with their
/// 2019 and 2020 pre-allocations, trader-1 funded with 10,000,000.00 CNY, the exchange under the
/// shipped market file), a third company SX0002 with no allocation, and the day closed.
async fn set_up(h: &Harness) -> Cast {
    let m = common::setup(h).await;
    let (s, v) = h
        .post(
            "/api/account-requests",
            None,
            common::request_json(common::company_json("SX0002", "Shanxi"), &["c3-a", "c3-b"]),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let id = v["id"].as_u64().unwrap();
    let v = h
        .ok(
            &format!("/api/account-requests/{id}/approve"),
            &m.regulator,
            json!({}),
        )
        .await;
    let c3_account = v["account"].as_str().unwrap().to_string();
    let c3 = h.token("c3-a").await;
    h.ok("/api/exchange/days/close", &m.regulator, json!({}))
        .await;
    let actor = |holder: &str, token: &str, account: &str| Actor {
        holder: holder.into(),
        token: token.into(),
        account: account.into(),
    };
    Cast {
        actors: BTreeMap::from([
            ("sx".into(), actor("SX0001", &m.rep_a, &m.sx_account)),
            ("hb".into(), actor("HB0001", &m.hb_a, &m.hb_account)),
            ("c3".into(), actor("SX0002", &c3, &c3_account)),
            ("t1".into(), actor("trader-1", &m.member, &m.trader_account)),
        ]),
        regulator: m.regulator,
    }
}

// ---------------------------------------------------------------------------------------------
// Running a side of a case

/// One side of one case, ready to run.
struct Plan<'a> {
    case: &'a Case,
    side_name: &'static str,
    side: &'a Side,
}

impl Plan<'_> {
    fn id(&self) -> String {
        format!("{}.{}", case_id(self.case), self.side_name)
    }
    fn pending(&self) -> Option<&str> {
        self.side
            .pending
            .as_deref()
            .or(self.case.pending.as_deref())
    }
    fn request(&self) -> Result<toml::Table, String> {
        let mut t = self
            .side
            .when
            .clone()
            .or_else(|| self.case.when.clone())
            .ok_or("no request: the case and its side have no `when`")?;
        for (k, v) in &self.side.with {
            t.insert(k.clone(), v.clone());
        }
        Ok(t)
    }
}

/// What happened, as the table shows it.
struct Got {
    shown: String,
    ok: bool,
}

struct Run<'a> {
    h: Harness,
    cast: &'a Cast,
    market: &'a Market,
    /// Ids of named orders, proposals and auctions.
    ids: BTreeMap<String, u64>,
    date: Date,
    minute: u16,
    /// The answer to the request under test.
    answer: Value,
}

/// Splits `YYYY-MM-DD HH:MM` (either part optional after the first) into date and minute.
fn when(market: &Market, text: &str, date: Date) -> Result<(Date, u16), String> {
    let text = text.trim();
    let (date, time) = match text.split_once(' ') {
        Some((d, t)) if Date::parse(d).is_ok() => (Date::parse(d).unwrap(), t.trim()),
        _ if Date::parse(text).is_ok() => (Date::parse(text).unwrap(), "09:00"),
        _ => (date, text),
    };
    let minute = match time.strip_prefix('=') {
        Some(e) => {
            let v = market.eval(e, &|_, _| None)?;
            v.as_int()
                .and_then(|m| u16::try_from(m).ok())
                .filter(|m| *m < 24 * 60)
                .ok_or_else(|| format!("{text:?}: {v} is not a minute of the day"))?
        }
        None => expr::hhmm(time)?,
    };
    Ok((date, minute))
}

fn take_str(t: &mut toml::Table, key: &str) -> Result<String, String> {
    match t.remove(key) {
        Some(toml::Value::String(s)) => Ok(s),
        Some(other) => Err(format!("{key} = {other} should be text")),
        None => Err(format!("missing {key}")),
    }
}

fn take_opt(t: &mut toml::Table, key: &str) -> Option<toml::Value> {
    t.remove(key)
}

/// The verb of a step: its one key naming what to do.
const STEPS: &[&str] = &[
    "at",
    "open_day",
    "close_day",
    "next_day",
    "deposit",
    "withdraw",
    "transfer",
    "order",
    "take",
    "amend",
    "cancel",
    "block",
    "accept",
    "announce",
    "bid",
    "close_auction",
    "post",
];
const CHECKS: &[&str] = &[
    "held", "tradable", "funds", "bar", "trades", "book", "orders", "get",
];

fn verb(t: &toml::Table, allowed: &[&[&str]]) -> Result<String, String> {
    let mut found: Vec<&String> = t
        .keys()
        .filter(|k| allowed.iter().any(|list| list.contains(&k.as_str())))
        .collect();
    // `order` is a verb, and the field naming the order of a take, amend or cancel.
    if found.len() == 2 {
        found.retain(|k| k.as_str() != "order");
    }
    match found[..] {
        [one] => Ok(one.clone()),
        [] => Err(format!("no verb in {t}")),
        _ => Err(format!("several verbs in {t}")),
    }
}

impl Run<'_> {
    fn actor(&self, name: &str) -> Result<&Actor, String> {
        self.cast
            .actors
            .get(name)
            .ok_or_else(|| format!("unknown actor {name:?}"))
    }

    fn token(&self, name: &str) -> Result<String, String> {
        if name == "regulator" {
            return Ok(self.cast.regulator.clone());
        }
        Ok(self.actor(name)?.token.clone())
    }

    fn set_clock(&mut self, date: Date, minute: u16) {
        self.date = date;
        self.minute = minute;
        self.h.clock.set(clock::instant(date, minute));
    }

    /// Every actor's account as the regulator sees it, for the run-time functions.
    async fn accounts(&self) -> Result<BTreeMap<String, Value>, String> {
        let mut out = BTreeMap::new();
        for (name, a) in &self.cast.actors {
            let (s, v) = self
                .h
                .get(
                    &format!("/api/accounts/{}", a.account),
                    Some(&self.cast.regulator),
                )
                .await;
            if s != 200 {
                return Err(format!("GET account of {name}: {s} {v}"));
            }
            out.insert(name.clone(), v);
        }
        Ok(out)
    }

    /// A value of the data file as JSON, `=expressions` evaluated.
    async fn value(&self, v: &toml::Value) -> Result<Value, String> {
        let mut needs_accounts = false;
        scan(v, &mut |s| {
            needs_accounts |= ["held(", "tradable(", "available(", "frozen("]
                .iter()
                .any(|f| s.contains(f));
        });
        let accounts = if needs_accounts {
            self.accounts().await?
        } else {
            BTreeMap::new()
        };
        let runtime = |name: &str, args: &[Arg]| -> Option<Result<Num, String>> {
            let word = |i: usize| match args.get(i) {
                Some(Arg::Word(w)) => Ok(w.clone()),
                _ => Err(format!("{name}: argument {} should be a name", i + 1)),
            };
            let account = |i: usize| -> Result<&Value, String> {
                let w = word(i)?;
                accounts
                    .get(&w)
                    .ok_or_else(|| format!("unknown actor {w:?}"))
            };
            let holding = |field: &str| -> Result<Num, String> {
                let (a, class) = (account(0)?, word(1)?);
                let q = a["holdings"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|x| x["class"] == class.as_str())
                    .map_or(0, |x| x[field].as_u64().unwrap_or(0));
                Ok(Num::int(q.into()))
            };
            let funds = |field: &str| -> Result<Num, String> {
                let a = account(0)?;
                Ok(Num::int(a["funds"][field].as_u64().unwrap_or(0).into()))
            };
            Some(match name {
                "held" => holding("quantity_t"),
                "tradable" => holding("tradable_t"),
                "available" => funds("available_fen"),
                "frozen" => funds("frozen_fen"),
                _ => return None,
            })
        };
        to_json(v, &|s| self.market.eval(s, &runtime))
    }

    /// An id: a name given to an earlier order, proposal or auction, or a number.
    fn id(&self, v: &toml::Value) -> Result<u64, String> {
        match v {
            toml::Value::Integer(i) => u64::try_from(*i).map_err(|_| format!("id {i}")),
            toml::Value::String(s) => self
                .ids
                .get(s)
                .copied()
                .ok_or_else(|| format!("no order, proposal or auction named {s:?} yet")),
            other => Err(format!("id {other}")),
        }
    }

    /// Fills `{name}` in a path with named ids.
    fn path(&self, template: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find('{') {
            let end = rest[start..]
                .find('}')
                .ok_or_else(|| format!("{template}: unclosed {{"))?;
            out.push_str(&rest[..start]);
            let name = &rest[start + 1..start + end];
            out.push_str(&self.id(&toml::Value::String(name.into()))?.to_string());
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Builds a step's request: (path, token of the caller, body), and the name to give its id.
    async fn request(
        &mut self,
        step: &toml::Table,
    ) -> Result<Option<(String, String, Value, Option<String>)>, String> {
        let mut t = step.clone();
        let verb = verb(&t, &[STEPS])?;
        let name = match take_opt(&mut t, "name") {
            Some(toml::Value::String(s)) => Some(s),
            Some(other) => return Err(format!("name = {other}")),
            None => None,
        };
        let extra = match take_opt(&mut t, "extra") {
            Some(v) => Some(self.value(&v).await?),
            None => None,
        };
        // The remaining fields, evaluated, for the body.
        let field = |t: &mut toml::Table, key: &str| -> Result<toml::Value, String> {
            t.remove(key)
                .ok_or_else(|| format!("{verb}: missing {key}"))
        };
        let (path, caller, mut body) = match verb.as_str() {
            "at" => {
                let text = take_str(&mut t, "at")?;
                let (d, m) = when(self.market, &text, self.date)?;
                self.set_clock(d, m);
                return done(t);
            }
            "next_day" => {
                let date = take_str(&mut t, "next_day")?;
                let (d, m) = when(self.market, &date, self.date)?;
                let (m, regulator) = (
                    if date.contains(' ') { m } else { self.minute },
                    self.cast.regulator.clone(),
                );
                self.expect_ok("/api/exchange/days/close", &regulator, json!({}))
                    .await?;
                self.set_clock(d, m);
                self.expect_ok("/api/exchange/days/open", &regulator, json!({}))
                    .await?;
                return done(t);
            }
            "open_day" | "close_day" => {
                t.remove(&verb);
                (
                    format!("/api/exchange/days/{}", &verb[..verb.len() - 4]),
                    self.cast.regulator.clone(),
                    json!({}),
                )
            }
            "deposit" | "withdraw" => {
                let who = take_str(&mut t, &verb)?;
                let fen = self.value(&field(&mut t, "fen")?).await?;
                let path = if verb == "deposit" {
                    "/api/funds/deposits"
                } else {
                    "/api/funds/withdrawals"
                };
                (
                    path.to_string(),
                    self.cast.regulator.clone(),
                    json!({"holder": self.actor(&who)?.holder, "fen": fen}),
                )
            }
            "transfer" => {
                let qty = self.value(&field(&mut t, "transfer")?).await?;
                let (from, to) = (take_str(&mut t, "from")?, take_str(&mut t, "to")?);
                let class = take_str(&mut t, "class")?;
                (
                    "/api/commands".into(),
                    self.cast.regulator.clone(),
                    json!({"command": "transfer", "class": class, "quantity": qty,
                           "from": self.actor(&from)?.holder, "to": self.actor(&to)?.holder}),
                )
            }
            "order" => {
                let who = take_str(&mut t, "order")?;
                let mut body = json!({"holder": self.actor(&who)?.holder});
                for key in ["side", "class", "price", "qty"] {
                    body[key] = self.value(&field(&mut t, key)?).await?;
                }
                if let Some(tif) = take_opt(&mut t, "tif") {
                    body["tif"] = self.value(&tif).await?;
                }
                ("/api/orders".into(), self.token(&who)?, body)
            }
            "take" | "amend" | "cancel" => {
                let who = take_str(&mut t, &verb)?;
                let order = self.id(&field(&mut t, "order")?)?;
                let mut body = json!({"holder": self.actor(&who)?.holder});
                let keys: &[&str] = match verb.as_str() {
                    "take" => &["qty"],
                    "amend" => &["price", "qty"],
                    _ => &[],
                };
                for key in keys {
                    body[*key] = self.value(&field(&mut t, key)?).await?;
                }
                (
                    format!("/api/orders/{order}/{verb}"),
                    self.token(&who)?,
                    body,
                )
            }
            "block" => {
                let who = take_str(&mut t, "block")?;
                let to = take_str(&mut t, "to")?;
                let mut body = json!({"holder": self.actor(&who)?.holder,
                                      "counterparty": self.actor(&to)?.holder});
                for key in ["side", "class", "price", "qty"] {
                    body[key] = self.value(&field(&mut t, key)?).await?;
                }
                ("/api/blocks".into(), self.token(&who)?, body)
            }
            "accept" => {
                let who = take_str(&mut t, "accept")?;
                let proposal = self.id(&field(&mut t, "proposal")?)?;
                (
                    format!("/api/blocks/{proposal}/accept"),
                    self.token(&who)?,
                    json!({"holder": self.actor(&who)?.holder}),
                )
            }
            "announce" => {
                let who = take_str(&mut t, "announce")?;
                let mut body = json!({"holder": self.actor(&who)?.holder, "pay_as_bid": false});
                for key in ["side", "class", "qty", "limit"] {
                    body[key] = self.value(&field(&mut t, key)?).await?;
                }
                if let Some(v) = take_opt(&mut t, "pay_as_bid") {
                    body["pay_as_bid"] = self.value(&v).await?;
                }
                for (key, out) in [("open", "open_minute"), ("close", "close_minute")] {
                    let text = take_str(&mut t, key)?;
                    body[out] = json!(when(self.market, &text, self.date)?.1);
                }
                ("/api/auctions".into(), self.token(&who)?, body)
            }
            "bid" => {
                let who = take_str(&mut t, "bid")?;
                let auction = self.id(&field(&mut t, "auction")?)?;
                let mut body = json!({"holder": self.actor(&who)?.holder});
                for key in ["price", "qty"] {
                    body[key] = self.value(&field(&mut t, key)?).await?;
                }
                (
                    format!("/api/auctions/{auction}/bids"),
                    self.token(&who)?,
                    body,
                )
            }
            "close_auction" => {
                let auction = self.id(&field(&mut t, "close_auction")?)?;
                (
                    format!("/api/auctions/{auction}/close"),
                    self.cast.regulator.clone(),
                    json!({}),
                )
            }
            "post" => {
                let path = self.path(&take_str(&mut t, "post")?)?;
                let by = take_str(&mut t, "by")?;
                let body = match take_opt(&mut t, "body") {
                    Some(b) => self.value(&b).await?,
                    None => json!({}),
                };
                (path, self.token(&by)?, body)
            }
            other => return Err(format!("unknown step {other}")),
        };
        if !t.is_empty() {
            return Err(format!("{verb}: unknown fields {t}"));
        }
        if let Some(Value::Object(extra)) = extra {
            body.as_object_mut().unwrap().extend(extra);
        }
        return Ok(Some((path, caller, body, name)));

        fn done(t: toml::Table) -> Result<Option<(String, String, Value, Option<String>)>, String> {
            if t.len() > 0 {
                return Err(format!("unknown fields {t}"));
            }
            Ok(None)
        }
    }

    async fn expect_ok(&self, path: &str, token: &str, body: Value) -> Result<Value, String> {
        let (s, v) = self.h.post(path, Some(token), body).await;
        if s >= 300 {
            return Err(format!("POST {path}: {}", refusal(&v)));
        }
        Ok(v)
    }

    /// Performs a step: its answer (`None` for clock and day moves).
    async fn perform(&mut self, step: &toml::Table) -> Result<Option<(u16, Value)>, String> {
        let Some((path, token, body, name)) = self.request(step).await? else {
            return Ok(None);
        };
        let (s, v) = self.h.post(&path, Some(&token), body).await;
        if s < 300
            && let Some(name) = name
        {
            let id = v["id"]
                .as_u64()
                .ok_or_else(|| format!("POST {path} answered no id to name {name}: {v}"))?;
            self.ids.insert(name, id);
        }
        Ok(Some((s, v)))
    }

    /// A set-up step, which must succeed.
    async fn setup(&mut self, step: &toml::Table) -> Result<(), String> {
        if let Some((s, v)) = self.perform(step).await?
            && s >= 300
        {
            return Err(format!("set-up step {step} refused: {}", refusal(&v)));
        }
        Ok(())
    }

    /// A check after the request: `Err` says what differs.
    async fn check(&mut self, c: &toml::Table) -> Result<(), String> {
        let mut t = c.clone();
        let verb = verb(&t, &[CHECKS])?;
        let want = |t: &mut toml::Table, key: &str| -> Result<toml::Value, String> {
            t.remove(key)
                .ok_or_else(|| format!("{verb}: missing {key}"))
        };
        let reg = self.cast.regulator.clone();
        let mut differences = Vec::new();
        let mut compare = |what: &str, got: &Value, want: &Value| {
            if !same(got, want) {
                differences.push(format!("{what} is {got}, expected {want}"));
            }
        };
        match verb.as_str() {
            "held" | "tradable" => {
                let who = take_str(&mut t, &verb)?;
                let class = take_str(&mut t, "class")?;
                let qty = self.value(&want(&mut t, "qty")?).await?;
                let a = self.actor(&who)?.account.clone();
                let (_, v) = self.h.get(&format!("/api/accounts/{a}"), Some(&reg)).await;
                let field = if verb == "held" {
                    "quantity_t"
                } else {
                    "tradable_t"
                };
                let got = v["holdings"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|x| x["class"] == class.as_str())
                    .map_or(json!(0), |x| x[field].clone());
                compare(&format!("{who}'s {verb} {class}"), &got, &qty);
            }
            "funds" => {
                let who = take_str(&mut t, "funds")?;
                let a = self.actor(&who)?.account.clone();
                let (_, v) = self.h.get(&format!("/api/accounts/{a}"), Some(&reg)).await;
                for key in ["available_fen", "frozen_fen"] {
                    if let Some(w) = t.remove(key) {
                        let w = self.value(&w).await?;
                        compare(&format!("{who}'s {key}"), &v["funds"][key], &w);
                    }
                }
            }
            "bar" => {
                let class = take_str(&mut t, "bar")?;
                let date = take_str(&mut t, "date")?;
                let (_, v) = self
                    .h
                    .get(&format!("/api/market/days?class={class}"), None)
                    .await;
                let bar = v["days"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|b| b["date"] == date.as_str())
                    .cloned()
                    .ok_or_else(|| format!("no {class} bar of {date}: {v}"))?;
                for (key, w) in std::mem::take(&mut t) {
                    let w = self.value(&w).await?;
                    compare(&format!("{class} {date} {key}"), &bar[&key], &w);
                }
            }
            "trades" => {
                let list = match want(&mut t, "trades")? {
                    toml::Value::Array(a) => a,
                    other => return Err(format!("trades = {other}: expected a list")),
                };
                let got = self.answer["trades"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                if got.len() != list.len() {
                    differences.push(format!(
                        "{} trades, expected {}: {}",
                        got.len(),
                        list.len(),
                        self.answer["trades"]
                    ));
                } else {
                    for (i, (g, w)) in got.iter().zip(&list).enumerate() {
                        let w = self.value(w).await?;
                        for (key, wv) in w.as_object().into_iter().flatten() {
                            let gv = match key.as_str() {
                                "buyer" | "seller" => {
                                    // Trades name accounts by number (CN-000005 is 5).
                                    let name = wv.as_str().unwrap_or_default();
                                    let account = &self.actor(name)?.account;
                                    let number: u64 = account
                                        .trim_start_matches(|c: char| !c.is_ascii_digit())
                                        .parse()
                                        .map_err(|_| format!("account {account}"))?;
                                    let got = if g[key].is_number() {
                                        json!(name_of(
                                            g[key].as_u64() == Some(number),
                                            name,
                                            &g[key]
                                        ))
                                    } else {
                                        json!(name_of(g[key] == json!(account), name, &g[key]))
                                    };
                                    compare(&format!("trade {i} {key}"), &got, &json!(name));
                                    continue;
                                }
                                _ => &g[key],
                            };
                            compare(&format!("trade {i} {key}"), gv, wv);
                        }
                    }
                }
            }
            "book" => {
                let class = take_str(&mut t, "book")?;
                let (_, v) = self
                    .h
                    .get(&format!("/api/market/book?class={class}&levels=50"), None)
                    .await;
                for side in ["bids", "asks"] {
                    if let Some(w) = t.remove(side) {
                        let w = self.value(&w).await?;
                        let prices: Vec<Value> = v[side]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|l| l["price"].clone())
                            .collect();
                        compare(&format!("{class} {side}' prices"), &json!(prices), &w);
                    }
                }
            }
            "orders" => {
                let who = take_str(&mut t, "orders")?;
                let count = self.value(&want(&mut t, "count")?).await?;
                let a = self.actor(&who)?.account.clone();
                let (_, v) = self.h.get(&format!("/api/accounts/{a}"), Some(&reg)).await;
                let n = v["open_orders"].as_array().map_or(0, Vec::len);
                compare(&format!("{who}'s open orders"), &json!(n), &count);
                if let Some(w) = t.remove("open_qty") {
                    let w = self.value(&w).await?;
                    let open: Vec<Value> = v["open_orders"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|o| o["open_qty"].clone())
                        .collect();
                    compare(&format!("{who}'s open quantities"), &json!(open), &w);
                }
            }
            "get" => {
                let path = self.path(&take_str(&mut t, "get")?)?;
                let by = match take_opt(&mut t, "by") {
                    Some(toml::Value::String(s)) => Some(self.token(&s)?),
                    _ => None,
                };
                let pointer = take_str(&mut t, "pointer")?;
                let w = self.value(&want(&mut t, "equals")?).await?;
                let (s, v) = self.h.get(&path, by.as_deref()).await;
                if s != 200 {
                    return Err(format!("GET {path}: {s} {}", refusal(&v)));
                }
                let got = v.pointer(&pointer).cloned().unwrap_or(Value::Null);
                compare(&format!("GET {path} {pointer}"), &got, &w);
            }
            other => return Err(format!("unknown check {other}")),
        }
        if !t.is_empty() {
            return Err(format!("{verb}: unknown fields {t}"));
        }
        if differences.is_empty() {
            Ok(())
        } else {
            Err(differences.join("; "))
        }
    }
}

/// The actor's name when the trade's account is its account, else the account as it came.
fn name_of(matches: bool, name: &str, got: &Value) -> String {
    if matches {
        name.to_string()
    } else {
        format!("account {got}")
    }
}

/// Applies `f` to every text in a value.
fn scan(v: &toml::Value, f: &mut dyn FnMut(&str)) {
    match v {
        toml::Value::String(s) => f(s),
        toml::Value::Array(a) => a.iter().for_each(|x| scan(x, f)),
        toml::Value::Table(t) => t.values().for_each(|x| scan(x, f)),
        _ => {}
    }
}

/// A data-file value as JSON; texts starting with `=` are evaluated.
fn to_json(v: &toml::Value, eval: &dyn Fn(&str) -> Result<Num, String>) -> Result<Value, String> {
    Ok(match v {
        toml::Value::String(s) => match s.strip_prefix('=') {
            Some(e) => eval(e).map_err(|err| format!("={e}: {err}"))?.json(),
            None => json!(s),
        },
        toml::Value::Integer(i) => json!(i),
        toml::Value::Float(f) => json!(f),
        toml::Value::Boolean(b) => json!(b),
        toml::Value::Datetime(d) => json!(d.to_string()),
        toml::Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| to_json(x, eval))
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Table(t) => Value::Object(
            t.iter()
                .map(|(k, x)| Ok((k.clone(), to_json(x, eval)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

/// Numbers compare by value, the rest as JSON.
fn same(got: &Value, want: &Value) -> bool {
    match (got.as_f64(), want.as_f64()) {
        (Some(a), Some(b)) if got.is_number() && want.is_number() => a == b,
        _ => got == want,
    }
}

/// A refusal as `code {params}`.
fn refusal(v: &Value) -> String {
    match v["code"].as_str() {
        Some(code) => format!("{code} {}", v["params"]),
        None => v.to_string(),
    }
}

/// Runs one side of a case on a fresh server forked from `base`.
async fn run(base: &Harness, cast: &Cast, market: &Market, plan: &Plan<'_>) -> Got {
    match try_run(base, cast, market, plan).await {
        Ok(got) => got,
        Err(e) => Got {
            shown: format!("error: {e}"),
            ok: false,
        },
    }
}

async fn try_run(
    base: &Harness,
    cast: &Cast,
    market: &Market,
    plan: &Plan<'_>,
) -> Result<Got, String> {
    let start = clock::parse_beijing(common::START).unwrap();
    let (date, minute) = when(market, &plan.case.at, clock::beijing(start).0)?;
    let mut r = Run {
        h: base.fork(clock::instant(date, minute)),
        cast,
        market,
        ids: BTreeMap::new(),
        date,
        minute,
        answer: Value::Null,
    };
    if plan.case.open_day {
        let reg = cast.regulator.clone();
        r.expect_ok("/api/exchange/days/open", &reg, json!({}))
            .await
            .map_err(|e| format!("opening {date}: {e}"))?;
    }
    for step in plan.case.given.iter().chain(&plan.side.given) {
        r.setup(step).await?;
    }
    if let Some(at) = &plan.side.at {
        let (d, m) = when(market, at, r.date)?;
        r.set_clock(d, m);
    }
    let request = plan.request()?;
    let (status, answer) = r
        .perform(&request)
        .await?
        .ok_or("the request under test is a clock move")?;
    r.answer = answer.clone();
    let got = if status < 300 {
        "accepted".to_string()
    } else {
        answer["code"].as_str().unwrap_or("?").to_string()
    };
    let mut problems = Vec::new();
    if got != plan.side.expect {
        problems.push(if status < 300 {
            "accepted".to_string()
        } else {
            refusal(&answer)
        });
    } else if status >= 300 && !plan.side.params.is_empty() {
        let want = r
            .value(&toml::Value::Table(plan.side.params.clone()))
            .await?;
        for (k, w) in want.as_object().into_iter().flatten() {
            if !same(&answer["params"][k], w) {
                problems.push(format!(
                    "params.{k} = {}, expected {w}",
                    answer["params"][k]
                ));
            }
        }
    }
    if problems.is_empty() {
        for item in &plan.side.then {
            let result = if verb(item, &[CHECKS]).is_ok() {
                r.check(item).await
            } else {
                r.setup(item).await
            };
            if let Err(e) = result {
                problems.push(e);
            }
        }
    }
    Ok(if problems.is_empty() {
        Got {
            shown: got,
            ok: true,
        }
    } else {
        Got {
            shown: problems.join("; "),
            ok: false,
        }
    })
}

/// Every case of the rulebook through the HTTP API; one table, every mismatch listed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rulebook() {
    let b = book();
    let market = Market::load(&market_text()).unwrap();
    assert_eq!(
        market_text(),
        ets_market::trading::config::MarketRules::builtin_text(),
        "the server's built-in cn-seee is the shipped market file"
    );
    let base = Harness::new(Kind::Embedded, "rulebook").unwrap();
    let cast = set_up(&base).await;
    base.freeze();
    let only = std::env::var("RULEBOOK_ONLY").ok();
    let run_pending = std::env::var("RULEBOOK_PENDING").is_ok_and(|v| v == "1");
    let mut rows: Vec<[String; 5]> = Vec::new();
    let (mut failed, mut pending) = (Vec::new(), Vec::new());
    for case in &b.case {
        if only
            .as_ref()
            .is_some_and(|o| !case.rule.starts_with(o.as_str()))
        {
            continue;
        }
        let rule = &b.rules[&case.rule];
        let value = rule
            .values
            .iter()
            .map(|k| format!("{k} = {}", market.show(k)))
            .collect::<Vec<_>>()
            .join(", ");
        for (side_name, side) in [("inside", &case.inside), ("outside", &case.outside)] {
            let Some(side) = side else { continue };
            let plan = Plan {
                case,
                side_name,
                side,
            };
            let (shown, mark) = match plan.pending() {
                Some(reason) if !run_pending => {
                    pending.push(format!("{}: {reason}", plan.id()));
                    ("skipped (pending)".to_string(), "…")
                }
                Some(reason) => {
                    let got = run(&base, &cast, &market, &plan).await;
                    let verdict = if got.ok {
                        "passes now: enable it"
                    } else {
                        "still fails"
                    };
                    pending.push(format!("{}: {verdict} ({reason})", plan.id()));
                    (got.shown, if got.ok { "pending, ok" } else { "pending" })
                }
                None => {
                    let got = run(&base, &cast, &market, &plan).await;
                    if !got.ok {
                        failed.push(format!(
                            "{}: expected {}, got {}",
                            plan.id(),
                            side.expect,
                            got.shown
                        ));
                    }
                    (got.shown, if got.ok { "ok" } else { "FAIL" })
                }
            };
            rows.push([
                case.rule.clone(),
                format!("{}.{side_name}", case.name),
                if value.is_empty() {
                    rule.flag.clone()
                } else {
                    value.clone()
                },
                side.expect.clone(),
                format!("{mark} {shown}"),
            ]);
        }
    }
    print_table(&rows);
    for p in &pending {
        println!("pending: {p}");
    }
    assert!(
        failed.is_empty(),
        "{} of {} rulebook cases failed:\n  {}",
        failed.len(),
        rows.len() - pending.len(),
        failed.join("\n  ")
    );
}

fn print_table(rows: &[[String; 5]]) {
    let head = ["rule", "case", "value", "expected", "got"];
    let mut widths = head.map(str::len);
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count().min(60));
        }
    }
    let line = |cells: &[&str]| {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("| {} |", parts.join(" | "));
    };
    line(&head);
    println!(
        "|{}|",
        widths
            .iter()
            .map(|w| "-".repeat(w + 2))
            .collect::<Vec<_>>()
            .join("|")
    );
    for r in rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        line(&cells);
    }
}
