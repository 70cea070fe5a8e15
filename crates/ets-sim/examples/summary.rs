//! Prints the figures of a default run: `cargo run -p ets-sim --release --example summary [seed]`.
//!
//! docs/market-generator.md quotes this output for seed 2021.

#[path = "../tests/support/cycle.rs"]
mod cycle;

use std::collections::BTreeMap;
use std::time::Instant;

use ets_sim::{GeneratorConfig, generate};
use ets_types::{Cooling, UnitCategory};
use rust_decimal::prelude::ToPrimitive;

fn main() {
    let seed: u64 = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("seed is a u64"))
        .unwrap_or(2021);
    let cfg = GeneratorConfig::default_cn_power();
    let bench = cycle::benchmarks_2019_2020();
    let started = Instant::now();
    let market = generate(seed, &cfg);
    let elapsed = started.elapsed();
    println!(
        "seed {seed}: generate() took {:.1} ms",
        elapsed.as_secs_f64() * 1e3
    );
    println!(
        "companies {}, units {}, unit-years {}",
        market.companies.len(),
        market.units.len(),
        market.activity.len()
    );

    // Units, capacity and companies (by the category of their largest capacity) per category.
    let mut by_cat: BTreeMap<UnitCategory, (u32, u64, u32, u32, u32)> = BTreeMap::new();
    let mut company_cap: BTreeMap<_, BTreeMap<UnitCategory, u64>> = BTreeMap::new();
    for u in &market.units {
        let e = by_cat.entry(u.category).or_default();
        e.0 += 1;
        e.1 += u64::from(u.capacity_mw);
        e.3 += u32::from(u.cooling == Cooling::Air);
        *company_cap
            .entry(&u.company)
            .or_default()
            .entry(u.category)
            .or_default() += u64::from(u.capacity_mw);
    }
    for caps in company_cap.values() {
        let main = caps
            .iter()
            .max_by_key(|(_, c)| **c)
            .map(|(k, _)| *k)
            .unwrap();
        by_cat.get_mut(&main).unwrap().2 += 1;
    }
    let chp: u32 = market
        .activity
        .iter()
        .filter(|a| a.year == 2019 && !a.heat_supplied_gj.is_zero())
        .count() as u32;
    println!("category               units  capacity_GW  companies  air_cooled");
    for (cat, (n, cap, comp, air, _)) in &by_cat {
        println!(
            "{:<22} {n:>5}  {:>11.1}  {comp:>9}  {air:>10}",
            cat.key(),
            *cap as f64 / 1000.0
        );
    }
    println!("CHP units (heat > 0 in 2019): {chp}");

    let cats: BTreeMap<_, _> = market.units.iter().map(|u| (&u.id, u.category)).collect();
    for year in
        std::iter::once(cfg.market.base_year).chain(cfg.market.compliance_years.iter().copied())
    {
        let acts: Vec<_> = market.activity.iter().filter(|a| a.year == year).collect();
        let e: f64 = acts
            .iter()
            .map(|a| cycle::emissions_t(a).to_f64().unwrap())
            .sum();
        let supply: f64 = acts
            .iter()
            .map(|a| a.power_supplied_mwh.to_f64().unwrap())
            .sum();
        let heat: f64 = acts
            .iter()
            .map(|a| a.heat_supplied_gj.to_f64().unwrap())
            .sum();
        let mut bands = [0u32; 4];
        for a in &acts {
            let f = a.load_factor.to_f64().unwrap();
            bands[if f >= 0.85 {
                0
            } else if f >= 0.80 {
                1
            } else if f >= 0.75 {
                2
            } else {
                3
            }] += 1;
        }
        let measured = acts
            .iter()
            .filter(|a| cats[&a.unit] != UnitCategory::Gas)
            .filter(|a| a.fuels[0].carbon_content_tc_per_gj.is_some())
            .count() as f64
            / acts
                .iter()
                .filter(|a| cats[&a.unit] != UnitCategory::Gas)
                .count() as f64;
        println!(
            "{year}: emissions {:.3} Gt, supplied {:.0} TWh, heat {:.2} bn GJ, load bands >=.85/.80-.85/.75-.80/<.75 = {:?}, coal CC measured {:.1} %",
            e / 1e9,
            supply / 1e6,
            heat / 1e9,
            bands,
            100.0 * measured
        );
    }
    let credits: u64 = market.offset_projects.iter().map(|p| p.credits_t).sum();
    let forestry = market
        .offset_projects
        .iter()
        .filter(|p| p.kind == "forestry")
        .count();
    println!(
        "offset projects {} ({} forestry, first {} {:?}), credits {:.1} Mt",
        market.offset_projects.len(),
        forestry,
        market.offset_projects[0].id,
        market.offset_projects[0].name,
        credits as f64 / 1e6
    );

    let o = cycle::run_cycle(
        &market,
        &cfg.market.compliance_years,
        &bench,
        seed,
        &cfg.behaviour,
    );
    println!(
        "cycle: {} companies, {} exempt, {} in deficit; allocation {:.3} Gt, emissions {:.3} Gt, obligation {:.3} Gt, gap {:.1} Mt",
        o.companies,
        o.exempt,
        o.in_deficit,
        o.allocation_t as f64 / 1e9,
        o.emissions_t as f64 / 1e9,
        o.obligation_t as f64 / 1e9,
        o.gap_t as f64 / 1e6
    );
    println!(
        "market: offered {:.1} Mt, bid {:.1} Mt, traded {:.1} Mt, offsets bid {:.1} Mt, used {:.1} Mt",
        o.offered_t as f64 / 1e6,
        o.bid_t as f64 / 1e6,
        o.traded_t as f64 / 1e6,
        o.offsets_bid_t as f64 / 1e6,
        o.offsets_used_t as f64 / 1e6
    );
    println!(
        "surrender: full {}, partial {}, nothing {}, shortfall {:.1} Mt, completion by volume {:.2} %",
        o.full,
        o.partial,
        o.nothing,
        o.shortfall_t as f64 / 1e6,
        o.completion_pct()
    );
}
