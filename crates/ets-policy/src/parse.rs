//! Reading and validating a plan file.
//!
//! We walk toml's span-preserving document tree by hand instead of deriving `Deserialize`: that
//! gives every error its exact key path, rejects unknown keys (a typo must never fall back to a
//! default), and — most important — lets us read numbers from their *source text*. A TOML float
//! such as `0.877` is never turned into an `f64`: its digits go straight into a `Decimal`.

use std::collections::BTreeMap;

use ets_types::{Date, Decimal, UnitCategory, Year};
use toml::de::{DeTable, DeValue};

use crate::error::{PolicyError, Problem};
use crate::model::*;

type Result<T> = std::result::Result<T, PolicyError>;

/// Key paths are built as strings as we descend; `join("a.b", "c") == "a.b.c"`.
fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

struct Reader<'f> {
    file: &'f str,
}

impl<'f> Reader<'f> {
    fn err(&self, path: &str, problem: Problem) -> PolicyError {
        PolicyError {
            file: self.file.to_string(),
            path: path.to_string(),
            problem,
        }
    }

    fn wrong_type(&self, path: &str, expected: &'static str, v: &DeValue<'_>) -> PolicyError {
        self.err(
            path,
            Problem::WrongType {
                expected,
                found: v.type_str(),
            },
        )
    }

    fn table<'a, 'i>(&self, path: &str, v: &'a DeValue<'i>) -> Result<&'a DeTable<'i>> {
        v.as_table()
            .ok_or_else(|| self.wrong_type(path, "table", v))
    }

    /// Rejects keys outside `allowed`.
    fn only_keys(&self, path: &str, t: &DeTable<'_>, allowed: &[&str]) -> Result<()> {
        for k in t.keys() {
            let k: &str = k.get_ref();
            if !allowed.contains(&k) {
                return Err(self.err(&join(path, k), Problem::UnknownKey));
            }
        }
        Ok(())
    }

    fn get<'a, 'i>(&self, path: &str, t: &'a DeTable<'i>, key: &str) -> Result<&'a DeValue<'i>> {
        opt(t, key).ok_or_else(|| self.err(&join(path, key), Problem::Missing))
    }

    fn decimal(&self, path: &str, v: &DeValue<'_>) -> Result<Decimal> {
        let text: &str = match v {
            DeValue::Integer(i) if i.radix() == 10 => i.as_str(),
            DeValue::Integer(i) => {
                return Err(self.err(
                    path,
                    Problem::BadNumber {
                        text: i.to_string(),
                        why: "write numbers in base 10",
                    },
                ));
            }
            DeValue::Float(f) => f.as_str(),
            DeValue::String(s) => s.as_ref(),
            other => return Err(self.wrong_type(path, "number", other)),
        };
        parse_decimal(text).map_err(|why| {
            self.err(
                path,
                Problem::BadNumber {
                    text: text.to_string(),
                    why,
                },
            )
        })
    }

    /// A decimal that must satisfy `ok`, described by `rule` in the error.
    fn decimal_where(
        &self,
        path: &str,
        v: &DeValue<'_>,
        rule: &'static str,
        ok: impl Fn(Decimal) -> bool,
    ) -> Result<Decimal> {
        let d = self.decimal(path, v)?;
        if !ok(d) {
            return Err(self.err(
                path,
                Problem::OutOfRange {
                    value: d.to_string(),
                    rule,
                },
            ));
        }
        Ok(d)
    }

    fn positive(&self, path: &str, v: &DeValue<'_>) -> Result<Decimal> {
        self.decimal_where(path, v, "greater than 0", |d| d > Decimal::ZERO)
    }

    fn share(&self, path: &str, v: &DeValue<'_>) -> Result<Decimal> {
        self.decimal_where(path, v, "between 0 and 1", |d| {
            d >= Decimal::ZERO && d <= Decimal::ONE
        })
    }

    fn uint(&self, path: &str, v: &DeValue<'_>) -> Result<u64> {
        match v {
            DeValue::Integer(i) => u64::from_str_radix(i.as_str(), i.radix()).map_err(|_| {
                self.err(
                    path,
                    Problem::BadNumber {
                        text: i.to_string(),
                        why: "expected a whole number >= 0",
                    },
                )
            }),
            other => Err(self.wrong_type(path, "integer", other)),
        }
    }

