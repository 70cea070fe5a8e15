//! Random request sequences through the whole server, on both stores: orders, cancels, amends,
//! takes, block trades, one-way auctions, deposits and withdrawals, trading days, transfers and
//! surrenders, by every role, with stale, foreign and absurd ids, classes, prices and quantities,
//! at random minutes over several days. No request may get a 5xx (a panic in the writer would
//! end the process, a 500 would be a bug), every refusal is JSON with a `code`, and at the end
//! the journal, read back by a reader beside the server, replays to the very market the server
//! holds, with every invariant checked.
//!
//! Seeds: `ETS_RANDOM_SEEDS` (default 2 per store) and `ETS_RANDOM_STEPS` (default 150) for a
//! longer campaign, e.g. `ETS_RANDOM_SEEDS=50 ETS_RANDOM_STEPS=1000 cargo test -p ets-server
//! --test random --release`. A failure names its seed; `ETS_RANDOM_SEED=N` reruns that one.

mod common;

use common::{Harness, setup};
use ets_types::UnitClass;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

const HOLDERS: &[&str] = &["trader-1", "SX0001", "HB0001", "NOBODY", "CN-999999", ""];
const CLASSES: &[&str] = &[
    "CEA-2019",
    "CEA-2020",
    "CEA-2021",
    "CCER-P99-2021",
    "CEA-65535",
    "garbage",
];
const SIDES: &[&str] = &["buy", "sell", "sideways"];

fn price(rng: &mut StdRng) -> Value {
    match rng.random_range(0..10) {
        0 => json!(0),
        1 => json!(-5),
        2 => json!(i64::MAX),
        3 => json!(u64::MAX),
        4 => json!("48.00"),
        _ => json!(rng.random_range(3500..6500) / 10 * 10),
    }
}

fn qty(rng: &mut StdRng) -> Value {
    match rng.random_range(0..10) {
        0 => json!(0),
        1 => json!(u64::MAX),
        2 => json!(-1),
        3 => json!(100_000 + rng.random_range(0..5) * 10_000),
        _ => json!(rng.random_range(1..50) * 100),
    }
}

fn id(rng: &mut StdRng) -> String {
    match rng.random_range(0..8) {
        0 => u64::MAX.to_string(),
        1 => "0".into(),
        2 => "x".into(),
        _ => rng.random_range(1..40).to_string(),
    }
}

fn class_value(rng: &mut StdRng) -> Value {
    let class = match rng.random_range(0..4) {
        0 => UnitClass::Cea { vintage: 2019 },
        1 => UnitClass::Cea { vintage: 2020 },
        2 => UnitClass::Ccer {
            project: rng.random_range(0..3),
            vintage: 2019,
        },
        _ => UnitClass::Cea {
            vintage: rng.random_range(0..u16::MAX),
        },
    };
    serde_json::to_value(class).unwrap()
}

