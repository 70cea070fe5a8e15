//! Random command sequences through the journaled store, on the embedded journal and on
//! PostgreSQL (`ETS_PG_URL`; under CI=true an unreachable server fails the test): no input
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
use ets_store::{Location, Store, StoreError};
use proptest::prelude::*;

#[path = "../../ets-market/tests/support/random.rs"]
mod random;

/// Where one case keeps its journal: a temporary directory, or a fresh PostgreSQL schema
/// (dropped afterwards).
enum Place {
    Dir(tempfile::TempDir),
    Postgres { url: String, schema: String },
}

impl Place {
    fn location(&self) -> Location {
        match self {
            Place::Dir(d) => Location::Dir(d.path().to_path_buf()),
            Place::Postgres { url, schema } => Location::Postgres {
                url: url.clone(),
                schema: schema.clone(),
            },
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if let Place::Postgres { url, schema } = self
            && let Ok(mut c) = postgres::Client::connect(url, postgres::NoTls)
        {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"));
        }
    }
}

/// The PostgreSQL server of the tests (`ETS_PG_URL`), or `None` (outside CI) when unreachable.
fn pg_place() -> Option<Place> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let url = std::env::var("ETS_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    if let Err(e) = postgres::Client::connect(&url, postgres::NoTls) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "PostgreSQL is unreachable at {url} (ETS_PG_URL) and CI=true: {e}"
        );
        eprintln!("skipped: PostgreSQL is unreachable at {url}: {e}");
        return None;
    }
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let schema = format!("random_{}_{n}", std::process::id());
    Some(Place::Postgres { url, schema })
}

/// One case: the setup, then `steps`, each checked; then a replay compared to the live market.
fn case(
    place: &Place,
    continuous: bool,
    steps: &[ets_market::Envelope],
) -> Result<(), TestCaseError> {
    let location = place.location();
    let (mut store, _) =
        Store::open_at(&location, random::genesis(), JournalOptions::default()).unwrap();
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
    // A reader beside the writer sees the same market (its durable prefix is everything).
    let (read, _) = ets_store::read(&location).unwrap();
    prop_assert!(
        read.market == live,
        "the reader's replay differs from the live market"
    );
    drop(store);
    let (reopened, _) =
        Store::open_at(&location, random::genesis(), JournalOptions::default()).unwrap();
    prop_assert!(
        *reopened.market() == live,
        "the replayed journal differs from the live market"
    );
    Ok(())
}

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
        let place = Place::Dir(tempfile::tempdir().unwrap());
        case(&place, continuous, &steps)?;
    }
}

proptest! {
    // Each case makes a schema and commits every accepted command: fewer cases by default.
    #![proptest_config(ProptestConfig {
        cases: random::cases(6),
        max_shrink_iters: 100,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_commands_through_the_postgres_store_never_panic_and_replay_to_the_live_market(
        continuous in any::<bool>(),
        steps in prop::collection::vec(random::step(), 1..60)
    ) {
        let Some(place) = pg_place() else { return Ok(()) };
        case(&place, continuous, &steps)?;
    }
}
