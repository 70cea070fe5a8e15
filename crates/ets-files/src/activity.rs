//! Emission reports and verifications as CSV: one row per (company, year, unit, fuel).
//!
//! Both formats share the row layout of a report; a verification adds `verifier` and `finding`
//! and may, instead of figures, confirm a report as filed with one row whose unit columns are
//! empty (or use the short form, whose header has no unit columns at all).

use std::collections::HashMap;

use ets_types::{
    CompanyId, Decimal, FuelUse, ReportInput, UnitActivity, UnitId, VerificationInput, Year,
};

use crate::error::{Errors, FileErrors};
use crate::table::{self, Cells, Columns, Row};
use crate::value;

pub(crate) const REPORT_COLUMNS: [&str; 13] = [
    "company_id",
    "year",
    "unit_id",
    "fuel",
    "consumption",
    "ncv_gj",
    "carbon_content_tc_per_gj",
    "elemental_carbon",
    "oxidation_rate",
    "purchased_electricity_mwh",
    "power_supplied_mwh",
    "heat_supplied_gj",
    "load_factor",
];

/// The columns after `company_id,year`: what a confirmation row leaves empty.
const FIGURE_COLUMNS: &[&str] = REPORT_COLUMNS.split_at(2).1;

/// Fuel-level columns: empty together on the row of a unit that burnt nothing.
const FUEL_COLUMNS: [&str; 5] = [
    "consumption",
    "ncv_gj",
    "carbon_content_tc_per_gj",
    "elemental_carbon",
    "oxidation_rate",
];

/// Unit-level columns: repeated on every fuel row of a unit, and equal there.
const UNIT_LEVEL_COLUMNS: [&str; 4] = [
    "purchased_electricity_mwh",
    "power_supplied_mwh",
    "heat_supplied_gj",
    "load_factor",
];

const VERIFICATION_EXTRA: [&str; 2] = ["verifier", "finding"];
pub(crate) const SHORT_VERIFICATION_COLUMNS: [&str; 4] =
    ["company_id", "year", "verifier", "finding"];

/// Parses an emission-report file. Rows of one (company, year) form one report, reports and
/// their units in order of first appearance, fuels in file order.
///
/// # Errors
/// Every bad cell; a missing or unknown column; unit-level cells that differ between the rows of
/// one unit; a fuel given twice for a unit; a unit reported by two companies for one year.
pub fn parse_reports_csv(file: &str, text: &str) -> Result<Vec<ReportInput>, FileErrors> {
    let mut errs = Errors::new(file);
    let Some((header, rows)) = table::read(&mut errs, text, &REPORT_COLUMNS.join(",")) else {
        return errs.fail();
    };
    let Some(cols) = table::bind(&mut errs, &header, &REPORT_COLUMNS, &[]) else {
        return errs.fail();
    };
    let groups = group(&mut errs, &cols, &rows, false);
    let reports = groups
        .into_iter()
        .map(|g| ReportInput {
            company: g.company,
            year: g.year,
            units: g.units,
        })
        .collect();
    errs.finish(reports)
}

/// Parses a verification file, full form (the report columns plus `verifier,finding`) or short
/// form (`company_id,year,verifier,finding`: every report confirmed as filed).
///
/// # Errors
/// As [`parse_reports_csv`], and: a verifier that differs between the rows of one report; a
/// report both confirmed and given with figures, or confirmed twice.
pub fn parse_verifications_csv(
    file: &str,
    text: &str,
) -> Result<Vec<VerificationInput>, FileErrors> {
    let mut errs = Errors::new(file);
    let full: Vec<&str> = REPORT_COLUMNS
        .iter()
        .chain(&VERIFICATION_EXTRA)
        .copied()
        .collect();
    let Some((header, rows)) = table::read(&mut errs, text, &full.join(",")) else {
        return errs.fail();
    };
    // The header picks the form: any unit column means the full form, with all its columns.
    let is_full = header
        .names
        .iter()
        .any(|n| FIGURE_COLUMNS.contains(&n.as_str()));
    let required: &[&'static str] = if is_full {
        &full
    } else {
        &SHORT_VERIFICATION_COLUMNS
    };
    let Some(cols) = table::bind(&mut errs, &header, required, &[]) else {
        return errs.fail();
    };
    let cols = if is_full {
        cols
    } else {
        cols.with_absent(FIGURE_COLUMNS)
    };
    let groups = group(&mut errs, &cols, &rows, true);
    let verifications = groups
        .into_iter()
        .map(|g| VerificationInput {
            company: g.company,
            year: g.year,
            verifier: g.verifier.map(|(v, _)| v).unwrap_or_default(),
            units: if g.confirmed_line.is_some() {
                None
            } else {
                Some(g.units)
            },
            findings: g.findings,
        })
        .collect();
    errs.finish(verifications)
}