    fn year(&self, path: &str, v: &DeValue<'_>) -> Result<Year> {
        let n = self.uint(path, v)?;
        year_from(n).ok_or_else(|| {
            self.err(
                path,
                Problem::OutOfRange {
                    value: n.to_string(),
                    rule: "a year in 1900..=9999",
                },
            )
        })
    }

    fn boolean(&self, path: &str, v: &DeValue<'_>) -> Result<bool> {
        v.as_bool()
            .ok_or_else(|| self.wrong_type(path, "boolean", v))
    }

    fn string<'a>(&self, path: &str, v: &'a DeValue<'_>) -> Result<&'a str> {
        v.as_str().ok_or_else(|| self.wrong_type(path, "string", v))
    }

    fn array<'a, 'i>(
        &self,
        path: &str,
        v: &'a DeValue<'i>,
    ) -> Result<&'a [toml::Spanned<DeValue<'i>>]> {
        v.as_array()
            .map(|a| &a[..])
            .ok_or_else(|| self.wrong_type(path, "array", v))
    }

    fn date(&self, path: &str, v: &DeValue<'_>) -> Result<Date> {
        let text = match v {
            DeValue::Datetime(d) if d.date.is_some() && d.time.is_none() => d.to_string(),
            DeValue::String(s) => s.to_string(),
            other => return Err(self.wrong_type(path, "date (YYYY-MM-DD)", other)),
        };
        Date::parse(&text).map_err(|_| {
            self.err(
                path,
                Problem::OutOfRange {
                    value: text,
                    rule: "a date YYYY-MM-DD",
                },
            )
        })
    }

    fn rounding(&self, path: &str, v: &DeValue<'_>) -> Result<Rounding> {
        let s = self.string(path, v)?;
        Rounding::parse(s).ok_or_else(|| {
            self.err(
                path,
                Problem::NotAllowed {
                    value: s.to_string(),
                    allowed: Rounding::KEYS,
                },
            )
        })
    }

    fn category(&self, path: &str, s: &str) -> Result<UnitCategory> {
        UnitCategory::parse(s).ok_or_else(|| {
            self.err(
                path,
                Problem::NotAllowed {
                    value: s.to_string(),
                    allowed: CATEGORY_KEYS,
                },
            )
        })
    }

    /// A strictly ascending, non-empty list of years.
    fn years(&self, path: &str, v: &DeValue<'_>) -> Result<Vec<Year>> {
        let items = self.array(path, v)?;
        if items.is_empty() {
            return Err(self.err(path, Problem::Empty));
        }
        let mut years = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let p = index(path, i);
            let y = self.year(&p, item.get_ref())?;
            if let Some(&prev) = years.last()
                && y <= prev
            {
                return Err(self.err(
                    &p,
                    Problem::NotAscending {
                        value: y.to_string(),
                        previous: prev.to_string(),
                    },
                ));
            }
            years.push(y);
        }
        Ok(years)
    }

    /// A table keyed by every unit category (no more, no fewer), each value read by `read`.
    fn per_category<T>(
        &self,
        path: &str,
        v: &DeValue<'_>,
        read: impl Fn(&str, &DeValue<'_>) -> Result<T>,
    ) -> Result<BTreeMap<UnitCategory, T>> {
        let t = self.table(path, v)?;
        let mut out = BTreeMap::new();
        for (k, item) in t.iter() {
            let key: &str = k.get_ref();
            let p = join(path, key);
            let cat = UnitCategory::parse(key).ok_or_else(|| self.err(&p, Problem::UnknownKey))?;
            out.insert(cat, read(&p, item.get_ref())?);
        }
        for cat in UnitCategory::ALL {
            if !out.contains_key(&cat) {
                return Err(self.err(path, Problem::MissingEntry(cat.key().to_string())));
            }
        }
        Ok(out)
    }
}

