//! The JSON API. One table ([`routes`]) holds every route with its documentation; the router and
//! the OpenAPI document at `/openapi.json` are both made from it, so they cannot disagree.
//!
//! Reads take the state's read lock, ask [`crate::authz`] and answer; the gate records them.
//! Writes check the idempotency key, parse the body into an [`Op`] and hand it to the writer,
//! which authorises, executes, journals and records them.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, State as AxState};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Extension, Json, Router};
use base64::Engine as _;
use ets_market::{Command, ExchangeCommand, Stage};
use ets_types::{AccountId, CompanyId, UnitClass};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::access::{
    AccountRequest, Applicant, Document, Instruction, Representative, RequestStatus, Role, User,
};
use crate::authz::Action;
use crate::core::{Op, Reply, State, public_user};
use crate::error::ApiError;
use crate::{App, Audited, Caller, SESSION_COOKIE, csrf_of, sha256_hex};

type AppState = Arc<App>;
type Params = HashMap<String, String>;

/// One route: method, path, documentation and handler.
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    /// Who may call it.
    pub who: &'static str,
    /// An example request body (POST); its shape is the documented schema.
    pub example: Option<Value>,
    pub handler: MethodRouter<AppState>,
}

fn route(
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    who: &'static str,
    example: Option<Value>,
    handler: MethodRouter<AppState>,
) -> Route {
    Route {
        method,
        path,
        tag,
        summary,
        who,
        example,
        handler,
    }
}

const PUBLIC: &str = "anyone, logged in or not";
const REGULATOR: &str = "regulator";
const OVERSIGHT: &str = "regulator, auditor; a provincial bureau sees its province";
const LOGGED_IN: &str = "any logged-in user";

