//! Stable codes and figures of [`SurrenderRejection`] (see `ets_registry::Rejection::code`).

use serde_json::{Map, Value, json};

use crate::SurrenderRejection;

impl SurrenderRejection {
    /// The reason's stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            SurrenderRejection::IneligibleVintage { .. } => "ineligible_vintage",
            SurrenderRejection::IneligibleOffsetVintage { .. } => "ineligible_offset_vintage",
            SurrenderRejection::OffsetLimitExceeded { .. } => "offset_limit_exceeded",
            SurrenderRejection::ExceedsObligation { .. } => "exceeds_obligation",
            SurrenderRejection::NoObligation => "obligation_unknown",
        }
    }

    /// The figures of the message by name.
    pub fn params(&self) -> Map<String, Value> {
        let v = match self {
            SurrenderRejection::IneligibleVintage { class, eligible } => {
                json!({ "class": class.to_string(), "eligible": eligible })
            }
            SurrenderRejection::IneligibleOffsetVintage { vintage, min } => {
                json!({ "vintage": vintage, "min": min })
            }
            SurrenderRejection::OffsetLimitExceeded {
                limit_t,
                used_t,
                requested_t,
            } => json!({ "limit_t": limit_t, "used_t": used_t, "requested_t": requested_t }),
            SurrenderRejection::ExceedsObligation {
                remaining_t,
                requested_t,
            } => json!({ "remaining_t": remaining_t, "requested_t": requested_t }),
            SurrenderRejection::NoObligation => json!({}),
        };
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}
