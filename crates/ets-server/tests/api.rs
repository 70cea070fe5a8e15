//! End-to-end tests of the HTTP API, each on the embedded store and on PostgreSQL.

mod common;

use common::*;
use serde_json::json;

both!(setup_runs_the_cycle_through_every_role);

async fn setup_runs_the_cycle_through_every_role(h: Harness) {
    let m = setup(&h).await;
    let sx = held(&h, &m.rep_a, &m.sx_account, "CEA-2019").await;
    assert!(sx > 1_000_000, "SX0001 was pre-allocated: {sx}");
    let (s, v) = h.get(&format!("/api/accounts/{}", m.trader_account), Some(&m.member)).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["funds"]["available_fen"], json!(1_000_000_000u64));
}
