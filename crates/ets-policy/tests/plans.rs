//! The shipped plans parse with the values of DOMAIN.md, and every broken plan is rejected with
//! an error that names the file and the key path.

use ets_policy::{CorrectionFactor, FuelUnit, LoadFactorFormula, Plan, Problem, Rounding};
use ets_types::{Cooling, Date, UnitCategory};
use rust_decimal_macros::dec;

const P2019: &str = include_str!("../../../policies/cn-power-2019-2020.toml");

#[test]
fn builtin_ids_all_parse() {
    assert_eq!(
        Plan::builtin_ids(),
        &["cn-power-2019-2020", "cn-power-2021-2022"]
    );
    for id in Plan::builtin_ids() {
        let plan = Plan::builtin(id).expect("shipped plan");
        assert_eq!(plan.id, *id);
        for fuel in [
            "bituminous_coal",
            "anthracite",
            "lignite",
            "coal_gangue",
            "natural_gas",
            "fuel_oil",
        ] {
            assert!(plan.mrv.fuels.contains_key(fuel), "{id} lacks fuel {fuel}");
        }
    }
    assert!(Plan::builtin("cn-power-2099").is_none());
}

#[test]
fn first_cycle_values() {
    let p = Plan::builtin("cn-power-2019-2020").unwrap();
    assert_eq!(p.years, vec![2019, 2020]);
    assert_eq!(p.base_year, 2018);
    let a = &p.allocation;
    for y in [2019, 2020] {
        assert_eq!(
            a.benchmark(UnitCategory::CoalAbove300, y)
                .unwrap()
                .supply_t_per_mwh,
            dec!(0.877)
        );
        assert_eq!(
            a.benchmark(UnitCategory::CoalUpTo300, y)
                .unwrap()
                .supply_t_per_mwh,
            dec!(0.979)
        );
        assert_eq!(
            a.benchmark(UnitCategory::CoalUnconventional, y)
                .unwrap()
                .supply_t_per_mwh,
            dec!(1.146)
        );
        assert_eq!(
            a.benchmark(UnitCategory::Gas, y).unwrap().supply_t_per_mwh,
            dec!(0.392)
        );
        assert_eq!(
            a.benchmark(UnitCategory::CoalAbove300, y)
                .unwrap()
                .heat_t_per_gj,
            dec!(0.126)
        );
        assert_eq!(
            a.benchmark(UnitCategory::Gas, y).unwrap().heat_t_per_gj,
            dec!(0.059)
        );
    }
    assert_eq!(
        a.cooling_factor(UnitCategory::CoalAbove300, Cooling::Air),
        Some(dec!(1.05))
    );
    assert_eq!(
        a.cooling_factor(UnitCategory::CoalAbove300, Cooling::Water),
        Some(dec!(1.00))
    );
    assert_eq!(
        a.cooling_factor(UnitCategory::Gas, Cooling::Air),
        Some(dec!(1.00))
    );
    assert_eq!(
        a.heat_supply.coefficient[&UnitCategory::CoalUpTo300],
        dec!(0.22)
    );
    assert_eq!(a.heat_supply.coefficient[&UnitCategory::Gas], dec!(0.6));
    assert_eq!(a.heat_supply.power_heat_equivalent_gj_per_mwh, dec!(3.6));
    assert_eq!(
        a.load_factor.categories,
        vec![UnitCategory::CoalAbove300, UnitCategory::CoalUpTo300]
    );
    assert_eq!(a.load_factor.bands.len(), 4);
    assert_eq!(
        a.load_factor.bands[0].formula,
        LoadFactorFormula::Power {
            base: dec!(1.015),
            a: dec!(16),
            b: dec!(20)
        }
    );
    assert_eq!(
        a.load_factor.bands[2].formula,
        LoadFactorFormula::Linear {
            intercept: dec!(1),
            slope: dec!(0.0014),
            pivot: dec!(85)
        }
    );
    assert_eq!(a.pre_allocation.share, dec!(0.70));
    assert_eq!(a.pre_allocation.base_year, 2018);
    assert_eq!(
        a.pre_allocation.factors,
        vec![CorrectionFactor::Cooling, CorrectionFactor::HeatSupply]
    );
    assert_eq!(a.rounding, Rounding::HalfUp);
    assert_eq!(a.factor_decimals, 4);

    assert!(p.mrv.include_purchased_electricity);
    assert_eq!(p.mrv.grid_factor_t_per_mwh, dec!(0.6101));
    let coal = p.mrv.fuels["bituminous_coal"];
    assert_eq!(coal.unit, FuelUnit::Tonne);
    assert_eq!(coal.carbon_content_tc_per_gj, dec!(0.03356));
    assert_eq!(coal.oxidation_rate, dec!(0.99));
    assert_eq!(p.mrv.fuels["natural_gas"].unit, FuelUnit::TenThousandNm3);

    let c = &p.compliance;
    assert_eq!(c.deadline, Date::new(2021, 12, 31).unwrap());
    assert_eq!(c.eligible_vintages, vec![2019, 2020]);
    assert!(c.gas_cap);
    assert_eq!(c.large_gap_relief, Some(dec!(0.20)));
    assert_eq!(c.offset_limit_share, dec!(0.05));
    assert_eq!(c.offset_min_vintage, None);
    assert_eq!(c.penalty.fine_cny_min, 20_000);
    assert_eq!(c.penalty.fine_cny_max, 30_000);
    assert!(c.penalty.deduct_shortfall_next_allocation);
    assert!(c.carry_over);
    assert!(!c.per_year_obligation);
    assert_eq!(c.borrowing, None);
}

