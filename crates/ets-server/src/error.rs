//! Structured errors: every refusal is `{"status", "code", "message", "field", "params"}` with
//! the HTTP status that says which kind it is (400 malformed, 401 who are you, 403 not you, 404
//! no such thing, 409 conflict, 413 too large, 422 against the rules, 429 slow down, 503 not
//! now).
//!
//! `code` is the contract: stable, listed with its status and meaning in [`CODES`] (and the
//! market's in `ets_market::rejection_codes`), documented per route in the OpenAPI document, and
//! the key by which the dashboard translates a refusal. `message` is English for people reading
//! logs and raw responses; `params` carries the figures a translation fills in. No message is
//! ever made from `Debug` output.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ets_market::MarketError;
use serde_json::{Map, Value, json};

use ets_market::{ErrorKind, rejection_codes};

#[derive(Clone, Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    /// The request field at fault, when there is one (`price`, `units[0].unit`, a header).
    pub field: Option<String>,
    /// The figures of the refusal by name (`max`, `held_t`…), for translations and programs.
    pub params: Map<String, Value>,
}

/// One code of the API: its status and what it means (the OpenAPI document lists these).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Code {
    pub code: &'static str,
    pub status: u16,
    pub description: &'static str,
}

const fn code(code: &'static str, status: u16, description: &'static str) -> Code {
    Code {
        code,
        status,
        description,
    }
}

