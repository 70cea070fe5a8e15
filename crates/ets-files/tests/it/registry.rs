//! companies.csv and units.csv.

use ets_files::{
    ERRORS_MAX, parse_companies_csv, parse_units_csv, write_companies_csv, write_units_csv,
};
use ets_types::{Company, CompanyId, Cooling, GeneratingUnit, UnitCategory, UnitId};

use crate::{check, check_one, errors};

const COMPANIES: &str = "\
company_id,name,province
SX0001,\"Yungang Power Generation Co., Ltd.\",Shanxi
GD0001,Pearl River Gas Power,Guangdong
";

#[test]
fn companies_round_trip() {
    let companies = parse_companies_csv("companies.csv", COMPANIES).unwrap();
    assert_eq!(
        companies,
        vec![
            Company {
                id: CompanyId::parse("SX0001").unwrap(),
                name: "Yungang Power Generation Co., Ltd.".into(),
                province: "Shanxi".into()
            },
            Company {
                id: CompanyId::parse("GD0001").unwrap(),
                name: "Pearl River Gas Power".into(),
                province: "Guangdong".into()
            },
        ]
    );
    assert_eq!(write_companies_csv(&companies), COMPANIES);
    // Quotes, edge spaces and commas survive a write and a read.
    let odd = vec![Company {
        id: CompanyId::parse("X1").unwrap(),
        name: "The \"Big\", Plant".into(),
        province: "Shanxi".into(),
    }];
    assert_eq!(
        parse_companies_csv("x.csv", &write_companies_csv(&odd)).unwrap(),
        odd
    );
}

#[test]
fn companies_tolerate_bom_blank_lines_whitespace_and_column_order() {
    let text = "\u{feff}province , company_id,name\r\n\r\n  Shanxi ,SX0001 ,  Yungang  \r\n   \r\n";
    let companies = parse_companies_csv("companies.csv", text).unwrap();
    assert_eq!(companies.len(), 1);
    assert_eq!(
        (
            companies[0].id.as_str(),
            companies[0].name.as_str(),
            companies[0].province.as_str()
        ),
        ("SX0001", "Yungang", "Shanxi")
    );
    assert_eq!(
        parse_companies_csv("companies.csv", "company_id,name,province\n").unwrap(),
        vec![]
    );
}

#[test]
fn companies_bad_header() {
    check(
        parse_companies_csv("companies.csv", "company_id,name\nSX0001,A\n"),
        &["companies.csv:1: field `province`: missing column"],
    );
    check(
        parse_companies_csv(
            "companies.csv",
            "company_id,name,province,colour\nSX0001,A,Shanxi,red\n",
        ),
        &[
            "companies.csv:1: field `colour`: unknown column; expected columns company_id,name,province",
        ],
    );
    check(
        parse_companies_csv("companies.csv", "company_id,name,province,name\n"),
        &["companies.csv:1: field `name`: column appears twice"],
    );
    check(
        parse_companies_csv("companies.csv", ""),
        &["companies.csv: empty file: expected a header line `company_id,name,province`"],
    );
    check(
        parse_companies_csv("companies.csv", "\n  \n"),
        &["companies.csv: empty file: expected a header line `company_id,name,province`"],
    );
}

#[test]
fn companies_bad_rows() {
    let text = "company_id,name,province\nSX0001,A,Shanxi\nSX0002,B,\nSX 3,C,Shanxi\nSX0001,D,Shanxi\nSX0004,E\n";
    check(
        parse_companies_csv("companies.csv", text),
        &[
            "companies.csv:3: field `province`: must not be empty",
            "companies.csv:4: field `company_id`: invalid CompanyId \"SX 3\": expected 1 to 64 characters of A-Z, a-z, 0-9, '-', '_', '.'",
            "companies.csv:5: field `company_id`: company SX0001 is already listed on line 2",
            "companies.csv:6: expected 3 cells, found 2",
        ],
    );
}

#[test]
fn errors_stop_at_the_cap() {
    let mut text = String::from("company_id,name,province\n");
    for _ in 0..50 {
        text.push_str("SX0001,,\n");
    }
    let e = errors(parse_companies_csv("companies.csv", &text));
    assert_eq!(e.len(), ERRORS_MAX);
    assert_eq!(e[0], "companies.csv:2: field `name`: must not be empty");
}

const UNITS: &str = "\
unit_id,company_id,category,capacity_mw,cooling
SX0001-G1,SX0001,coal_above_300,600,water
SX0001-G2,SX0001,coal_unconventional,135,air
GD0001-G1,GD0001,gas,390,water
";

