//! No input reaches a panic, a refusal changes nothing, every invariant holds after every
//! step, and replaying the events gives the live market: random command sequences (every
//! `Command` and `ExchangeCommand` variant, stale and foreign ids, huge and zero figures,
//! wrong dates) driven through `Market::execute` over a realistic world (see
//! `support/random.rs`).
//!
//! The default case count keeps the test well under a minute on two cores; for a long
//! campaign run e.g. `PROPTEST_CASES=5000 cargo nextest run -p ets-market random_commands`.

use std::panic::{AssertUnwindSafe, catch_unwind};

use ets_market::{Event, Market, rejection_codes};
use proptest::prelude::*;

#[path = "support/random.rs"]
mod random;

/// The world after setup, with the exchange matching continuously or by click-to-trade.
fn world(continuous: bool) -> (Market, Vec<Event>) {
    let mut market = Market::new(random::genesis());
    let mut events = Vec::new();
    let setup = if continuous {
        random::setup_with(&random::continuous_market())
    } else {
        random::setup()
    };
    for env in setup {
        let e = market
            .execute(&env)
            .unwrap_or_else(|e| panic!("setup {}: {e}", env.command.name()));
        events.extend(e);
    }
    (market, events)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: random::cases(256),
        max_shrink_iters: 2_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_commands_never_panic_and_keep_every_invariant(
        continuous in any::<bool>(),
        steps in prop::collection::vec(random::step(), 1..80)
    ) {
        let (mut market, mut events) = world(continuous);
        let codes: Vec<&str> = rejection_codes().iter().map(|c| c.0).collect();
        for (i, env) in steps.iter().enumerate() {
            let before = market.clone();
            let result = catch_unwind(AssertUnwindSafe(|| market.execute(env)));
            let result = match result {
                Ok(r) => r,
                Err(_) => panic!("step {i}: {env:?} panicked"),
            };
            match result {
                Ok(e) => events.extend(e),
                Err(e) => {
                    prop_assert!(market == before, "step {i}: refused {env:?} ({e}) changed the market");
                    prop_assert!(codes.contains(&e.code()), "step {i}: code {} is not listed", e.code());
                    prop_assert!(e.code() != "internal_error" && e.code() != "exchange_internal_error",
                        "step {i}: {env:?} hit an internal error: {e}");
                }
            }
            if let Err(e) = market.check_invariants() {
                panic!("step {i}: after {env:?}: {e}");
            }
        }
        let mut replayed = Market::new(random::genesis());
        for (n, e) in events.iter().enumerate() {
            if let Err(err) = replayed.apply(e) {
                panic!("replay of event {n} failed: {err}");
            }
        }
        prop_assert!(replayed == market, "replay differs from the live market");
    }
}

/// The generator is worth its name only if much of what it draws is accepted.
#[test]
fn the_random_world_accepts_a_good_share_of_commands() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut market, _) = world(false);
    let (mut accepted, mut trades) = (0, 0);
    let total = 600;
    let mut refusals = std::collections::BTreeMap::<&str, usize>::new();
    let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
    for n in 0..total {
        // A fresh world every 150 steps, as the property test's sequences start from one.
        if n % 150 == 0 {
            market = world(n % 300 == 0).0;
        }
        let env = random::step().new_tree(&mut runner).unwrap().current();
        let result = market.execute(&env);
        if let Err(e) = &result
            && env.command.name() == "order"
        {
            *refusals.entry(e.code()).or_default() += 1;
        }
        if let Ok(events) = result {
            *kinds.entry(env.command.name()).or_default() += 1;
            accepted += 1;
            trades += events
                .iter()
                .map(|e| match e {
                    Event::Exchange { trades, .. } => trades.len(),
                    _ => 0,
                })
                .sum::<usize>();
        }
    }
    eprintln!(
        "accepted {accepted} of {total} ({kinds:?}), {trades} trades; refusals: {refusals:?}"
    );
    assert!(
        accepted * 10 >= total,
        "only {accepted} of {total} accepted"
    );
    assert!(trades > 0, "no trade in {total} steps");
}
