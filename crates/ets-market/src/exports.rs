//! Tables for spreadsheets: the reports as rows of named columns, and their CSV (RFC 4180).
//! The CLI's `--csv` and the dashboard's download links print the same tables, and each
//! company row is the same object the JSON reports carry (names, province, fines included), so
//! the three forms cannot disagree. docs/reports.md describes every column.

use serde_json::{Value, json};

use crate::ComplianceReport;
use crate::Market;
use crate::allocation_report::CompanyYearAllocation;
use crate::trading::exchange::{DAY_FIELDS, Exchange};
use ets_compliance::{CompanyResult, Ratio, Totals};
use ets_types::AccountId;

/// Named columns and rows of cells (already formatted: integers, exact decimals, names).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Table {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// A table of `columns` picked from JSON objects (a missing field or null is an empty cell).
    pub fn from_objects(columns: &[&str], objects: impl IntoIterator<Item = Value>) -> Table {
        let rows = objects
            .into_iter()
            .map(|o| columns.iter().map(|c| cell(&o[*c])).collect())
            .collect();
        Table {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows,
        }
    }

    /// CSV with a header line and CRLF line ends (RFC 4180), UTF-8 without a byte-order mark.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        let mut line = |cells: &mut dyn Iterator<Item = &str>| {
            let mut first = true;
            for c in cells {
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str(&csv_field(c));
            }
            out.push_str("\r\n");
        };
        line(&mut self.columns.iter().map(String::as_str));
        for row in &self.rows {
            line(&mut row.iter().map(String::as_str));
        }
        out
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One field: quoted when it holds a comma, a quote or a line break; a text that a spreadsheet
/// would run as a formula (=, +, -, @ not followed by a number; a tab or carriage return first)
/// is prefixed with an apostrophe, so that a company name cannot become a formula on a
/// regulator's machine.
fn csv_field(s: &str) -> String {
    let formula = match s.chars().next() {
        Some('=' | '@' | '\t' | '\r') => true,
        Some('+' | '-') => s[1..].parse::<rust_decimal::Decimal>().is_err(),
        _ => false,
    };
    let s = if formula {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// A rate to 6 decimals as a JSON number (as the reports have always given it).
fn rate(r: Ratio) -> Value {
    let d = r.to_decimal(6).normalize().to_string();
    serde_json::from_str(&d).expect("a decimal is a JSON number")
}

/// A company's compliance row, as the JSON reports and the CSV give it.
pub fn company_row(m: &Market, c: &CompanyResult) -> Value {
    json!({
        "company": c.company.as_str(),
        "name": m.company(&c.company).map(|co| co.name.as_str()),
        "province": c.province,
        "province_zh": ets_types::province_zh(&c.province),
        "allocated_t": c.allocated_t,
        "verified_t": c.verified_t,
        "obligation_t": c.obligation_t,
        "surrendered_t": c.surrendered_t,
        "offsets_used_t": c.offsets_used_t,
        "shortfall_t": c.shortfall_t,
        "surplus_t": c.surplus_t,
        "status": c.status,
        "fine_cny": c.penalty.map_or(0, |p| p.fine_cny),
        "deduction_t": c.penalty.map_or(0, |p| p.deduction_t),
    })
}

/// The columns of [`company_row`], in order.
pub const COMPANY_COLUMNS: &[&str] = &[
    "company",
    "name",
    "province",
    "province_zh",
    "allocated_t",
    "verified_t",
    "obligation_t",
    "surrendered_t",
    "offsets_used_t",
    "shortfall_t",
    "surplus_t",
    "status",
    "fine_cny",
    "deduction_t",
];

/// The companies of a compliance report that `keep` selects, one row each.
pub fn compliance_companies(
    m: &Market,
    r: &ComplianceReport,
    keep: impl Fn(&CompanyResult) -> bool,
) -> Table {
    Table::from_objects(
        COMPANY_COLUMNS,
        r.companies
            .iter()
            .filter(|c| keep(c))
            .map(|c| company_row(m, c)),
    )
}

/// A group's totals (the nation or a province), as the JSON reports and the CSV give them.
pub fn totals_row(t: &Totals) -> Value {
    json!({
        "name": t.name,
        "companies": t.companies,
        "allocated_t": t.allocated_t,
        "verified_t": t.verified_t,
        "obligation_t": t.obligation_t,
        "surrendered_t": t.surrendered_t,
        "offsets_used_t": t.offsets_used_t,
        "shortfall_t": t.shortfall_t,
        "complied": t.complied,
        "partly": t.partly,
        "not_at_all": t.not_at_all,
        "fines_cny": t.fines_cny,
        "completion_rate_volume": rate(t.completion_volume),
        "completion_rate_count": rate(t.completion_count),
    })
}

/// The columns of [`totals_row`] with the scope first (`national` or `province`).
pub const TOTALS_COLUMNS: &[&str] = &[
    "scope",
    "name",
    "companies",
    "allocated_t",
    "verified_t",
    "obligation_t",
    "surrendered_t",
    "offsets_used_t",
    "shortfall_t",
    "complied",
    "partly",
    "not_at_all",
    "fines_cny",
    "completion_rate_volume",
    "completion_rate_count",
];

/// The nation's totals, then each province's that `keep` selects.
pub fn compliance_totals(r: &ComplianceReport, keep: impl Fn(&Totals) -> bool) -> Table {
    let with_scope = |scope: &str, t: &Totals| {
        let mut v = totals_row(t);
        v["scope"] = scope.into();
        v
    };
    Table::from_objects(
        TOTALS_COLUMNS,
        std::iter::once(with_scope("national", &r.national)).chain(
            r.provinces
                .iter()
                .filter(|t| keep(t))
                .map(|t| with_scope("province", t)),
        ),
    )
}

/// The market's daily figures: one row per trading day, the columns of [`DAY_FIELDS`]
/// (prices in fen per tonne, turnover in fen).
pub fn market_days(ex: &Exchange) -> Table {
    let columns: Vec<&str> = DAY_FIELDS
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| *n != "class")
        .collect();
    Table::from_objects(
        &columns,
        ex.market_days()
            .iter()
            .map(|d| serde_json::to_value(d).expect("figures serialize")),
    )
}

/// The stage figures' columns of [`allocations`], after plan, company, year, unit, category,
/// cooling, capacity and stage.
const STAGE_COLUMNS: &[&str] = &[
    "activity_year",
    "report_version",
    "power_supplied_mwh",
    "heat_supplied_gj",
    "load_factor",
    "heat_supply_ratio",
    "supply_benchmark_t_per_mwh",
    "heat_benchmark_t_per_gj",
    "share",
    "cooling_factor",
    "heat_factor",
    "load_factor_factor",
    "supply_t",
    "heat_t",
    "allocated_t",
    "computed_t",
];

/// Each generating unit's pre-allocation and final allocation, one row per unit and stage, with
/// the inputs and factors that produced it (as `ets report allocation` shows them).
pub fn allocations(sheets: &[CompanyYearAllocation]) -> Table {
    let mut columns = vec![
        "plan",
        "company",
        "year",
        "unit",
        "category",
        "cooling",
        "capacity_mw",
        "stage",
    ];
    columns.extend_from_slice(STAGE_COLUMNS);
    let mut rows = Vec::new();
    for s in sheets {
        for u in &s.units {
            let unit = serde_json::to_value(u).expect("figures serialize");
            for stage in ["pre", "final"] {
                let Value::Object(mut row) = unit[stage].clone() else {
                    continue;
                };
                row.insert("plan".into(), s.plan.clone().into());
                row.insert("company".into(), s.company.as_str().into());
                row.insert("year".into(), s.year.into());
                for k in ["unit", "category", "cooling", "capacity_mw"] {
                    row.insert(k.into(), unit[k].clone());
                }
                row.insert("stage".into(), stage.into());
                rows.push(Value::Object(row));
            }
        }
    }
    Table::from_objects(&columns, rows)
}

/// An account's holdings: one row per unit class, with what the exchange has frozen of it.
pub fn holdings(m: &Market, account: AccountId) -> Table {
    let holder = m
        .registry()
        .account(account)
        .map(|a| a.holder.clone())
        .unwrap_or_default();
    let rows = m
        .registry()
        .holdings_of(account)
        .into_iter()
        .map(|(class, q)| {
            let frozen = m
                .exchange()
                .map_or(0, |ex| ex.freezes.frozen(account, class));
            json!({
                "holder": holder,
                "account": account.to_string(),
                "class": class.to_string(),
                "kind": if class.is_offset() { "offset" } else { "allowance" },
                "vintage": class.vintage(),
                "quantity_t": q,
                "frozen_t": frozen,
                "blocks": m.registry().blocks(account, class).len(),
            })
        });
    Table::from_objects(
        &[
            "holder",
            "account",
            "class",
            "kind",
            "vintage",
            "quantity_t",
            "frozen_t",
            "blocks",
        ],
        rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        let t = Table {
            columns: vec!["a".into(), "b".into()],
            rows: vec![
                vec!["plain".into(), "-12.5".into()],
                vec!["Shanxi, Ltd \"A\"".into(), "=HYPERLINK(\"x\")".into()],
                vec!["+86 351".into(), "line\nbreak".into()],
                vec!["@SUM(A1)".into(), "".into()],
            ],
        };
        assert_eq!(
            t.to_csv(),
            "a,b\r\nplain,-12.5\r\n\"Shanxi, Ltd \"\"A\"\"\",\"'=HYPERLINK(\"\"x\"\")\"\r\n'+86 351,\"line\nbreak\"\r\n'@SUM(A1),\r\n"
        );
    }
}
