//! Business dates never go back (issue 14): a `--date` before the journal's latest business
//! date is refused with both dates, and nothing is recorded; the regulator's correction of an
//! earlier day goes through with `--correction REASON`, which is journaled and which `ets verify`
//! reports; commands that record nothing refuse `--date` instead of ignoring it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ets(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ets"))
        .current_dir(repo_root())
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

fn refused(o: Output, what: &str) -> String {
    assert!(!o.status.success(), "{what} was accepted");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_date_before_the_journal_is_refused_unless_it_is_a_correction_with_a_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    ok(
        ets(
            &data,
            &[
                "--date",
                "2021-01-04",
                "plan",
                "adopt",
                "cn-power-2019-2020",
            ],
        ),
        "plan adopt",
    );
    ok(
        ets(
            &data,
            &[
                "--date",
                "2021-01-06",
                "import",
                "companies",
                "examples/companies.csv",
            ],
        ),
        "import companies",
    );
    let journal = std::fs::read(data.join("journal.log")).unwrap();

    let err = refused(
        ets(
            &data,
            &[
                "--date",
                "2021-01-05",
                "import",
                "units",
                "examples/units.csv",
            ],
        ),
        "units dated before the companies",
    );
    assert!(
        err.contains("business date 2021-01-05 is before 2021-01-06")
            && err.contains("--correction REASON"),
        "the error names both dates and the way out: {err}"
    );
    assert_eq!(
        std::fs::read(data.join("journal.log")).unwrap(),
        journal,
        "nothing was recorded"
    );

    // --correction only where it is needed, and never without a date or a reason.
    let err = refused(
        ets(
            &data,
            &[
                "--date",
                "2021-01-07",
                "--correction",
                "late listing",
                "import",
                "units",
                "examples/units.csv",
            ],
        ),
        "a correction that is not dated back",
    );
    assert!(
        err.contains("is not before the journal's latest business date 2021-01-06"),
        "{err}"
    );
    let err = refused(
        ets(
            &data,
            &["--correction", "x", "import", "units", "examples/units.csv"],
        ),
        "a correction without --date",
    );
    assert!(err.contains("give that --date"), "{err}");
    let err = refused(
        ets(
            &data,
            &[
                "--date",
                "2021-01-05",
                "--correction",
                " ",
                "import",
                "units",
                "examples/units.csv",
            ],
        ),
        "a correction without a reason",
    );
    assert!(err.contains("--correction needs a reason"), "{err}");
    assert_eq!(std::fs::read(data.join("journal.log")).unwrap(), journal);

    // The regulator's correction goes through, and its reason is in the journal.
    ok(
        ets(
            &data,
            &[
                "--date",
                "2021-01-05",
                "--correction",
                "units listed on the 5th, keyed in late",
                "import",
                "units",
                "examples/units.csv",
            ],
        ),
        "a correction dated back",
    );
    let text =
        String::from_utf8_lossy(&std::fs::read(data.join("journal.log")).unwrap()).into_owned();
    assert!(
        text.contains("(correction dated back: units listed on the 5th, keyed in late)"),
        "the reason is journaled"
    );
    let verified = ok(ets(&data, &["verify"]), "verify");
    assert!(
        verified.contains("dated before an earlier one")
            && verified.contains("dated 2021-01-05 after 2021-01-06; latest 2021-01-06"),
        "{verified}"
    );
    // The correction did not move the latest date back: the 5th is still refused.
    refused(
        ets(
            &data,
            &[
                "--date",
                "2021-01-05",
                "reports",
                "accept",
                "--year",
                "2018",
            ],
        ),
        "another command dated the 5th",
    );
}

#[test]
fn commands_that_record_nothing_refuse_a_date_instead_of_ignoring_it() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    ok(
        ets(
            &data,
            &[
                "--date",
                "2021-01-04",
                "plan",
                "adopt",
                "cn-power-2019-2020",
            ],
        ),
        "plan adopt",
    );
    for args in [
        &["--date", "2021-01-04", "report", "compliance"][..],
        &["--date", "2021-01-04", "report", "market"],
        &["--date", "2021-01-04", "holdings", "SX0001"],
        &["--date", "2021-01-04", "verify"],
        &["--date", "2021-01-04", "plan", "list"],
        &[
            "--date",
            "2021-01-04",
            "exchange",
            "book",
            "--vintage",
            "2020",
        ],
    ] {
        let err = refused(ets(&data, args), &args.join(" "));
        assert!(
            err.contains("records nothing and shows the journal as it stands"),
            "{}: {err}",
            args.join(" ")
        );
    }
}