#[test]
fn units_round_trip() {
    let units = parse_units_csv("units.csv", UNITS).unwrap();
    assert_eq!(units.len(), 3);
    assert_eq!(
        units[1],
        GeneratingUnit {
            id: UnitId::parse("SX0001-G2").unwrap(),
            company: CompanyId::parse("SX0001").unwrap(),
            category: UnitCategory::CoalUnconventional,
            capacity_mw: 135,
            cooling: Cooling::Air,
        }
    );
    assert_eq!(write_units_csv(&units), UNITS);
    assert_eq!(
        parse_units_csv("units.csv", &write_units_csv(&units)).unwrap(),
        units
    );
}

#[test]
fn units_bad_cells() {
    let header = "unit_id,company_id,category,capacity_mw,cooling\n";
    let f = |row: &str| parse_units_csv("units.csv", &format!("{header}{row}\n"));
    check_one(
        f("G1,SX0001,coal,600,water"),
        "units.csv",
        2,
        Some("category"),
        "\"coal\" is not a unit category: expected one of coal_above_300, coal_up_to_300, coal_unconventional, gas",
    );
    check_one(
        f("G1,SX0001,gas,600,wet"),
        "units.csv",
        2,
        Some("cooling"),
        "\"wet\" is not a cooling type: expected water or air",
    );
    check_one(
        f("G1,SX0001,gas,600.5,water"),
        "units.csv",
        2,
        Some("capacity_mw"),
        "\"600.5\" is not a whole number of MW",
    );
    check_one(
        f("G1,SX0001,gas,-600,water"),
        "units.csv",
        2,
        Some("capacity_mw"),
        "must not be negative, found \"-600\"",
    );
    check_one(
        f("G1,SX0001,gas,6e2,water"),
        "units.csv",
        2,
        Some("capacity_mw"),
        "not a whole number",
    );
    check_one(
        f("G1,SX0001,gas,,water"),
        "units.csv",
        2,
        Some("capacity_mw"),
        "must not be empty",
    );
    check_one(
        f("G1,SX/1,gas,600,water"),
        "units.csv",
        2,
        Some("company_id"),
        "invalid CompanyId \"SX/1\"",
    );
    check_one(
        f("G#1,SX1,gas,600,water"),
        "units.csv",
        2,
        Some("unit_id"),
        "invalid UnitId \"G#1\"",
    );
    check(
        f("G1,SX1,gas,600,water\nG2,SX1,gas,600,water\nG1,SX2,gas,300,air"),
        &["units.csv:4: field `unit_id`: unit G1 is already listed on line 2"],
    );
    check(
        parse_units_csv("units.csv", "unit_id,company_id,category,cooling\n"),
        &["units.csv:1: field `capacity_mw`: missing column"],
    );
}

#[test]
fn csv_quoting_is_strict() {
    let h = "company_id,name,province\n";
    let f = |rows: &str| parse_companies_csv("c.csv", &format!("{h}{rows}"));
    check(
        f("SX1,\"A\" B,Shanxi\n"),
        &["c.csv:2: unexpected 'B' after a closing quote: a quoted cell ends at its quote"],
    );
    check(
        f("SX1,A \"B\",Shanxi\n"),
        &[
            "c.csv:2: a quote inside an unquoted cell: quote the whole cell and double the quote (\"\")",
        ],
    );
    check(
        f("SX1,B,Shanxi\nSX2,\"A,Shanxi\nSX3,C,Shanxi\n"),
        &["c.csv:3: a quote opened on this line is never closed"],
    );
    // CRLF, CR and LF line ends and blank lines all count as lines.
    check(
        f("SX1,A,Shanxi\r\n\r\nSX2,,Shanxi\rSX3,C,\n"),
        &[
            "c.csv:4: field `name`: must not be empty",
            "c.csv:5: field `province`: must not be empty",
        ],
    );
    // A line break inside quotes is part of the cell; the next row's line number counts it.
    check(
        f("SX1,\"A\nB\",Shanxi\nSX2,,Shanxi\n"),
        &[
            "c.csv:2: field `name`: must not contain control characters (tabs, line breaks)",
            "c.csv:4: field `name`: must not be empty",
        ],
    );
    let c = parse_companies_csv(
        "c.csv",
        &format!("{h}SX1, \"Quoted \"\"Name\"\", Ltd.\" ,Shanxi"),
    )
    .unwrap();
    assert_eq!(c[0].name, "Quoted \"Name\", Ltd.");
}

#[test]
fn json_element_of_the_wrong_kind() {
    check(
        ets_files::parse_reports_json("r.json", "[\n  1\n]"),
        &["r.json:2: invalid type: integer `1`, expected a report object (column 3)"],
    );
}