/// The rows of one (company, year).
struct Group {
    company: CompanyId,
    year: Year,
    units: Vec<UnitActivity>,
    /// The confirmation row, if the report is confirmed as filed.
    confirmed_line: Option<u64>,
    /// The first row with figures.
    figures_line: Option<u64>,
    verifier: Option<(String, u64)>,
    findings: Vec<String>,
}

/// What the rows of a unit so far said, to check the next row of the unit against.
struct UnitSeen {
    company: CompanyId,
    group: usize,
    index: usize,
    line: u64,
    level: [Decimal; 4],
    fuels: Vec<(String, u64)>,
    /// The unit's row without fuel, which must stay its only row.
    bare_line: Option<u64>,
}

/// The parsed cells of one row.
struct Parsed {
    company: CompanyId,
    year: Year,
    /// `None`: a confirmation row (verifications only).
    unit: Option<(UnitId, Option<FuelUse>, [Decimal; 4])>,
    verifier: Option<String>,
    finding: Option<String>,
}

fn group(errs: &mut Errors, cols: &Columns, rows: &[Row], verification: bool) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut group_of: HashMap<(CompanyId, Year), usize> = HashMap::new();
    let mut units: HashMap<(Year, UnitId), UnitSeen> = HashMap::new();
    for row in rows {
        if errs.full() {
            break;
        }
        let mut c = Cells::new(errs, cols, row);
        let Some(p) = parse_row(&mut c, verification) else {
            continue;
        };
        let gi = *group_of
            .entry((p.company.clone(), p.year))
            .or_insert_with(|| {
                groups.push(Group {
                    company: p.company.clone(),
                    year: p.year,
                    units: Vec::new(),
                    confirmed_line: None,
                    figures_line: None,
                    verifier: None,
                    findings: Vec::new(),
                });
                groups.len() - 1
            });
        let g = &mut groups[gi];
        let what = format!("report of {} for {}", p.company, p.year);
        if let Some(verifier) = &p.verifier {
            match &g.verifier {
                Some((first, line)) if first != verifier => {
                    c.error("verifier", format!("{verifier:?} differs from {first:?} on line {line}: a report has one verifier"))
                }
                Some(_) => {}
                None => g.verifier = Some((verifier.clone(), row.line)),
            }
        }
        match p.unit {
            None => {
                if let Some(line) = g.confirmed_line {
                    c.error(
                        "company_id",
                        format!("{what} is already confirmed on line {line}"),
                    );
                } else if let Some(line) = g.figures_line {
                    c.error(
                        "unit_id",
                        format!("must not be empty: the verified figures of the {what} are given from line {line}"),
                    );
                } else {
                    g.confirmed_line = Some(row.line);
                }
            }
            Some((unit, fuel, level)) => {
                if let Some(line) = g.confirmed_line {
                    c.error(
                        "unit_id",
                        format!("the {what} is confirmed as filed on line {line}: give either that row or the verified figures"),
                    );
                    continue;
                }
                g.figures_line.get_or_insert(row.line);
                add_unit_row(&mut c, &mut units, g, gi, unit, fuel, level);
            }
        }
        if let Some(finding) = p.finding {
            g.findings.push(finding);
        }
    }
    groups
}

