//! Stable codes and figures of [`Rejection`]: what an API client acts on and a translation
//! table keys on. The code names the reason (never changes once published); the parameters are
//! the figures of the message by name (numbers as JSON numbers, ids as their display text).

use serde_json::{Map, Value, json};

use crate::Rejection;

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

impl Rejection {
    /// The reason's stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::ZeroQuantity => "zero_quantity",
            Rejection::UnknownAccount { .. } => "unknown_account",
            Rejection::AccountFrozen { .. } => "account_frozen",
            Rejection::AccountClosed { .. } => "account_closed",
            Rejection::InsufficientHoldings { .. } => "insufficient_holdings",
            Rejection::WrongAccountKind { .. } => "wrong_account_kind",
            Rejection::WrongUnitClass { .. } => "wrong_unit_class",
            Rejection::SameAccount { .. } => "same_account",
            Rejection::UnknownTransaction { .. } => "unknown_transaction",
            Rejection::NotCorrectable { .. } => "not_correctable",
            Rejection::CorrectionExceedsOriginal { .. } => "correction_exceeds_original",
            Rejection::KeyReused { .. } => "idempotency_key_reused",
            Rejection::NotEmpty { .. } => "account_not_empty",
            Rejection::Overflow => "registry_overflow",
        }
    }

    /// The figures of the message by name.
    pub fn params(&self) -> Map<String, Value> {
        object(match self {
            Rejection::ZeroQuantity | Rejection::Overflow => json!({}),
            Rejection::UnknownAccount { account }
            | Rejection::AccountFrozen { account }
            | Rejection::AccountClosed { account }
            | Rejection::SameAccount { account }
            | Rejection::NotEmpty { account } => json!({ "account": account.to_string() }),
            Rejection::InsufficientHoldings {
                account,
                class,
                available,
                requested,
            } => json!({
                "account": account.to_string(),
                "class": class.to_string(),
                "available": available,
                "requested": requested,
            }),
            Rejection::WrongAccountKind {
                op,
                direction,
                account,
                kind,
            } => json!({
                "op": op,
                "direction": direction,
                "account": account.to_string(),
                "kind": kind.name(),
            }),
            Rejection::WrongUnitClass { op, class } => {
                json!({ "op": op, "class": class.to_string() })
            }
            Rejection::UnknownTransaction { original } => json!({ "original": original }),
            Rejection::NotCorrectable { original, kind } => {
                json!({ "original": original, "kind": kind.name() })
            }
            Rejection::CorrectionExceedsOriginal {
                original,
                remaining,
                requested,
            } => json!({ "original": original, "remaining": remaining, "requested": requested }),
            Rejection::KeyReused { key, seq } => json!({ "key": key, "seq": seq }),
        })
    }
}
