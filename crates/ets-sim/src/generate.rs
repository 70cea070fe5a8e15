//! The national market generator.
//!
//! Two passes over one ChaCha8 stream. The first draws the fleet: per province its companies,
//! per company an archetype and 1-4 units, per unit everything that persists across years
//! (size, cooling, CHP, fuel, efficiency, whether carbon is measured). The second draws each
//! unit-year: hours, own use, load, heat, intensity; then it works backwards from the
//! intended emissions to the fuel consumption that the MRV formula turns into them.
//! Persistent unit effects are what correlate 2018 with 2019 and 2020.

use std::collections::BTreeMap;

use ets_types::{
    Company, CompanyId, Cooling, Decimal, FuelUse, GeneratingUnit, ProjectId, UnitActivity,
    UnitCategory, UnitId, Year,
};
use rand::{Rng as _, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_decimal::prelude::ToPrimitive;

use crate::config::{ArchetypeConfig, GeneratorConfig, ProvinceConfig};
use crate::draw::{chance, dec, normal, pick, uniform};
use crate::{NationalMarket, OffsetProject};

/// Fuels the generator can assign; each must have a `[fuels.<name>]` table.
pub(crate) const FUELS_USED: &[&str] = &[
    "bituminous_coal",
    "anthracite",
    "lignite",
    "coal_gangue",
    "natural_gas",
];

/// tCO2 per tC.
const CO2_PER_C: f64 = 44.0 / 12.0;
/// GJ per MWh.
const GJ_PER_MWH: f64 = 3.6;

/// What a unit keeps from year to year.
struct UnitPlan {
    category: UnitCategory,
    capacity_mw: u32,
    cooling: Cooling,
    archetype: String,
    fuel: &'static str,
    /// Log effect on utilisation hours.
    hours_effect: f64,
    /// Additive effect on the load factor.
    load_effect: f64,
    own_use: f64,
    /// Heat-supply ratio of a CHP unit in a normal year; `None` for power-only units.
    heat_ratio: Option<f64>,
    /// Log effect on emission intensity (efficiency relative to the class).
    intensity_effect: f64,
    /// True carbon content (tC/GJ) when the unit measures it.
    measured_cc: Option<f64>,
    ncv: f64,
    measures_oxidation: bool,
}

/// Generates the national market. Same seed and config, same market: no allocation plan goes
/// in, so two plans can be compared on one fleet.
pub fn generate(seed: u64, cfg: &GeneratorConfig) -> NationalMarket {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);

    let mut companies = Vec::with_capacity(cfg.market.companies_total as usize);
    let mut units = Vec::new();
    let mut plans = Vec::new();
    for province in &cfg.provinces {
        draw_province(
            &mut rng,
            cfg,
            province,
            &mut companies,
            &mut units,
            &mut plans,
        );
    }
    assert_eq!(companies.len(), cfg.market.companies_total as usize);
    assert_eq!(units.len(), plans.len());

    let years: Vec<Year> = std::iter::once(cfg.market.base_year)
        .chain(cfg.market.compliance_years.iter().copied())
        .collect();
    let mut activity = Vec::with_capacity(units.len() * years.len());
    for &year in &years {
        for (unit, plan) in units.iter().zip(&plans) {
            activity.push(draw_activity(&mut rng, cfg, unit, plan, year));
        }
    }

    let offset_projects = draw_offsets(&mut rng, cfg);
    NationalMarket {
        companies,
        units,
        activity,
        offset_projects,
    }
}

