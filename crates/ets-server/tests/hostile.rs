//! The hostile-client campaign of issue 12 ("Reliability and security"), one regression test per
//! finding at the HTTP edge: each failed before its fix. Every response also passes
//! `common::check_response` (JSON with a documented code for every refusal of the API).

mod common;

use common::*;
use serde_json::json;

both!(exchange_commands_carry_only_the_servers_minute);

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