const CATEGORY_KEYS: &str =
    "\"coal_above_300\", \"coal_up_to_300\", \"coal_unconventional\", \"gas\"";

fn opt<'a, 'i>(t: &'a DeTable<'i>, key: &str) -> Option<&'a DeValue<'i>> {
    t.get(key).map(|v| v.get_ref())
}

fn year_from(n: u64) -> Option<Year> {
    if (1900..=9999).contains(&n) {
        Year::try_from(n).ok()
    } else {
        None
    }
}

/// Parses the source text of a TOML number (or a decimal string) exactly.
fn parse_decimal(text: &str) -> std::result::Result<Decimal, &'static str> {
    let t = text.trim();
    let t = t.strip_prefix('+').unwrap_or(t);
    if t.contains("inf") || t.contains("nan") {
        return Err("infinity and nan are not quantities");
    }
    if t.contains(['e', 'E']) {
        return Decimal::from_scientific(t).map_err(|_| "not a decimal number");
    }
    Decimal::from_str_exact(t).map_err(|_| "not a decimal number (or more than 28 digits)")
}

/// Parses and validates a plan; `file` names the source in errors.
pub(crate) fn parse_plan(text: &str, file: &str) -> Result<Plan> {
    let r = Reader { file };
    let doc = DeTable::parse(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
        r.err(
            "",
            Problem::Syntax {
                line: line.unwrap_or(1),
                message: e.message().trim().to_string(),
            },
        )
    })?;
    let root = doc.get_ref();
    r.only_keys(
        "",
        root,
        &[
            "id",
            "name",
            "years",
            "base_year",
            "allocation",
            "mrv",
            "compliance",
        ],
    )?;

    let id = r.string("id", r.get("", root, "id")?)?.to_string();
    if id.is_empty()
        || !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(r.err(
            "id",
            Problem::NotAllowed {
                value: id,
                allowed: "ids of a-z, 0-9, '-'",
            },
        ));
    }
    let name = r.string("name", r.get("", root, "name")?)?.to_string();
    let years = r.years("years", r.get("", root, "years")?)?;
    let base_year = r.year("base_year", r.get("", root, "base_year")?)?;
    if base_year > years[0] {
        return Err(r.err(
            "base_year",
            Problem::Inconsistent(format!(
                "base year {base_year} is after the first year of the plan ({})",
                years[0]
            )),
        ));
    }

    let allocation = parse_allocation(&r, r.get("", root, "allocation")?, &years, base_year)?;
    let mrv = parse_mrv(&r, r.get("", root, "mrv")?)?;
    let compliance = parse_compliance(&r, r.get("", root, "compliance")?, &years)?;
    Ok(Plan {
        id,
        name,
        years,
        base_year,
        allocation,
        mrv,
        compliance,
    })
}