fn draw_province(
    rng: &mut ChaCha8Rng,
    cfg: &GeneratorConfig,
    province: &ProvinceConfig,
    companies: &mut Vec<Company>,
    units: &mut Vec<GeneratingUnit>,
    plans: &mut Vec<UnitPlan>,
) {
    let names: Vec<&String> = cfg.archetypes.keys().collect();
    let weights: Vec<f64> = names
        .iter()
        .map(|n| {
            let a = &cfg.archetypes[*n];
            match cfg.archetype_category(n) {
                UnitCategory::Gas => a.weight * province.gas,
                UnitCategory::CoalUnconventional => a.weight * province.unconventional,
                _ => a.weight,
            }
        })
        .collect();
    assert!(
        weights.iter().sum::<f64>() > 0.0,
        "province {} has no archetype",
        province.name
    );

    for number in 1..=province.companies {
        let id = CompanyId::parse(&format!("{}{number:04}", province.code)).expect("code checked");
        let main = names[pick(rng, &weights)].as_str();
        let main_cfg = &cfg.archetypes[main];
        let unit_count = pick(rng, &main_cfg.unit_weights) + 1;
        for g in 1..=unit_count {
            let archetype = if g > 1 && chance(rng, main_cfg.mixed_share) {
                main_cfg.mixed_with.as_str()
            } else {
                main
            };
            let plan = draw_unit_plan(rng, cfg, province, archetype);
            units.push(GeneratingUnit {
                id: UnitId::parse(&format!("{id}-G{g}")).expect("well-formed"),
                company: id.clone(),
                category: plan.category,
                capacity_mw: plan.capacity_mw,
                cooling: plan.cooling,
            });
            plans.push(plan);
        }
        companies.push(Company {
            name: format!("{} Power Co. {number:04}", province.name),
            id,
            province: province.name.clone(),
        });
    }
}

fn draw_unit_plan(
    rng: &mut ChaCha8Rng,
    cfg: &GeneratorConfig,
    province: &ProvinceConfig,
    archetype: &str,
) -> UnitPlan {
    let a: &ArchetypeConfig = &cfg.archetypes[archetype];
    let category = cfg.archetype_category(archetype);
    let u = &cfg.units;
    let capacity_mw = a.sizes_mw[pick(rng, &a.size_weights)];
    let air_share = if category.is_gas() {
        province.air * u.gas_air_factor
    } else {
        province.air
    };
    let cooling = if chance(rng, air_share) {
        Cooling::Air
    } else {
        Cooling::Water
    };
    let heat_ratio = chance(rng, (province.chp * a.chp_factor).min(1.0))
        .then(|| uniform(rng, u.heat_ratio_min, u.heat_ratio_max));
    let fuel = match category {
        UnitCategory::Gas => "natural_gas",
        UnitCategory::CoalUnconventional
            if chance(rng, cfg.fuel_mix.gangue_share_unconventional) =>
        {
            "coal_gangue"
        }
        _ => {
            let x = uniform(rng, 0.0, 1.0);
            if x < province.anthracite {
                "anthracite"
            } else if x < province.anthracite + province.lignite {
                "lignite"
            } else {
                "bituminous_coal"
            }
        }
    };
    let f = &cfg.fuels[fuel];
    let ci = &cfg.intensity.categories[category.key()];
    let measured = chance(rng, f.measured_share);
    let cc = normal(rng, f.cc_mean, f.cc_sd).clamp(f.cc_mean * 0.9, f.cc_mean * 1.1);
    UnitPlan {
        category,
        capacity_mw,
        cooling,
        archetype: archetype.to_string(),
        fuel,
        hours_effect: normal(rng, 0.0, u.hours_unit_sd),
        load_effect: normal(rng, 0.0, u.load_unit_sd),
        own_use: normal(rng, a.own_use_mean, a.own_use_sd).clamp(0.005, 0.25),
        heat_ratio,
        intensity_effect: normal(rng, 0.0, ci.unit_sd),
        measured_cc: measured.then_some(cc),
        ncv: normal(rng, f.ncv_mean, f.ncv_sd).clamp(f.ncv_min, f.ncv_max),
        measures_oxidation: chance(rng, u.oxidation_measured_share),
    }
}

