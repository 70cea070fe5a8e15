//! Verifications as CSV, short and full form.

use ets_files::{parse_reports_csv, parse_verifications_csv};

use crate::check;
use crate::reports::HEADER;

fn full_header() -> String {
    format!("{HEADER},verifier,finding")
}

#[test]
fn short_form_confirms_reports() {
    let text = "company_id,year,verifier,finding\nSX0001,2019,Shanxi GHG Assessment Centre,site visit 2020-05-12\nGD0001,2019,Guangdong Centre,\n";
    let v = parse_verifications_csv("v.csv", text).unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(
        (v[0].company.as_str(), v[0].year, v[0].verifier.as_str()),
        ("SX0001", 2019, "Shanxi GHG Assessment Centre")
    );
    assert_eq!(v[0].units, None);
    assert_eq!(v[0].findings, ["site visit 2020-05-12"]);
    assert!(v[1].findings.is_empty());
}

#[test]
fn full_form_gives_figures_or_confirms() {
    let text = format!(
        "{}
SX0001,2019,,,,,,,,,,,,Centre A,confirmed
SX0002,2019,G1,bituminous_coal,968200,20.18,0.02605,,,1250,1465000,4320000,0.75,Centre A,
SX0002,2019,G2,coal_gangue,628500,,,,,2980,738000,0,0.72,Centre A,gangue corrected from 620000 t to 628500 t
SX0002,2019,G2,bituminous_coal,142300,19.92,,,,2980,738000,0,0.72,Centre A,second finding
",
        full_header()
    );
    let v = parse_verifications_csv("v.csv", &text).unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0].units, None);
    assert_eq!(v[0].findings, ["confirmed"]);
    let units = v[1].units.as_ref().unwrap();
    assert_eq!(units.len(), 2);
    assert_eq!(units[1].fuels.len(), 2);
    assert_eq!(units[1].fuels[0].consumption.to_string(), "628500");
    assert_eq!(
        v[1].findings,
        [
            "gangue corrected from 620000 t to 628500 t",
            "second finding"
        ]
    );

    // The figure rows of a verification are the rows of a report.
    let report_rows: String = text
        .lines()
        .skip(2)
        .map(|l| format!("{}\n", l.rsplitn(3, ',').nth(2).unwrap()))
        .collect();
    let reports = parse_reports_csv("r.csv", &format!("{HEADER}\n{report_rows}")).unwrap();
    assert_eq!(Some(&reports[0].units), v[1].units.as_ref());
}

#[test]
fn bad_verifications() {
    let h = full_header();
    check(
        parse_verifications_csv(
            "v.csv",
            &format!(
                "{h}
SX1,2019,G1,a,1,,,,,0,1,0,0.5,Centre A,
SX1,2019,G1,b,1,,,,,0,1,0,0.5,Centre B,
SX1,2019,,,,,,,,,,,,Centre A,
SX2,2019,,,,,,,,,,,,,
SX3,2019,,,,,,,,,,,,Centre A,
SX3,2019,,,,,,,,,,,,Centre A,
SX3,2019,G1,a,1,,,,,0,1,0,0.5,Centre A,
"
            ),
        ),
        &[
            "v.csv:3: field `verifier`: \"Centre B\" differs from \"Centre A\" on line 2: a report has one verifier",
            "v.csv:4: field `unit_id`: must not be empty: the verified figures of the report of SX1 for 2019 are given from line 2",
            "v.csv:5: field `verifier`: must not be empty",
            "v.csv:7: field `company_id`: report of SX3 for 2019 is already confirmed on line 6",
            "v.csv:8: field `unit_id`: the report of SX3 for 2019 is confirmed as filed on line 6: give either that row or the verified figures",
        ],
    );
    check(
        parse_verifications_csv("v.csv", "company_id,year,verifier\nSX1,2019,A\n"),
        &["v.csv:1: field `finding`: missing column"],
    );
    // A unit column makes it the full form, which needs all its columns.
    let e = crate::errors(parse_verifications_csv(
        "v.csv",
        "company_id,year,unit_id,verifier,finding\n",
    ));
    assert_eq!(e[0], "v.csv:1: field `fuel`: missing column");
    assert_eq!(e.len(), 10);
    check(
        parse_verifications_csv(
            "v.csv",
            "company_id,year,verifier,finding\nSX1,2019,A,\nSX1,2019,A,again\n",
        ),
        &["v.csv:3: field `company_id`: report of SX1 for 2019 is already confirmed on line 2"],
    );
}
