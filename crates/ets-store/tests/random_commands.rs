//! Random command sequences through the journaled store on the embedded journal: no input
//! reaches a panic, a refused command changes nothing (in memory; nothing is journaled), every
//! invariant holds after every step, and reopening the store (a replay of its journal) gives
//! the market it had before closing. The generator and the world are `ets-market`'s
//! (`crates/ets-market/tests/support/random.rs`): every `Command` and `ExchangeCommand`
//! variant, stale and foreign ids, huge and zero figures, wrong dates, over a world with the
//! plan adopted, companies allocated and the exchange open (click-to-trade or continuous).
//!
//! The default case count keeps the test to a few seconds (each accepted command is fsynced);
//! for a long campaign run e.g. `PROPTEST_CASES=500 cargo nextest run -p ets-store
//! random_commands`.

use std::panic::{AssertUnwindSafe, catch_unwind};

use ets_journal::JournalOptions;
use ets_store::{Store, StoreError};
use proptest::prelude::*;

#[path = "../../ets-market/tests/support/random.rs"]
mod random;

proptest! {
    #![proptest_config(ProptestConfig {
        cases: random::cases(24),
        max_shrink_iters: 500,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_commands_through_the_store_never_panic_and_replay_to_the_live_market(
        continuous in any::<bool>(),
        steps in prop::collection::vec(random::step(), 1..60)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) =
            Store::open(dir.path(), random::genesis(), JournalOptions::default()).unwrap();
        let setup = if continuous {
            random::setup_with(&random::continuous_market())
        } else {
            random::setup()
        };
        for env in &setup {
            store
                .submit(env)
                .unwrap_or_else(|e| panic!("setup {}: {e}", env.command.name()));
        }
        for (i, env) in steps.iter().enumerate() {
            let before = store.market().clone();
            let seq_before = store.last_seq();
            let result = match catch_unwind(AssertUnwindSafe(|| store.submit(env))) {
                Ok(r) => r,
                Err(_) => panic!("step {i}: {env:?} panicked"),
            };
            match result {
                Ok(_) => {}
                Err(StoreError::Rejected(e)) => {
                    prop_assert!(
                        *store.market() == before,
                        "step {i}: refused {env:?} ({e}) changed the market"
                    );
                    prop_assert_eq!(store.last_seq(), seq_before, "a refusal is not journaled");
                    prop_assert!(
                        !e.code().ends_with("internal_error"),
                        "step {i}: {env:?} hit an internal error: {e}"
                    );
                }
                Err(other) => panic!("step {i}: {env:?}: the store failed: {other}"),
            }
            if let Err(e) = store.market().check_invariants() {
                panic!("step {i}: after {env:?}: {e}");
            }
        }
        let live = store.market().clone();
        drop(store);
        let (reopened, _) =
            Store::open(dir.path(), random::genesis(), JournalOptions::default()).unwrap();
        prop_assert!(*reopened.market() == live, "the replayed journal differs from the live market");
    }
}
