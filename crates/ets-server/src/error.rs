//! Structured errors: every refusal is `{"status", "code", "message", "field"}` with the HTTP
//! status that says which kind it is (400 malformed, 401 who are you, 403 not you, 404 no such
//! thing, 409 conflict, 413 too large, 422 against the rules, 429 slow down, 503 not now).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ets_market::MarketError;
use serde_json::{Value, json};

#[derive(Clone, Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// The request field at fault, when there is one (`price`, `representatives`, a header).
    pub field: Option<String>,
    pub detail: Option<Value>,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>, field: Option<&str>) -> Self {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: code.to_string(),
            message: message.into(),
            field: field.map(str::to_string),
            detail: None,
        }
    }
    pub fn bad_request(code: &str, message: impl Into<String>, field: Option<&str>) -> Self {
        Self::new(400, code, message, field)
    }
    pub fn unauthenticated() -> Self {
        Self::new(
            401,
            "unauthenticated",
            "log in, or send an API token as `Authorization: Bearer <token>`",
            None,
        )
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "forbidden", message, None)
    }
    pub fn forbidden_code(code: &str, message: impl Into<String>) -> Self {
        Self::new(403, code, message, None)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "not_found", message, None)
    }
    pub fn conflict(code: &str, message: impl Into<String>, field: Option<&str>) -> Self {
        Self::new(409, code, message, field)
    }
    pub fn unprocessable(code: &str, message: impl Into<String>, field: Option<&str>) -> Self {
        Self::new(422, code, message, field)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(503, "unavailable", message, None)
    }
    /// The writer's queue is full: back-pressure, retry after the `Retry-After` seconds.
    pub fn queue_full(capacity: usize) -> Self {
        Self::new(
            503,
            "queue_full",
            format!("the server has {capacity} requests waiting to be written; retry shortly"),
            None,
        )
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "internal", message, None)
    }

    pub fn body(&self) -> Value {
        let mut v = json!({
            "status": self.status.as_u16(),
            "code": self.code,
            "message": self.message,
            "field": self.field,
        });
        if let Some(d) = &self.detail {
            v["detail"] = d.clone();
        }
        v
    }

    /// A malformed JSON body: serde's message, with the field it names when it names one.
    pub fn from_json(e: &serde_json::Error) -> Self {
        let text = e.to_string();
        let field = text
            .split('`')
            .nth(1)
            .filter(|_| text.contains("field") || text.contains("variant"))
            .map(str::to_string);
        let mut err = Self::bad_request("malformed", format!("request body: {text}"), None);
        err.field = field;
        err
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.body())).into_response();
        resp.extensions_mut().insert(crate::ErrorCode(self.code));
        resp
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl ApiError {
    /// Maps a market refusal to its HTTP status: unknown things are 404, things that exist
    /// already are 409, every other broken rule is 422.
    pub fn from_market(e: &MarketError) -> ApiError {
        let (status, code) = match e {
            MarketError::UnknownCompany(_)
            | MarketError::UnknownUnit(_)
            | MarketError::UnknownProject(_)
            | MarketError::UnknownPlan(_)
            | MarketError::UnknownHolder(_) => (404, "not_found"),
            MarketError::Duplicate { .. }
            | MarketError::PlanExists(_)
            | MarketError::AlreadyAllocated { .. } => (409, "conflict"),
            _ => (422, "rule_violation"),
        };
        let mut err = ApiError::new(status, code, e.to_string(), None);
        err.detail = serde_json::to_value(format!("{e:?}")).ok();
        err
    }
}