/// Every route of the API.
pub fn routes() -> Vec<Route> {
    let class = json!("CEA-2021");
    vec![
        route(
            "get",
            "/api/health",
            "system",
            "Liveness, store and journal position",
            PUBLIC,
            None,
            get(health),
        ),
        // Sessions, tokens, users.
        route(
            "post",
            "/api/login",
            "users",
            "Log in with user name and password: sets the session cookie, returns the CSRF token",
            PUBLIC,
            Some(json!({"username": "rep-a", "password": "correct horse battery staple"})),
            post(login),
        ),
        route(
            "post",
            "/api/logout",
            "users",
            "End the browser session",
            LOGGED_IN,
            None,
            post(logout),
        ),
        route(
            "get",
            "/api/me",
            "users",
            "Who am I: role, scope, CSRF token of the session",
            LOGGED_IN,
            None,
            get(me),
        ),
        route(
            "post",
            "/api/tokens",
            "users",
            "Issue an API token for a program (shown once)",
            LOGGED_IN,
            Some(json!({"label": "trading robot"})),
            post(issue_token),
        ),
        route(
            "get",
            "/api/users",
            "users",
            "List users",
            "regulator, auditor",
            None,
            get(list_users),
        ),
        route(
            "post",
            "/api/users",
            "users",
            "Create a user (bureau, verifier, auditor, member, regulator)",
            REGULATOR,
            Some(
                json!({"name": "bureau-shanxi", "display": "Shanxi bureau", "password": "a long passphrase", "role": "bureau", "province": "Shanxi"}),
            ),
            post(create_user),
        ),
        route(
            "post",
            "/api/users/{name}/deactivate",
            "users",
            "Deactivate a user: its tokens and sessions stop working at once",
            REGULATOR,
            Some(json!({})),
            post(deactivate_user),
        ),
        route(
            "post",
            "/api/verifiers/{name}/companies",
            "users",
            "Assign a company to a verifier",
            REGULATOR,
            Some(json!({"company": "SX0001"})),
            post(assign_verifier),
        ),
        // Account opening.
        route(
            "post",
            "/api/account-requests",
            "accounts",
            "Apply for an account with documents and at least two representatives",
            PUBLIC,
            Some(json!({
                "applicant": {"kind": "company", "company": {"id": "SX0999", "name": "Taiyuan Power", "province": "Shanxi"},
                              "units": []},
                "documents": [{"name": "licence.pdf", "media_type": "application/pdf", "content_base64": "JVBERi0xLjQK"}],
                "representatives": [{"name": "rep-a", "display": "Li Wei", "password": "a long passphrase"},
                                    {"name": "rep-b", "display": "Wang Fang", "password": "another passphrase"}]})),
            post(request_account),
        ),
        route(
            "get",
            "/api/account-requests",
            "accounts",
            "Account-opening requests (documents by digest)",
            "regulator, auditor",
            None,
            get(list_requests),
        ),
        route(
            "get",
            "/api/account-requests/{id}",
            "accounts",
            "One request with its documents",
            "regulator, auditor",
            None,
            get(show_request),
        ),
        route(
            "post",
            "/api/account-requests/{id}/approve",
            "accounts",
            "Approve: opens the account and creates the representatives' users",
            REGULATOR,
            Some(json!({})),
            post(approve_request),
        ),
        route(
            "post",
            "/api/account-requests/{id}/reject",
            "accounts",
            "Reject with a reason",
            REGULATOR,
            Some(json!({"reason": "licence expired"})),
            post(reject_request),
        ),
        // Registry.
        route(
            "get",
            "/api/accounts",
            "registry",
            "Accounts the caller may see",
            LOGGED_IN,
            None,
            get(list_accounts),
        ),
        route(
            "get",
            "/api/accounts/{account}",
            "registry",
            "Holdings by unit class with serial blocks, funds and open orders",
            "the account's own company or member; regulator, auditor, its bureau",
            None,
            get(show_account),
        ),
        route(
            "get",
            "/api/accounts/{account}/transactions",
            "registry",
            "Registry transactions of an account, newest first (?limit=)",
            "as the account",
            None,
            get(account_transactions),
        ),
        route(
            "get",
            "/api/transactions",
            "registry",
            "All registry transactions, newest first (?limit=&before=)",
            "regulator, auditor",
            None,
            get(list_transactions),
        ),
        route(
            "get",
            "/api/transactions/{seq}",
            "registry",
            "One registry transaction",
            "regulator, auditor, or a party to it",
            None,
            get(show_transaction),
        ),
        // Four eyes.
        route(
            "post",
            "/api/instructions",
            "four-eyes",
            "Initiate a transfer, surrender or trusted-account entry; takes effect when a second representative approves",
            "company representative",
            Some(
                json!({"company": "SX0001", "kind": "transfer", "class": class, "quantity": 1000, "to": "CN-000004"}),
            ),
            post(propose_instruction),
        ),
        route(
            "get",
            "/api/instructions",
            "four-eyes",
            "Instructions (?company=&status=pending)",
            "company representative (own), regulator, auditor",
            None,
            get(list_instructions),
        ),
        route(
            "post",
            "/api/instructions/{id}/approve",
            "four-eyes",
            "Approve (a different representative of the same company) and execute",
            "company representative",
            Some(json!({})),
            post(approve_instruction),
        ),
        route(
            "post",
            "/api/instructions/{id}/reject",
            "four-eyes",
            "Reject",
            "company representative",
            Some(json!({})),
            post(reject_instruction),
        ),
        route(
            "get",
            "/api/companies/{id}/trusted",
            "four-eyes",
            "The company's trusted-account list with effective times",
            "company representative (own), regulator, auditor",
            None,
            get(list_trusted),
        ),
        route(
            "post",
            "/api/companies/{id}/trusted/{account}/remove",
            "four-eyes",
            "Remove an account from the trusted list (immediate)",
            "company representative",
            Some(json!({})),
            post(remove_trusted),
        ),
        // Companies, MRV.
        route(
            "get",
            "/api/companies",
            "mrv",
            "Companies the caller may see",
            LOGGED_IN,
            None,
            get(list_companies),
        ),
        route(
            "get",
            "/api/companies/{id}",
            "mrv",
            "A company: units, account, holdings, reports, allocation, obligation per plan",
            "own company, its bureau, assigned verifier (reports), regulator, auditor",
            None,
            get(show_company),
        ),
        route(
            "get",
            "/api/reports",
            "mrv",
            "Emission reports (?status=submitted|verified|accepted&year=): the verification queue",
            "scoped by role",
            None,
            get(list_reports),
        ),
        route(
            "post",
            "/api/reports",
            "mrv",
            "Submit an emission report",
            "company representative",
            Some(
                json!({"company": "SX0001", "year": 2021, "units": [{"unit": "SX0001-G1", "year": 2021,
                "fuels": [{"fuel": "bituminous_coal", "consumption": "1150000", "ncv_gj": "21.5", "carbon_content_tc_per_gj": "0.0262", "elemental_carbon": null, "oxidation_rate": "0.99"}],
                "purchased_electricity_mwh": "0", "power_supplied_mwh": "3000000", "heat_supplied_gj": "0", "load_factor": "0.82"}]}),
            ),
            command_route(submit_report),
        ),
        route(
            "post",
            "/api/reports/corrections",
            "mrv",
            "Correct a report (a new version, with the reason)",
            "company representative",
            Some(
                json!({"report": {"company": "SX0001", "year": 2021, "units": []}, "reason": "meter recalibrated"}),
            ),
            command_route(correct_report),
        ),
        route(
            "post",
            "/api/reports/verifications",
            "mrv",
            "Record verified figures (units null confirms the reported ones)",
            "assigned verifier",
            Some(
                json!({"company": "SX0001", "year": 2021, "units": null, "findings": ["sampling plan followed"]}),
            ),
            command_route(verify_report),
        ),
        route(
            "post",
            "/api/reports/acceptances",
            "mrv",
            "Accept a verified report",
            "regulator, the company's bureau",
            Some(json!({"company": "SX0001", "year": 2021})),
            command_route(accept_report),
        ),
        // Plans, allocation, offsets.
        route(
            "get",
            "/api/plans",
            "allocation",
            "Adopted allocation plans",
            PUBLIC,
            None,
            get(list_plans),
        ),
        route(
            "post",
            "/api/plans",
            "allocation",
            "Adopt a plan: a shipped one by id, or a policy file's text",
            REGULATOR,
            Some(json!({"builtin": "cn-power-2021-2022"})),
            command_route(adopt_plan),
        ),
        route(
            "post",
            "/api/allocations",
            "allocation",
            "Pre-allocate or true up a company's allowances under a plan",
            REGULATOR,
            Some(json!({"plan": "cn-power-2021-2022", "company": "SX0001", "stage": "pre"})),
            command_route(allocate),
        ),
        route(
            "get",
            "/api/allocations",
            "allocation",
            "Each unit's pre-allocation and final allocation with its inputs and correction factors (?plan=&company=, or pages of companies: ?after=&limit=)",
            "own company, its bureau, regulator, auditor",
            None,
            get(crate::allocation_api::list),
        ),
        route(
            "post",
            "/api/projects",
            "offsets",
            "Register an offset project",
            REGULATOR,
            Some(
                json!({"project": "CCER-FOREST-0001", "name": "Lüliang afforestation", "province": "Shanxi", "kind": "forestry"}),
            ),
            command_route(register_project),
        ),
        route(
            "post",
            "/api/offsets",
            "offsets",
            "Issue offset credits to a project",
            REGULATOR,
            Some(json!({"project": "CCER-FOREST-0001", "vintage": 2021, "quantity": 50000})),
            command_route(issue_offsets),
        ),
        // Compliance.
        route(
            "get",
            "/api/compliance/{plan}",
            "compliance",
            "Compliance by company, province and nation",
            OVERSIGHT,
            None,
            get(compliance),
        ),
        route(
            "get",
            "/api/public/compliance/{plan}",
            "compliance",
            "Published compliance: nation and provinces; companies once assessed",
            PUBLIC,
            None,
            get(public_compliance),
        ),
        route(
            "post",
            "/api/compliance/{plan}/exemptions",
            "compliance",
            "Exempt a company from a cycle",
            REGULATOR,
            Some(json!({"company": "SX0001", "reason": "closed 2022-03"})),
            command_route(exempt),
        ),
        route(
            "post",
            "/api/compliance/{plan}/assessment",
            "compliance",
            "Assess the cycle at the deadline",
            REGULATOR,
            Some(json!({})),
            command_route(assess),
        ),
        route(
            "post",
            "/api/commands",
            "system",
            "Any market command as JSON (registry corrections, account status, direct transfers)",
            REGULATOR,
            Some(json!({"command": "set_account_status", "holder": "SX0001", "status": "frozen"})),
            command_route(raw_command),
        ),
        // Exchange.
        route(
            "post",
            "/api/exchange",
            "exchange",
            "Open the exchange under a market file (shipped id or text)",
            REGULATOR,
            Some(json!({"builtin": "cn-seee"})),
            command_route(open_exchange),
        ),
        route(
            "post",
            "/api/exchange/days/open",
            "exchange",
            "Open today's trading day",
            REGULATOR,
            Some(json!({})),
            command_route(open_day),
        ),
        route(
            "post",
            "/api/exchange/days/close",
            "exchange",
            "Close the day: settlement, closing prices",
            REGULATOR,
            Some(json!({})),
            command_route(close_day),
        ),
        route(
            "post",
            "/api/funds/deposits",
            "exchange",
            "Credit a trading account's funds (fen)",
            REGULATOR,
            Some(json!({"holder": "trader-0001", "fen": 100000000})),
            command_route(deposit),
        ),
        route(
            "post",
            "/api/funds/withdrawals",
            "exchange",
            "Pay out available funds (fen)",
            REGULATOR,
            Some(json!({"holder": "trader-0001", "fen": 100000})),
            command_route(withdraw),
        ),
        route(
            "post",
            "/api/orders",
            "exchange",
            "Enter an order (price in fen per tonne; tif day|ioc|fok)",
            "the account's company representative or member",
            Some(
                json!({"holder": "trader-0001", "class": class, "side": "buy", "price": 4500, "qty": 1000, "tif": "day"}),
            ),
            command_route(order),
        ),
        route(
            "get",
            "/api/orders",
            "exchange",
            "Open orders of an account (?holder=)",
            "as the account",
            None,
            get(open_orders),
        ),
        route(
            "post",
            "/api/orders/{id}/cancel",
            "exchange",
            "Cancel an order",
            "the order's owner",
            Some(json!({"holder": "trader-0001"})),
            command_route(cancel_order),
        ),
        route(
            "post",
            "/api/orders/{id}/amend",
            "exchange",
            "Amend price and quantity (loses time priority unless only reduced)",
            "the order's owner",
            Some(json!({"holder": "trader-0001", "price": 4510, "qty": 800})),
            command_route(amend_order),
        ),
        route(
            "post",
            "/api/orders/{id}/take",
            "exchange",
            "Click-to-trade: take a listed order at its price",
            "the account's company representative or member",
            Some(json!({"holder": "trader-0002", "qty": 100})),
            command_route(take_order),
        ),
        route(
            "post",
            "/api/blocks",
            "exchange",
            "Propose a block trade to a named counterparty",
            "the account's company representative or member",
            Some(
                json!({"holder": "trader-0001", "counterparty": "trader-0002", "class": class, "side": "sell", "price": 4400, "qty": 100000}),
            ),
            command_route(propose_block),
        ),
        route(
            "post",
            "/api/blocks/{id}/accept",
            "exchange",
            "Accept a block proposal",
            "the counterparty",
            Some(json!({"holder": "trader-0002"})),
            command_route(accept_block),
        ),
        route(
            "post",
            "/api/auctions",
            "exchange",
            "Announce a one-way auction (floor or ceiling price, bidding window)",
            "the account's company representative or member",
            Some(
                json!({"holder": "trader-0001", "class": class, "side": "sell", "qty": 200000, "limit": 4200, "pay_as_bid": false, "open_minute": 840, "close_minute": 870}),
            ),
            command_route(announce),
        ),
        route(
            "post",
            "/api/auctions/{id}/bids",
            "exchange",
            "Bid in a one-way auction",
            "the account's company representative or member",
            Some(json!({"holder": "trader-0002", "price": 4300, "qty": 50000})),
            command_route(bid),
        ),
        route(
            "post",
            "/api/auctions/{id}/close",
            "exchange",
            "Close the auction and allocate",
            REGULATOR,
            Some(json!({})),
            command_route(close_auction),
        ),
        // Market data.
        route(
            "get",
            "/api/market/book",
            "market data",
            "Book depth (?class=CEA-2021&levels=5)",
            PUBLIC,
            None,
            get(book),
        ),
        route(
            "get",
            "/api/market/trades",
            "market data",
            "Recent trades, newest first (?class=&limit=)",
            PUBLIC,
            None,
            get(trades),
        ),
        route(
            "get",
            "/api/market/days",
            "market data",
            "Daily bars (?class=)",
            PUBLIC,
            None,
            get(days),
        ),
        // Audit.
        route(
            "get",
            "/api/audit",
            "system",
            "The latest audit entries, newest first (?limit=)",
            "regulator, auditor",
            None,
            get(audit),
        ),
    ]
}