fn add_unit_row(
    c: &mut Cells<'_>,
    units: &mut HashMap<(Year, UnitId), UnitSeen>,
    g: &mut Group,
    gi: usize,
    unit: UnitId,
    fuel: Option<FuelUse>,
    level: [Decimal; 4],
) {
    let line = c.row.line;
    let Some(seen) = units.get_mut(&(g.year, unit.clone())) else {
        units.insert(
            (g.year, unit.clone()),
            UnitSeen {
                company: g.company.clone(),
                group: gi,
                index: g.units.len(),
                line,
                level,
                fuels: fuel.iter().map(|f| (f.fuel.clone(), line)).collect(),
                bare_line: if fuel.is_none() { Some(line) } else { None },
            },
        );
        g.units.push(UnitActivity {
            unit,
            year: g.year,
            fuels: fuel.into_iter().collect(),
            purchased_electricity_mwh: level[0],
            power_supplied_mwh: level[1],
            heat_supplied_gj: level[2],
            load_factor: level[3],
        });
        return;
    };
    if seen.group != gi {
        c.error(
            "unit_id",
            format!(
                "unit {unit} is already reported by company {} on line {} for {}",
                seen.company, seen.line, g.year
            ),
        );
        return;
    }
    for (i, name) in UNIT_LEVEL_COLUMNS.iter().enumerate() {
        if level[i] != seen.level[i] {
            c.error(
                name,
                format!(
                    "{} differs from {} on line {} for unit {unit}: unit-level figures must be the same on every row of a unit",
                    level[i], seen.level[i], seen.line
                ),
            );
        }
    }
    match (&fuel, seen.bare_line, seen.fuels.first()) {
        (_, Some(bare), _) => {
            c.error(
                "fuel",
                format!(
                    "unit {unit} has a row without fuel on line {bare}, which must be its only row"
                ),
            );
        }
        (None, None, Some((_, first))) => {
            c.error(
                "fuel",
                format!("must not be empty: unit {unit} has fuel rows from line {first}"),
            );
        }
        (Some(f), None, _) => {
            if let Some((_, dup)) = seen.fuels.iter().find(|(k, _)| *k == f.fuel) {
                c.error(
                    "fuel",
                    format!(
                        "fuel {} of unit {unit} is already reported on line {dup}",
                        f.fuel
                    ),
                );
            }
        }
        (None, None, None) => unreachable!("a unit is either bare or has fuels"),
    }
    if c.failed {
        return;
    }
    let fuel = fuel.expect("checked above: a bare row only as the unit's only row");
    seen.fuels.push((fuel.fuel.clone(), line));
    g.units[seen.index].fuels.push(fuel);
}

/// Reads one row's cells; `None` when any is bad (the errors are recorded).
fn parse_row(c: &mut Cells<'_>, verification: bool) -> Option<Parsed> {
    let company = c.required("company_id", value::company_id);
    let year = c.required("year", value::year);
    let (verifier, finding) = if verification {
        (
            c.required("verifier", value::text),
            c.optional("finding", value::text),
        )
    } else {
        (None, None)
    };
    let confirmation = verification && FIGURE_COLUMNS.iter().all(|n| c.raw(n).is_empty());
    let unit = if confirmation { None } else { parse_figures(c) };
    if c.failed {
        return None;
    }
    Some(Parsed {
        company: company?,
        year: year?,
        unit,
        verifier,
        finding,
    })
}

fn parse_figures(c: &mut Cells<'_>) -> Option<(UnitId, Option<FuelUse>, [Decimal; 4])> {
    let unit = c.required("unit_id", value::unit_id);
    let fuel = if c.raw("fuel").is_empty() {
        // A unit that burnt nothing (out of service all year) still reports its unit-level data.
        if let Some(name) = FUEL_COLUMNS.iter().find(|n| !c.raw(n).is_empty()) {
            c.error("fuel", format!("must not be empty when `{name}` is given"));
        }
        None
    } else {
        let fuel = c.required("fuel", value::fuel_key);
        let consumption = c.required("consumption", value::non_negative);
        let ncv_gj = c.optional("ncv_gj", value::positive);
        let carbon_content_tc_per_gj = c.optional("carbon_content_tc_per_gj", value::positive);
        let elemental_carbon = c.optional("elemental_carbon", value::positive);
        let oxidation_rate = c.optional("oxidation_rate", value::oxidation_rate);
        match (fuel, consumption) {
            (Some(fuel), Some(consumption)) => Some(FuelUse {
                fuel,
                consumption,
                ncv_gj,
                carbon_content_tc_per_gj,
                elemental_carbon,
                oxidation_rate,
            }),
            _ => None,
        }
    };
    let purchased = c.required("purchased_electricity_mwh", value::non_negative);
    let power = c.required("power_supplied_mwh", value::non_negative);
    let heat = c.required("heat_supplied_gj", value::non_negative);
    let load = c.required("load_factor", value::fraction);
    if c.failed {
        return None;
    }
    Some((unit?, fuel, [purchased?, power?, heat?, load?]))
}
