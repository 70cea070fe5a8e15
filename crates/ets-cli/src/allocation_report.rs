//! `ets report allocation`: each generating unit's pre-allocation and final allocation with the
//! inputs and correction factors that produced it ([`ets_market::Market::unit_allocations`]), as
//! a table or as JSON (the same document as `GET /api/allocations`).

use std::io::Write;

use anyhow::{Context, Result};
use ets_market::{CompanyYearAllocation, StageFigures};
use ets_types::CompanyId;

use crate::output::t;
use crate::steps::{Ctx, snapshot};

pub fn report_allocation(
    ctx: &Ctx,
    plan: Option<&str>,
    company: Option<&str>,
    format: crate::Format,
) -> Result<()> {
    let company = company
        .map(|c| CompanyId::parse(c).with_context(|| format!("--company {c:?}")))
        .transpose()?;
    let store = snapshot(ctx)?;
    let sheets = store.market().unit_allocations(plan, company.as_ref())?;
    let mut out = std::io::stdout().lock();
    if format.csv {
        out.write_all(
            ets_market::exports::allocations(&sheets)
                .to_csv()
                .as_bytes(),
        )?;
        Ok(())
    } else if format.json {
        write_json(&sheets, &mut out)
    } else {
        print(&sheets, &mut out)
    }
}

/// `{"allocations": [...]}`: tonnes as integers, every decimal as an exact string.
pub fn write_json(sheets: &[CompanyYearAllocation], out: &mut impl Write) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, &serde_json::json!({ "allocations": sheets }))?;
    writeln!(out)?;
    Ok(())
}

/// One block per plan, company and year: its recorded totals, then a line per unit and stage.
pub fn print(sheets: &[CompanyYearAllocation], out: &mut impl Write) -> Result<()> {
    if sheets.is_empty() {
        writeln!(out, "no allocation recorded")?;
        return Ok(());
    }
    let mut differs = false;
    for s in sheets {
        let total = |x: Option<u64>| x.map_or_else(|| "—".to_string(), |n| format!("{} t", t(n)));
        writeln!(
            out,
            "\nPlan {}, {}, {}: pre-allocation {}, final allocation {}",
            s.plan,
            s.company,
            s.year,
            total(s.pre_t),
            total(s.final_t)
        )?;
        writeln!(
            out,
            "{:<14} {:<20} {:<6} {:<6} {:<5} {:>12} {:>12} {:>6} {:>7} {:>9} {:>9} {:>6} {:>8} {:>8} {:>8} {:>20} {:>14} {:>13}",
            "unit",
            "category",
            "cool",
            "stage",
            "data",
            "power MWh",
            "heat GJ",
            "load",
            "ratio",
            "bm t/MWh",
            "bm t/GJ",
            "share",
            "cooling",
            "heat f",
            "load f",
            "supply t",
            "heat t",
            "allocated t"
        )?;
        for u in &s.units {
            let stages = [("pre", &u.pre_allocation), ("final", &u.final_allocation)];
            let mut first = true;
            for (stage, f) in stages {
                let Some(f) = f else { continue };
                let (unit, category, cooling) = if first {
                    (u.unit.as_str(), u.category.key(), u.cooling.key())
                } else {
                    ("", "", "")
                };
                first = false;
                differs |= !f.reproduced;
                stage_row(out, [unit, category, cooling, stage], f)?;
            }
        }
        if s.deduction_t > 0 {
            writeln!(
                out,
                "deduction for an earlier shortfall: -{} t of the final allocation",
                t(s.deduction_t)
            )?;
        }
    }
    if differs {
        writeln!(
            out,
            "\n* the recorded tonnes differ from what these figures give now (see computed_t in --json)"
        )?;
    }
    Ok(())
}

fn stage_row(out: &mut impl Write, labels: [&str; 4], f: &StageFigures) -> std::io::Result<()> {
    let [unit, category, cooling, stage] = labels;
    writeln!(
        out,
        "{unit:<14} {category:<20} {cooling:<6} {stage:<6} {:<5} {:>12} {:>12} {:>6} {:>7} {:>9} {:>9} {:>6} {:>8} {:>8} {:>8} {:>20} {:>14} {:>13}{}",
        f.activity_year,
        f.power_supplied_mwh,
        f.heat_supplied_gj,
        f.load_factor,
        // The ratio is an intermediate of the heat factor, shown to 4 decimals (exact in JSON).
        f.heat_supply_ratio.round_dp(4),
        f.supply_benchmark_t_per_mwh,
        f.heat_benchmark_t_per_gj,
        f.share,
        f.cooling_factor,
        f.heat_factor,
        f.load_factor_factor,
        // Same value, without the trailing zeros of the multiplications' scale.
        f.supply_t.normalize(),
        f.heat_t.normalize(),
        t(f.allocated_t),
        if f.reproduced { "" } else { " *" },
    )
}
