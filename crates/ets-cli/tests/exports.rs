//! The bureau analyst's journey on the command line (issue 14): compliance filtered by
//! province (English or Chinese) and status, with the province's own status line and fines;
//! every report as CSV for a spreadsheet, with company names; a misspelt province refused with
//! the valid spellings; a company's holdings with its allocation and what it still owes.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ets(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ets"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("ETS_DB")
        .output()
        .expect("ets runs")
}

fn ok(o: Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Rows of a CSV (RFC 4180: quoted fields with doubled quotes), header first.
fn csv(text: &str) -> Vec<Vec<String>> {
    assert!(text.ends_with("\r\n"), "CRLF line ends: {text:?}");
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    rows
}

fn column(rows: &[Vec<String>], name: &str) -> Vec<String> {
    let i = rows[0]
        .iter()
        .position(|c| c == name)
        .unwrap_or_else(|| panic!("no column {name} in {:?}", rows[0]));
    rows[1..].iter().map(|r| r[i].clone()).collect()
}

#[test]
fn a_bureau_exports_its_province_and_a_company_sees_what_it_owes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("example");
    ok(
        Command::new("bash")
            .arg(repo_root().join("examples/worked-example.sh"))
            .arg(&data)
            .env("ETS", env!("CARGO_BIN_EXE_ets"))
            .env_remove("ETS_DB")
            .output()
            .unwrap(),
        "examples/worked-example.sh",
    );

    // All companies, then Shanxi's by its Chinese name: the same rows as by its English name.
    let all = csv(&ok(ets(&data, &["report", "compliance", "--csv"]), "csv"));
    assert_eq!(all[0][..4], ["company", "name", "province", "province_zh"]);
    assert_eq!(all.len() - 1, 3, "three companies: {all:?}");
    let shanxi = ok(
        ets(
            &data,
            &["report", "compliance", "--csv", "--province", "山西省"],
        ),
        "山西",
    );
    assert_eq!(
        shanxi,
        ok(
            ets(
                &data,
                &["report", "compliance", "--csv", "--province", "shanxi"]
            ),
            "shanxi"
        )
    );
    let shanxi = csv(&shanxi);
    assert_eq!(column(&shanxi, "province"), ["Shanxi", "Shanxi"]);
    assert_eq!(column(&shanxi, "province_zh"), ["山西", "山西"]);
    assert!(column(&shanxi, "name").iter().all(|n| !n.is_empty()));

    // Companies at risk: the status filter, and the fines per company add up to the province's.
    let text = ok(
        ets(&data, &["report", "compliance", "--province", "Shanxi"]),
        "text",
    );
    let statuses = column(&shanxi, "status");
    let fines: u64 = column(&shanxi, "fine_cny")
        .iter()
        .map(|f| f.parse::<u64>().unwrap())
        .sum();
    let complied = statuses.iter().filter(|s| *s == "complied").count();
    assert!(
        text.contains(&format!("status in Shanxi: {complied} complied")),
        "the status line is the province's: {text}"
    );
    assert!(
        text.contains(&format!("fines {} CNY", ets_types::thousands(fines))),
        "{text}"
    );
    assert!(text.contains("status nationally:"), "{text}");
    for status in ["complied", "partly", "not-at-all"] {
        let rows = csv(&ok(
            ets(
                &data,
                &["report", "compliance", "--csv", "--status", status],
            ),
            status,
        ));
        let want = status.replace('-', "_");
        assert!(
            column(&rows, "status").iter().all(|s| *s == want),
            "{rows:?}"
        );
        assert_eq!(
            rows.len() - 1,
            column(&all, "status")
                .iter()
                .filter(|s| **s == want)
                .count()
        );
    }

    // The totals: the nation first, then the provinces; the JSON carries names and fines too.
    let totals = csv(&ok(
        ets(&data, &["report", "compliance", "--csv", "--totals"]),
        "totals",
    ));
    assert_eq!(column(&totals, "scope")[0], "national");
    assert_eq!(column(&totals, "name")[1..], ["Guangdong", "Shanxi"]);
    let json: serde_json::Value = serde_json::from_str(&ok(
        ets(
            &data,
            &["report", "compliance", "--json", "--province", "山西"],
        ),
        "json",
    ))
    .unwrap();
    let companies = json["companies"].as_array().unwrap();
    assert_eq!(companies.len(), 2);
    assert!(
        companies
            .iter()
            .all(|c| c["name"].is_string() && c["fine_cny"].is_u64())
    );
    assert_eq!(json["provinces"][0]["name"], "Shanxi");

    // A misspelt province is refused with the valid spellings.
    let out = ets(&data, &["report", "compliance", "--province", "Shanxii"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("\"Shanxii\" is not a province") && err.contains("Shanxi (山西)"),
        "{err}"
    );

    // The market, the allocation and the holdings as CSV.
    let days = csv(&ok(ets(&data, &["report", "market", "--csv"]), "market"));
    assert_eq!(days[0][0], "date");
    assert_eq!(column(&days, "date"), ["2022-01-05"]);
    assert_eq!(column(&days, "listed_volume_t"), ["5000"]);
    let alloc = csv(&ok(
        ets(
            &data,
            &["report", "allocation", "--csv", "--company", "SX0001"],
        ),
        "allocation",
    ));
    assert!(column(&alloc, "company").iter().all(|c| c == "SX0001"));
    assert!(column(&alloc, "stage").iter().any(|s| s == "final"));
    let held = csv(&ok(
        ets(&data, &["holdings", "GD0001", "--csv"]),
        "holdings",
    ));
    assert!(
        column(&held, "class").contains(&"CEA-2020".to_string()),
        "{held:?}"
    );

    // A company's holdings say what it was allocated and where it stands.
    let text = ok(ets(&data, &["holdings", "SX0001"]), "holdings text");
    assert!(
        text.contains("plan cn-power-2019-2020: allocated")
            && text.contains("assessed on 2022-01-04"),
        "{text}"
    );
}