/// One random request: (path, body).
fn request(rng: &mut StdRng) -> (String, Value) {
    let holder = *pick(rng, HOLDERS);
    match rng.random_range(0..16) {
        0..=3 => (
            "/api/orders".into(),
            json!({"holder": holder, "class": pick(rng, CLASSES), "side": pick(rng, SIDES),
                   "price": price(rng), "qty": qty(rng)}),
        ),
        4 => (
            format!("/api/orders/{}/cancel", id(rng)),
            json!({"holder": holder}),
        ),
        5 => (
            format!("/api/orders/{}/amend", id(rng)),
            json!({"holder": holder, "price": price(rng), "qty": qty(rng)}),
        ),
        6 | 7 => (
            format!("/api/orders/{}/take", id(rng)),
            json!({"holder": holder, "qty": qty(rng)}),
        ),
        8 => (
            "/api/blocks".into(),
            json!({"holder": holder, "counterparty": pick(rng, HOLDERS), "class": pick(rng, CLASSES),
                   "side": pick(rng, SIDES), "price": price(rng), "qty": qty(rng)}),
        ),
        9 => (
            format!("/api/blocks/{}/accept", id(rng)),
            json!({"holder": holder}),
        ),
        10 => {
            let open = rng.random_range(560..910);
            (
                "/api/auctions".into(),
                json!({"holder": holder, "class": pick(rng, CLASSES), "side": pick(rng, SIDES),
                       "qty": qty(rng), "limit": price(rng), "pay_as_bid": rng.random_bool(0.5),
                       "open_minute": open, "close_minute": open + rng.random_range(0..60)}),
            )
        }
        11 => (
            format!("/api/auctions/{}/bids", id(rng)),
            json!({"holder": holder, "price": price(rng), "qty": qty(rng)}),
        ),
        12 => (format!("/api/auctions/{}/close", id(rng)), json!({})),
        13 => (
            pick(rng, &["/api/funds/deposits", "/api/funds/withdrawals"]).to_string(),
            json!({"holder": holder, "fen": qty(rng)}),
        ),
        14 => (
            "/api/commands".into(),
            json!({"command": "transfer", "class": class_value(rng), "quantity": qty(rng),
                   "from": holder, "to": pick(rng, HOLDERS), "reason": "random correction"}),
        ),
        _ => (
            "/api/commands".into(),
            json!({"command": "surrender", "plan": common::PLAN, "company": pick(rng, &["SX0001", "HB0001"]),
                   "class": class_value(rng), "quantity": qty(rng), "reason": "random surrender"}),
        ),
    }
}

async fn campaign(h: Harness) {
    let market = setup(&h).await;
    let tokens = [
        market.regulator.clone(),
        market.member.clone(),
        market.rep_a.clone(),
        market.hb_a.clone(),
        market.bureau.clone(),
        market.auditor.clone(),
    ];
    let seeds: Vec<u64> = match std::env::var("ETS_RANDOM_SEED") {
        Ok(s) => vec![s.parse().expect("ETS_RANDOM_SEED is a number")],
        Err(_) => (0..env_u64("ETS_RANDOM_SEEDS", 2)).collect(),
    };
    let steps = env_u64("ETS_RANDOM_STEPS", 150);
    let mut accepted = 0;
    for seed in seeds {
        let mut rng = StdRng::seed_from_u64(seed);
        for step in 0..steps {
            // Time moves: minutes inside and outside the sessions, and now and then a new day.
            match rng.random_range(0..20) {
                0 => {
                    let _ = h
                        .post(
                            "/api/exchange/days/close",
                            Some(&market.regulator),
                            json!({}),
                        )
                        .await;
                    h.clock.advance(24 * 3600 * 1000);
                    let _ = h
                        .post(
                            "/api/exchange/days/open",
                            Some(&market.regulator),
                            json!({}),
                        )
                        .await;
                }
                1..=4 => h.clock.advance(rng.random_range(1..90) * 60 * 1000),
                _ => {}
            }
            let (path, body) = request(&mut rng);
            let token = pick(&mut rng, &tokens).clone();
            let (status, reply) = h.post(&path, Some(&token), body.clone()).await;
            let context = format!("seed {seed} step {step}: POST {path} {body} → {status} {reply}");
            assert!(status < 500, "{context}");
            if status >= 400 {
                assert!(
                    reply["code"].as_str().is_some_and(|c| !c.is_empty()),
                    "a refusal without a code: {context}"
                );
            } else {
                accepted += 1;
            }
        }
    }
    assert!(
        accepted > 0,
        "the campaign should get some requests accepted, or it tests only refusals"
    );
    let (status, health) = h.get("/api/health", None).await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok", "{health}");

    // A reader beside the server replays the journal to the same market, invariants checked.
    let location = h.location.clone();
    let (state, _) = common::off_runtime(move || ets_store::read(&location))
        .unwrap_or_else(|e| panic!("the journal does not replay: {e}"));
    let live = h.app.read();
    assert!(
        state.market == live.market,
        "the market replayed from the journal differs from the server's"
    );
}

both!(campaign);
