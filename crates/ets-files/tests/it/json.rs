//! Reports and verifications as JSON.

use ets_files::{parse_reports_csv, parse_reports_json, parse_verifications_json};

use crate::{check, check_one};

/// The serde form of the reports of `reports::report_text()`, as `serde_json` writes it.
#[test]
fn reports_json_is_the_serde_form() {
    let reports = parse_reports_csv("r.csv", &crate::reports::report_text()).unwrap();
    let json = serde_json::to_string_pretty(&reports).unwrap();
    assert_eq!(parse_reports_json("r.json", &json).unwrap(), reports);
    let verifications: Vec<_> = reports
        .iter()
        .enumerate()
        .map(|(i, r)| ets_types::VerificationInput {
            company: r.company.clone(),
            year: r.year,
            verifier: "Centre A".into(),
            units: if i == 0 { None } else { Some(r.units.clone()) },
            findings: vec!["a finding".into()],
        })
        .collect();
    let json = serde_json::to_string_pretty(&verifications).unwrap();
    assert_eq!(
        parse_verifications_json("v.json", &json).unwrap(),
        verifications
    );
}

const GOOD: &str = r#"[
  {
    "company": "SX1",
    "year": 2019,
    "units": [
      {
        "unit": "G1",
        "year": 2019,
        "fuels": [
          {
            "fuel": "bituminous_coal",
            "consumption": "1342500",
            "ncv_gj": "21.61",
            "carbon_content_tc_per_gj": null
          }
        ],
        "purchased_electricity_mwh": "1720",
        "power_supplied_mwh": "3120000",
        "heat_supplied_gj": "0",
        "load_factor": "0.81"
      }
    ]
  }
]"#;

#[test]
fn optional_figures_may_be_null_or_absent() {
    let r = parse_reports_json("r.json", GOOD).unwrap();
    let f = &r[0].units[0].fuels[0];
    assert_eq!(
        (
            f.ncv_gj.map(|d| d.to_string()),
            f.carbon_content_tc_per_gj,
            f.oxidation_rate
        ),
        (Some("21.61".into()), None, None)
    );
    assert_eq!(
        parse_reports_json("r.json", "\u{feff} [ ]").unwrap(),
        vec![]
    );
}

fn edit(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from}");
    GOOD.replacen(from, to, 1)
}

#[test]
fn malformed_json_names_its_line() {
    check(
        parse_reports_json(
            "r.json",
            &edit(
                "\"year\": 2019,\n    \"units\"",
                "\"year\": 2019\n    \"units\"",
            ),
        ),
        &["r.json:5: expected `,` or `}` (column 5)"],
    );
    check(
        parse_reports_json("r.json", "[\n{\"company\": \"A\",\n"),
        &["r.json:3: EOF while parsing an object (column 0)"],
    );
    check(
        parse_reports_json("r.json", ""),
        &["r.json: empty file: expected a JSON array of reports"],
    );
    check(
        parse_reports_json("r.json", "\n{\"company\": \"A\"}"),
        &["r.json:2: expected a JSON array of reports, starting with `[`"],
    );
}

#[test]
fn unknown_and_missing_keys() {
    check_one(
        parse_reports_json(
            "r.json",
            &edit(
                "\"ncv_gj\": \"21.61\",",
                "\"ncv_gj\": \"21.61\",\n            \"colour\": \"red\",",
            ),
        ),
        "r.json",
        14,
        Some("colour"),
        "unknown field `colour`, expected one of `fuel`, `consumption`",
    );
    check_one(
        parse_reports_json("r.json", &edit(",\n        \"load_factor\": \"0.81\"", "")),
        "r.json",
        20,
        Some("load_factor"),
        "missing field `load_factor`",
    );
}