/// The API router (without its state), built from [`routes`].
pub fn router() -> Router<AppState> {
    routes()
        .into_iter()
        .fold(Router::new(), |r, route| r.route(route.path, route.handler))
}

/// The OpenAPI 3 document of [`routes`].
pub fn openapi() -> Value {
    let mut paths = Map::new();
    for r in routes() {
        let mut op = json!({
            "operationId": format!("{}{}", r.method, r.path.replace(['/', '{', '}', '-'], "_")),
            "summary": r.summary,
            "description": format!("Who: {}.", r.who),
            "tags": [r.tag],
            "responses": {
                if r.method == "post" { "201" } else { "200" }: {"description": "done", "content": {"application/json": {"schema": {"type": "object"}}}},
                "default": {"description": "refused", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            }
        });
        let params: Vec<Value> = r
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let mut params = params;
        if r.method == "post" && r.path != "/api/login" {
            params.push(json!({"name": "Idempotency-Key", "in": "header", "required": true,
                "description": "Unique per request; a retry with the same key and body gets the first answer, with another body 409.",
                "schema": {"type": "string", "maxLength": 128}}));
        }
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        if let Some(example) = &r.example {
            op["requestBody"] = json!({"required": true, "content": {"application/json": {
                "schema": schema_of(example), "example": example}}});
        }
        paths
            .entry(r.path.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("path item")
            .insert(r.method.to_string(), op);
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "ets: emissions trading system API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Registry, MRV, allocation, compliance, offsets and the exchange of a national carbon market. Tonnes and fen are integers. Authenticate with `Authorization: Bearer <token>` (POST /api/tokens) or the session cookie of POST /api/login plus its `X-CSRF-Token`."},
        "paths": paths,
        "components": {
            "schemas": {"Error": {"type": "object", "required": ["status", "code", "message"], "properties": {
                "status": {"type": "integer"}, "code": {"type": "string"}, "message": {"type": "string"},
                "field": {"type": ["string", "null"]}}}},
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"},
                                "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE}}
        },
        "security": [{"token": []}, {"session": []}, {}]
    })
}

/// A JSON Schema describing the shape of an example.
fn schema_of(v: &Value) -> Value {
    match v {
        Value::Null => json!({"type": "null"}),
        Value::Bool(_) => json!({"type": "boolean"}),
        Value::Number(n) if n.is_i64() || n.is_u64() => json!({"type": "integer"}),
        Value::Number(_) => json!({"type": "number"}),
        Value::String(_) => json!({"type": "string"}),
        Value::Array(items) => {
            json!({"type": "array", "items": items.first().map_or(json!({}), schema_of)})
        }
        Value::Object(m) => {
            let props: Map<String, Value> =
                m.iter().map(|(k, v)| (k.clone(), schema_of(v))).collect();
            json!({"type": "object", "properties": props})
        }
    }
}

/// `/openapi.json` and the interactive docs at `/docs`, served from the binary.
pub fn docs() -> Router<AppState> {
    let doc: utoipa::openapi::OpenApi =
        serde_json::from_value(openapi()).expect("our OpenAPI document parses as OpenAPI");
    Router::new().merge(utoipa_swagger_ui::SwaggerUi::new("/docs").url("/openapi.json", doc))
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn bad(code: &str, message: impl Into<String>, field: Option<&str>) -> ApiError {
    ApiError::bad_request(code, message, field)
}

/// Parses `CEA-2021` or `CCER-P12-2019`.
pub fn parse_class(text: &str) -> Result<UnitClass, ApiError> {
    let err = || {
        bad(
            "malformed",
            format!("unit class {text:?}: expected CEA-<vintage> or CCER-P<project>-<vintage>"),
            Some("class"),
        )
    };
    let year = |s: &str| s.parse::<u16>().ok().filter(|y| (1900..=9999).contains(y));
    if let Some(v) = text.strip_prefix("CEA-") {
        return Ok(UnitClass::Cea {
            vintage: year(v).ok_or_else(err)?,
        });
    }
    let rest = text.strip_prefix("CCER-P").ok_or_else(err)?;
    let (p, v) = rest.split_once('-').ok_or_else(err)?;
    Ok(UnitClass::Ccer {
        project: p.parse().map_err(|_| err())?,
        vintage: year(v).ok_or_else(err)?,
    })
}

fn parse_account(text: &str, field: &str) -> Result<AccountId, ApiError> {
    text.strip_prefix("CN-")
        .unwrap_or(text)
        .parse::<u32>()
        .map(AccountId)
        .map_err(|_| {
            bad(
                "malformed",
                format!("account {text:?}: expected CN-000123"),
                Some(field),
            )
        })
}

fn parse_id(params: &Params, name: &str) -> Result<u64, ApiError> {
    let text = params.get(name).map(String::as_str).unwrap_or_default();
    text.parse().map_err(|_| {
        bad(
            "malformed",
            format!("{name} {text:?} is not a number"),
            Some(name),
        )
    })
}

fn object(body: Value) -> Result<Map<String, Value>, ApiError> {
    match body {
        Value::Object(m) => Ok(m),
        _ => Err(bad(
            "malformed",
            "the request body must be a JSON object",
            None,
        )),
    }
}

/// Deserializes a typed body with a structured error.
fn typed<T: serde::de::DeserializeOwned>(body: Value) -> Result<T, ApiError> {
    serde_json::from_value(body).map_err(|e| ApiError::from_json(&e))
}

/// Builds a market command from a body: `class` may be written `CEA-2021`, the tags of the
/// command are added, and a `reason` field is also the journal entry's reason.
fn build(
    body: Value,
    command: &str,
    op: Option<&str>,
    extra: &[(&str, Value)],
) -> Result<(Command, Option<String>), ApiError> {
    let mut m = object(body)?;
    if let Some(Value::String(c)) = m.get("class") {
        let class = parse_class(c)?;
        m.insert(
            "class".into(),
            serde_json::to_value(class).expect("classes serialize"),
        );
    }
    // Kept in the body too: corrections and exemptions carry their reason in the command.
    let reason = match m.get("reason").cloned() {
        Some(Value::String(r)) => Some(r),
        None | Some(Value::Null) => None,
        Some(_) => return Err(bad("malformed", "reason must be a string", Some("reason"))),
    };
    m.insert("command".into(), json!(command));
    if let Some(op) = op {
        m.insert("op".into(), json!(op));
    }
    for (k, v) in extra {
        m.insert((*k).to_string(), v.clone());
    }
    Ok((typed(Value::Object(m))?, reason))
}

type Builder = fn(&Caller, Value, &Params) -> Result<(Command, Option<String>), ApiError>;

fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let key = headers
        .get("idempotency-key")
        .ok_or_else(|| {
            bad(
                "idempotency_key_required",
                "every POST needs an Idempotency-Key header (a fresh random string per operation)",
                Some("Idempotency-Key"),
            )
        })?
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 128 && k.bytes().all(|b| (0x21..0x7f).contains(&b)))
        .ok_or_else(|| {
            bad(
                "malformed",
                "Idempotency-Key must be 1-128 visible ASCII characters",
                Some("Idempotency-Key"),
            )
        })?;
    Ok(key.to_string())
}

