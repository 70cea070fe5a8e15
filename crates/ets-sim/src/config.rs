//! The generator's configuration: every distribution parameter, read from TOML.
//!
//! The shipped file `cn-power.toml` is embedded with `include_str!`, so the default market needs
//! no file system. A user file goes through the same parser and the same checks; every error
//! names the key it is about, because a config is edited by hand.

use std::collections::{BTreeMap, BTreeSet};

use ets_types::{UnitCategory, Year};
use serde::Deserialize;

use crate::SimError;

/// The shipped configuration of China's national power sector (first cycle).
pub const CN_POWER_TOML: &str = include_str!("../cn-power.toml");

/// Upper bound on companies, so that a typo in a user file cannot ask for a billion.
pub const COMPANIES_MAX: u32 = 100_000;
/// Upper bound on offset projects, for the same reason.
pub const PROJECTS_MAX: u32 = 10_000;

/// Parameters of the national market generator (see `cn-power.toml` for each one's source).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorConfig {
    pub market: MarketConfig,
    pub provinces: Vec<ProvinceConfig>,
    pub archetypes: BTreeMap<String, ArchetypeConfig>,
    pub units: UnitsConfig,
    pub intensity: IntensityConfig,
    pub fuels: BTreeMap<String, FuelConfig>,
    pub fuel_mix: FuelMixConfig,
    pub offsets: OffsetsConfig,
    pub behaviour: BehaviourConfig,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketConfig {
    pub companies_total: u32,
    pub base_year: Year,
    pub compliance_years: Vec<Year>,
    pub default_coal_carbon_content_tc_per_gj: f64,
    pub default_oxidation_rate: f64,
    pub hours: Vec<YearHours>,
}