/// Every code the server itself answers with (the market's reasons come from
/// `ets_market::rejection_codes`, see [`all_codes`]).
pub const CODES: &[Code] = &[
    // 400: the request itself is wrong.
    code(
        "malformed",
        400,
        "The body is not JSON, not an object, or a value has the wrong type.",
    ),
    code(
        "missing_field",
        400,
        "A required field is absent (`field` names it).",
    ),
    code(
        "unknown_field",
        400,
        "A field the route does not take (`field` names it); nothing is ignored silently.",
    ),
    code(
        "invalid_enum",
        400,
        "A value outside the documented choices (`params.allowed` lists them).",
    ),
    code(
        "invalid_id",
        400,
        "An identifier that is not 1 to 64 characters of A-Z a-z 0-9 - _ . (companies, units, projects, holders, plans).",
    ),
    code(
        "invalid_class",
        400,
        "A unit class that is not CEA-<vintage> or CCER-P<project>-<vintage>.",
    ),
    code(
        "invalid_account",
        400,
        "An account number that is not CN-000123 (or 123).",
    ),
    code(
        "invalid_decimal",
        400,
        "A measured figure that is not a non-negative decimal written as a string (\"21.5\").",
    ),
    code(
        "invalid_base64",
        400,
        "A document whose content is not standard base64.",
    ),
    code(
        "out_of_range",
        400,
        "A number outside its documented bounds (`params.min`, `params.max`).",
    ),
    code(
        "too_long",
        400,
        "A text or list longer than its documented maximum (`params.max`).",
    ),
    code(
        "invalid_text",
        400,
        "A text that is empty or contains control characters.",
    ),
    code(
        "idempotency_key_required",
        400,
        "A POST without an Idempotency-Key header.",
    ),
    code(
        "invalid_idempotency_key",
        400,
        "An Idempotency-Key that is not 1 to 128 visible ASCII characters.",
    ),
    code(
        "invalid_name",
        400,
        "A user name that is not 1 to 64 letters, digits, '-', '_', '.' or '@'.",
    ),
    code(
        "missing_scope",
        422,
        "A user of this role needs its scope: a province, a company or a holder.",
    ),
    code(
        "not_a_regulator",
        400,
        "Only regulators may be created this way.",
    ),
    code(
        "duplicate_representative",
        400,
        "The same representative named twice in an account request.",
    ),
    code(
        "not_an_instruction",
        400,
        "A command that is not a four-eyes instruction.",
    ),
    // 401, 403: who is calling.
    code(
        "unauthenticated",
        401,
        "Nobody is logged in, or the token is unknown or revoked: log in or send `Authorization: Bearer <token>`.",
    ),
    code("bad_credentials", 401, "Wrong user name or password."),
    code(
        "password_change_required",
        403,
        "The user logs in with a temporary password set by the regulator: only changing it (POST /api/password), /api/me and logging out are allowed until then.",
    ),
    code(
        "forbidden",
        403,
        "The caller's role or scope does not allow this.",
    ),
    code(
        "csrf",
        403,
        "A browser session's write without its CSRF token.",
    ),
    code(
        "four_eyes",
        403,
        "An instruction must be approved by another representative than its initiator.",
    ),
    code(
        "not_own_account",
        403,
        "An instruction that moves units out of another company's account.",
    ),
    // 404, 405, 408, 413, 415.
    code(
        "not_found",
        404,
        "No such thing (company, account, request, shipped file…).",
    ),
    code("no_route", 404, "No such route; see /openapi.json."),
    code(
        "method_not_allowed",
        405,
        "The route does not take this method.",
    ),
    code(
        "request_timeout",
        408,
        "The request (its body included) took too long to arrive or to be answered; a write may still take effect: retry with the same Idempotency-Key. The connection is closed.",
    ),
    code(
        "payload_too_large",
        413,
        "The body is larger than the route's limit (`x-max-body-bytes` of the route, `params.max`); refused before it is read when its Content-Length says so, and the connection is closed.",
    ),
    code(
        "unsupported_media_type",
        415,
        "The body is not sent as application/json.",
    ),
    // 409: it exists already or was decided.
    code(
        "idempotency_key_reused",
        409,
        "The Idempotency-Key was used for another request (another path or body).",
    ),
    code(
        "already_decided",
        409,
        "The request or instruction was decided already.",
    ),
    code("already_inactive", 409, "The user is deactivated already."),
    code(
        "last_regulator",
        409,
        "The last active regulator cannot be deactivated.",
    ),
    code("user_exists", 409, "A user of that name exists."),
    code(
        "company_exists",
        409,
        "A company with that id is registered or requested.",
    ),
    code(
        "holder_exists",
        409,
        "A holder of that name is registered or requested.",
    ),
    code(
        "no_session",
        409,
        "Log out without a browser session (a caller with an API token has none to end).",
    ),
    code(
        "password_changed",
        409,
        "The password changed while this change was checked: check the old password again.",
    ),
    // 422: against the rules.
    code(
        "file_choice",
        422,
        "Give exactly one of `builtin` (a shipped file's id) or `toml` (a file's text, with an optional `source`).",
    ),
    code(
        "weak_password",
        422,
        "Passwords need at least 12 characters.",
    ),
    code(
        "same_password",
        422,
        "A new password must differ from the old one.",
    ),
    code(
        "wrong_password",
        422,
        "The old password given to change it is wrong (counts as a failed login).",
    ),
    code(
        "not_a_verifier",
        422,
        "Companies are assigned to verifiers only.",
    ),
    code(
        "too_few_representatives",
        422,
        "An account request needs at least the policy's number of representatives.",
    ),
    code(
        "documents_required",
        422,
        "An account request needs its documents.",
    ),
    code(
        "unknown_account",
        404,
        "No account of that number or holder.",
    ),
    code(
        "own_account",
        422,
        "A company's own account needs no trust.",
    ),
    code(
        "untrusted_account",
        422,
        "A transfer to an account that is not on the company's trusted list, or whose entry is not in effect yet.",
    ),
    // 429, 5xx: not now.
    code(
        "rate_limited",
        429,
        "More requests than the caller's rate allows; slow down.",
    ),
    code(
        "login_throttled",
        429,
        "Too many failed logins for this user name or from this address: retry after the `Retry-After` header's seconds (`params.retry_after_s`; the wait doubles with each further failure, up to 15 minutes).",
    ),
    code(
        "internal",
        500,
        "A bug: the request was not completed. The server's log says more.",
    ),
    code(
        "queue_full",
        503,
        "The writer's queue is full: retry after the `Retry-After` header's seconds, with the same Idempotency-Key.",
    ),
    code(
        "busy",
        503,
        "Too many password checks (logins, account requests, new users) are waiting: retry after the `Retry-After` header's seconds.",
    ),
    code(
        "unavailable",
        503,
        "The journal is unavailable, the writer stopped, or the answer did not come in time (retry with the same Idempotency-Key).",
    ),
    code(
        "store_unavailable",
        503,
        "The store can no longer write (its database connection or disk failed): every request is refused, reads included, until the server has reopened the journal and rebuilt its state from it, which it retries on its own. Retry after `Retry-After` (writes with the same Idempotency-Key).",
    ),
    code(
        "not_writer",
        503,
        "This server is a standby of the PostgreSQL store: it serves reads and takes over writing within seconds if the writer fails. Send writes to the writer, or retry here after `Retry-After`.",
    ),
];