fn parse_allocation(
    r: &Reader<'_>,
    v: &DeValue<'_>,
    years: &[Year],
    base_year: Year,
) -> Result<AllocationPolicy> {
    let path = "allocation";
    let t = r.table(path, v)?;
    r.only_keys(
        path,
        t,
        &[
            "rounding",
            "factor_decimals",
            "factor_rounding",
            "benchmarks",
            "cooling",
            "heat_supply",
            "load_factor",
            "pre_allocation",
        ],
    )?;
    let rounding = r.rounding(&join(path, "rounding"), r.get(path, t, "rounding")?)?;
    let p = join(path, "factor_decimals");
    let factor_decimals = r.uint(&p, r.get(path, t, "factor_decimals")?)?;
    if factor_decimals > 12 {
        return Err(r.err(
            &p,
            Problem::OutOfRange {
                value: factor_decimals.to_string(),
                rule: "at most 12",
            },
        ));
    }
    let factor_rounding = match opt(t, "factor_rounding") {
        Some(v) => r.rounding(&join(path, "factor_rounding"), v)?,
        None => Rounding::HalfUp,
    };

    let p = join(path, "benchmarks");
    let benchmarks = r.per_category(&p, r.get(path, t, "benchmarks")?, |cp, cv| {
        parse_benchmark_years(r, cp, cv, years)
    })?;

    let p = join(path, "cooling");
    let cooling = r.per_category(&p, r.get(path, t, "cooling")?, |cp, cv| {
        let ct = r.table(cp, cv)?;
        r.only_keys(cp, ct, &["water", "air"])?;
        Ok(CoolingFactors {
            water: r.positive(&join(cp, "water"), r.get(cp, ct, "water")?)?,
            air: r.positive(&join(cp, "air"), r.get(cp, ct, "air")?)?,
        })
    })?;

    let p = join(path, "heat_supply");
    let ht = r.table(&p, r.get(path, t, "heat_supply")?)?;
    r.only_keys(&p, ht, &["power_heat_equivalent_gj_per_mwh", "coefficient"])?;
    let heat_supply = HeatSupplyCorrection {
        power_heat_equivalent_gj_per_mwh: r.positive(
            &join(&p, "power_heat_equivalent_gj_per_mwh"),
            r.get(&p, ht, "power_heat_equivalent_gj_per_mwh")?,
        )?,
        coefficient: r.per_category(
            &join(&p, "coefficient"),
            r.get(&p, ht, "coefficient")?,
            |cp, cv| r.share(cp, cv),
        )?,
    };

    let load_factor = parse_load_factor(
        r,
        &join(path, "load_factor"),
        r.get(path, t, "load_factor")?,
    )?;

    let p = join(path, "pre_allocation");
    let pt = r.table(&p, r.get(path, t, "pre_allocation")?)?;
    r.only_keys(&p, pt, &["share", "factors"])?;
    let share = r.share(&join(&p, "share"), r.get(&p, pt, "share")?)?;
    let fp = join(&p, "factors");
    let mut factors = Vec::new();
    for (i, item) in r.array(&fp, r.get(&p, pt, "factors")?)?.iter().enumerate() {
        let ip = index(&fp, i);
        let s = r.string(&ip, item.get_ref())?;
        let f = CorrectionFactor::parse(s).ok_or_else(|| {
            r.err(
                &ip,
                Problem::NotAllowed {
                    value: s.to_string(),
                    allowed: CorrectionFactor::KEYS,
                },
            )
        })?;
        if factors.contains(&f) {
            return Err(r.err(&ip, Problem::Duplicate(s.to_string())));
        }
        factors.push(f);
    }

    Ok(AllocationPolicy {
        benchmarks,
        cooling,
        heat_supply,
        load_factor,
        pre_allocation: PreAllocation {
            share,
            base_year,
            factors,
        },
        rounding,
        // Checked above to be at most 12.
        factor_decimals: factor_decimals as u32,
        factor_rounding,
    })
}

fn parse_benchmark_years(
    r: &Reader<'_>,
    path: &str,
    v: &DeValue<'_>,
    years: &[Year],
) -> Result<BTreeMap<Year, Benchmark>> {
    let t = r.table(path, v)?;
    let mut out = BTreeMap::new();
    for (k, item) in t.iter() {
        let key: &str = k.get_ref();
        let p = join(path, key);
        let year = key.parse::<u64>().ok().and_then(year_from).ok_or_else(|| {
            r.err(
                &p,
                Problem::NotAllowed {
                    value: key.to_string(),
                    allowed: "years of the plan",
                },
            )
        })?;
        if !years.contains(&year) {
            return Err(r.err(
                &p,
                Problem::NotAllowed {
                    value: key.to_string(),
                    allowed: "years of the plan",
                },
            ));
        }
        let bt = r.table(&p, item.get_ref())?;
        r.only_keys(&p, bt, &["supply", "heat"])?;
        out.insert(
            year,
            Benchmark {
                supply_t_per_mwh: r.positive(&join(&p, "supply"), r.get(&p, bt, "supply")?)?,
                heat_t_per_gj: r.positive(&join(&p, "heat"), r.get(&p, bt, "heat")?)?,
            },
        );
    }
    for y in years {
        if !out.contains_key(y) {
            return Err(r.err(path, Problem::MissingEntry(y.to_string())));
        }
    }
    Ok(out)
}

