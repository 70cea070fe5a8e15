//! `ets report allocation` on the README's worked example: per-unit figures that add up to what
//! the registry recorded, with the inputs and factors of the plan file.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn ets(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ets"))
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("ets runs")
}

fn ok(o: Output, what: &str) -> String {
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "{what} failed:\n{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

fn u(v: &Value) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("{v} is not a whole number"))
}

/// The final figures of a unit in a year's sheet.
fn unit<'a>(sheets: &'a [Value], year: u64, id: &str) -> &'a Value {
    let sheet = sheets.iter().find(|s| s["year"] == year).unwrap();
    let units = sheet["units"].as_array().unwrap();
    units.iter().find(|x| x["unit"] == id).unwrap()
}

#[test]
fn per_unit_figures_of_the_worked_example_add_up_to_the_recorded_allocation() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("example");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let run = Command::new("bash")
        .arg(root.join("examples/worked-example.sh"))
        .arg(&data)
        .env("ETS", env!("CARGO_BIN_EXE_ets"))
        .output()
        .unwrap();
    ok(run, "examples/worked-example.sh");

    let json = ok(
        ets(
            &data,
            &["report", "allocation", "--company", "SX0001", "--json"],
        ),
        "report allocation --json",
    );
    let v: Value = serde_json::from_str(&json).unwrap();
    let sheets = v["allocations"].as_array().unwrap();
    assert_eq!(sheets.len(), 2, "2019 and 2020 of the one plan: {v}");
    let mut final_sum = 0;
    for s in sheets {
        assert_eq!(s["plan"], "cn-power-2019-2020");
        assert_eq!(s["company"], "SX0001");
        let units = s["units"].as_array().unwrap();
        assert_eq!(units.len(), 2, "SX0001 has two units");
        let pre: u64 = units.iter().map(|x| u(&x["pre"]["allocated_t"])).sum();
        let fin: u64 = units.iter().map(|x| u(&x["final"]["allocated_t"])).sum();
        assert_eq!(pre, u(&s["pre_t"]), "units add up to the pre-allocation");
        assert_eq!(
            fin - u(&s["deduction_t"]),
            u(&s["final_t"]),
            "units add up to the final allocation"
        );
        for x in units {
            for stage in ["pre", "final"] {
                assert_eq!(x[stage]["reproduced"], true, "{x}");
                assert_eq!(x[stage]["computed_t"], x[stage]["allocated_t"]);
            }
        }
        final_sum += fin;
    }

    // The compliance report reads the recorded final allocations by another path.
    let compliance = ok(
        ets(
            &data,
            &["report", "compliance", "--province", "Shanxi", "--json"],
        ),
        "report compliance",
    );
    let c: Value = serde_json::from_str(&compliance).unwrap();
    let sx = c["companies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["company"] == "SX0001")
        .unwrap();
    assert_eq!(u(&sx["allocated_t"]), final_sum);

    // By hand from policies/cn-power-2019-2020.toml (coal > 300 MW: 0.877 t/MWh; air cooling
    // 1.05; no heat supplied, so the heat factor is 1; pre-allocation 0.70 × 2018 output):
    //   G1 pre  3,050,000 × 0.877 × 0.70 = 1,872,395 t
    //   G2 pre  2,880,000 × 0.877 × 1.05 × 0.70 = 1,856,433.6 → 1,856,434 t
    //   G1 final 2019, F = 0.81 (band 80–85 %): 1 + 0.0014 × (85 − 81) = 1.0056;
    //           3,120,000 × 0.877 × 1.0056 = 2,751,562.944 → 2,751,563 t
    //   G2 final 2019, F = 0.78 (band 75–80 %): 1.007 + 0.0016 × (80 − 78) = 1.0102;
    //           2,940,000 × 0.877 × 1.05 × 1.0102 = 2,734,913.4498 → 2,734,913 t
    let g1 = unit(sheets, 2019, "SX0001-G1");
    let g2 = unit(sheets, 2019, "SX0001-G2");
    assert_eq!(u(&g1["pre"]["allocated_t"]), 1_872_395);
    assert_eq!(u(&g2["pre"]["allocated_t"]), 1_856_434);
    assert_eq!(u(&g1["final"]["allocated_t"]), 2_751_563);
    assert_eq!(u(&g2["final"]["allocated_t"]), 2_734_913);
    // Decimals are exact strings, never floats.
    assert_eq!(g1["final"]["load_factor_factor"], "1.0056");
    assert_eq!(g2["final"]["load_factor_factor"], "1.0102");
    assert_eq!(g2["final"]["cooling_factor"], "1.05");
    assert_eq!(g1["final"]["supply_benchmark_t_per_mwh"], "0.877");
    // Unrounded, at the scale it was computed at.
    let supply: rust_decimal::Decimal = g1["final"]["supply_t"].as_str().unwrap().parse().unwrap();
    assert_eq!(supply, "2751562.944".parse().unwrap());
    assert_eq!(g1["pre"]["share"], "0.70");
    assert_eq!(g1["pre"]["activity_year"], 2018);
    assert_eq!(g1["category"], "coal_above_300");
    assert_eq!(g2["cooling"], "air");

    // The table shows the same figures.
    let table = ok(
        ets(&data, &["report", "allocation", "--company", "SX0001"]),
        "report allocation",
    );
    for needle in [
        "Plan cn-power-2019-2020, SX0001, 2019: pre-allocation 3,728,829 t, final allocation 5,486,476 t",
        "SX0001-G2",
        "1.0102",
        "2,734,913",
    ] {
        assert!(table.contains(needle), "{needle:?} in\n{table}");
    }

    // A company that does not exist is named in the error.
    let out = ets(&data, &["report", "allocation", "--company", "SX0999"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SX0999"));
}