fn draw_activity(
    rng: &mut ChaCha8Rng,
    cfg: &GeneratorConfig,
    unit: &GeneratingUnit,
    plan: &UnitPlan,
    year: Year,
) -> UnitActivity {
    let u = &cfg.units;
    let ic = &cfg.intensity;
    let a = &cfg.archetypes[&plan.archetype];
    let national = cfg
        .market
        .hours
        .iter()
        .find(|h| h.year == year)
        .expect("years checked at parse time");
    let national_hours = if plan.category.is_gas() {
        national.gas
    } else {
        national.coal
    };
    let hours = (national_hours
        * a.hours_factor
        * (plan.hours_effect + normal(rng, 0.0, u.hours_year_sd)).exp())
    .clamp(u.hours_min, u.hours_max);
    let gross_mwh = f64::from(plan.capacity_mw) * hours;
    let supplied_mwh = gross_mwh * (1.0 - plan.own_use);
    let load = (u.load_mean + plan.load_effect + normal(rng, 0.0, u.load_year_sd))
        .clamp(u.load_min, u.load_max);
    let load_dec = dec(load, 4);
    let heat_ratio = plan
        .heat_ratio
        .map(|r| (r * normal(rng, 0.0, u.heat_ratio_year_sd).exp()).clamp(0.0, 0.9))
        .unwrap_or(0.0);
    let heat_gj = heat_ratio / (1.0 - heat_ratio) * GJ_PER_MWH * supplied_mwh;

    // Reported intensity per MWh: the category's reference intensity x the physical effects the
    // plan's correction factors stand for x this unit's efficiency this year.
    let ci = &ic.categories[plan.category.key()];
    let mut log_intensity = ci.log_mean + plan.intensity_effect + normal(rng, 0.0, ci.year_sd);
    if plan.measured_cc.is_none() && !plan.category.is_gas() {
        log_intensity += ic.unmeasured_log_uplift;
    }
    let mut physical = 1.0;
    if plan.category.is_gas() {
        physical *= 1.0 - ic.chp_slope_gas * heat_ratio;
    } else {
        physical *= 1.0 - ic.chp_slope_coal * heat_ratio;
        if plan.cooling == Cooling::Air {
            physical *= ic.air_cooling_penalty;
        }
    }
    if plan.category.is_conventional_coal() {
        let f = load_dec.to_f64().expect("a 4-place decimal fits f64");
        physical *= 1.0 + ic.load_curve_scale * (load_curve(f) - 1.0);
    }
    let power_t = ci.supply_t_per_mwh * physical * log_intensity.exp() * supplied_mwh;
    let heat_t = ci.heat_t_per_gj * normal(rng, 0.0, ic.heat_sd).exp() * heat_gj;
    let emissions_t = power_t + heat_t;

    // Fuel properties as reported, rounded first so consumption matches what MRV will compute.
    let f = &cfg.fuels[plan.fuel];
    let ncv = dec(
        (plan.ncv * normal(rng, 1.0, 0.01)).clamp(f.ncv_min, f.ncv_max),
        3,
    );
    let cc = plan
        .measured_cc
        .map(|c| dec(c + normal(rng, 0.0, f.cc_sd / 3.0), 6));
    let oxidation = plan
        .measures_oxidation
        .then(|| dec(uniform(rng, u.oxidation_min, u.oxidation_max), 3));
    let default_cc = if plan.category.is_gas() {
        f.default_cc
    } else {
        cfg.market.default_coal_carbon_content_tc_per_gj
    };
    let cc_f = cc.and_then(|c| c.to_f64()).unwrap_or(default_cc);
    let of_f = oxidation
        .and_then(|o| o.to_f64())
        .unwrap_or(cfg.market.default_oxidation_rate);
    let ncv_f = ncv.to_f64().expect("fits");
    let consumption = emissions_t / (ncv_f * cc_f * of_f * CO2_PER_C);
    assert!(
        consumption.is_finite() && consumption > 0.0,
        "unit {} has no fuel",
        unit.id
    );

    UnitActivity {
        unit: unit.id.clone(),
        year,
        fuels: vec![FuelUse {
            fuel: plan.fuel.to_string(),
            consumption: dec(consumption, 2),
            ncv_gj: Some(ncv),
            carbon_content_tc_per_gj: cc,
            elemental_carbon: None,
            oxidation_rate: oxidation,
        }],
        purchased_electricity_mwh: dec(gross_mwh * uniform(rng, 0.0, u.purchased_share_max), 1),
        power_supplied_mwh: dec(supplied_mwh, 1),
        heat_supplied_gj: dec(heat_gj, 1),
        load_factor: load_dec,
    }
}

