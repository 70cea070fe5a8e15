//! Stable codes and figures of [`AllocationError`] (see `ets_registry::Rejection::code`).
//! Decimal figures are given as their exact text, never as binary floats.

use serde_json::{Map, Value, json};

use crate::AllocationError;

impl AllocationError {
    /// The reason's stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            AllocationError::UnitMismatch { .. } => "activity_unit_mismatch",
            AllocationError::YearMismatch { .. } => "activity_year_mismatch",
            AllocationError::NoBenchmark { .. } => "no_benchmark",
            AllocationError::NoCoolingFactor { .. } => "no_cooling_factor",
            AllocationError::NoHeatCoefficient { .. } => "no_heat_coefficient",
            AllocationError::Negative { .. } => "negative_allocation_input",
            AllocationError::LoadFactorOutOfRange { .. } => "load_factor_out_of_range",
            AllocationError::UnitLoadFactorOutOfRange { .. } => "unit_load_factor_out_of_range",
            AllocationError::NoBand { .. } => "no_load_factor_band",
            AllocationError::LoadFactorOverflow { .. } => "load_factor_overflow",
            AllocationError::Overflow { .. } => "allocation_overflow",
            AllocationError::WrongCompany { .. } => "unit_of_other_company",
            AllocationError::MissingActivity { .. } => "missing_activity",
            AllocationError::UnknownUnit { .. } => "activity_for_unknown_unit",
            AllocationError::DuplicateUnit { .. } => "allocation_duplicate_unit",
            AllocationError::NoUnits { .. } => "allocation_without_units",
            AllocationError::TrueUpMismatch { .. } => "true_up_mismatch",
        }
    }

    /// The figures of the message by name.
    pub fn params(&self) -> Map<String, Value> {
        let v = match self {
            AllocationError::UnitMismatch {
                unit,
                activity_unit,
            } => json!({ "unit": unit.to_string(), "activity_unit": activity_unit.to_string() }),
            AllocationError::YearMismatch {
                unit,
                expected,
                activity_year,
            } => json!({
                "unit": unit.to_string(),
                "expected": expected,
                "activity_year": activity_year,
            }),
            AllocationError::NoBenchmark {
                unit,
                category,
                year,
            } => json!({ "unit": unit.to_string(), "category": category, "year": year }),
            AllocationError::NoCoolingFactor { unit, category }
            | AllocationError::NoHeatCoefficient { unit, category } => {
                json!({ "unit": unit.to_string(), "category": category })
            }
            AllocationError::Negative { unit, field, value } => {
                json!({ "unit": unit.to_string(), "field": field, "value": value.to_string() })
            }
            AllocationError::LoadFactorOutOfRange { value }
            | AllocationError::NoBand { value }
            | AllocationError::LoadFactorOverflow { value } => {
                json!({ "value": value.to_string() })
            }
            AllocationError::UnitLoadFactorOutOfRange { unit, value } => {
                json!({ "unit": unit.to_string(), "value": value.to_string() })
            }
            AllocationError::Overflow { unit } => json!({ "unit": unit.to_string() }),
            AllocationError::WrongCompany {
                company,
                unit,
                unit_company,
            } => json!({
                "company": company.to_string(),
                "unit": unit.to_string(),
                "unit_company": unit_company.to_string(),
            }),
            AllocationError::MissingActivity { company, unit }
            | AllocationError::UnknownUnit { company, unit }
            | AllocationError::DuplicateUnit { company, unit } => {
                json!({ "company": company.to_string(), "unit": unit.to_string() })
            }
            AllocationError::NoUnits { company } => json!({ "company": company.to_string() }),
            AllocationError::TrueUpMismatch {
                company,
                year,
                other_company,
                other_year,
            } => json!({
                "company": company.to_string(),
                "year": year,
                "other_company": other_company.to_string(),
                "other_year": other_year,
            }),
        };
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}