fn parse_load_factor(r: &Reader<'_>, path: &str, v: &DeValue<'_>) -> Result<LoadFactorCorrection> {
    let t = r.table(path, v)?;
    r.only_keys(path, t, &["categories", "bands"])?;
    let cp = join(path, "categories");
    let mut categories = Vec::new();
    for (i, item) in r
        .array(&cp, r.get(path, t, "categories")?)?
        .iter()
        .enumerate()
    {
        let ip = index(&cp, i);
        let s = r.string(&ip, item.get_ref())?;
        let c = r.category(&ip, s)?;
        if categories.contains(&c) {
            return Err(r.err(&ip, Problem::Duplicate(s.to_string())));
        }
        categories.push(c);
    }

    let bp = join(path, "bands");
    let items = r.array(&bp, r.get(path, t, "bands")?)?;
    if items.is_empty() {
        return Err(r.err(&bp, Problem::Empty));
    }
    let mut bands: Vec<LoadFactorBand> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let ip = index(&bp, i);
        let band = parse_band(r, &ip, item.get_ref())?;
        // Bands are listed from F = 0 upwards, each starting where the previous one ends.
        let expected_min = bands.last().map_or(Decimal::ZERO, |b| b.max);
        if band.min != expected_min {
            return Err(r.err(
                &join(&ip, "min"),
                Problem::NotContiguous {
                    value: band.min.to_string(),
                    expected: expected_min.to_string(),
                },
            ));
        }
        bands.push(band);
    }
    let last = bands.len() - 1;
    if bands[last].max != Decimal::ONE {
        return Err(r.err(
            &join(&index(&bp, last), "max"),
            Problem::NotContiguous {
                value: bands[last].max.to_string(),
                expected: "1".to_string(),
            },
        ));
    }
    Ok(LoadFactorCorrection { categories, bands })
}

fn parse_band(r: &Reader<'_>, path: &str, v: &DeValue<'_>) -> Result<LoadFactorBand> {
    let t = r.table(path, v)?;
    let min = r.share(&join(path, "min"), r.get(path, t, "min")?)?;
    let max = r.share(&join(path, "max"), r.get(path, t, "max")?)?;
    if max <= min {
        return Err(r.err(
            &join(path, "max"),
            Problem::Inconsistent(format!("max {max} must be greater than min {min}")),
        ));
    }
    let kp = join(path, "kind");
    let kind = r.string(&kp, r.get(path, t, "kind")?)?;
    let dec = |key: &str| r.decimal(&join(path, key), r.get(path, t, key)?);
    let formula = match kind {
        "constant" => {
            r.only_keys(path, t, &["min", "max", "kind", "value"])?;
            let value = r.positive(&join(path, "value"), r.get(path, t, "value")?)?;
            LoadFactorFormula::Constant { value }
        }
        "linear" => {
            r.only_keys(
                path,
                t,
                &["min", "max", "kind", "intercept", "slope", "pivot"],
            )?;
            let f = LoadFactorFormula::Linear {
                intercept: dec("intercept")?,
                slope: dec("slope")?,
                pivot: dec("pivot")?,
            };
            // A linear formula is extreme at the band's ends, so checking both ends proves the
            // factor stays positive over the whole band.
            for end in [min, max] {
                if linear_at(&f, end).is_none_or(|x| x <= Decimal::ZERO) {
                    return Err(r.err(
                        path,
                        Problem::Inconsistent(format!("the factor is not positive at F = {end}")),
                    ));
                }
            }
            f
        }
        "power" => {
            r.only_keys(path, t, &["min", "max", "kind", "base", "a", "b"])?;
            LoadFactorFormula::Power {
                base: r.positive(&join(path, "base"), r.get(path, t, "base")?)?,
                a: dec("a")?,
                b: dec("b")?,
            }
        }
        other => {
            return Err(r.err(
                &kp,
                Problem::NotAllowed {
                    value: other.to_string(),
                    allowed: "\"constant\", \"linear\", \"power\"",
                },
            ));
        }
    };
    Ok(LoadFactorBand { min, max, formula })
}