#[test]
fn second_cycle_values() {
    let p = Plan::builtin("cn-power-2021-2022").unwrap();
    assert_eq!(p.years, vec![2021, 2022]);
    let a = &p.allocation;
    assert_eq!(
        a.benchmark(UnitCategory::CoalAbove300, 2021)
            .unwrap()
            .supply_t_per_mwh,
        dec!(0.8218)
    );
    assert_eq!(
        a.benchmark(UnitCategory::CoalAbove300, 2022)
            .unwrap()
            .supply_t_per_mwh,
        dec!(0.8177)
    );
    assert_eq!(
        a.benchmark(UnitCategory::CoalUpTo300, 2022)
            .unwrap()
            .supply_t_per_mwh,
        dec!(0.8729)
    );
    assert_eq!(
        a.benchmark(UnitCategory::CoalUnconventional, 2021)
            .unwrap()
            .supply_t_per_mwh,
        dec!(0.9350)
    );
    assert_eq!(
        a.benchmark(UnitCategory::Gas, 2022)
            .unwrap()
            .supply_t_per_mwh,
        dec!(0.3901)
    );
    assert_eq!(
        a.benchmark(UnitCategory::CoalUpTo300, 2021)
            .unwrap()
            .heat_t_per_gj,
        dec!(0.1111)
    );
    assert_eq!(
        a.benchmark(UnitCategory::Gas, 2022).unwrap().heat_t_per_gj,
        dec!(0.0557)
    );
    assert!(a.benchmark(UnitCategory::Gas, 2020).is_none());
    assert_eq!(p.mrv.grid_factor_t_per_mwh, dec!(0.5810));
    let c = &p.compliance;
    assert_eq!(c.deadline, Date::new(2023, 12, 31).unwrap());
    assert_eq!(c.eligible_vintages, vec![2019, 2020, 2021, 2022]);
    assert!(c.per_year_obligation);
    let b = c.borrowing.unwrap();
    assert_eq!(
        (
            b.min_gap_share_of_allocation,
            b.max_share_of_gap,
            b.from_vintage
        ),
        (dec!(0.10), dec!(0.50), 2023)
    );
}

