//! A deliberately simple first-cycle market for tests and the summary example.
//!
//! Allocation follows the 2019-20 plan's formula (DOMAIN §2.1, §2.3), obligation is the MRV
//! combustion formula with a stated default, and one round of trading fills bids pro rata when
//! offers fall short. It is a yardstick for the generator and the behaviour model, not the
//! allocation, MRV or compliance crates.

#![allow(dead_code)]

use std::collections::BTreeMap;

use ets_sim::{
    BehaviourConfig, BehaviourModel, CompanyPosition, NationalMarket, combustion_emissions_t,
};
use ets_types::{CompanyId, Cooling, Decimal, UnitActivity, UnitCategory, Year};
use rust_decimal::prelude::ToPrimitive;

/// Coal carbon-content default for unmeasured coal (DOMAIN §3, [R]).
pub const DEFAULT_CC: &str = "0.03356";
/// Oxidation-rate default (DOMAIN §3, [R]).
pub const DEFAULT_OF: &str = "0.99";
/// CCER may cover at most 5 % of the allowances to be surrendered ([C] S9).
pub const OFFSET_LIMIT_SHARE: f64 = 0.05;
/// Large-gap relief: obligation at most allocation + 20 % of verified emissions ([C] S11).
pub const RELIEF_SHARE: f64 = 0.20;

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// An allocation plan's benchmarks, per category.
#[derive(Clone, Debug, Default)]
pub struct Benchmarks {
    /// tCO2 per MWh supplied.
    pub supply_t_per_mwh: BTreeMap<UnitCategory, Decimal>,
    /// tCO2 per GJ of heat supplied.
    pub heat_t_per_gj: BTreeMap<UnitCategory, Decimal>,
}

/// The 2019-20 benchmarks (DOMAIN §2.2, [C] S13).
pub fn benchmarks_2019_2020() -> Benchmarks {
    let mut b = Benchmarks::default();
    for (cat, supply, heat) in [
        (UnitCategory::CoalAbove300, "0.877", "0.126"),
        (UnitCategory::CoalUpTo300, "0.979", "0.126"),
        (UnitCategory::CoalUnconventional, "1.146", "0.126"),
        (UnitCategory::Gas, "0.392", "0.059"),
    ] {
        b.supply_t_per_mwh.insert(cat, d(supply));
        b.heat_t_per_gj.insert(cat, d(heat));
    }
    b
}

pub fn emissions_t(a: &UnitActivity) -> Decimal {
    combustion_emissions_t(a, d(DEFAULT_CC), Decimal::ZERO, d(DEFAULT_OF))
}

fn load_factor_correction(f: f64) -> f64 {
    if f >= 0.85 {
        1.0
    } else if f >= 0.80 {
        1.0 + 0.0014 * (85.0 - 100.0 * f)
    } else if f >= 0.75 {
        1.007 + 0.0016 * (80.0 - 100.0 * f)
    } else {
        1.015f64.powf(16.0 - 20.0 * f)
    }
}

/// Allocation of one unit-year by the plan's formula (DOMAIN §2.1, §2.3).
pub fn allocation_t(
    category: UnitCategory,
    cooling: Cooling,
    a: &UnitActivity,
    b: &Benchmarks,
) -> f64 {
    let supply = a.power_supplied_mwh.to_f64().unwrap();
    let heat = a.heat_supplied_gj.to_f64().unwrap();
    let ratio = if heat > 0.0 {
        heat / (heat + 3.6 * supply)
    } else {
        0.0
    };
    let mut factor = 1.0;
    if category.is_gas() {
        factor *= 1.0 - 0.6 * ratio;
    } else {
        factor *= 1.0 - 0.22 * ratio;
        if cooling == Cooling::Air {
            factor *= 1.05;
        }
    }
    if category.is_conventional_coal() {
        factor *= load_factor_correction(a.load_factor.to_f64().unwrap());
    }
    b.supply_t_per_mwh[&category].to_f64().unwrap() * supply * factor
        + b.heat_t_per_gj[&category].to_f64().unwrap() * heat
}

/// Per company over the compliance years: allocation, verified emissions, obligation.
#[derive(Clone, Debug, Default)]
pub struct Books {
    pub allocation_t: u64,
    pub emissions_t: u64,
    pub obligation_t: u64,
}

pub fn books(
    market: &NationalMarket,
    years: &[Year],
    b: &Benchmarks,
) -> BTreeMap<CompanyId, Books> {
    let units: BTreeMap<_, _> = market.units.iter().map(|u| (&u.id, u)).collect();
    let mut raw: BTreeMap<CompanyId, (f64, f64, f64)> = BTreeMap::new();
    for a in market.activity.iter().filter(|a| years.contains(&a.year)) {
        let u = units[&a.unit];
        let e = emissions_t(a).to_f64().unwrap();
        let al = allocation_t(u.category, u.cooling, a, b);
        // Gas units owe at most their allocation ([C] S13).
        let ob = if u.category.is_gas() { e.min(al) } else { e };
        let entry = raw.entry(u.company.clone()).or_default();
        entry.0 += al;
        entry.1 += e;
        entry.2 += ob;
    }
    raw.into_iter()
        .map(|(c, (al, e, ob))| {
            let obligation = ob.min(al + RELIEF_SHARE * e);
            (
                c,
                Books {
                    allocation_t: al.round() as u64,
                    emissions_t: e.round() as u64,
                    obligation_t: obligation.round() as u64,
                },
            )
        })
        .collect()
}