/// Turns a writer's reply into a response (marked as recorded).
fn respond(reply: Reply) -> Response {
    let status = axum::http::StatusCode::from_u16(reply.status)
        .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = (status, Json(reply.body)).into_response();
    resp.extensions_mut().insert(Audited);
    resp
}

/// What every write takes: the caller, the path parameters, the request path, the headers and
/// the raw body (its digest is part of the idempotency check).
pub struct Post {
    app: AppState,
    caller: Caller,
    params: Params,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl FromRequest<AppState> for Post {
    type Rejection = Response;
    async fn from_request(req: axum::extract::Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let Path(params) = Path::<Params>::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let caller =
            parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
                ApiError::internal("request did not pass the gate").into_response()
            })?;
        let path = parts.uri.path().to_string();
        let headers = parts.headers.clone();
        let body = Bytes::from_request(axum::extract::Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Post {
            app: state.clone(),
            caller,
            params,
            path,
            headers,
            body,
        })
    }
}

impl Post {
    /// The common path of every write: idempotency key, JSON body, the op, the writer.
    async fn write(&self, make: impl FnOnce(Value) -> Result<Op, ApiError>) -> Response {
        let key = match idempotency_key(&self.headers) {
            Ok(k) => k,
            Err(e) => return e.into_response(),
        };
        let value: Value = if self.body.is_empty() {
            json!({})
        } else {
            match serde_json::from_slice(&self.body) {
                Ok(v) => v,
                Err(e) => return ApiError::from_json(&e).into_response(),
            }
        };
        let ctx = self
            .caller
            .ctx("POST", &self.path, Some(key), Some(&self.body));
        let op = match make(value) {
            Ok(op) => op,
            Err(e) => return e.into_response(),
        };
        respond(self.app.submit(ctx, op).await)
    }
    fn id(&self) -> Result<u64, ApiError> {
        parse_id(&self.params, "id")
    }
}

fn command_route(builder: Builder) -> MethodRouter<AppState> {
    post(move |w: Post| async move {
        w.write(|v| {
            let (command, reason) = builder(&w.caller, v, &w.params)?;
            Ok(Op::Command {
                reason: reason.unwrap_or_else(|| command.name().replace('_', " ")),
                command,
            })
        })
        .await
    })
}

fn limit(q: &Params, default: usize) -> Result<usize, ApiError> {
    match q.get("limit") {
        None => Ok(default),
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| {
                bad(
                    "malformed",
                    format!("limit {s:?}: 1 to 10000"),
                    Some("limit"),
                )
            }),
    }
}

type JsonResult = Result<Json<Value>, ApiError>;

// ---------------------------------------------------------------------------------------------
// Market command builders

fn submit_report(_: &Caller, v: Value, _: &Params) -> Result<(Command, Option<String>), ApiError> {
    Ok((Command::SubmitReport { report: typed(v)? }, None))
}
fn correct_report(_: &Caller, v: Value, _: &Params) -> Result<(Command, Option<String>), ApiError> {
    build(v, "correct_report", None, &[])
}
fn verify_report(c: &Caller, v: Value, _: &Params) -> Result<(Command, Option<String>), ApiError> {
    let mut m = object(v)?;
    // The verifier signs with its own name; the regulator may record on a verifier's behalf.
    if c.role != Some(Role::Regulator) || !m.contains_key("verifier") {
        m.insert("verifier".into(), json!(c.user.clone().unwrap_or_default()));
    }
    Ok((
        Command::VerifyReport {
            verification: typed(Value::Object(m))?,
        },
        None,
    ))
}
fn accept_report(_: &Caller, v: Value, _: &Params) -> Result<(Command, Option<String>), ApiError> {
    build(v, "accept_report", None, &[])
}
/// A shipped file by id, or a file's text.
fn file_body(
    v: Value,
    builtin: fn(&str) -> Option<&'static str>,
) -> Result<(String, String), ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct FileBody {
        builtin: Option<String>,
        source: Option<String>,
        toml: Option<String>,
    }
    let b: FileBody = typed(v)?;
    match (b.builtin, b.toml) {
        (Some(id), None) => {
            let text = builtin(&id)
                .ok_or_else(|| ApiError::not_found(format!("no shipped file {id:?}")))?;
            Ok((format!("builtin:{id}"), text.to_string()))
        }
        (None, Some(toml)) => Ok((b.source.unwrap_or_else(|| "api".into()), toml)),
        _ => Err(bad(
            "malformed",
            "give either builtin (a shipped id) or toml (the file's text)",
            Some("builtin"),
        )),
    }
}
fn adopt_plan(_: &Caller, v: Value, _: &Params) -> Result<(Command, Option<String>), ApiError> {
    let (source, toml) = file_body(v, ets_policy::Plan::builtin_text)?;
    Ok((Command::AdoptPlan { source, toml }, None))
}
fn open_exchange(_: &Caller, v: Value, _: &Params) -> Result<(Command, Option<String>), ApiError> {
    let (source, toml) = file_body(v, |id| {
        (id == "cn-seee").then(ets_market::trading::config::MarketRules::builtin_text)
    })?;
    Ok((Command::OpenExchange { source, toml }, None))
}
fn allocate(_: &Caller, v: Value, _: &Params) -> Result<(Command, Option<String>), ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct B {
        plan: String,
        company: CompanyId,
        stage: Stage,
    }
    let b: B = typed(v)?;
    let command = match b.stage {
        Stage::Pre => Command::PreAllocate {
            plan: b.plan,
            company: b.company,
        },
        Stage::Final => Command::TrueUp {
            plan: b.plan,
            company: b.company,
        },
    };
    Ok((command, None))
}
fn register_project(
    _: &Caller,
    v: Value,
    _: &Params,
) -> Result<(Command, Option<String>), ApiError> {
    build(v, "register_project", None, &[])
}
fn issue_offsets(_: &Caller, v: Value, _: &Params) -> Result<(Command, Option<String>), ApiError> {
    build(v, "issue_offsets", None, &[])
}
fn exempt(_: &Caller, v: Value, p: &Params) -> Result<(Command, Option<String>), ApiError> {
    build(v, "exempt_company", None, &[("plan", json!(p["plan"]))])
}
fn assess(_: &Caller, v: Value, p: &Params) -> Result<(Command, Option<String>), ApiError> {
    build(v, "assess_cycle", None, &[("plan", json!(p["plan"]))])
}
fn raw_command(_: &Caller, v: Value, _: &Params) -> Result<(Command, Option<String>), ApiError> {
    let mut m = object(v)?;
    let command = m
        .remove("command")
        .and_then(|c| c.as_str().map(str::to_string))
        .ok_or_else(|| {
            bad(
                "malformed",
                "name the command in the field `command`",
                Some("command"),
            )
        })?;
    let op = m.remove("op").and_then(|c| c.as_str().map(str::to_string));
    build(Value::Object(m), &command, op.as_deref(), &[])
}
fn exchange_op(
    v: Value,
    op: &str,
    c: &Caller,
    extra: &[(&str, Value)],
) -> Result<(Command, Option<String>), ApiError> {
    let (_, minute) = crate::clock::beijing(c.at);
    let mut all = vec![("minute", json!(minute))];
    all.extend_from_slice(extra);
    build(v, "exchange", Some(op), &all)
}
fn open_day(_: &Caller, v: Value, _: &Params) -> Result<(Command, Option<String>), ApiError> {
    object(v)?;
    Ok((Command::Exchange(ExchangeCommand::OpenDay), None))
}
fn close_day(_: &Caller, v: Value, _: &Params) -> Result<(Command, Option<String>), ApiError> {
    object(v)?;
    Ok((Command::Exchange(ExchangeCommand::CloseDay), None))
}
fn deposit(_: &Caller, v: Value, _: &Params) -> Result<(Command, Option<String>), ApiError> {
    build(v, "exchange", Some("deposit"), &[])
}
fn withdraw(_: &Caller, v: Value, _: &Params) -> Result<(Command, Option<String>), ApiError> {
    build(v, "exchange", Some("withdraw"), &[])
}
fn order(c: &Caller, v: Value, _: &Params) -> Result<(Command, Option<String>), ApiError> {
    let mut m = object(v)?;
    m.entry("tif").or_insert(json!("day"));
    exchange_op(Value::Object(m), "order", c, &[])
}
fn path_id(p: &Params, name: &str) -> Result<Value, ApiError> {
    Ok(json!(parse_id(p, name)?))
}
fn cancel_order(_: &Caller, v: Value, p: &Params) -> Result<(Command, Option<String>), ApiError> {
    // A cancel takes no minute: it is allowed outside the sessions too.
    build(
        v,
        "exchange",
        Some("cancel"),
        &[("order", path_id(p, "id")?)],
    )
}
fn amend_order(c: &Caller, v: Value, p: &Params) -> Result<(Command, Option<String>), ApiError> {
    exchange_op(v, "amend", c, &[("order", path_id(p, "id")?)])
}
fn take_order(c: &Caller, v: Value, p: &Params) -> Result<(Command, Option<String>), ApiError> {
    exchange_op(v, "take", c, &[("order", path_id(p, "id")?)])
}
fn propose_block(c: &Caller, v: Value, _: &Params) -> Result<(Command, Option<String>), ApiError> {
    exchange_op(v, "propose_block", c, &[])
}
fn accept_block(c: &Caller, v: Value, p: &Params) -> Result<(Command, Option<String>), ApiError> {
    exchange_op(v, "accept_block", c, &[("proposal", path_id(p, "id")?)])
}
fn announce(_: &Caller, v: Value, _: &Params) -> Result<(Command, Option<String>), ApiError> {
    build(v, "exchange", Some("announce"), &[])
}
fn bid(c: &Caller, v: Value, p: &Params) -> Result<(Command, Option<String>), ApiError> {
    exchange_op(v, "bid", c, &[("auction", path_id(p, "id")?)])
}
fn close_auction(c: &Caller, v: Value, p: &Params) -> Result<(Command, Option<String>), ApiError> {
    exchange_op(v, "close_auction", c, &[("auction", path_id(p, "id")?)])
}