#[test]
fn rounding_modes() {
    assert_eq!(Rounding::HalfUp.round_to_tonnes(dec!(2.5)), 3);
    assert_eq!(Rounding::HalfUp.round_to_tonnes(dec!(2.4999)), 2);
    assert_eq!(Rounding::Down.round_to_tonnes(dec!(2.9)), 2);
    assert_eq!(Rounding::Up.round_to_tonnes(dec!(2.1)), 3);
    assert_eq!(Rounding::Up.round_to_tonnes(dec!(2)), 2);
    assert_eq!(Rounding::HalfUp.round_to_tonnes(dec!(0)), 0);
    assert_eq!(Rounding::HalfUp.checked_round_to_tonnes(dec!(-0.1)), None);
    assert_eq!(Rounding::HalfUp.round_dp(dec!(1.00425), 4), dec!(1.0043));
    assert_eq!(Rounding::Down.round_dp(dec!(1.00429), 4), dec!(1.0042));
}

#[test]
fn numbers_are_read_from_their_text() {
    // 0.1 + 0.2 style: a value that is not exact in binary floating point stays exact.
    let text = P2019.replace(
        "supply = 0.877, heat = 0.126 }\n2020",
        "supply = 0.8770000000000001, heat = 0.126 }\n2020",
    );
    let p = Plan::from_toml_str(&text, "x.toml").unwrap();
    assert_eq!(
        p.allocation
            .benchmark(UnitCategory::CoalAbove300, 2019)
            .unwrap()
            .supply_t_per_mwh,
        dec!(0.8770000000000001)
    );
    // Strings and exponents are accepted too.
    let text = P2019
        .replace("share = 0.70 ", "share = \"0.70\" ")
        .replace("slope = 0.0016", "slope = 1.6e-3");
    let p = Plan::from_toml_str(&text, "x.toml").unwrap();
    assert_eq!(p.allocation.pre_allocation.share, dec!(0.70));
    assert_eq!(
        p.allocation.load_factor.bands[1].formula,
        LoadFactorFormula::Linear {
            intercept: dec!(1.007),
            slope: dec!(0.0016),
            pivot: dec!(80)
        }
    );
}

/// Replaces `from` (which must occur exactly once) in the 2019-2020 plan, parses the result and
/// checks the error's path, problem and full message.
#[track_caller]
fn check_bad(from: &str, to: &str, path: &str, message: &str) -> Problem {
    assert_eq!(
        P2019.matches(from).count(),
        1,
        "fixture {from:?} must occur once"
    );
    let text = P2019.replace(from, to);
    let err = Plan::from_toml_str(&text, "cn-power-2019-2020.toml").expect_err("must be rejected");
    assert_eq!(err.file, "cn-power-2019-2020.toml");
    assert_eq!(err.path, path, "{err}");
    assert_eq!(err.to_string(), message);
    err.problem
}