#[derive(Clone, Debug, Default)]
pub struct Outcome {
    pub companies: u32,
    pub in_deficit: u32,
    pub exempt: u32,
    pub full: u32,
    pub partial: u32,
    pub nothing: u32,
    pub allocation_t: u64,
    pub emissions_t: u64,
    pub obligation_t: u64,
    pub gap_t: u64,
    pub offered_t: u64,
    pub bid_t: u64,
    pub traded_t: u64,
    pub offsets_bid_t: u64,
    pub offsets_used_t: u64,
    pub surrendered_t: u64,
    /// Obligation of companies that neither left nor complied in full, minus what they handed in.
    pub shortfall_t: u64,
}

impl Outcome {
    /// Surrendered / obligation of the companies that stayed in the cycle, in percent.
    pub fn completion_pct(&self) -> f64 {
        100.0 * self.surrendered_t as f64 / self.obligation_t as f64
    }
}

/// One cycle: positions from the books, one trading round, surrender.
pub fn run_cycle(
    market: &NationalMarket,
    years: &[Year],
    b: &Benchmarks,
    seed: u64,
    cfg: &BehaviourConfig,
) -> Outcome {
    let books = books(market, years, b);
    let mut model = BehaviourModel::new(seed, cfg);
    let province: BTreeMap<_, _> = market
        .companies
        .iter()
        .map(|c| (&c.id, c.province.clone()))
        .collect();
    let mut out = Outcome::default();
    let mut positions = Vec::new();
    for (id, bk) in &books {
        let p = CompanyPosition {
            company: id.clone(),
            province: province[id].clone(),
            obligation_t: bk.obligation_t,
            allocation_t: bk.allocation_t,
            holdings_t: bk.allocation_t,
            offsets_held_t: 0,
        };
        out.companies += 1;
        if model.exempt(&p) {
            out.exempt += 1;
            continue;
        }
        out.allocation_t += bk.allocation_t;
        out.emissions_t += bk.emissions_t;
        out.obligation_t += bk.obligation_t;
        let gap = bk.obligation_t.saturating_sub(bk.allocation_t);
        out.gap_t += gap;
        out.in_deficit += u32::from(gap > 0);
        positions.push(p);
    }

    let limit = |p: &CompanyPosition| (p.obligation_t as f64 * OFFSET_LIMIT_SHARE).floor() as u64;
    let intents: Vec<_> = positions
        .iter()
        .map(|p| model.trading_intent(p, limit(p)))
        .collect();
    out.offered_t = intents.iter().map(|i| i.sell_t).sum();
    out.bid_t = intents.iter().map(|i| i.buy_t).sum();
    out.offsets_bid_t = intents.iter().map(|i| i.buy_offsets_t).sum();
    let offset_supply: u64 = market.offset_projects.iter().map(|p| p.credits_t).sum();
    let buy_ratio = if out.bid_t == 0 {
        1.0
    } else {
        (out.offered_t as f64 / out.bid_t as f64).min(1.0)
    };
    let sell_ratio = if out.offered_t == 0 {
        0.0
    } else {
        (out.bid_t as f64 / out.offered_t as f64).min(1.0)
    };
    let offset_ratio = if out.offsets_bid_t == 0 {
        1.0
    } else {
        (offset_supply as f64 / out.offsets_bid_t as f64).min(1.0)
    };
    for (p, i) in positions.iter_mut().zip(&intents) {
        let bought = (i.buy_t as f64 * buy_ratio).floor() as u64;
        let sold = (i.sell_t as f64 * sell_ratio).floor() as u64;
        p.holdings_t = p.holdings_t + bought - sold;
        p.offsets_held_t += (i.buy_offsets_t as f64 * offset_ratio).floor() as u64;
        out.traded_t += bought;
    }

    for p in &positions {
        let (allowances, offsets) = model.surrender_plan(p, limit(p));
        assert!(allowances <= p.holdings_t && offsets <= p.offsets_held_t);
        let handed = allowances + offsets;
        out.surrendered_t += handed;
        out.offsets_used_t += offsets;
        if handed >= p.obligation_t {
            out.full += 1;
        } else {
            out.shortfall_t += p.obligation_t - handed;
            if handed == 0 {
                out.nothing += 1
            } else {
                out.partial += 1
            }
        }
    }
    out
}