fn linear_at(f: &LoadFactorFormula, x: Decimal) -> Option<Decimal> {
    match *f {
        LoadFactorFormula::Linear {
            intercept,
            slope,
            pivot,
        } => {
            let pct = x.checked_mul(Decimal::ONE_HUNDRED)?;
            intercept.checked_add(slope.checked_mul(pivot.checked_sub(pct)?)?)
        }
        _ => None,
    }
}

fn parse_mrv(r: &Reader<'_>, v: &DeValue<'_>) -> Result<MrvRules> {
    let path = "mrv";
    let t = r.table(path, v)?;
    r.only_keys(
        path,
        t,
        &[
            "include_purchased_electricity",
            "grid_factor_t_per_mwh",
            "rounding",
            "fuels",
        ],
    )?;
    let include_purchased_electricity = r.boolean(
        &join(path, "include_purchased_electricity"),
        r.get(path, t, "include_purchased_electricity")?,
    )?;
    let grid_factor_t_per_mwh = r.positive(
        &join(path, "grid_factor_t_per_mwh"),
        r.get(path, t, "grid_factor_t_per_mwh")?,
    )?;
    let rounding = r.rounding(&join(path, "rounding"), r.get(path, t, "rounding")?)?;
    let fp = join(path, "fuels");
    let ft = r.table(&fp, r.get(path, t, "fuels")?)?;
    if ft.is_empty() {
        return Err(r.err(&fp, Problem::Empty));
    }
    let mut fuels = BTreeMap::new();
    for (k, item) in ft.iter() {
        let key: &str = k.get_ref();
        let p = join(&fp, key);
        if !key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(r.err(
                &p,
                Problem::NotAllowed {
                    value: key.to_string(),
                    allowed: "fuel keys of a-z, 0-9, '_'",
                },
            ));
        }
        let it = r.table(&p, item.get_ref())?;
        r.only_keys(
            &p,
            it,
            &[
                "unit",
                "ncv_gj",
                "carbon_content_tc_per_gj",
                "oxidation_rate",
            ],
        )?;
        let up = join(&p, "unit");
        let us = r.string(&up, r.get(&p, it, "unit")?)?;
        let unit = FuelUnit::parse(us).ok_or_else(|| {
            r.err(
                &up,
                Problem::NotAllowed {
                    value: us.to_string(),
                    allowed: FuelUnit::KEYS,
                },
            )
        })?;
        fuels.insert(
            key.to_string(),
            FuelDefaults {
                unit,
                ncv_gj: r.positive(&join(&p, "ncv_gj"), r.get(&p, it, "ncv_gj")?)?,
                carbon_content_tc_per_gj: r.positive(
                    &join(&p, "carbon_content_tc_per_gj"),
                    r.get(&p, it, "carbon_content_tc_per_gj")?,
                )?,
                oxidation_rate: r.decimal_where(
                    &join(&p, "oxidation_rate"),
                    r.get(&p, it, "oxidation_rate")?,
                    "greater than 0 and at most 1",
                    |d| d > Decimal::ZERO && d <= Decimal::ONE,
                )?,
            },
        );
    }
    Ok(MrvRules {
        include_purchased_electricity,
        grid_factor_t_per_mwh,
        fuels,
        rounding,
    })
}

