//! The hostile-client campaign of issue 12 ("Reliability and security"), one regression test per
//! finding at the HTTP edge: each failed before its fix. Every response also passes
//! `common::check_response` (JSON with a documented code for every refusal of the API).

mod common;

use common::*;
use ets_server::core::Op;
use serde_json::json;

both!(
    exchange_commands_carry_only_the_servers_minute,
    the_regulator_never_approves_for_a_company,
);

/// Exchange commands carry only the server's time. `POST /api/commands` is the regulator's and
/// takes none of them (a member or a company's representative is refused before the body is
/// read, the regulator's body is refused by its `command`); no exchange route takes a `minute`.
/// The campaign had a block trade proposed and accepted at 10:02 with a client's `minute` of the
/// block session.
async fn exchange_commands_carry_only_the_servers_minute(h: Harness) {
    let m = setup(&h).await;
    // 10:00 Beijing time: the listed session, not the block session (13:00-15:00).
    let block = json!({"command": "exchange", "op": "propose_block", "holder": "SX0001",
        "counterparty": "trader-1", "class": "CEA-2019", "side": "sell", "price": 4800,
        "qty": 100_000, "minute": 13 * 60 + 5});
    for token in [
        &m.member,
        &m.rep_a,
        &m.hb_a,
        &m.bureau,
        &m.verifier,
        &m.auditor,
    ] {
        let (s, v) = h.post("/api/commands", Some(token), block.clone()).await;
        assert_eq!((s, v["code"].as_str()), (403, Some("forbidden")), "{v}");
    }
    let (s, v) = h
        .post("/api/commands", Some(&m.regulator), block.clone())
        .await;
    assert_eq!(
        (s, v["code"].as_str(), v["field"].as_str()),
        (400, Some("invalid_enum"), Some("command")),
        "{v}"
    );
    let order = json!({"command": "exchange", "op": "order", "holder": "SX0001", "class": "CEA-2019",
        "side": "sell", "price": 4800, "qty": 10, "tif": "day", "minute": 600});
    let (s, v) = h.post("/api/commands", Some(&m.regulator), order).await;
    assert_eq!((s, v["code"].as_str()), (400, Some("invalid_enum")), "{v}");
    // The exchange's own routes take no minute: the server's clock says when.
    let proposal = json!({"holder": "SX0001", "counterparty": "trader-1", "class": "CEA-2019",
        "side": "sell", "price": 4800, "qty": 100_000});
    let mut with_minute = proposal.clone();
    with_minute["minute"] = json!(13 * 60 + 5);
    let (s, v) = h.post("/api/blocks", Some(&m.rep_a), with_minute).await;
    assert_eq!(
        (s, v["code"].as_str(), v["field"].as_str()),
        (400, Some("unknown_field"), Some("minute")),
        "{v}"
    );
    let (s, v) = h
        .post("/api/blocks", Some(&m.rep_a), proposal.clone())
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (422, Some("outside_block_session")),
        "at 10:00 by the server's clock: {v}"
    );
    for (path, body) in [
        (
            "/api/orders",
            json!({"holder": "SX0001", "class": "CEA-2019", "side": "sell", "price": 4800, "qty": 1, "minute": 600}),
        ),
        (
            "/api/orders/1/amend",
            json!({"holder": "SX0001", "price": 4800, "qty": 1, "minute": 600}),
        ),
        (
            "/api/orders/1/take",
            json!({"holder": "SX0001", "qty": 1, "minute": 600}),
        ),
        (
            "/api/blocks/1/accept",
            json!({"holder": "SX0001", "minute": 800}),
        ),
        (
            "/api/auctions/1/bids",
            json!({"holder": "SX0001", "price": 4800, "qty": 1, "minute": 600}),
        ),
    ] {
        let (s, v) = h.post(path, Some(&m.rep_a), body).await;
        assert_eq!(
            (s, v["code"].as_str(), v["field"].as_str()),
            (400, Some("unknown_field"), Some("minute")),
            "{path}: {v}"
        );
    }
    // At 13:05 by the server's clock the same proposal is in the block session.
    h.clock.advance((3 * 60 + 5) * 60_000);
    let (s, v) = h.post("/api/blocks", Some(&m.rep_a), proposal).await;
    assert_ne!(
        v["code"].as_str(),
        Some("outside_block_session"),
        "{s}: {v}"
    );
}

