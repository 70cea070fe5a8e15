//! Reports as CSV.

use ets_files::{parse_reports_csv, write_reports_csv};
use ets_types::{CompanyId, Decimal, FuelUse, ReportInput, UnitActivity, UnitId};

use crate::{check, check_one};

pub const HEADER: &str = "company_id,year,unit_id,fuel,consumption,ncv_gj,carbon_content_tc_per_gj,elemental_carbon,oxidation_rate,purchased_electricity_mwh,power_supplied_mwh,heat_supplied_gj,load_factor";

fn d(s: &str) -> Decimal {
    Decimal::from_str_exact(s).unwrap()
}

pub fn report_text() -> String {
    format!(
        "{HEADER}
SX0001,2019,SX0001-G1,bituminous_coal,1342500,21.61,0.02615,,,1720,3120000,0,0.81
SX0002,2019,SX0002-G2,coal_gangue,620000,,,,,2980,738000,0,0.72
SX0002,2019,SX0002-G2,bituminous_coal,142300,19.92,,0.5655,0.98,2980,738000,0,0.72
SX0001,2019,SX0001-G2,bituminous_coal,1318700,20.92,,,,2260,2940000,0,0.78
SX0001,2019,SX0001-G3,,,,,,,0,0,0,0
"
    )
}

#[test]
fn reports_round_trip() {
    let reports = parse_reports_csv("reports.csv", &report_text()).unwrap();
    assert_eq!(reports.len(), 2);
    let sx1 = &reports[0];
    assert_eq!((sx1.company.as_str(), sx1.year), ("SX0001", 2019));
    // Units in order of first appearance, even when a report's rows are not adjacent.
    let ids: Vec<&str> = sx1.units.iter().map(|u| u.unit.as_str()).collect();
    assert_eq!(ids, ["SX0001-G1", "SX0001-G2", "SX0001-G3"]);
    assert_eq!(
        sx1.units[0],
        UnitActivity {
            unit: UnitId::parse("SX0001-G1").unwrap(),
            year: 2019,
            fuels: vec![FuelUse {
                fuel: "bituminous_coal".into(),
                consumption: d("1342500"),
                ncv_gj: Some(d("21.61")),
                carbon_content_tc_per_gj: Some(d("0.02615")),
                elemental_carbon: None,
                oxidation_rate: None,
            }],
            purchased_electricity_mwh: d("1720"),
            power_supplied_mwh: d("3120000"),
            heat_supplied_gj: d("0"),
            load_factor: d("0.81"),
        }
    );
    assert!(sx1.units[2].fuels.is_empty(), "a unit that burnt nothing");
    let sx2 = &reports[1];
    assert_eq!(sx2.company, CompanyId::parse("SX0002").unwrap());
    assert_eq!(sx2.units.len(), 1);
    let fuels: Vec<(&str, Option<Decimal>)> = sx2.units[0]
        .fuels
        .iter()
        .map(|f| (f.fuel.as_str(), f.elemental_carbon))
        .collect();
    assert_eq!(
        fuels,
        [
            ("coal_gangue", None),
            ("bituminous_coal", Some(d("0.5655")))
        ]
    );

    let written = write_reports_csv(&reports);
    assert_eq!(parse_reports_csv("again.csv", &written).unwrap(), reports);
    assert!(written.starts_with(HEADER));
}

#[test]
fn writer_quotes_nothing_needlessly() {
    let r = ReportInput {
        company: CompanyId::parse("A").unwrap(),
        year: 2020,
        units: vec![UnitActivity {
            unit: UnitId::parse("A-1").unwrap(),
            year: 2020,
            fuels: vec![],
            purchased_electricity_mwh: d("0.5"),
            power_supplied_mwh: d("1"),
            heat_supplied_gj: d("2"),
            load_factor: d("0.780"),
        }],
    };
    assert_eq!(
        write_reports_csv(&[r]),
        format!("{HEADER}\nA,2020,A-1,,,,,,,0.5,1,2,0.780\n")
    );
}

fn one(row: &str) -> Result<Vec<ReportInput>, ets_files::FileErrors> {
    parse_reports_csv("reports.csv", &format!("{HEADER}\n{row}\n"))
}