/// The 2019-20 plan's load-factor correction (DOMAIN §2.3, [R]), used here as the physical
/// cost of part-load operation that it compensates.
fn load_curve(f: f64) -> f64 {
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

fn draw_offsets(rng: &mut ChaCha8Rng, cfg: &GeneratorConfig) -> Vec<OffsetProject> {
    let o = &cfg.offsets;
    let code_of: BTreeMap<&str, &str> = cfg
        .provinces
        .iter()
        .map(|p| (p.name.as_str(), p.code.as_str()))
        .collect();
    // Projects per kind in proportion to the weights (largest remainder), in config order so
    // that forestry comes first.
    let total_w: f64 = o.kinds.iter().map(|k| k.weight).sum();
    let mut counts: Vec<u32> = o
        .kinds
        .iter()
        .map(|k| (f64::from(o.projects) * k.weight / total_w).floor() as u32)
        .collect();
    let mut left = o.projects - counts.iter().sum::<u32>();
    let mut order: Vec<usize> = (0..o.kinds.len()).collect();
    order.sort_by(|&i, &j| {
        let rem =
            |k: usize| f64::from(o.projects) * o.kinds[k].weight / total_w - f64::from(counts[k]);
        rem(j).total_cmp(&rem(i)).then(i.cmp(&j))
    });
    for &i in order.iter().cycle() {
        if left == 0 {
            break;
        }
        counts[i] += 1;
        left -= 1;
    }

    let mut projects = Vec::with_capacity(o.projects as usize);
    for (kind, &count) in o.kinds.iter().zip(&counts) {
        for n in 1..=count {
            // The first project of a kind is in its first-listed province (Shanxi for forestry).
            let province = if n == 1 {
                &kind.provinces[0]
            } else {
                &kind.provinces[rng.random_range(0..kind.provinces.len())]
            };
            let code = code_of[province.as_str()];
            let credits = normal(rng, o.credits_log_mean, o.credits_log_sd)
                .exp()
                .round();
            let credits_t = (credits as u64).clamp(o.credits_min, o.credits_max);
            projects.push(OffsetProject {
                id: ProjectId::parse(&format!("CCER-{code}-{}{n:03}", kind.letter))
                    .expect("well-formed"),
                name: format!("{province} {} Project {n:03}", kind.label),
                province: province.clone(),
                kind: kind.kind.clone(),
                vintage: rng.random_range(o.vintage_min..=o.vintage_max),
                credits_t,
            });
        }
    }
    assert_eq!(projects.len(), o.projects as usize);
    projects
}

/// Combustion emissions of one unit-year in tCO2: Σ FC × NCV × CC × OF × 44/12, with the given
/// defaults where a value is not reported (measured elemental carbon, when present, replaces
/// NCV × CC). A sanity check for tests, examples and the demo, not the MRV rules: those live in
/// the MRV crate and in the policy file.
pub fn combustion_emissions_t(
    a: &UnitActivity,
    default_cc: Decimal,
    default_ncv: Decimal,
    default_of: Decimal,
) -> Decimal {
    let co2_per_c = Decimal::from(44) / Decimal::from(12);
    a.fuels
        .iter()
        .map(|f| {
            let of = f.oxidation_rate.unwrap_or(default_of);
            let carbon = match f.elemental_carbon {
                Some(c) => f.consumption * c,
                None => {
                    f.consumption
                        * f.ncv_gj.unwrap_or(default_ncv)
                        * f.carbon_content_tc_per_gj.unwrap_or(default_cc)
                }
            };
            carbon * of * co2_per_c
        })
        .sum()
}
