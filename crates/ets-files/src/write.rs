//! Writers of the CSV formats, so sample and exported files read back to the same values.

use std::borrow::Cow;

use ets_types::{Company, Decimal, GeneratingUnit, ReportInput};

use crate::activity::REPORT_COLUMNS;
use crate::registry::{COMPANY_COLUMNS, UNIT_COLUMNS};

/// A cell, quoted when it holds a separator, a quote, a line break or edge whitespace (which the
/// reader would trim).
fn cell(s: &str) -> Cow<'_, str> {
    let needs_quotes = s.contains([',', '"', '\n', '\r']) || s.trim() != s;
    if needs_quotes {
        Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(s)
    }
}

fn line(out: &mut String, cells: &[Cow<'_, str>]) {
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(c);
    }
    out.push('\n');
}

fn header(columns: &[&str]) -> String {
    let mut out = columns.join(",");
    out.push('\n');
    out
}

fn opt(d: Option<Decimal>) -> Cow<'static, str> {
    d.map_or(Cow::Borrowed(""), |d| Cow::Owned(d.to_string()))
}

/// Writes companies in the format [`crate::parse_companies_csv`] reads.
pub fn write_companies_csv(companies: &[Company]) -> String {
    let mut out = header(&COMPANY_COLUMNS);
    for c in companies {
        line(
            &mut out,
            &[cell(c.id.as_str()), cell(&c.name), cell(&c.province)],
        );
    }
    out
}

/// Writes generating units in the format [`crate::parse_units_csv`] reads.
pub fn write_units_csv(units: &[GeneratingUnit]) -> String {
    let mut out = header(&UNIT_COLUMNS);
    for u in units {
        line(
            &mut out,
            &[
                cell(u.id.as_str()),
                cell(u.company.as_str()),
                cell(u.category.key()),
                Cow::Owned(u.capacity_mw.to_string()),
                cell(u.cooling.key()),
            ],
        );
    }
    out
}

/// Writes reports in the format [`crate::parse_reports_csv`] reads: a row per fuel of each unit,
/// a row with empty fuel cells for a unit without fuel. The report's year is written for every
/// unit (a unit's own `year` is the report's in any report the parsers accept), and a report
/// without units has no row to appear in.
pub fn write_reports_csv(reports: &[ReportInput]) -> String {
    let mut out = header(&REPORT_COLUMNS);
    for r in reports {
        let (company, year) = (
            cell(r.company.as_str()),
            Cow::<str>::Owned(r.year.to_string()),
        );
        for u in &r.units {
            let unit_level = [
                Cow::Owned(u.purchased_electricity_mwh.to_string()),
                Cow::Owned(u.power_supplied_mwh.to_string()),
                Cow::Owned(u.heat_supplied_gj.to_string()),
                Cow::Owned(u.load_factor.to_string()),
            ];
            let mut row = |fuel: [Cow<'_, str>; 6]| {
                let mut cells = vec![company.clone(), year.clone(), cell(u.unit.as_str())];
                cells.extend(fuel);
                cells.extend(unit_level.iter().cloned());
                line(&mut out, &cells);
            };
            if u.fuels.is_empty() {
                row(Default::default());
            }
            for f in &u.fuels {
                row([
                    cell(&f.fuel),
                    Cow::Owned(f.consumption.to_string()),
                    opt(f.ncv_gj),
                    opt(f.carbon_content_tc_per_gj),
                    opt(f.elemental_carbon),
                    opt(f.oxidation_rate),
                ]);
            }
        }
    }
    out
}