/// National mean utilisation hours of one year.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YearHours {
    pub year: Year,
    pub coal: f64,
    pub gas: f64,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvinceConfig {
    pub name: String,
    pub code: String,
    pub companies: u32,
    pub gas: f64,
    pub unconventional: f64,
    pub air: f64,
    pub chp: f64,
    pub anthracite: f64,
    pub lignite: f64,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchetypeConfig {
    /// Key of a `UnitCategory`, e.g. "coal_above_300".
    pub category: String,
    pub weight: f64,
    pub unit_weights: [f64; 4],
    pub sizes_mw: Vec<u32>,
    pub size_weights: Vec<f64>,
    pub chp_factor: f64,
    pub own_use_mean: f64,
    pub own_use_sd: f64,
    pub hours_factor: f64,
    pub mixed_with: String,
    pub mixed_share: f64,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitsConfig {
    pub hours_unit_sd: f64,
    pub hours_year_sd: f64,
    pub hours_min: f64,
    pub hours_max: f64,
    pub load_mean: f64,
    pub load_unit_sd: f64,
    pub load_year_sd: f64,
    pub load_min: f64,
    pub load_max: f64,
    pub heat_ratio_min: f64,
    pub heat_ratio_max: f64,
    pub heat_ratio_year_sd: f64,
    pub gas_air_factor: f64,
    pub purchased_share_max: f64,
    pub oxidation_measured_share: f64,
    pub oxidation_min: f64,
    pub oxidation_max: f64,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntensityConfig {
    pub air_cooling_penalty: f64,
    pub chp_slope_coal: f64,
    pub chp_slope_gas: f64,
    pub load_curve_scale: f64,
    pub unmeasured_log_uplift: f64,
    pub heat_sd: f64,
    /// Keyed by `UnitCategory::key()`.
    pub categories: BTreeMap<String, CategoryIntensity>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryIntensity {
    /// Reference intensity of power supplied, tCO2/MWh: the generator's own, not a plan's.
    pub supply_t_per_mwh: f64,
    /// Reference intensity of heat supplied, tCO2/GJ.
    pub heat_t_per_gj: f64,
    pub log_mean: f64,
    pub unit_sd: f64,
    pub year_sd: f64,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FuelConfig {
    pub ncv_mean: f64,
    pub ncv_sd: f64,
    pub ncv_min: f64,
    pub ncv_max: f64,
    pub cc_mean: f64,
    pub cc_sd: f64,
    pub measured_share: f64,
    pub default_cc: f64,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FuelMixConfig {
    pub gangue_share_unconventional: f64,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffsetsConfig {
    pub projects: u32,
    pub vintage_min: Year,
    pub vintage_max: Year,
    pub credits_log_mean: f64,
    pub credits_log_sd: f64,
    pub credits_min: u64,
    pub credits_max: u64,
    pub kinds: Vec<OffsetKindConfig>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffsetKindConfig {
    pub kind: String,
    pub letter: String,
    pub weight: f64,
    pub label: String,
    pub provinces: Vec<String>,
}

/// Parameters of the behaviour model (see the `[behaviour]` table of `cn-power.toml`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BehaviourConfig {
    pub exempt_share: f64,
    pub bank_all_share: f64,
    pub sell_fraction_min: f64,
    pub sell_fraction_max: f64,
    pub constrained_base: f64,
    pub constrained_per_gap: f64,
    pub cover_min: f64,
    pub cover_max: f64,
    pub offset_user_share: f64,
    pub ignore_share_small: f64,
    pub ignore_share_large: f64,
    pub small_obligation_t: u64,
}

impl BehaviourConfig {
    /// The behaviour table of the shipped configuration.
    pub fn default_cn_power() -> BehaviourConfig {
        GeneratorConfig::default_cn_power().behaviour
    }

    fn check(&self, source: &str) -> Result<(), SimError> {
        let c = Checker { source };
        for (key, v) in [
            ("behaviour.exempt_share", self.exempt_share),
            ("behaviour.bank_all_share", self.bank_all_share),
            ("behaviour.sell_fraction_min", self.sell_fraction_min),
            ("behaviour.sell_fraction_max", self.sell_fraction_max),
            ("behaviour.constrained_base", self.constrained_base),
            ("behaviour.cover_min", self.cover_min),
            ("behaviour.cover_max", self.cover_max),
            ("behaviour.offset_user_share", self.offset_user_share),
            ("behaviour.ignore_share_small", self.ignore_share_small),
            ("behaviour.ignore_share_large", self.ignore_share_large),
        ] {
            c.share(key, v)?;
        }
        c.non_negative("behaviour.constrained_per_gap", self.constrained_per_gap)?;
        c.ordered(
            "behaviour.sell_fraction_max",
            self.sell_fraction_min,
            self.sell_fraction_max,
        )?;
        c.ordered("behaviour.cover_max", self.cover_min, self.cover_max)?;
        Ok(())
    }
}

impl GeneratorConfig {
    /// The shipped configuration (`cn-power.toml`): China's power sector, first cycle.
    ///
    /// # Panics
    /// Never in a released crate: the embedded file is checked by a test.
    pub fn default_cn_power() -> GeneratorConfig {
        match GeneratorConfig::from_toml_str(CN_POWER_TOML, "cn-power.toml") {
            Ok(cfg) => cfg,
            Err(e) => panic!("the embedded cn-power.toml is invalid: {e}"),
        }
    }

    /// Parses and checks a configuration. `source` names the file in error messages.
    ///
    /// # Errors
    /// `SimError::Parse` when the TOML does not parse or a key is missing, unknown or of the
    /// wrong type (toml's message names the key); `SimError::Invalid` when a value is out of
    /// range or inconsistent, naming the key, e.g. `provinces[3].air`.
    pub fn from_toml_str(s: &str, source: &str) -> Result<GeneratorConfig, SimError> {
        let cfg: GeneratorConfig = toml::from_str(s).map_err(|e| SimError::Parse {
            source_name: source.to_string(),
            message: e.to_string(),
        })?;
        cfg.check(source)?;
        Ok(cfg)
    }

    /// The category of an archetype (checked at parse time).
    pub(crate) fn archetype_category(&self, name: &str) -> UnitCategory {
        let a = &self.archetypes[name];
        UnitCategory::parse(&a.category).expect("archetype category checked at parse time")
    }

    fn check(&self, source: &str) -> Result<(), SimError> {
        let c = Checker { source };
        let m = &self.market;
        if m.companies_total == 0 || m.companies_total > COMPANIES_MAX {
            return Err(c.invalid(
                "market.companies_total",
                format!("must be 1..={COMPANIES_MAX}"),
            ));
        }
        if m.compliance_years.is_empty() {
            return Err(c.invalid("market.compliance_years", "must name at least one year"));
        }
        let mut years = BTreeSet::new();
        for (i, h) in m.hours.iter().enumerate() {
            if !years.insert(h.year) {
                return Err(c.invalid(&format!("market.hours[{i}].year"), "year listed twice"));
            }
            c.range(&format!("market.hours[{i}].coal"), h.coal, 100.0, 8760.0)?;
            c.range(&format!("market.hours[{i}].gas"), h.gas, 100.0, 8760.0)?;
        }
        for y in std::iter::once(&m.base_year).chain(&m.compliance_years) {
            if !years.contains(y) {
                return Err(c.invalid("market.hours", format!("no hours for year {y}")));
            }
        }
        if m.compliance_years.contains(&m.base_year) {
            return Err(c.invalid("market.base_year", "must not be a compliance year"));
        }
        c.range(
            "market.default_coal_carbon_content_tc_per_gj",
            m.default_coal_carbon_content_tc_per_gj,
            0.001,
            0.1,
        )?;
        c.range(
            "market.default_oxidation_rate",
            m.default_oxidation_rate,
            0.5,
            1.0,
        )?;

        self.check_provinces(&c)?;
        self.check_archetypes(&c)?;
        self.check_units(&c)?;
        self.check_intensity(&c)?;
        self.check_fuels(&c)?;
        self.check_offsets(&c)?;
        self.behaviour.check(source)
    }

    fn check_provinces(&self, c: &Checker) -> Result<(), SimError> {
        if self.provinces.is_empty() {
            return Err(c.invalid("provinces", "must list at least one province"));
        }
        let mut codes = BTreeSet::new();
        let mut names = BTreeSet::new();
        let mut total: u64 = 0;
        for (i, p) in self.provinces.iter().enumerate() {
            let key = |f: &str| format!("provinces[{i}].{f}");
            let code_ok = p.code.len() == 2 && p.code.bytes().all(|b| b.is_ascii_uppercase());
            if !code_ok {
                return Err(c.invalid(&key("code"), "must be two upper-case letters"));
            }
            if !codes.insert(p.code.clone()) {
                return Err(c.invalid(&key("code"), format!("{:?} used twice", p.code)));
            }
            if p.name.trim().is_empty() || !names.insert(p.name.clone()) {
                return Err(c.invalid(&key("name"), "must be non-empty and unique"));
            }
            if p.companies > 9999 {
                return Err(c.invalid(&key("companies"), "at most 9999 per province (4-digit ids)"));
            }
            total += u64::from(p.companies);
            c.non_negative(&key("gas"), p.gas)?;
            c.non_negative(&key("unconventional"), p.unconventional)?;
            c.share(&key("air"), p.air)?;
            c.share(&key("chp"), p.chp)?;
            c.share(&key("anthracite"), p.anthracite)?;
            c.share(&key("lignite"), p.lignite)?;
            if p.anthracite + p.lignite > 1.0 {
                return Err(c.invalid(&key("lignite"), "anthracite + lignite must not exceed 1"));
            }
        }
        if total != u64::from(self.market.companies_total) {
            return Err(c.invalid(
                "market.companies_total",
                format!(
                    "is {} but provinces[].companies add up to {total}",
                    self.market.companies_total
                ),
            ));
        }
        Ok(())
    }

    fn check_archetypes(&self, c: &Checker) -> Result<(), SimError> {
        if self.archetypes.is_empty() {
            return Err(c.invalid("archetypes", "must define at least one archetype"));
        }
        for (name, a) in &self.archetypes {
            let key = |f: &str| format!("archetypes.{name}.{f}");
            if UnitCategory::parse(&a.category).is_none() {
                return Err(c.invalid(
                    &key("category"),
                    format!("unknown category {:?}", a.category),
                ));
            }
            c.non_negative(&key("weight"), a.weight)?;
            c.weights(&key("unit_weights"), &a.unit_weights)?;
            if a.sizes_mw.is_empty() || a.sizes_mw.len() != a.size_weights.len() {
                return Err(c.invalid(
                    &key("size_weights"),
                    "needs one weight per entry of sizes_mw",
                ));
            }
            if a.sizes_mw.iter().any(|&s| s == 0 || s > 2000) {
                return Err(c.invalid(&key("sizes_mw"), "sizes must be 1..=2000 MW"));
            }
            c.weights(&key("size_weights"), &a.size_weights)?;
            c.non_negative(&key("chp_factor"), a.chp_factor)?;
            c.range(&key("own_use_mean"), a.own_use_mean, 0.0, 0.3)?;
            c.range(&key("own_use_sd"), a.own_use_sd, 0.0, 0.1)?;
            c.range(&key("hours_factor"), a.hours_factor, 0.1, 3.0)?;
            c.share(&key("mixed_share"), a.mixed_share)?;
            if !self.archetypes.contains_key(&a.mixed_with) {
                return Err(c.invalid(
                    &key("mixed_with"),
                    format!("no archetype {:?}", a.mixed_with),
                ));
            }
            let cat = UnitCategory::parse(&a.category);
            let other = UnitCategory::parse(&self.archetypes[&a.mixed_with].category);
            if a.mixed_share > 0.0 && cat.map(|k| k.is_gas()) != other.map(|k| k.is_gas()) {
                return Err(c.invalid(&key("mixed_with"), "must not mix gas and coal archetypes"));
            }
        }
        let total: f64 = self.archetypes.values().map(|a| a.weight).sum();
        if total <= 0.0 {
            return Err(c.invalid("archetypes", "weights add up to zero"));
        }
        Ok(())
    }

    fn check_units(&self, c: &Checker) -> Result<(), SimError> {
        let u = &self.units;
        c.range("units.hours_unit_sd", u.hours_unit_sd, 0.0, 1.0)?;
        c.range("units.hours_year_sd", u.hours_year_sd, 0.0, 1.0)?;
        c.range("units.hours_min", u.hours_min, 1.0, 8760.0)?;
        c.range("units.hours_max", u.hours_max, 1.0, 8760.0)?;
        c.ordered("units.hours_max", u.hours_min, u.hours_max)?;
        c.range("units.load_mean", u.load_mean, 0.05, 1.0)?;
        c.range("units.load_unit_sd", u.load_unit_sd, 0.0, 0.5)?;
        c.range("units.load_year_sd", u.load_year_sd, 0.0, 0.5)?;
        c.range("units.load_min", u.load_min, 0.05, 1.0)?;
        c.range("units.load_max", u.load_max, 0.05, 1.0)?;
        c.ordered("units.load_max", u.load_min, u.load_max)?;
        c.range("units.heat_ratio_min", u.heat_ratio_min, 0.0, 0.9)?;
        c.range("units.heat_ratio_max", u.heat_ratio_max, 0.0, 0.9)?;
        c.ordered("units.heat_ratio_max", u.heat_ratio_min, u.heat_ratio_max)?;
        c.range("units.heat_ratio_year_sd", u.heat_ratio_year_sd, 0.0, 1.0)?;
        c.share("units.gas_air_factor", u.gas_air_factor)?;
        c.range("units.purchased_share_max", u.purchased_share_max, 0.0, 0.2)?;
        c.share("units.oxidation_measured_share", u.oxidation_measured_share)?;
        c.range("units.oxidation_min", u.oxidation_min, 0.5, 1.0)?;
        c.range("units.oxidation_max", u.oxidation_max, 0.5, 1.0)?;
        c.ordered("units.oxidation_max", u.oxidation_min, u.oxidation_max)
    }

    fn check_intensity(&self, c: &Checker) -> Result<(), SimError> {
        let i = &self.intensity;
        c.range(
            "intensity.air_cooling_penalty",
            i.air_cooling_penalty,
            0.5,
            2.0,
        )?;
        c.range("intensity.chp_slope_coal", i.chp_slope_coal, 0.0, 1.0)?;
        c.range("intensity.chp_slope_gas", i.chp_slope_gas, 0.0, 1.0)?;
        c.range("intensity.load_curve_scale", i.load_curve_scale, 0.0, 2.0)?;
        c.range(
            "intensity.unmeasured_log_uplift",
            i.unmeasured_log_uplift,
            -0.5,
            0.5,
        )?;
        c.range("intensity.heat_sd", i.heat_sd, 0.0, 0.5)?;
        for cat in UnitCategory::ALL {
            let used = self.archetypes.values().any(|a| a.category == cat.key());
            let Some(ci) = i.categories.get(cat.key()) else {
                if used {
                    return Err(
                        c.invalid(&format!("intensity.categories.{}", cat.key()), "missing")
                    );
                }
                continue;
            };
            let key = |f: &str| format!("intensity.categories.{}.{f}", cat.key());
            c.range(&key("supply_t_per_mwh"), ci.supply_t_per_mwh, 0.01, 5.0)?;
            c.range(&key("heat_t_per_gj"), ci.heat_t_per_gj, 0.001, 1.0)?;
            c.range(&key("log_mean"), ci.log_mean, -0.5, 0.5)?;
            c.range(&key("unit_sd"), ci.unit_sd, 0.0, 0.5)?;
            c.range(&key("year_sd"), ci.year_sd, 0.0, 0.5)?;
        }
        for k in i.categories.keys() {
            if UnitCategory::parse(k).is_none() {
                return Err(c.invalid(&format!("intensity.categories.{k}"), "unknown category"));
            }
        }
        Ok(())
    }

    fn check_fuels(&self, c: &Checker) -> Result<(), SimError> {
        for name in crate::generate::FUELS_USED {
            if !self.fuels.contains_key(*name) {
                return Err(c.invalid(&format!("fuels.{name}"), "missing"));
            }
        }
        for (name, f) in &self.fuels {
            let key = |k: &str| format!("fuels.{name}.{k}");
            c.range(&key("ncv_mean"), f.ncv_mean, 0.1, 1000.0)?;
            c.range(&key("ncv_sd"), f.ncv_sd, 0.0, 100.0)?;
            c.range(&key("ncv_min"), f.ncv_min, 0.1, 1000.0)?;
            c.range(&key("ncv_max"), f.ncv_max, 0.1, 1000.0)?;
            c.ordered(&key("ncv_max"), f.ncv_min, f.ncv_max)?;
            c.range(&key("cc_mean"), f.cc_mean, 0.001, 0.1)?;
            c.range(&key("cc_sd"), f.cc_sd, 0.0, 0.01)?;
            c.share(&key("measured_share"), f.measured_share)?;
            c.range(&key("default_cc"), f.default_cc, 0.001, 0.1)?;
        }
        c.share(
            "fuel_mix.gangue_share_unconventional",
            self.fuel_mix.gangue_share_unconventional,
        )
    }

    fn check_offsets(&self, c: &Checker) -> Result<(), SimError> {
        let o = &self.offsets;
        if o.projects > PROJECTS_MAX {
            return Err(c.invalid("offsets.projects", format!("at most {PROJECTS_MAX}")));
        }
        c.ordered_u(
            "offsets.vintage_max",
            u64::from(o.vintage_min),
            u64::from(o.vintage_max),
        )?;
        c.range("offsets.credits_log_mean", o.credits_log_mean, 0.0, 25.0)?;
        c.range("offsets.credits_log_sd", o.credits_log_sd, 0.0, 5.0)?;
        c.ordered_u("offsets.credits_max", o.credits_min, o.credits_max)?;
        if o.projects > 0 && o.kinds.is_empty() {
            return Err(c.invalid("offsets.kinds", "must list at least one kind"));
        }
        let names: BTreeSet<&str> = self.provinces.iter().map(|p| p.name.as_str()).collect();
        let mut letters = BTreeSet::new();
        for (i, k) in o.kinds.iter().enumerate() {
            let key = |f: &str| format!("offsets.kinds[{i}].{f}");
            let letter_ok = k.letter.len() == 1 && k.letter.bytes().all(|b| b.is_ascii_uppercase());
            if !letter_ok || !letters.insert(k.letter.clone()) {
                return Err(c.invalid(&key("letter"), "must be one unique upper-case letter"));
            }
            c.non_negative(&key("weight"), k.weight)?;
            if k.provinces.is_empty() {
                return Err(c.invalid(&key("provinces"), "must list at least one province"));
            }
            if let Some(p) = k.provinces.iter().find(|p| !names.contains(p.as_str())) {
                return Err(c.invalid(&key("provinces"), format!("unknown province {p:?}")));
            }
        }
        if o.projects > 0 && o.kinds.iter().map(|k| k.weight).sum::<f64>() <= 0.0 {
            return Err(c.invalid("offsets.kinds", "weights add up to zero"));
        }
        Ok(())
    }
}

/// Range checks that name the key and the file.
struct Checker<'a> {
    source: &'a str,
}

impl Checker<'_> {
    fn invalid(&self, key: &str, reason: impl Into<String>) -> SimError {
        SimError::Invalid {
            source_name: self.source.to_string(),
            key: key.to_string(),
            reason: reason.into(),
        }
    }
    fn range(&self, key: &str, v: f64, lo: f64, hi: f64) -> Result<(), SimError> {
        if v.is_finite() && (lo..=hi).contains(&v) {
            Ok(())
        } else {
            Err(self.invalid(key, format!("{v} is outside {lo}..={hi}")))
        }
    }
    fn share(&self, key: &str, v: f64) -> Result<(), SimError> {
        self.range(key, v, 0.0, 1.0)
    }
    fn non_negative(&self, key: &str, v: f64) -> Result<(), SimError> {
        self.range(key, v, 0.0, 1.0e6)
    }
    fn ordered(&self, key: &str, lo: f64, hi: f64) -> Result<(), SimError> {
        if lo <= hi {
            Ok(())
        } else {
            Err(self.invalid(key, format!("{hi} is below the minimum {lo}")))
        }
    }
    fn ordered_u(&self, key: &str, lo: u64, hi: u64) -> Result<(), SimError> {
        if lo <= hi {
            Ok(())
        } else {
            Err(self.invalid(key, format!("{hi} is below the minimum {lo}")))
        }
    }
    fn weights(&self, key: &str, w: &[f64]) -> Result<(), SimError> {
        for (i, &x) in w.iter().enumerate() {
            self.non_negative(&format!("{key}[{i}]"), x)?;
        }
        if w.iter().sum::<f64>() <= 0.0 {
            return Err(self.invalid(key, "weights add up to zero"));
        }
        Ok(())
    }
}