// ---------------------------------------------------------------------------------------------
// Sessions, tokens, users

/// Argon2id with the crate's default parameters (OWASP's minimum), salted from the OS.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    use argon2::PasswordHasher;
    if password.chars().count() < 12 {
        return Err(ApiError::unprocessable(
            "weak_password",
            "passwords need at least 12 characters",
            Some("password"),
        ));
    }
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal(format!("hashing the password: {e}")))
}

fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::PasswordVerifier;
    argon2::password_hash::phc::PasswordHash::new(phc).is_ok_and(|h| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// 32 random bytes as hex: a token, a session.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))
}

async fn health(AxState(app): AxState<AppState>) -> JsonResult {
    let st = app.read();
    Ok(Json(json!({
        "status": if st.poisoned { "poisoned" } else { "ok" },
        "store": st.store_name,
        "audit_entries": st.audit_count,
        "registry_transactions": st.market.registry().transactions().len(),
        "queued": app.progress.queued.load(std::sync::atomic::Ordering::Relaxed).max(0),
        "shed": app.shed.load(std::sync::atomic::Ordering::Relaxed),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    username: String,
    password: String,
}

/// Checks a password and opens a session; shared by the API and the dashboard's login form.
pub async fn open_session(
    app: &App,
    caller: &Caller,
    path: &str,
    username: String,
    password: String,
) -> Result<(String, Reply), ApiError> {
    let phc = app
        .read()
        .access
        .user(&username)
        .filter(|u| u.active)
        .map(|u| u.password.clone());
    let ok = match phc {
        // Verify against a dummy hash when the user is unknown, so timing does not tell.
        Some(phc) => blocking(move || verify_password(&password, &phc)).await?,
        None => {
            blocking(move || verify_password(&password, DUMMY_PHC)).await?;
            false
        }
    };
    if !ok {
        return Err(ApiError::new(
            401,
            "bad_credentials",
            "wrong user name or password",
            Some("password"),
        ));
    }
    let session = random_token();
    let mut ctx = caller.ctx("POST", path, None, None);
    ctx.user = Some(username.clone());
    let reply = app
        .submit(
            ctx,
            Op::OpenSession {
                user: username,
                session_sha256: sha256_hex(session.as_bytes()),
            },
        )
        .await;
    Ok((session, reply))
}

const DUMMY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2X7Wf8mKcNvW4kzsXl2m0lI2yq0qg8cUO8m3WcWnE1Q";

pub fn session_cookie(session: &str, max_age_s: i64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_s}"
    ))
    .expect("cookie is ASCII")
}

async fn login(
    AxState(app): AxState<AppState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
    body: Bytes,
) -> Response {
    let b: LoginBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return ApiError::from_json(&e).into_response(),
    };
    match open_session(&app, &caller, uri.path(), b.username, b.password).await {
        Err(e) => e.into_response(),
        Ok((session, mut reply)) => {
            if reply.status < 300 {
                reply.body["csrf"] = json!(csrf_of(&session));
            }
            let ok = reply.status < 300;
            let mut resp = respond(reply);
            if ok {
                let ttl = app.read().policy.session_ttl_ms / 1000;
                resp.headers_mut()
                    .insert(header::SET_COOKIE, session_cookie(&session, ttl));
            }
            resp
        }
    }
}

async fn logout(
    AxState(app): AxState<AppState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
) -> Response {
    let Some(session) = caller.session.clone() else {
        return ApiError::bad_request("no_session", "no browser session to end", None)
            .into_response();
    };
    let ctx = caller.ctx("POST", uri.path(), None, None);
    let mut resp = respond(
        app.submit(
            ctx,
            Op::CloseSession {
                session_sha256: sha256_hex(session.as_bytes()),
            },
        )
        .await,
    );
    resp.headers_mut()
        .insert(header::SET_COOKIE, session_cookie("", 0));
    resp
}

fn me_json(st: &State, caller: &Caller) -> Result<Value, ApiError> {
    st.check(caller.user.as_deref(), Action::Own)?;
    let user = st
        .user(caller.user.as_deref())
        .ok_or_else(ApiError::unauthenticated)?;
    let mut v = public_user(user);
    if user.role == Role::Verifier {
        v["assigned"] = json!(st.access.assigned(&user.name));
    }
    if let Some(c) = &user.company {
        v["account"] = json!(st.market.company_account(c).map(|a| a.to_string()));
    }
    if let Some(h) = &user.holder {
        v["account"] = json!(st.market.resolve_account(h).map(|a| a.to_string()));
    }
    if let Some(s) = &caller.session {
        v["csrf"] = json!(csrf_of(s));
    }
    Ok(v)
}

async fn me(AxState(app): AxState<AppState>, Extension(caller): Extension<Caller>) -> JsonResult {
    Ok(Json(me_json(&app.read(), &caller)?))
}

async fn issue_token(w: Post) -> Response {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct B {
        label: String,
    }
    let token = random_token();
    let digest = sha256_hex(token.as_bytes());
    let resp = w
        .write(|v| {
            let b: B = typed(v)?;
            Ok(Op::IssueToken {
                token_sha256: digest,
                label: b.label,
            })
        })
        .await;
    if resp.status().as_u16() != 201 {
        return resp;
    }
    // The token goes to the caller once; a retry with the same key cannot show it again.
    let (parts, _) = resp.into_parts();
    let mut resp = (parts.status, Json(json!({"token": token}))).into_response();
    resp.extensions_mut().insert(Audited);
    resp
}

