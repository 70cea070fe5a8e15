//! Plans that cannot collide (issue 14, item 5): a plan covering a year an adopted plan covers
//! is refused unless it replaces that plan before any allocation under it, and a market where
//! two plans allocated one vintage is found.

use ets_market::{Command, Event, Market, MarketError};

#[path = "support/random.rs"]
mod random;

const PLAN: &str = "cn-power-2019-2020";
const STRICT: &str = "cn-power-2019-2020-strict";

fn strict_text() -> String {
    let text = ets_policy::Plan::builtin_text(PLAN).unwrap();
    let from = format!("id = \"{PLAN}\"");
    assert!(text.contains(&from));
    text.replacen(&from, &format!("id = \"{STRICT}\""), 1)
}

fn run(m: &mut Market, command: Command) -> Result<Vec<Event>, MarketError> {
    m.execute(&random::env(random::d("2021-01-04"), command))
}

fn adopt(toml: &str) -> Command {
    Command::AdoptPlan {
        source: "plan".into(),
        toml: toml.into(),
    }
}

fn replace(replaces: &str, toml: &str) -> Command {
    Command::ReplacePlan {
        replaces: replaces.into(),
        source: "plan".into(),
        toml: toml.into(),
    }
}

#[test]
fn a_plan_covering_adopted_years_is_refused_unless_it_replaces_one_not_yet_applied() {
    let mut m = Market::new(random::genesis());
    run(&mut m, adopt(ets_policy::Plan::builtin_text(PLAN).unwrap())).unwrap();
    // Before issue 14 this was accepted, and allocating under both issued 2019-20 twice.
    assert_eq!(
        run(&mut m, adopt(&strict_text())).unwrap_err(),
        MarketError::PlanVintagesOverlap {
            plan: STRICT.into(),
            other: PLAN.into(),
            years: vec![2019, 2020],
        }
    );
    assert_eq!(
        run(&mut m, replace("nope", &strict_text())).unwrap_err(),
        MarketError::UnknownPlan("nope".into())
    );
    // The next cycle's plan covers other years: adopted beside it.
    run(
        &mut m,
        adopt(ets_policy::Plan::builtin_text("cn-power-2021-2022").unwrap()),
    )
    .unwrap();
    let events = run(&mut m, replace(PLAN, &strict_text())).unwrap();
    assert!(
        matches!(&events[0], Event::PlanWithdrawn { id, replaced_by } if id == PLAN && replaced_by == STRICT)
    );
    assert!(m.plan(PLAN).is_none() && m.plan(STRICT).is_some());
}

#[test]
fn a_plan_with_allocations_cannot_be_replaced() {
    let mut m = Market::new(random::genesis());
    for env in random::setup() {
        m.execute(&env).unwrap();
    }
    assert_eq!(
        run(&mut m, replace(random::PLAN, &strict_text())).unwrap_err(),
        MarketError::PlanInUse {
            plan: random::PLAN.into()
        }
    );
    assert!(m.vintages_allocated_twice().is_empty());
}

/// A journal written before the check can hold two plans allocating one vintage; it replays,
/// and `vintages_allocated_twice` (which `ets verify` reports) names them.
#[test]
fn two_plans_allocating_one_vintage_are_found() {
    let mut m = Market::new(random::genesis());
    let mut events = Vec::new();
    for env in random::setup() {
        events.extend(m.execute(&env).unwrap());
    }
    let allocation = events
        .iter()
        .find_map(|e| match e {
            Event::AllocationRecorded { .. } => Some(e.clone()),
            _ => None,
        })
        .expect("the set-up allocates");
    let Event::AllocationRecorded {
        company,
        year,
        stage,
        units,
        deduction_t,
        total_t,
        ..
    } = allocation
    else {
        unreachable!()
    };
    m.apply(&Event::PlanAdopted {
        id: STRICT.into(),
        source: "old journal".into(),
        toml: strict_text(),
    })
    .unwrap();
    m.apply(&Event::AllocationRecorded {
        plan: STRICT.into(),
        company,
        year,
        stage,
        units,
        deduction_t,
        total_t,
    })
    .unwrap();
    assert_eq!(
        m.vintages_allocated_twice(),
        vec![(year, vec![PLAN.to_string(), STRICT.to_string()])]
    );
}
