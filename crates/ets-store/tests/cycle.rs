//! A small cycle run through the store: every rule path that moves units, then a reopen whose
//! replay must equal the live state, and a journal whose tail is torn.

use ets_journal::JournalOptions;
use ets_market::{Command, Market, MarketError, Stage};
use ets_store::{Store, StoreError};
use ets_types::*;

mod common;
use common::*;

#[test]
fn a_cycle_replays_to_the_same_state_and_enforces_the_rules() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, report) =
        Store::open(dir.path(), d("2021-01-04"), JournalOptions::default()).unwrap();
    assert!(report.created);
    setup(&mut store);
    let m = store.market();
    let sx = cid("SX0001");
    let hb = cid("HB0001");
    // Pre-allocation is 70 % of the full allocation at the same output (load factor 0.82 adds
    // the correction 1 + 0.0014 × (85 − 82) = 1.0042 only in the final allocation).
    let pre = m.allocation(PLAN, &sx, 2019, Stage::Pre).unwrap();
    let fin = m.allocation(PLAN, &sx, 2019, Stage::Final).unwrap();
    // 0.877 × 3,000,000 = 2,631,000; × 0.7 = 1,841,700; × 1.0042 = 2,642,050.2 -> 2,642,050.
    assert_eq!(pre, 1_841_700);
    assert_eq!(fin, 2_642_050);
    let sx_account = m.company_account(&sx).unwrap();
    assert_eq!(
        m.registry()
            .holding(sx_account, UnitClass::Cea { vintage: 2019 }),
        fin
    );

    let ob_sx = m.obligation(PLAN, &sx).unwrap();
    let ob_hb = m.obligation(PLAN, &hb).unwrap();
    assert!(
        ob_sx.obligation_t < ob_sx.allocation_t,
        "SX0001 is in surplus: {ob_sx:?}"
    );
    assert!(
        ob_hb.obligation_t > ob_hb.allocation_t,
        "HB0001 is in deficit: {ob_hb:?}"
    );

    // A surrender of an ineligible vintage, beyond holdings, or before registration fails and changes nothing.
    let before = store.market().clone();
    let bad = [
        Command::Surrender {
            plan: PLAN.into(),
            company: hb.clone(),
            class: UnitClass::Cea { vintage: 2021 },
            quantity: 1,
        },
        Command::Surrender {
            plan: PLAN.into(),
            company: hb.clone(),
            class: UnitClass::Cea { vintage: 2019 },
            quantity: 99_000_000,
        },
        Command::Transfer {
            class: UnitClass::Cea { vintage: 2019 },
            quantity: 1,
            from: "SX0001".into(),
            to: "NOBODY".into(),
        },
        Command::PreAllocate {
            plan: PLAN.into(),
            company: sx.clone(),
        },
    ];
    for cmd in bad {
        assert!(
            store.submit(&env("2021-12-01", cmd.clone())).is_err(),
            "{cmd:?} must be refused"
        );
        assert_eq!(store.market(), &before, "{cmd:?} changed the state");
    }

    // The surplus company sells the deficit company what it lacks, then both surrender.
    let gap = ob_hb.obligation_t - ob_hb.allocation_t;
    let mut transfer = env(
        "2021-11-01",
        Command::Transfer {
            class: UnitClass::Cea { vintage: 2020 },
            quantity: gap,
            from: "SX0001".into(),
            to: "HB0001".into(),
        },
    );
    transfer.key = Some("deal-1".into());
    assert_eq!(store.submit(&transfer).unwrap().len(), 1);
    assert!(
        store.submit(&transfer).unwrap().is_empty(),
        "a retry with the same key moves nothing"
    );
    for (c, ob) in [(&sx, ob_sx.obligation_t), (&hb, ob_hb.obligation_t)] {
        let held19 = store.market().registry().holding(
            store.market().company_account(c).unwrap(),
            UnitClass::Cea { vintage: 2019 },
        );
        let q19 = held19.min(ob);
        for (vintage, q) in [(2019, q19), (2020, ob - q19)] {
            let cmd = Command::Surrender {
                plan: PLAN.into(),
                company: c.clone(),
                class: UnitClass::Cea { vintage },
                quantity: q,
            };
            store.submit(&env("2021-12-15", cmd)).unwrap();
        }
    }
    let early = store.submit(&env(
        "2021-12-30",
        Command::AssessCycle { plan: PLAN.into() },
    ));
    assert!(matches!(
        early,
        Err(StoreError::Rejected(MarketError::BeforeDeadline { .. }))
    ));
    store
        .submit(&env(
            "2022-01-04",
            Command::AssessCycle { plan: PLAN.into() },
        ))
        .unwrap();
    let report = store.market().compliance_report(PLAN).unwrap();
    assert_eq!(report.national.complied, 2);
    assert_eq!(
        report.national.completion_volume.to_decimal(4),
        Decimal::ONE
    );
    assert_eq!(
        report.national.surrendered_t,
        ob_sx.obligation_t + ob_hb.obligation_t
    );
    store.market().check_invariants().unwrap();

    // Replay equals live state.
    let live: Market = store.market().clone();
    drop(store);
    let (reopened, report) =
        Store::open(dir.path(), d("2030-01-01"), JournalOptions::default()).unwrap();
    assert!(!report.created && report.torn_tail.is_none());
    assert_eq!(reopened.market(), &live);
}

