//! The worked example in `examples/` reads, and its figures hang together.

use std::collections::HashMap;
use std::path::PathBuf;

use ets_files::*;

fn read(name: &str) -> (String, String) {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "..", "examples", name]
        .iter()
        .collect();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (name.to_string(), text)
}

#[test]
fn the_worked_example_reads() {
    let (f, t) = read("companies.csv");
    let companies = parse_companies_csv(&f, &t).unwrap();
    assert_eq!(companies.len(), 3);
    assert_eq!(
        write_companies_csv(&companies),
        t,
        "companies.csv is in the writer's form"
    );
    assert_eq!(
        companies.iter().filter(|c| c.province == "Shanxi").count(),
        2
    );

    let (f, t) = read("units.csv");
    let units = parse_units_csv(&f, &t).unwrap();
    assert_eq!(units.len(), 5);
    assert_eq!(write_units_csv(&units), t);
    assert!(
        units
            .iter()
            .all(|u| companies.iter().any(|c| c.id == u.company))
    );
    assert!(units.iter().any(|u| u.category.is_gas()));
    assert!(
        units
            .iter()
            .any(|u| !u.category.is_gas() && u.cooling == ets_types::Cooling::Air)
    );

    for year in [2018, 2019, 2020] {
        let (f, t) = read(&format!("reports-{year}.csv"));
        let reports = parse_reports_csv(&f, &t).unwrap();
        assert_eq!(reports.len(), 3, "{f}");
        assert_eq!(
            write_reports_csv(&reports),
            t,
            "{f} is in the writer's form"
        );
        let reported: Vec<_> = reports.iter().flat_map(|r| &r.units).collect();
        assert_eq!(reported.len(), 5, "{f}: every unit reports");
        assert!(reports.iter().all(|r| r.year == year));
        // One CHP unit supplies heat.
        assert_eq!(
            reported
                .iter()
                .filter(|u| !u.heat_supplied_gj.is_zero())
                .count(),
            1,
            "{f}"
        );
    }

    let (f, t) = read("verifications-2019.csv");
    let verifications = parse_verifications_csv(&f, &t).unwrap();
    assert_eq!(verifications.len(), 3);
    assert_eq!(
        verifications.iter().filter(|v| v.units.is_none()).count(),
        2,
        "short rows confirm two reports"
    );
    let changed = verifications.iter().find(|v| v.units.is_some()).unwrap();
    assert_eq!(changed.findings.len(), 1);

    for year in [2018, 2020] {
        let (f, t) = read(&format!("verifications-{year}.csv"));
        let v = parse_verifications_csv(&f, &t).unwrap();
        assert_eq!(v.len(), 3, "{f}");
        assert!(
            v.iter().all(|v| v.year == year && v.units.is_none()),
            "{f}: short form"
        );
    }

    let (f, t) = read("transfers.csv");
    let transfers = parse_transfers_csv(&f, &t).unwrap();
    let (f, t) = read("surrenders.csv");
    let surrenders = parse_surrenders_csv(&f, &t).unwrap();
    assert!(!transfers.is_empty() && !surrenders.is_empty());
    // Offsets stay under 5 % of what each company surrenders.
    let mut by_company: HashMap<&str, (u64, u64)> = HashMap::new();
    for s in &surrenders {
        let e = by_company.entry(s.company.as_str()).or_default();
        e.0 += s.quantity;
        if s.unit != CEA {
            e.1 += s.quantity;
        }
    }
    assert!(
        by_company
            .values()
            .all(|(all, offsets)| offsets * 20 <= *all)
    );
}