#[test]
fn reports_bad_cells() {
    let ok = "SX1,2019,G1,bituminous_coal,1000,21.5,0.026,,,10,3000,0,0.8";
    assert!(one(ok).is_ok());
    let cases: &[(&str, &str, &str)] = &[
        (
            "SX1,2019,G1,bituminous_coal,1e3,21.5,0.026,,,10,3000,0,0.8",
            "consumption",
            "\"1e3\" is not a plain decimal number",
        ),
        (
            "SX1,2019,G1,bituminous_coal,NaN,21.5,0.026,,,10,3000,0,0.8",
            "consumption",
            "not a plain decimal number",
        ),
        (
            "SX1,2019,G1,bituminous_coal,\"1,000\",21.5,0.026,,,10,3000,0,0.8",
            "consumption",
            "not a plain decimal number",
        ),
        (
            "SX1,2019,G1,bituminous_coal,-1000,21.5,0.026,,,10,3000,0,0.8",
            "consumption",
            "must not be negative, found \"-1000\"",
        ),
        (
            "SX1,2019,G1,bituminous_coal,,21.5,0.026,,,10,3000,0,0.8",
            "consumption",
            "must not be empty",
        ),
        (
            "SX1,2019,G1,bituminous_coal,1000,0,0.026,,,10,3000,0,0.8",
            "ncv_gj",
            "must be greater than 0",
        ),
        (
            "SX1,2019,G1,bituminous_coal,1000,21.5,abc,,,10,3000,0,0.8",
            "carbon_content_tc_per_gj",
            "not a plain decimal",
        ),
        (
            "SX1,2019,G1,bituminous_coal,1000,21.5,,-0.5,,10,3000,0,0.8",
            "elemental_carbon",
            "must not be negative",
        ),
        (
            "SX1,2019,G1,bituminous_coal,1000,21.5,,,99,10,3000,0,0.8",
            "oxidation_rate",
            "not a fraction between 0 and 1",
        ),
        (
            "SX1,2019,G1,bituminous_coal,1000,21.5,0.026,,,,3000,0,0.8",
            "purchased_electricity_mwh",
            "must not be empty",
        ),
        (
            "SX1,2019,G1,bituminous_coal,1000,21.5,0.026,,,10,3000,-1,0.8",
            "heat_supplied_gj",
            "must not be negative",
        ),
        (
            "SX1,2019,G1,bituminous_coal,1000,21.5,0.026,,,10,3000,0,78%",
            "load_factor",
            "\"78%\" is a percentage: write a fraction between 0 and 1, e.g. 0.78",
        ),
        (
            "SX1,2019,G1,bituminous_coal,1000,21.5,0.026,,,10,3000,0,78",
            "load_factor",
            "not a fraction between 0 and 1",
        ),
        (
            "SX1,1989,G1,bituminous_coal,1000,21.5,0.026,,,10,3000,0,0.8",
            "year",
            "\"1989\" is not a year between 1990 and 2100",
        ),
        (
            "SX1,2019,G1,Bituminous Coal,1000,21.5,0.026,,,10,3000,0,0.8",
            "fuel",
            "is not a fuel key",
        ),
        (
            "SX1,2019,G1,,1000,,,,,10,3000,0,0.8",
            "fuel",
            "must not be empty when `consumption` is given",
        ),
        (
            "SX1,2019,,bituminous_coal,1000,,,,,10,3000,0,0.8",
            "unit_id",
            "must not be empty",
        ),
        (
            "SX 1,2019,G1,bituminous_coal,1000,,,,,10,3000,0,0.8",
            "company_id",
            "invalid CompanyId",
        ),
    ];
    for (row, field, message) in cases {
        check_one(one(row), "reports.csv", 2, Some(field), message);
    }
}

#[test]
fn reports_bad_header() {
    let no_load = HEADER.replace(",load_factor", "");
    check(
        parse_reports_csv("r.csv", &format!("{no_load}\n")),
        &["r.csv:1: field `load_factor`: missing column"],
    );
    let text = format!("{HEADER},comment\n");
    let e = crate::errors(parse_reports_csv("r.csv", &text));
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with(
            "r.csv:1: field `comment`: unknown column; expected columns company_id,year,unit_id,"
        ),
        "{}",
        e[0]
    );
}

#[test]
fn unit_level_cells_must_agree() {
    let text = format!(
        "{HEADER}
SX1,2019,G1,coal_gangue,600000,,,,,2980,738000,0,0.72

SX1,2019,G1,bituminous_coal,142300,19.92,,,,2980,738001,0,0.70
"
    );
    check(
        parse_reports_csv("reports.csv", &text),
        &[
            "reports.csv:4: field `power_supplied_mwh`: 738001 differs from 738000 on line 2 for unit G1: unit-level figures must be the same on every row of a unit",
            "reports.csv:4: field `load_factor`: 0.70 differs from 0.72 on line 2 for unit G1: unit-level figures must be the same on every row of a unit",
        ],
    );
    // Equal values in another spelling agree.
    let same = format!(
        "{HEADER}\nSX1,2019,G1,a,1,,,,,2980,738000,0,0.72\nSX1,2019,G1,b,1,,,,,2980.0,738000,0,0.720\n"
    );
    assert!(parse_reports_csv("reports.csv", &same).is_ok());
}

#[test]
fn duplicates_across_rows() {
    let text = format!(
        "{HEADER}
SX1,2019,G1,coal_gangue,1,,,,,0,1,0,0.5
SX1,2019,G1,coal_gangue,2,,,,,0,1,0,0.5
SX2,2019,G1,coal_gangue,1,,,,,0,1,0,0.5
SX1,2020,G1,coal_gangue,1,,,,,0,1,0,0.5
SX1,2019,G2,,,,,,,0,0,0,0
SX1,2019,G2,natural_gas,1,,,,,0,0,0,0
"
    );
    check(
        parse_reports_csv("reports.csv", &text),
        &[
            "reports.csv:3: field `fuel`: fuel coal_gangue of unit G1 is already reported on line 2",
            "reports.csv:4: field `unit_id`: unit G1 is already reported by company SX1 on line 2 for 2019",
            "reports.csv:7: field `fuel`: unit G2 has a row without fuel on line 6, which must be its only row",
        ],
    );
}

#[test]
fn a_quoted_line_break_keeps_line_numbers() {
    let text = format!(
        "{HEADER}\nSX1,2019,G1,a,1,,,,,0,1,0,0.5\n\"SX\n2\",2019,G2,a,1,,,,,0,1,0,0.5\nSX3,2019,G3,a,x,,,,,0,1,0,0.5\n"
    );
    let e = crate::errors(parse_reports_csv("reports.csv", &text));
    assert_eq!(e.len(), 2);
    assert!(
        e[0].starts_with("reports.csv:3: field `company_id`: must not contain control characters")
            || e[0].starts_with("reports.csv:3: field `company_id`: invalid CompanyId"),
        "{}",
        e[0]
    );
    assert!(
        e[1].starts_with("reports.csv:5: field `consumption`: \"x\" is not a plain decimal"),
        "{}",
        e[1]
    );
}