#[test]
fn a_torn_tail_is_cut_and_acknowledged_commands_survive() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) =
        Store::open(dir.path(), d("2021-01-04"), JournalOptions::default()).unwrap();
    setup(&mut store);
    let live = store.market().clone();
    drop(store);
    // A crash in the middle of writing the next batch leaves half a frame at the end.
    let log = dir.path().join("journal.log");
    let mut bytes = std::fs::read(&log).unwrap();
    bytes.extend_from_slice(&[200, 1, 0, 0, 7, 7, 7, 7, 1, 2, 3]);
    std::fs::write(&log, &bytes).unwrap();
    let (store, report) =
        Store::open(dir.path(), d("2021-01-04"), JournalOptions::default()).unwrap();
    let torn = report.torn_tail.expect("the torn tail is reported");
    assert_eq!(torn.bytes_cut, 11);
    assert_eq!(
        store.market(),
        &live,
        "every acknowledged command is still there"
    );
}

#[test]
fn a_file_applies_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) =
        Store::open(dir.path(), d("2021-01-04"), JournalOptions::default()).unwrap();
    let (a, ua) = company("AH0001", "Anhui");
    let (b, _) = company("AH0002", "Anhui");
    let envs = vec![
        env(
            "2021-01-05",
            Command::RegisterCompany {
                company: a.clone(),
                units: ua,
            },
        ),
        env(
            "2021-01-05",
            Command::RegisterCompany {
                company: b,
                units: vec![],
            },
        ),
        env(
            "2021-01-05",
            Command::RegisterCompany {
                company: a,
                units: vec![],
            },
        ),
    ];
    let before_seq = store.last_seq();
    match store.submit_all(&envs) {
        Err(StoreError::RejectedAt {
            index: 2,
            error: MarketError::Duplicate { .. },
        }) => {}
        other => panic!("expected the duplicate at item 2, got {other:?}"),
    }
    assert_eq!(store.market().company_ids().count(), 0);
    assert_eq!(store.last_seq(), before_seq, "nothing journaled");
}

