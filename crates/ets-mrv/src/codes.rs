//! Stable codes and figures of [`MrvError`] (see `ets_registry::Rejection::code`). Decimal
//! figures are given as their exact text, never as binary floats.

use serde_json::{Map, Value, json};

use crate::MrvError;

/// The workflow action named in a transition or date-order error, as a stable token.
fn action_token(action: &str) -> &'static str {
    match action {
        "save a draft of" => "save_draft",
        "submit" => "submit",
        "record a verification of" => "verify",
        "accept" => "accept",
        "verification" => "verification",
        "acceptance" => "acceptance",
        "correct" => "correct",
        _ => "other",
    }
}

impl MrvError {
    /// The reason's stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            MrvError::UnknownFuel { .. } => "unknown_fuel",
            MrvError::Negative { .. } => "negative_activity_value",
            MrvError::OxidationAboveOne { .. } => "oxidation_above_one",
            MrvError::Overflow { .. } => "emissions_overflow",
            MrvError::NoUnits { .. } => "report_without_units",
            MrvError::DuplicateUnit { .. } => "report_duplicate_unit",
            MrvError::WrongYear { .. } => "report_wrong_year",
            MrvError::NoReport { .. } => "no_report",
            MrvError::InvalidTransition { .. } => "invalid_report_transition",
            MrvError::VerificationUnits { .. } => "verification_units_differ",
            MrvError::DateOrder { .. } => "report_date_order",
            MrvError::Blank { .. } => "report_field_blank",
            MrvError::NotVerified { .. } => "report_not_verified",
        }
    }

    /// The figures of the message by name.
    pub fn params(&self) -> Map<String, Value> {
        let v = match self {
            MrvError::UnknownFuel { unit, fuel } => {
                json!({ "unit": unit.to_string(), "fuel": fuel })
            }
            MrvError::Negative { unit, field, value } => {
                json!({ "unit": unit.to_string(), "field": field, "value": value.to_string() })
            }
            MrvError::OxidationAboveOne { unit, fuel, value } => {
                json!({ "unit": unit.to_string(), "fuel": fuel, "value": value.to_string() })
            }
            MrvError::Overflow { unit } => json!({ "unit": unit.to_string() }),
            MrvError::NoUnits { company, year } | MrvError::NoReport { company, year } => {
                json!({ "company": company.to_string(), "year": year })
            }
            MrvError::DuplicateUnit {
                company,
                year,
                unit,
            } => json!({ "company": company.to_string(), "year": year, "unit": unit.to_string() }),
            MrvError::WrongYear {
                company,
                year,
                unit,
                unit_year,
            } => json!({
                "company": company.to_string(),
                "year": year,
                "unit": unit.to_string(),
                "unit_year": unit_year,
            }),
            MrvError::InvalidTransition {
                company,
                year,
                from,
                action,
            } => json!({
                "company": company.to_string(),
                "year": year,
                "status": from.to_string(),
                "action": action_token(action),
            }),
            MrvError::VerificationUnits {
                company,
                year,
                not_verified,
                not_reported,
            } => json!({
                "company": company.to_string(),
                "year": year,
                "not_verified": not_verified.iter().map(|u| u.to_string()).collect::<Vec<_>>(),
                "not_reported": not_reported.iter().map(|u| u.to_string()).collect::<Vec<_>>(),
            }),
            MrvError::DateOrder {
                company,
                year,
                action,
                date,
                previous,
            } => json!({
                "company": company.to_string(),
                "year": year,
                "action": action_token(action),
                "date": date.to_string(),
                "previous": previous.to_string(),
            }),
            MrvError::Blank {
                company,
                year,
                what,
            } => {
                json!({ "company": company.to_string(), "year": year, "what": what })
            }
            MrvError::NotVerified {
                company,
                year,
                version,
            } => json!({ "company": company.to_string(), "year": year, "version": version }),
        };
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}