/// Four eyes are two distinct people of the account holder. The regulator may not initiate,
/// approve or reject a company's instruction, nor change its trusted list, by route or by the
/// writer; it freezes and corrects by its own commands, each journaled with its reason. The
/// campaign had one regulator user move a company's units without a second person of it.
async fn the_regulator_never_approves_for_a_company(h: Harness) {
    let m = setup(&h).await;
    let v = h
        .ok(
            "/api/instructions",
            &m.rep_a,
            json!({"company": "SX0001", "kind": "trust", "account": m.hb_account}),
        )
        .await;
    let id = v["instruction"]["id"].as_u64().unwrap();
    for decision in ["approve", "reject"] {
        let (s, v) = h
            .post(
                &format!("/api/instructions/{id}/{decision}"),
                Some(&m.regulator),
                json!({}),
            )
            .await;
        assert_eq!((s, v["code"].as_str()), (403, Some("forbidden")), "{v}");
    }
    let (s, v) = h
        .post(
            "/api/instructions",
            Some(&m.regulator),
            json!({"company": "SX0001", "kind": "trust", "account": m.trader_account}),
        )
        .await;
    assert_eq!((s, v["code"].as_str()), (403, Some("forbidden")), "{v}");
    // The writer decides the same whatever the way in.
    for approve in [true, false] {
        let reply = h
            .as_user(Some("regulator"), Op::DecideInstruction { id, approve })
            .await;
        assert_eq!(reply.status, 403, "{}", reply.body);
    }
    let (s, v) = h
        .get(
            "/api/instructions?company=SX0001&status=pending",
            Some(&m.regulator),
        )
        .await;
    assert_eq!(s, 200, "the regulator still sees them: {v}");
    assert_eq!(v["instructions"][0]["id"], json!(id), "still pending: {v}");
    // The second person is the company's.
    let v = h
        .ok(
            &format!("/api/instructions/{id}/approve"),
            &m.rep_b,
            json!({}),
        )
        .await;
    assert_eq!(v["status"], "executed", "{v}");
    let (s, v) = h
        .post(
            &format!("/api/companies/SX0001/trusted/{}/remove", m.hb_account),
            Some(&m.regulator),
            json!({}),
        )
        .await;
    assert_eq!((s, v["code"].as_str()), (403, Some("forbidden")), "{v}");
    // The regulator's own procedure: a freeze, with its reason, which the journal keeps.
    let freeze = json!({"command": "set_account_status", "holder": "SX0001", "status": "frozen"});
    let (s, v) = h
        .post("/api/commands", Some(&m.regulator), freeze.clone())
        .await;
    assert_eq!(
        (s, v["code"].as_str(), v["field"].as_str()),
        (400, Some("missing_field"), Some("reason")),
        "{v}"
    );
    let mut with_reason = freeze;
    with_reason["reason"] = json!("court order 2021-17 (asset freeze)");
    h.ok("/api/commands", &m.regulator, with_reason).await;
    let (_, v) = h
        .get(
            &format!("/api/accounts/{}", m.sx_account),
            Some(&m.regulator),
        )
        .await;
    assert_eq!(v["status"], "frozen", "{v}");
    assert!(
        journal_contains(&h, "court order 2021-17 (asset freeze)"),
        "the reason is journaled"
    );
}

/// Whether the journal's records hold `text` (the embedded journal's files, or PostgreSQL's
/// journal table).
fn journal_contains(h: &Harness, text: &str) -> bool {
    match &h.location {
        ets_server::store::Location::Dir(dir) => std::fs::read_dir(dir).unwrap().any(|e| {
            let bytes = std::fs::read(e.unwrap().path()).unwrap_or_default();
            bytes.windows(text.len()).any(|w| w == text.as_bytes())
        }),
        ets_server::store::Location::Postgres { url, schema } => {
            let (url, schema, text) = (url.clone(), schema.clone(), text.to_string());
            off_runtime(move || {
                let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                let row = c
                    .query_one(
                        &format!(
                            "SELECT count(*) FROM \"{schema}\".journal WHERE position($1::bytea in payload) > 0"
                        ),
                        &[&text.as_bytes()],
                    )
                    .unwrap();
                row.get::<_, i64>(0) > 0
            })
        }
    }
}