#[test]
fn a_shortfall_is_deducted_from_the_next_cycle_and_a_surplus_is_banked() {
    let dir = tempfile::tempdir().unwrap();
    let (mut store, _) =
        Store::open(dir.path(), d("2021-01-04"), JournalOptions::default()).unwrap();
    setup(&mut store);
    let (sx, hb) = (cid("SX0001"), cid("HB0001"));
    // SX0001 surrenders exactly what it owes (2019 vintage first); HB0001 surrenders nothing.
    let owed = store.market().obligation(PLAN, &sx).unwrap().obligation_t;
    let account = store.market().company_account(&sx).unwrap();
    let held19 = store
        .market()
        .registry()
        .holding(account, UnitClass::Cea { vintage: 2019 });
    for (vintage, q) in [(2019, held19.min(owed)), (2020, owed - held19.min(owed))] {
        let cmd = Command::Surrender {
            plan: PLAN.into(),
            company: sx.clone(),
            class: UnitClass::Cea { vintage },
            quantity: q,
        };
        store.submit(&env("2021-12-15", cmd)).unwrap();
    }
    store
        .submit(&env(
            "2022-01-04",
            Command::AssessCycle { plan: PLAN.into() },
        ))
        .unwrap();
    let first = store.market().compliance_report(PLAN).unwrap();
    let hb_result = first.companies.iter().find(|r| r.company == hb).unwrap();
    assert_eq!(hb_result.status, ets_compliance::Status::NotAtAll);
    let shortfall = hb_result.shortfall_t;
    assert_eq!(
        hb_result.penalty,
        Some(ets_compliance::Penalty {
            fine_cny: 30_000,
            deduction_t: shortfall
        })
    );
    let sx_result = first.companies.iter().find(|r| r.company == sx).unwrap();
    assert!(sx_result.surplus_t > 0, "SX0001 keeps a surplus");
    // Surrender after the assessment is refused.
    let late = Command::Surrender {
        plan: PLAN.into(),
        company: hb.clone(),
        class: UnitClass::Cea { vintage: 2019 },
        quantity: 1,
    };
    assert!(matches!(
        store.submit(&env("2022-01-05", late)),
        Err(StoreError::Rejected(MarketError::CycleClosed { .. }))
    ));

    // The second cycle: annual obligations, and banked 2019-2020 allowances are eligible.
    const PLAN2: &str = "cn-power-2021-2022";
    let toml = ets_policy::Plan::builtin_text(PLAN2).unwrap().to_string();
    store
        .submit(&env(
            "2023-01-04",
            Command::AdoptPlan {
                source: "plan2".into(),
                toml,
            },
        ))
        .unwrap();
    assert_eq!(
        store.market().eligible_holdings(PLAN2, &sx),
        sx_result.surplus_t,
        "the surplus is banked into the next cycle"
    );
    for year in [2021, 2022] {
        for id in [&sx, &hb] {
            let report = ReportInput {
                company: id.clone(),
                year,
                units: vec![activity(
                    &format!("{id}-G1"),
                    year,
                    "1300000",
                    "3000000",
                    "0.86",
                )],
            };
            store
                .submit(&env("2023-02-01", Command::SubmitReport { report }))
                .unwrap();
            let verification = VerificationInput {
                company: id.clone(),
                year,
                verifier: "V".into(),
                units: None,
                findings: vec![],
            };
            store
                .submit(&env("2023-02-02", Command::VerifyReport { verification }))
                .unwrap();
            store
                .submit(&env(
                    "2023-02-03",
                    Command::AcceptReport {
                        company: id.clone(),
                        year,
                    },
                ))
                .unwrap();
        }
        if year == 2021 {
            for id in [&sx, &hb] {
                store
                    .submit(&env(
                        "2023-03-01",
                        Command::PreAllocate {
                            plan: PLAN2.into(),
                            company: id.clone(),
                        },
                    ))
                    .unwrap();
            }
        }
    }
    for id in [&sx, &hb] {
        store
            .submit(&env(
                "2023-07-15",
                Command::TrueUp {
                    plan: PLAN2.into(),
                    company: id.clone(),
                },
            ))
            .unwrap();
    }
    let m = store.market();
    let sx21 = m.allocation(PLAN2, &sx, 2021, Stage::Final).unwrap();
    let hb21 = m.allocation(PLAN2, &hb, 2021, Stage::Final).unwrap();
    let hb22 = m.allocation(PLAN2, &hb, 2022, Stage::Final).unwrap();
    let sx22 = m.allocation(PLAN2, &sx, 2022, Stage::Final).unwrap();
    // Same units, same activity: without the penalty both would get the same allocation.
    let deducted = (sx21 - hb21) + (sx22 - hb22);
    assert_eq!(
        deducted,
        shortfall.min(sx21 + sx22),
        "the whole shortfall comes off the next allocation"
    );
    assert_eq!(m.pending_deduction(&hb), shortfall - deducted);
    m.check_invariants().unwrap();
    // Annual obligations: each year's caps apply on their own, and the obligation is their sum.
    let ob = m.obligation(PLAN2, &sx).unwrap();
    assert_eq!(
        ob.verified_t,
        ob.obligation_t + ob.gas_relief_t + ob.large_gap_relief_t
    );

    let live = store.market().clone();
    drop(store);
    let (reopened, _) =
        Store::open(dir.path(), d("2030-01-01"), JournalOptions::default()).unwrap();
    assert_eq!(reopened.market(), &live);
}