/// The status of a market refusal by its kind.
pub fn market_status(kind: ErrorKind) -> u16 {
    match kind {
        ErrorKind::NotFound => 404,
        ErrorKind::Conflict => 409,
        ErrorKind::Rule => 422,
    }
}

/// Every code an API client may see: the server's and the market's (a code both answer with,
/// such as `unknown_account`, is listed once; a test checks that both give it the same status).
pub fn all_codes() -> Vec<Code> {
    let mut all = CODES.to_vec();
    for (c, kind, description) in rejection_codes() {
        if !CODES.iter().any(|own| own.code == *c) {
            all.push(code(c, market_status(*kind), description));
        }
    }
    all
}

/// The status of a code of [`all_codes`].
pub fn status_of(code: &str) -> Option<u16> {
    static STATUS: std::sync::OnceLock<std::collections::HashMap<&'static str, u16>> =
        std::sync::OnceLock::new();
    STATUS
        .get_or_init(|| {
            all_codes()
                .into_iter()
                .map(|c| (c.code, c.status))
                .collect()
        })
        .get(code)
        .copied()
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>, field: Option<&str>) -> Self {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: code.to_string(),
            message: message.into(),
            field: field.map(str::to_string),
            params: Map::new(),
        }
    }
    /// A refusal of a code of [`CODES`], with that code's status.
    pub fn of(code: &str, message: impl Into<String>, field: Option<&str>) -> Self {
        let status = status_of(code).unwrap_or(500);
        debug_assert!(status != 500 || code == "internal", "unlisted code {code}");
        Self::new(status, code, message, field)
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

    /// Adds a figure for translations and programs.
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.params.insert(name.to_string(), value.into());
        self
    }

    /// Names the field at fault (keeps the one given already).
    pub fn at(mut self, field: &str) -> Self {
        if self.field.is_none() {
            self.field = Some(field.to_string());
        }
        self
    }

    pub fn body(&self) -> Value {
        json!({
            "status": self.status.as_u16(),
            "code": self.code,
            "message": self.message,
            "field": self.field,
            "params": self.params,
        })
    }

    /// Reads a refusal back from a body made by [`ApiError::body`] (the writer's replies).
    pub fn from_body(status: u16, body: &Value) -> Option<ApiError> {
        let code = body.get("code")?.as_str()?;
        let mut e = ApiError::new(
            status,
            code,
            body.get("message").and_then(Value::as_str).unwrap_or(""),
            body.get("field").and_then(Value::as_str),
        );
        if let Some(p) = body.get("params").and_then(Value::as_object) {
            e.params = p.clone();
        }
        Some(e)
    }

    /// Maps a market refusal: the status from its kind (unknown things 404, things that exist
    /// already 409, every other broken rule 422), its stable code, its figures as `params`, its
    /// `Display` as the message.
    pub fn from_market(e: &MarketError) -> ApiError {
        let mut err = ApiError::new(market_status(e.kind()), e.code(), e.to_string(), None);
        err.params = e.params();
        err
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, axum::Json(self.body())).into_response();
        if let Some(wait) = self.params.get("retry_after_s").and_then(Value::as_u64) {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(wait),
            );
        } else if self.code == "queue_full" || self.code == "rate_limited" {
            // Back-pressure says when to come back (the writer's queue drains in well under a
            // second; the rate limit refills every second).
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("1"),
            );
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A code the server and the market both answer with means the same and has one status.
    #[test]
    fn shared_codes_have_one_status() {
        for (c, kind, _) in rejection_codes() {
            if let Some(own) = CODES.iter().find(|own| own.code == *c) {
                assert_eq!(own.status, market_status(*kind), "{c}");
            }
        }
    }

    /// Codes are unique, snake_case, and each has one status and a description.
    #[test]
    fn codes_are_unique_and_described() {
        let mut seen = std::collections::BTreeSet::new();
        for c in all_codes() {
            assert!(seen.insert(c.code), "{} twice", c.code);
            assert!(
                c.code
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{}",
                c.code
            );
            assert!((400..600).contains(&c.status), "{}", c.code);
            assert!(!c.description.is_empty(), "{}", c.code);
        }
        for needed in [
            "unauthenticated",
            "forbidden",
            "queue_full",
            "unavailable",
            "invalid_id",
            "invalid_class",
            "out_of_range",
            "too_long",
            "malformed",
            "unknown_field",
        ] {
            assert!(seen.contains(needed), "{needed}");
        }
    }
}