fn parse_compliance(r: &Reader<'_>, v: &DeValue<'_>, years: &[Year]) -> Result<CompliancePolicy> {
    let path = "compliance";
    let t = r.table(path, v)?;
    r.only_keys(
        path,
        t,
        &[
            "deadline",
            "eligible_vintages",
            "gas_cap",
            "large_gap_relief",
            "offset_limit_share",
            "offset_min_vintage",
            "rounding",
            "penalty",
            "carry_over",
            "per_year_obligation",
            "borrowing",
        ],
    )?;
    let last_year = years[years.len() - 1];
    let dp = join(path, "deadline");
    let deadline = r.date(&dp, r.get(path, t, "deadline")?)?;
    if deadline.year() <= last_year {
        return Err(r.err(
            &dp,
            Problem::Inconsistent(format!(
                "deadline {deadline} must fall after the last emission year {last_year}"
            )),
        ));
    }
    let vp = join(path, "eligible_vintages");
    let eligible_vintages = r.years(&vp, r.get(path, t, "eligible_vintages")?)?;
    if let Some((i, y)) = eligible_vintages
        .iter()
        .enumerate()
        .find(|(_, y)| **y > last_year)
    {
        return Err(r.err(
            &index(&vp, i),
            Problem::Inconsistent(format!(
                "vintage {y} is after the last emission year {last_year}"
            )),
        ));
    }
    let large_gap_relief = match opt(t, "large_gap_relief") {
        Some(v) => Some(r.decimal_where(
            &join(path, "large_gap_relief"),
            v,
            "greater than 0 and at most 1",
            |d| d > Decimal::ZERO && d <= Decimal::ONE,
        )?),
        None => None,
    };
    let offset_min_vintage = match opt(t, "offset_min_vintage") {
        Some(v) => Some(r.year(&join(path, "offset_min_vintage"), v)?),
        None => None,
    };

    let pp = join(path, "penalty");
    let pt = r.table(&pp, r.get(path, t, "penalty")?)?;
    r.only_keys(
        &pp,
        pt,
        &[
            "fine_cny_min",
            "fine_cny_max",
            "deduct_shortfall_next_allocation",
        ],
    )?;
    let penalty = PenaltyPolicy {
        fine_cny_min: r.uint(&join(&pp, "fine_cny_min"), r.get(&pp, pt, "fine_cny_min")?)?,
        fine_cny_max: r.uint(&join(&pp, "fine_cny_max"), r.get(&pp, pt, "fine_cny_max")?)?,
        deduct_shortfall_next_allocation: r.boolean(
            &join(&pp, "deduct_shortfall_next_allocation"),
            r.get(&pp, pt, "deduct_shortfall_next_allocation")?,
        )?,
    };
    if penalty.fine_cny_min > penalty.fine_cny_max {
        return Err(r.err(
            &join(&pp, "fine_cny_min"),
            Problem::Inconsistent(format!(
                "fine_cny_min {} is above fine_cny_max {}",
                penalty.fine_cny_min, penalty.fine_cny_max
            )),
        ));
    }

    let borrowing = match opt(t, "borrowing") {
        Some(v) => {
            let bp = join(path, "borrowing");
            let bt = r.table(&bp, v)?;
            r.only_keys(
                &bp,
                bt,
                &[
                    "min_gap_share_of_allocation",
                    "max_share_of_gap",
                    "from_vintage",
                ],
            )?;
            let from_vintage =
                r.year(&join(&bp, "from_vintage"), r.get(&bp, bt, "from_vintage")?)?;
            if from_vintage <= last_year {
                return Err(r.err(
                    &join(&bp, "from_vintage"),
                    Problem::Inconsistent(format!(
                        "borrowing must come from a year after the plan ({last_year})"
                    )),
                ));
            }
            Some(BorrowingPolicy {
                min_gap_share_of_allocation: r.share(
                    &join(&bp, "min_gap_share_of_allocation"),
                    r.get(&bp, bt, "min_gap_share_of_allocation")?,
                )?,
                max_share_of_gap: r.share(
                    &join(&bp, "max_share_of_gap"),
                    r.get(&bp, bt, "max_share_of_gap")?,
                )?,
                from_vintage,
            })
        }
        None => None,
    };

    Ok(CompliancePolicy {
        deadline,
        eligible_vintages,
        gas_cap: r.boolean(&join(path, "gas_cap"), r.get(path, t, "gas_cap")?)?,
        large_gap_relief,
        offset_limit_share: r.share(
            &join(path, "offset_limit_share"),
            r.get(path, t, "offset_limit_share")?,
        )?,
        offset_min_vintage,
        rounding: r.rounding(&join(path, "rounding"), r.get(path, t, "rounding")?)?,
        penalty,
        carry_over: r.boolean(&join(path, "carry_over"), r.get(path, t, "carry_over")?)?,
        per_year_obligation: match opt(t, "per_year_obligation") {
            Some(v) => r.boolean(&join(path, "per_year_obligation"), v)?,
            None => false,
        },
        borrowing,
    })
}