#[test]
fn bad_plans_name_the_key() {
    check_bad(
        "years = [2019, 2020]",
        "years = []",
        "years",
        "cn-power-2019-2020.toml: years: must not be empty",
    );
    check_bad(
        "years = [2019, 2020]",
        "years = [2020, 2019]",
        "years[1]",
        "cn-power-2019-2020.toml: years[1]: must be strictly ascending (2019 follows 2020)",
    );
    check_bad(
        "base_year = 2018 ",
        "base_year = 2020 ",
        "base_year",
        "cn-power-2019-2020.toml: base_year: base year 2020 is after the first year of the plan (2019)",
    );
    check_bad(
        "share = 0.70 ",
        "share = 1.70 ",
        "allocation.pre_allocation.share",
        "cn-power-2019-2020.toml: allocation.pre_allocation.share: 1.70: must be between 0 and 1",
    );
    check_bad(
        "factors = [\"cooling\", \"heat_supply\"]",
        "factors = [\"cooling\", \"fuel\"]",
        "allocation.pre_allocation.factors[1]",
        "cn-power-2019-2020.toml: allocation.pre_allocation.factors[1]: \"fuel\" is not one of \"cooling\", \"heat_supply\", \"load_factor\"",
    );
    check_bad(
        "2020 = { supply = 0.979, heat = 0.126 }",
        "2020 = { supply = 0, heat = 0.126 }",
        "allocation.benchmarks.coal_up_to_300.2020.supply",
        "cn-power-2019-2020.toml: allocation.benchmarks.coal_up_to_300.2020.supply: 0: must be greater than 0",
    );
    check_bad(
        "2020 = { supply = 0.392, heat = 0.059 }",
        "",
        "allocation.benchmarks.gas",
        "cn-power-2019-2020.toml: allocation.benchmarks.gas: no entry for \"2020\"",
    );
    check_bad(
        "2020 = { supply = 0.392, heat = 0.059 }",
        "2021 = { supply = 0.392, heat = 0.059 }",
        "allocation.benchmarks.gas.2021",
        "cn-power-2019-2020.toml: allocation.benchmarks.gas.2021: \"2021\" is not one of years of the plan",
    );
    check_bad(
        "[allocation.benchmarks.gas]\n2019 = { supply = 0.392, heat = 0.059 }\n2020 = { supply = 0.392, heat = 0.059 }\n",
        "",
        "allocation.benchmarks",
        "cn-power-2019-2020.toml: allocation.benchmarks: no entry for \"gas\"",
    );
    check_bad(
        "[allocation.benchmarks.gas]",
        "[allocation.benchmarks.oil]",
        "allocation.benchmarks.oil",
        "cn-power-2019-2020.toml: allocation.benchmarks.oil: unknown key",
    );
    check_bad(
        "2019 = { supply = 0.877, heat = 0.126 }\n2020 = { supply = 0.877, heat = 0.126 }",
        "2019 = { supply = 0.877, heat = 0.126 }\n2020 = { supply = 0.877, heet = 0.126 }",
        "allocation.benchmarks.coal_above_300.2020.heet",
        "cn-power-2019-2020.toml: allocation.benchmarks.coal_above_300.2020.heet: unknown key",
    );
    check_bad(
        "supply = 1.146, heat = 0.126 }\n2020",
        "supply = true, heat = 0.126 }\n2020",
        "allocation.benchmarks.coal_unconventional.2019.supply",
        "cn-power-2019-2020.toml: allocation.benchmarks.coal_unconventional.2019.supply: expected number, found boolean",
    );
    check_bad(
        "coal_up_to_300 = { water = 1.00, air = 1.05 }",
        "coal_up_to_300 = { water = 1.00, air = -1.05 }",
        "allocation.cooling.coal_up_to_300.air",
        "cn-power-2019-2020.toml: allocation.cooling.coal_up_to_300.air: -1.05: must be greater than 0",
    );
    check_bad(
        "gas = { water = 1.00, air = 1.00 }",
        "gas = { water = 1.00 }",
        "allocation.cooling.gas.air",
        "cn-power-2019-2020.toml: allocation.cooling.gas.air: missing",
    );
    check_bad(
        "coal_unconventional = 0.22, gas = 0.6 }",
        "coal_unconventional = 0.22, gas = 1.6 }",
        "allocation.heat_supply.coefficient.gas",
        "cn-power-2019-2020.toml: allocation.heat_supply.coefficient.gas: 1.6: must be between 0 and 1",
    );
    check_bad(
        "power_heat_equivalent_gj_per_mwh = 3.6 ",
        "power_heat_equivalent_gj_per_mwh = 0 ",
        "allocation.heat_supply.power_heat_equivalent_gj_per_mwh",
        "cn-power-2019-2020.toml: allocation.heat_supply.power_heat_equivalent_gj_per_mwh: 0: must be greater than 0",
    );
    check_bad(
        "categories = [\"coal_above_300\", \"coal_up_to_300\"]",
        "categories = [\"coal_above_300\", \"coal\"]",
        "allocation.load_factor.categories[1]",
        "cn-power-2019-2020.toml: allocation.load_factor.categories[1]: \"coal\" is not one of \"coal_above_300\", \"coal_up_to_300\", \"coal_unconventional\", \"gas\"",
    );
    check_bad(
        "categories = [\"coal_above_300\", \"coal_up_to_300\"]",
        "categories = [\"coal_above_300\", \"coal_above_300\"]",
        "allocation.load_factor.categories[1]",
        "cn-power-2019-2020.toml: allocation.load_factor.categories[1]: duplicate \"coal_above_300\"",
    );
    // A gap between bands 1 and 2.
    check_bad(
        "min = 0.80\n",
        "min = 0.81\n",
        "allocation.load_factor.bands[2].min",
        "cn-power-2019-2020.toml: allocation.load_factor.bands[2].min: 0.81: must equal 0.80 so that the bands are contiguous",
    );
    // An overlap.
    check_bad(
        "min = 0.85\n",
        "min = 0.84\n",
        "allocation.load_factor.bands[3].min",
        "cn-power-2019-2020.toml: allocation.load_factor.bands[3].min: 0.84: must equal 0.85 so that the bands are contiguous",
    );
    check_bad(
        "min = 0.80\n",
        "min = 1.80\n",
        "allocation.load_factor.bands[2].min",
        "cn-power-2019-2020.toml: allocation.load_factor.bands[2].min: 1.80: must be between 0 and 1",
    );
    // Not starting at 0.
    check_bad(
        "min = 0\nmax = 0.75",
        "min = 0.1\nmax = 0.75",
        "allocation.load_factor.bands[0].min",
        "cn-power-2019-2020.toml: allocation.load_factor.bands[0].min: 0.1: must equal 0 so that the bands are contiguous",
    );
    // Not reaching 1.
    check_bad(
        "min = 0.85\nmax = 1\n",
        "min = 0.85\nmax = 0.95\n",
        "allocation.load_factor.bands[3].max",
        "cn-power-2019-2020.toml: allocation.load_factor.bands[3].max: 0.95: must equal 1 so that the bands are contiguous",
    );
    check_bad(
        "min = 0.75\nmax = 0.80",
        "min = 0.75\nmax = 0.75",
        "allocation.load_factor.bands[1].max",
        "cn-power-2019-2020.toml: allocation.load_factor.bands[1].max: max 0.75 must be greater than min 0.75",
    );
    check_bad(
        "kind = \"power\"",
        "kind = \"cubic\"",
        "allocation.load_factor.bands[0].kind",
        "cn-power-2019-2020.toml: allocation.load_factor.bands[0].kind: \"cubic\" is not one of \"constant\", \"linear\", \"power\"",
    );
    check_bad(
        "slope = 0.0014\n",
        "",
        "allocation.load_factor.bands[2].slope",
        "cn-power-2019-2020.toml: allocation.load_factor.bands[2].slope: missing",
    );
    check_bad(
        "base = 1.015\n",
        "base = 1.015\nvalue = 1\n",
        "allocation.load_factor.bands[0].value",
        "cn-power-2019-2020.toml: allocation.load_factor.bands[0].value: unknown key",
    );
    check_bad(
        "slope = 0.0014\n",
        "slope = -1\n",
        "allocation.load_factor.bands[2]",
        "cn-power-2019-2020.toml: allocation.load_factor.bands[2]: the factor is not positive at F = 0.80",
    );
    check_bad(
        "rounding = \"half_up\"                   # assumed: allocation",
        "rounding = \"nearest\"                   # assumed: allocation",
        "allocation.rounding",
        "cn-power-2019-2020.toml: allocation.rounding: \"nearest\" is not one of \"half_up\", \"down\", \"up\"",
    );
    check_bad(
        "factor_decimals = 4 ",
        "factor_decimals = -4 ",
        "allocation.factor_decimals",
        "cn-power-2019-2020.toml: allocation.factor_decimals: invalid number \"-4\": expected a whole number >= 0",
    );
    check_bad(
        "grid_factor_t_per_mwh = 0.6101",
        "grid_factor_t_per_mwh = nan",
        "mrv.grid_factor_t_per_mwh",
        "cn-power-2019-2020.toml: mrv.grid_factor_t_per_mwh: invalid number \"nan\": infinity and nan are not quantities",
    );
    check_bad(
        "oxidation_rate = 0.98 ",
        "oxidation_rate = 1.01 ",
        "mrv.fuels.fuel_oil.oxidation_rate",
        "cn-power-2019-2020.toml: mrv.fuels.fuel_oil.oxidation_rate: 1.01: must be greater than 0 and at most 1",
    );
    check_bad(
        "unit = \"1e4_nm3\"",
        "unit = \"m3\"",
        "mrv.fuels.natural_gas.unit",
        "cn-power-2019-2020.toml: mrv.fuels.natural_gas.unit: \"m3\" is not one of \"t\", \"1e4_nm3\"",
    );
    check_bad(
        "include_purchased_electricity = true ",
        "include_purchased_electricity = \"yes\" ",
        "mrv.include_purchased_electricity",
        "cn-power-2019-2020.toml: mrv.include_purchased_electricity: expected boolean, found string",
    );
    check_bad(
        "deadline = 2021-12-31",
        "deadline = 2020-12-31",
        "compliance.deadline",
        "cn-power-2019-2020.toml: compliance.deadline: deadline 2020-12-31 must fall after the last emission year 2020",
    );
    check_bad(
        "deadline = 2021-12-31",
        "deadline = 2021-02-30",
        "",
        // toml itself rejects the impossible date.
        &Plan::from_toml_str(
            &P2019.replace("deadline = 2021-12-31", "deadline = 2021-02-30"),
            "cn-power-2019-2020.toml",
        )
        .unwrap_err()
        .to_string(),
    );
    check_bad(
        "deadline = 2021-12-31",
        "deadline = \"2021-02-30\"",
        "compliance.deadline",
        "cn-power-2019-2020.toml: compliance.deadline: 2021-02-30: must be a date YYYY-MM-DD",
    );
    check_bad(
        "eligible_vintages = [2019, 2020]",
        "eligible_vintages = [2019, 2021]",
        "compliance.eligible_vintages[1]",
        "cn-power-2019-2020.toml: compliance.eligible_vintages[1]: vintage 2021 is after the last emission year 2020",
    );
    check_bad(
        "large_gap_relief = 0.20 ",
        "large_gap_relief = 0 ",
        "compliance.large_gap_relief",
        "cn-power-2019-2020.toml: compliance.large_gap_relief: 0: must be greater than 0 and at most 1",
    );
    check_bad(
        "offset_limit_share = 0.05 ",
        "offset_limit_share = 5 ",
        "compliance.offset_limit_share",
        "cn-power-2019-2020.toml: compliance.offset_limit_share: 5: must be between 0 and 1",
    );
    check_bad(
        "fine_cny_min = 20000 ",
        "fine_cny_min = 40000 ",
        "compliance.penalty.fine_cny_min",
        "cn-power-2019-2020.toml: compliance.penalty.fine_cny_min: fine_cny_min 40000 is above fine_cny_max 30000",
    );
    check_bad(
        "carry_over = true ",
        "carry_ovr = true ",
        "compliance.carry_ovr",
        "cn-power-2019-2020.toml: compliance.carry_ovr: unknown key",
    );
    check_bad(
        "id = \"cn-power-2019-2020\"",
        "id = \"CN power\"",
        "id",
        "cn-power-2019-2020.toml: id: \"CN power\" is not one of ids of a-z, 0-9, '-'",
    );
}

#[test]
fn syntax_errors_name_the_line() {
    let err = Plan::from_toml_str("id = \"a\"\nyears = [2019,\n", "broken.toml").unwrap_err();
    assert_eq!(err.path, "");
    assert!(matches!(err.problem, Problem::Syntax { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("broken.toml: invalid toml at line "),
        "{err}"
    );
}