async fn list_users(
    AxState(app): AxState<AppState>,
    Extension(caller): Extension<Caller>,
) -> JsonResult {
    let st = app.read();
    st.check(caller.user.as_deref(), Action::ReadAudit)?;
    let users: Vec<Value> = st.access.users().map(public_user).collect();
    Ok(Json(json!({ "users": users })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    display: String,
    password: String,
    role: Role,
    province: Option<String>,
    company: Option<CompanyId>,
    holder: Option<String>,
}

async fn create_user(w: Post) -> Response {
    let parsed: Result<NewUser, ApiError> =
        serde_json::from_slice(&w.body).map_err(|e| ApiError::from_json(&e));
    // Hash outside the writer: Argon2 takes tens of milliseconds by design.
    let hashed = match parsed {
        Ok(u) => {
            let pw = u.password.clone();
            match blocking(move || hash_password(&pw)).await {
                Ok(Ok(h)) => Ok((u, h)),
                Ok(Err(e)) | Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    w.write(move |_| {
        let (u, password) = hashed?;
        Ok(Op::CreateUser {
            user: User {
                name: u.name,
                display: u.display,
                role: u.role,
                province: u.province,
                company: u.company,
                holder: u.holder,
                password,
                active: true,
            },
        })
    })
    .await
}

async fn deactivate_user(w: Post) -> Response {
    w.write(|v| {
        object(v)?;
        Ok(Op::DeactivateUser {
            name: w.params["name"].clone(),
        })
    })
    .await
}

async fn assign_verifier(w: Post) -> Response {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct B {
        company: CompanyId,
    }
    w.write(|v| {
        let b: B = typed(v)?;
        Ok(Op::AssignVerifier {
            verifier: w.params["name"].clone(),
            company: b.company,
        })
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Account opening

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRequest {
    applicant: Applicant,
    documents: Vec<NewDocument>,
    representatives: Vec<NewRep>,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDocument {
    name: String,
    media_type: String,
    content_base64: String,
}
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRep {
    name: String,
    display: String,
    password: String,
}

async fn request_account(w: Post) -> Response {
    let prepared: Result<AccountRequest, ApiError> = async {
        let r: NewRequest = serde_json::from_slice(&w.body).map_err(|e| ApiError::from_json(&e))?;
        let mut documents = Vec::new();
        for (i, d) in r.documents.into_iter().enumerate() {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(d.content_base64.as_bytes())
                .map_err(|e| {
                    bad(
                        "malformed",
                        format!("documents[{i}].content_base64: {e}"),
                        Some("documents"),
                    )
                })?;
            documents.push(Document {
                name: d.name,
                media_type: d.media_type,
                sha256: sha256_hex(&bytes),
                bytes: bytes.len() as u64,
                content_base64: d.content_base64,
            });
        }
        let mut representatives = Vec::new();
        for rep in r.representatives {
            let pw = rep.password;
            let password = blocking(move || hash_password(&pw)).await??;
            representatives.push(Representative {
                name: rep.name,
                display: rep.display,
                password,
            });
        }
        Ok(AccountRequest {
            id: 0,
            applicant: r.applicant,
            documents,
            representatives,
            submitted_at: 0,
            status: RequestStatus::Pending,
            decided_by: None,
            reason: None,
        })
    }
    .await;
    w.write(move |_| Ok(Op::RequestAccount { request: prepared? }))
        .await
}

fn request_summary(r: &AccountRequest) -> Value {
    let mut v = serde_json::to_value(r).expect("requests serialize");
    if let Some(docs) = v["documents"].as_array_mut() {
        for d in docs {
            d.as_object_mut().map(|m| m.remove("content_base64"));
        }
    }
    if let Some(reps) = v["representatives"].as_array_mut() {
        for r in reps {
            r.as_object_mut().map(|m| m.remove("password"));
        }
    }
    v
}

async fn list_requests(
    AxState(app): AxState<AppState>,
    Extension(caller): Extension<Caller>,
) -> JsonResult {
    let st = app.read();
    st.check(caller.user.as_deref(), Action::ReadAudit)?;
    let list: Vec<Value> = st.access.requests().map(request_summary).collect();
    Ok(Json(json!({ "requests": list })))
}

async fn show_request(
    AxState(app): AxState<AppState>,
    Extension(caller): Extension<Caller>,
    Path(p): Path<Params>,
) -> JsonResult {
    let st = app.read();
    st.check(caller.user.as_deref(), Action::ReadAudit)?;
    let id = parse_id(&p, "id")?;
    let r = st
        .access
        .request(id)
        .ok_or_else(|| ApiError::not_found(format!("no account request {id}")))?;
    let mut v = request_summary(r);
    v["documents"] = json!(r.documents);
    Ok(Json(v))
}

async fn approve_request(w: Post) -> Response {
    w.write(|v| {
        object(v)?;
        Ok(Op::DecideAccountRequest {
            id: w.id()?,
            approve: true,
            reason: None,
        })
    })
    .await
}

async fn reject_request(w: Post) -> Response {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct B {
        reason: String,
    }
    w.write(|v| {
        let b: B = typed(v)?;
        Ok(Op::DecideAccountRequest {
            id: w.id()?,
            approve: false,
            reason: Some(b.reason),
        })
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Registry reads

fn account_json(a: &ets_registry::Account) -> Value {
    json!({
        "account": a.id.to_string(),
        "kind": a.kind,
        "holder": a.holder,
        "status": a.status,
        "opened_on": a.opened_on,
    })
}

/// Whether the caller may see an account (for filtering lists through the one check).
fn may_read_account(st: &State, caller: &Caller, id: AccountId) -> bool {
    st.check(caller.user.as_deref(), Action::ReadAccount(id))
        .is_ok()
}

async fn list_accounts(
    AxState(app): AxState<AppState>,
    Extension(caller): Extension<Caller>,
) -> JsonResult {
    let st = app.read();
    st.check(caller.user.as_deref(), Action::Own)?;
    let list: Vec<Value> = st
        .market
        .registry()
        .accounts()
        .iter()
        .filter(|a| may_read_account(&st, &caller, a.id))
        .map(account_json)
        .collect();
    Ok(Json(json!({ "accounts": list })))
}

/// Holdings with serial blocks, funds and open orders of an account.
/// Serial blocks listed per unit class in an account's detail.
pub const BLOCKS_SHOWN: usize = 100;

pub fn account_detail(st: &State, id: AccountId) -> Result<Value, ApiError> {
    let registry = st.market.registry();
    let a = registry
        .account(id)
        .ok_or_else(|| ApiError::not_found(format!("no account {id}")))?;
    let holdings: Vec<Value> = registry
        .holdings_of(id)
        .into_iter()
        .map(|(class, qty)| {
            // Trading fragments holdings into many blocks: the first ones are shown, the count
            // says how many there are (the registry's transactions list every block moved).
            let all = registry.blocks(id, class);
            let blocks: Vec<Value> = all
                .iter()
                .take(BLOCKS_SHOWN)
                .map(|b| json!({"start": b.start, "end": b.end}))
                .collect();
            let tradable = st
                .market
                .exchange()
                .map(|e| e.tradable(registry, id, class));
            json!({"class": class.to_string(), "quantity_t": qty, "tradable_t": tradable,
                   "blocks": blocks, "blocks_total": all.len()})
        })
        .collect();
    let mut v = account_json(a);
    v["holdings"] = json!(holdings);
    if let Some(e) = st.market.exchange() {
        let p = ets_clearing::ParticipantId(id.0);
        v["funds"] =
            json!({"available_fen": e.funds.available(p), "frozen_fen": e.funds.frozen(p)});
        v["open_orders"] = json!(open_orders_json(e, id));
    }
    Ok(v)
}

fn open_orders_json(e: &ets_market::trading::exchange::Exchange, id: AccountId) -> Vec<Value> {
    e.open_orders(id)
        .into_iter()
        .map(|(oid, class, side, price, qty)| {
            json!({"id": oid, "class": class.to_string(), "side": side, "price": price, "open_qty": qty})
        })
        .collect()
}

async fn show_account(
    AxState(app): AxState<AppState>,
    Extension(caller): Extension<Caller>,
    Path(p): Path<Params>,
) -> JsonResult {
    let id = parse_account(&p["account"], "account")?;
    let st = app.read();
    st.check(caller.user.as_deref(), Action::ReadAccount(id))?;
    Ok(Json(account_detail(&st, id)?))
}

fn transaction_json(t: &ets_registry::Transaction) -> Value {
    json!({
        "seq": t.seq,
        "kind": t.kind,
        "class": t.class.to_string(),
        "quantity_t": t.quantity,
        "from": t.from.map(|a| a.to_string()),
        "to": t.to.to_string(),
        "blocks": t.blocks.iter().map(|b| json!({"start": b.start, "end": b.end})).collect::<Vec<_>>(),
    })
}

async fn account_transactions(
    AxState(app): AxState<AppState>,
    Extension(caller): Extension<Caller>,
    Path(p): Path<Params>,
    Query(q): Query<Params>,
) -> JsonResult {
    let id = parse_account(&p["account"], "account")?;
    let n = limit(&q, 100)?;
    let st = app.read();
    st.check(caller.user.as_deref(), Action::ReadAccount(id))?;
    let list: Vec<Value> = st
        .market
        .registry()
        .transactions()
        .iter()
        .rev()
        .filter(|t| t.to == id || t.from == Some(id))
        .take(n)
        .map(transaction_json)
        .collect();
    Ok(Json(json!({ "transactions": list })))
}

async fn list_transactions(
    AxState(app): AxState<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<Params>,
) -> JsonResult {
    let n = limit(&q, 100)?;
    let before = match q.get("before") {
        Some(s) => s
            .parse::<u64>()
            .map_err(|_| bad("malformed", "before: a sequence number", Some("before")))?,
        None => u64::MAX,
    };
    let st = app.read();
    st.check(caller.user.as_deref(), Action::ReadAudit)?;
    let list: Vec<Value> = st
        .market
        .registry()
        .transactions()
        .iter()
        .rev()
        .filter(|t| t.seq < before)
        .take(n)
        .map(transaction_json)
        .collect();
    Ok(Json(json!({ "transactions": list })))
}

async fn show_transaction(
    AxState(app): AxState<AppState>,
    Extension(caller): Extension<Caller>,
    Path(p): Path<Params>,
) -> JsonResult {
    let seq = parse_id(&p, "seq")?;
    let st = app.read();
    let t = st
        .market
        .registry()
        .transaction(seq)
        .ok_or_else(|| ApiError::not_found(format!("no registry transaction {seq}")))?;
    let party = may_read_account(&st, &caller, t.to)
        || t.from.is_some_and(|a| may_read_account(&st, &caller, a));
    if !party {
        st.check(caller.user.as_deref(), Action::ReadAudit)?;
    }
    Ok(Json(transaction_json(t)))
}

// ---------------------------------------------------------------------------------------------
// Four eyes

async fn propose_instruction(w: Post) -> Response {
    w.write(|v| {
        let mut m = object(v)?;
        let company: CompanyId =
            typed(m.remove("company").unwrap_or(Value::Null)).map_err(|e| ApiError {
                field: Some("company".into()),
                ..e
            })?;
        let kind = m
            .remove("kind")
            .and_then(|k| k.as_str().map(str::to_string))
            .unwrap_or_default();
        let instruction = match kind.as_str() {
            "transfer" => {
                m.insert("from".into(), json!(company.to_string()));
                let (command, _) = build(Value::Object(m), "transfer", None, &[])?;
                Instruction::Command { command }
            }
            "surrender" => {
                m.insert("company".into(), json!(company.to_string()));
                let (command, _) = build(Value::Object(m), "surrender", None, &[])?;
                Instruction::Command { command }
            }
            "trust" => {
                let account = m
                    .get("account")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("malformed", "account: CN-000123", Some("account")))?;
                Instruction::Trust {
                    account: parse_account(account, "account")?,
                }
            }
            other => {
                return Err(bad(
                    "malformed",
                    format!("kind {other:?}: transfer, surrender or trust"),
                    Some("kind"),
                ));
            }
        };
        Ok(Op::ProposeInstruction {
            company,
            instruction,
        })
    })
    .await
}

async fn list_instructions(
    AxState(app): AxState<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<Params>,
) -> JsonResult {
    let st = app.read();
    st.check(caller.user.as_deref(), Action::Own)?;
    let list: Vec<Value> = st
        .access
        .instructions()
        .filter(|i| q.get("company").is_none_or(|c| i.company.to_string() == *c))
        .filter(|i| {
            q.get("status").is_none_or(|s| {
                serde_json::to_value(&i.status)
                    .ok()
                    .as_ref()
                    .and_then(Value::as_str)
                    == Some(s)
            })
        })
        .filter(|i| {
            st.check(caller.user.as_deref(), Action::Instruct(&i.company))
                .is_ok()
                || st.check(caller.user.as_deref(), Action::ReadAudit).is_ok()
        })
        .map(|i| serde_json::to_value(i).expect("instructions serialize"))
        .collect();
    Ok(Json(json!({ "instructions": list })))
}

async fn decide_instruction(w: Post, approve: bool) -> Response {
    w.write(|v| {
        object(v)?;
        Ok(Op::DecideInstruction {
            id: w.id()?,
            approve,
        })
    })
    .await
}

async fn approve_instruction(w: Post) -> Response {
    decide_instruction(w, true).await
}

async fn reject_instruction(w: Post) -> Response {
    decide_instruction(w, false).await
}

async fn list_trusted(
    AxState(app): AxState<AppState>,
    Extension(caller): Extension<Caller>,
    Path(p): Path<Params>,
) -> JsonResult {
    let company =
        CompanyId::parse(&p["id"]).map_err(|e| bad("malformed", e.to_string(), Some("id")))?;
    let st = app.read();
    if st
        .check(caller.user.as_deref(), Action::Instruct(&company))
        .is_err()
    {
        st.check(caller.user.as_deref(), Action::ReadAudit)?;
    }
    let now = app.clock.now_ms();
    let list: Vec<Value> = st
        .access
        .trusted(&company)
        .iter()
        .map(|t| json!({"account": t.account.to_string(), "added_at": t.added_at, "effective_at": t.effective_at, "in_effect": t.effective_at <= now}))
        .collect();
    Ok(Json(json!({ "company": company, "trusted": list })))
}

async fn remove_trusted(w: Post) -> Response {
    w.write(|v| {
        object(v)?;
        let company = CompanyId::parse(&w.params["id"])
            .map_err(|e| bad("malformed", e.to_string(), Some("id")))?;
        Ok(Op::RemoveTrusted {
            company,
            account: parse_account(&w.params["account"], "account")?,
        })
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Companies, reports, plans, compliance

async fn list_companies(
    AxState(app): AxState<AppState>,
    Extension(caller): Extension<Caller>,
) -> JsonResult {
    let st = app.read();
    st.check(caller.user.as_deref(), Action::Own)?;
    let list: Vec<Value> = st
        .market
        .company_ids()
        .filter(|c| {
            st.check(caller.user.as_deref(), Action::ReadCompany(c)).is_ok()
                || st.check(caller.user.as_deref(), Action::ReadReports(c)).is_ok()
        })
        .filter_map(|c| st.market.company(c))
        .map(|c| json!({"id": c.id, "name": c.name, "province": c.province, "account": st.market.company_account(&c.id).map(|a| a.to_string())}))
        .collect();
    Ok(Json(json!({ "companies": list })))
}

/// Everything about one company the caller may see.
pub fn company_detail(st: &State, caller: &Caller, id: &CompanyId) -> Result<Value, ApiError> {
    let company = st
        .market
        .company(id)
        .ok_or_else(|| ApiError::not_found(format!("no company {id}")))?;
    let user = caller.user.as_deref();
    let full = st.check(user, Action::ReadCompany(id)).is_ok();
    if !full {
        st.check(user, Action::ReadReports(id))?;
    }
    let reports: Vec<Value> = st
        .market
        .reports()
        .filter(|r| &r.company == id)
        .map(|r| serde_json::to_value(r).expect("reports serialize"))
        .collect();
    let mut v = json!({
        "company": company,
        "units": st.market.units_of(id),
        "reports": reports,
    });
    if full {
        let account = st.market.company_account(id);
        v["account"] = json!(account.map(|a| a.to_string()));
        if let Some(a) = account {
            v["holdings"] = account_detail(st, a)?["holdings"].clone();
        }
        let plans: Vec<Value> = st
            .market
            .plan_ids()
            .filter_map(|p| st.market.plan(p))
            .map(|plan| {
                let years: Vec<Value> = plan
                    .years
                    .iter()
                    .map(|y| {
                        json!({
                            "year": y,
                            "pre_t": st.market.allocation(&plan.id, id, *y, Stage::Pre),
                            "final_t": st.market.allocation(&plan.id, id, *y, Stage::Final),
                        })
                    })
                    .collect();
                let position = st
                    .market
                    .compliance_report(&plan.id)
                    .ok()
                    .and_then(|r| r.companies.into_iter().find(|c| &c.company == id));
                let surrendered = st.market.surrendered(&plan.id, id);
                json!({
                    "plan": plan.id,
                    "allocation": years,
                    "position": position,
                    "surrendered_t": surrendered.total_t(),
                    "eligible_holdings_t": st.market.eligible_holdings(&plan.id, id),
                    "exempted": st.market.is_exempted(&plan.id, id),
                })
            })
            .collect();
        v["plans"] = json!(plans);
    }
    Ok(v)
}

async fn show_company(
    AxState(app): AxState<AppState>,
    Extension(caller): Extension<Caller>,
    Path(p): Path<Params>,
) -> JsonResult {
    let id = CompanyId::parse(&p["id"]).map_err(|e| bad("malformed", e.to_string(), Some("id")))?;
    Ok(Json(company_detail(&app.read(), &caller, &id)?))
}

async fn list_reports(
    AxState(app): AxState<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<Params>,
) -> JsonResult {
    let st = app.read();
    st.check(caller.user.as_deref(), Action::Own)?;
    let year = match q.get("year") {
        Some(y) => Some(
            y.parse::<u16>()
                .map_err(|_| bad("malformed", "year: YYYY", Some("year")))?,
        ),
        None => None,
    };
    let list: Vec<Value> = st
        .market
        .reports()
        .filter(|r| {
            st.check(caller.user.as_deref(), Action::ReadReports(&r.company))
                .is_ok()
        })
        .filter(|r| year.is_none_or(|y| r.year == y))
        .map(|r| serde_json::to_value(r).expect("reports serialize"))
        .filter(|r| {
            q.get("status")
                .is_none_or(|s| r["status"].as_str() == Some(s))
        })
        .collect();
    Ok(Json(json!({ "reports": list })))
}

async fn list_plans(AxState(app): AxState<AppState>) -> JsonResult {
    let st = app.read();
    let plans: Vec<Value> = st
        .market
        .plan_ids()
        .filter_map(|p| st.market.plan(p))
        .map(|p| json!({"id": p.id, "years": p.years, "assessed": st.market.is_assessed(&p.id)}))
        .collect();
    Ok(Json(json!({ "plans": plans })))
}

async fn compliance(
    AxState(app): AxState<AppState>,
    Extension(caller): Extension<Caller>,
    Path(p): Path<Params>,
) -> JsonResult {
    let st = app.read();
    st.check(caller.user.as_deref(), Action::Oversight)?;
    let report = st
        .market
        .compliance_report(&p["plan"])
        .map_err(|e| ApiError::from_market(&e))?;
    let user = st.user(caller.user.as_deref());
    let province = user
        .and_then(|u| u.province.clone())
        .filter(|_| user.is_some_and(|u| u.role == Role::Bureau));
    let companies: Vec<_> = report
        .companies
        .iter()
        .filter(|c| province.as_ref().is_none_or(|p| &c.province == p))
        .collect();
    let provinces: Vec<_> = report
        .provinces
        .iter()
        .filter(|t| province.as_ref().is_none_or(|p| &t.name == p))
        .collect();
    Ok(Json(json!({
        "plan": report.plan,
        "assessed_on": report.assessed_on,
        "national": report.national,
        "provinces": provinces,
        "companies": companies,
        "pending": report.pending,
        "exempted": report.exempted,
    })))
}

async fn public_compliance(AxState(app): AxState<AppState>, Path(p): Path<Params>) -> JsonResult {
    let st = app.read();
    let report = st
        .market
        .compliance_report(&p["plan"])
        .map_err(|e| ApiError::from_market(&e))?;
    let mut v = json!({
        "plan": report.plan,
        "assessed_on": report.assessed_on,
        "national": report.national,
        "provinces": report.provinces,
    });
    // Company results are published with the assessment, not while the cycle is open.
    if report.assessed_on.is_some() {
        v["companies"] = json!(report.companies);
    }
    Ok(Json(v))
}

// ---------------------------------------------------------------------------------------------
// Exchange reads

async fn open_orders(
    AxState(app): AxState<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<Params>,
) -> JsonResult {
    let st = app.read();
    let holder = q
        .get("holder")
        .ok_or_else(|| bad("malformed", "holder: the account's holder", Some("holder")))?;
    let id = st
        .market
        .resolve_account(holder)
        .ok_or_else(|| ApiError::not_found(format!("no account holder {holder}")))?;
    st.check(caller.user.as_deref(), Action::ReadAccount(id))?;
    let orders = st
        .market
        .exchange()
        .map(|e| open_orders_json(e, id))
        .unwrap_or_default();
    Ok(Json(json!({ "account": id.to_string(), "orders": orders })))
}

fn class_query(q: &Params) -> Result<Option<UnitClass>, ApiError> {
    q.get("class").map(|c| parse_class(c)).transpose()
}

/// The book of a class: `levels` price levels each side.
pub fn book_json(st: &State, class: UnitClass, levels: usize) -> Value {
    let level =
        |l: &ets_exchange::LevelView| json!({"price": l.price, "qty": l.qty, "orders": l.orders});
    match st.market.exchange() {
        None => json!({"class": class.to_string(), "bids": [], "asks": [], "open": false}),
        Some(e) => {
            let (bids, asks) = e.depth(class, levels);
            json!({
                "class": class.to_string(),
                "open_day": e.open_day(),
                "prev_close": e.prev_close(class),
                "bids": bids.iter().map(level).collect::<Vec<_>>(),
                "asks": asks.iter().map(level).collect::<Vec<_>>(),
            })
        }
    }
}

async fn book(AxState(app): AxState<AppState>, Query(q): Query<Params>) -> JsonResult {
    let class =
        class_query(&q)?.ok_or_else(|| bad("malformed", "class: e.g. CEA-2021", Some("class")))?;
    let levels = match q.get("levels") {
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=50).contains(n))
            .ok_or_else(|| bad("malformed", "levels: 1 to 50", Some("levels")))?,
        None => 5,
    };
    Ok(Json(book_json(&app.read(), class, levels)))
}

async fn trades(AxState(app): AxState<AppState>, Query(q): Query<Params>) -> JsonResult {
    let class = class_query(&q)?;
    let n = limit(&q, 50)?;
    let st = app.read();
    let list: Vec<Value> = st
        .market
        .exchange()
        .map(|e| {
            e.trades()
                .iter()
                .rev()
                .filter(|t| class.is_none_or(|c| t.class == c))
                .take(n)
                .map(|t| json!({"id": t.id, "date": t.date, "minute": t.minute, "class": t.class.to_string(), "price": t.price, "qty": t.qty, "kind": t.kind}))
                .collect()
        })
        .unwrap_or_default();
    Ok(Json(json!({ "trades": list })))
}

async fn days(AxState(app): AxState<AppState>, Query(q): Query<Params>) -> JsonResult {
    let class = class_query(&q)?;
    let st = app.read();
    let list: Vec<Value> = st
        .market
        .exchange()
        .map(|e| {
            e.days()
                .iter()
                .filter(|d| class.is_none_or(|c| d.class == c))
                .map(|d| serde_json::to_value(d).expect("bars serialize"))
                .collect()
        })
        .unwrap_or_default();
    Ok(Json(json!({ "days": list })))
}

async fn audit(
    AxState(app): AxState<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<Params>,
) -> JsonResult {
    let n = limit(&q, 100)?;
    let st = app.read();
    st.check(caller.user.as_deref(), Action::ReadAudit)?;
    let list: Vec<&crate::core::Audit> = st.recent_audit(n).collect();
    Ok(Json(json!({ "total": st.audit_count, "entries": list })))
}