#[test]
fn wrong_types_and_values_name_key_and_line() {
    let cases: &[(&str, &str, u64, &str, &str)] = &[
        (
            "\"consumption\": \"1342500\"",
            "\"consumption\": 1342500",
            12,
            "consumption",
            "expected a decimal number written as a string, e.g. \"1234.5\", found the number 1342500",
        ),
        (
            "\"consumption\": \"1342500\"",
            "\"consumption\": \"1.3e6\"",
            12,
            "consumption",
            "\"1.3e6\" is not a plain decimal number",
        ),
        (
            "\"consumption\": \"1342500\"",
            "\"consumption\": \"-5\"",
            12,
            "consumption",
            "must not be negative, found \"-5\"",
        ),
        (
            "\"load_factor\": \"0.81\"",
            "\"load_factor\": \"81%\"",
            20,
            "load_factor",
            "is a percentage",
        ),
        (
            "\"year\": 2019,\n    \"units\"",
            "\"year\": \"2019\",\n    \"units\"",
            4,
            "year",
            "expected a year as a number, e.g. 2019, found the string \"2019\"",
        ),
        (
            "\"year\": 2019,\n    \"units\"",
            "\"year\": 1900,\n    \"units\"",
            4,
            "year",
            "1900 is not a year between 1990 and 2100",
        ),
        (
            "\"company\": \"SX1\"",
            "\"company\": \"SX 1\"",
            3,
            "company",
            "invalid CompanyId \"SX 1\"",
        ),
        (
            "\"unit\": \"G1\"",
            "\"unit\": [\"G1\"]",
            7,
            "unit",
            "expected a string, found an array",
        ),
        (
            "\"fuel\": \"bituminous_coal\"",
            "\"fuel\": \"\"",
            11,
            "fuel",
            "must not be empty",
        ),
    ];
    for (from, to, line, field, message) in cases {
        check_one(
            parse_reports_json("r.json", &edit(from, to)),
            "r.json",
            *line,
            Some(field),
            message,
        );
    }
}

#[test]
fn cross_checks_name_the_object_lines() {
    let two = format!(
        "[{},\n{}]",
        &GOOD[1..GOOD.len() - 1],
        &GOOD[1..GOOD.len() - 1]
    );
    check(
        parse_reports_json("r.json", &two),
        &[
            "r.json:26: field `company`: report of SX1 for 2019 is already given on line 2",
            "r.json:30: field `unit`: unit G1 is already given on line 6",
        ],
    );
    check(
        parse_reports_json(
            "r.json",
            &edit(
                "\"unit\": \"G1\",\n        \"year\": 2019",
                "\"unit\": \"G1\",\n        \"year\": 2020",
            ),
        ),
        &["r.json:6: field `year`: 2020 differs from the report's year 2019"],
    );
    check(
        parse_reports_json("r.json", r#"[{"company": "A", "year": 2019, "units": []}]"#),
        &["r.json:1: field `units`: must list at least one unit"],
    );
}

#[test]
fn one_error_per_report_and_all_reports_checked() {
    let bad = |company: &str| {
        GOOD[1..GOOD.len() - 1]
            .replace("\"SX1\"", company)
            .replace("\"0.81\"", "\"1.5\"")
    };
    let text = format!("[{},{}]", bad("\"A\""), bad("\"B\""));
    let e = crate::errors(parse_reports_json("r.json", &text));
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(
        e[0].starts_with("r.json:20: field `load_factor`:"),
        "{}",
        e[0]
    );
    assert!(
        e[1].starts_with("r.json:43: field `load_factor`:"),
        "{}",
        e[1]
    );
}

#[test]
fn verifications_json() {
    let text = r#"[
  {"company": "SX1", "year": 2019, "verifier": "Centre A", "units": null, "findings": ["ok"]},
  {"company": "SX2", "year": 2019, "verifier": "Centre A", "findings": []},
  {"company": "SX3", "year": 2019, "verifier": "", "units": null, "findings": []},
  {"company": "SX4", "year": 2019, "verifier": "Centre A", "units": null, "findings": "none"},
  {"company": "SX5", "year": 2019, "verifier": "Centre A", "units": null},
  {"company": "SX1", "year": 2019, "verifier": "Centre A", "units": null, "findings": [], "extra": 1}
]"#;
    check(
        parse_verifications_json("v.json", text),
        &[
            "v.json:4: field `verifier`: must not be empty",
            "v.json:5: field `findings`: expected an array of strings, found the string \"none\"",
            "v.json:6: field `findings`: missing field `findings` (column 73)",
            "v.json:7: field `extra`: unknown field `extra`, expected one of `company`, `year`, `verifier`, `units`, `findings` (column 97)",
        ],
    );
    let ok = r#"[{"company": "SX1", "year": 2019, "verifier": "Centre A", "findings": []}]"#;
    let v = parse_verifications_json("v.json", ok).unwrap();
    assert_eq!(v[0].units, None);
}
