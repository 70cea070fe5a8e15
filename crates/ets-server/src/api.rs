//! The JSON API. One table ([`routes`]) holds every route with its documentation; the router and
//! the OpenAPI document at `/openapi.json` are both made from it, so they cannot disagree.
//!
//! Each route declares the roles that may ever call it ([`Roles`]); the router checks that
//! before the handler runs, so a caller who is not logged in gets 401 and a role that may never
//! call the route gets 403 before its body is read. What a role may do with a given object
//! ("this company's representative") is decided after parsing, by [`crate::authz`].
//!
//! Reads take the state's read lock, ask [`crate::authz`] and answer; the gate records them.
//! Writes check the idempotency key, decode the body into the route's request type
//! ([`requests`]: validated while deserialized), build an [`Op`] and hand it to the writer,
//! which authorises, executes, journals and records them.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, State as AxState};
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Extension, Json, Router};
use base64::Engine as _;
use ets_market::{Command, ExchangeCommand, Stage};
use ets_types::{
    AccountId, Company, CompanyId, FuelUse, GeneratingUnit, ReportInput, UnitActivity, UnitClass,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::access::{
    AccountRequest, Applicant, Document, Instruction, Representative, RequestStatus, Role, User,
};
use crate::authz::Action;
use crate::core::{Op, Reply, State, public_user};
use crate::error::ApiError;
use crate::{App, Audited, Caller, SESSION_COOKIE, csrf_of, sha256_hex};

pub mod account;
pub mod requests;

use requests::*;
pub use requests::{parse_account, parse_class};

type AppState = Arc<App>;
type Params = HashMap<String, String>;

/// Who may ever call a route. A caller outside it is refused before the body is read: 401 when
/// nobody is logged in, 403 for a role that is not listed.
#[derive(Clone, Copy, Debug)]
pub enum Roles {
    /// Anyone, logged in or not.
    Anyone,
    /// Any logged-in user.
    LoggedIn,
    /// Users of these roles (the object-level check comes later, in `authz`).
    Only(&'static [Role]),
}

impl Roles {
    /// The refusal of a caller of role `role` (`None`: not logged in), if it is one.
    pub fn refuse(self, role: Option<Role>) -> Option<ApiError> {
        match (self, role) {
            (Roles::Anyone, _) => None,
            (_, None) => Some(ApiError::unauthenticated()),
            (Roles::LoggedIn, Some(_)) => None,
            (Roles::Only(roles), Some(r)) if roles.contains(&r) => None,
            (Roles::Only(roles), Some(r)) => Some(
                ApiError::forbidden(format!(
                    "a user of role {} may not call this route (roles: {})",
                    r.as_str(),
                    names(roles)
                ))
                .with("role", r.as_str()),
            ),
        }
    }
    /// The roles, for documents and tests (`None`: anyone, or any logged-in user).
    pub fn roles(self) -> Option<&'static [Role]> {
        match self {
            Roles::Only(r) => Some(r),
            _ => None,
        }
    }
    fn describe(self) -> String {
        match self {
            Roles::Anyone => "anyone, logged in or not".into(),
            Roles::LoggedIn => "any logged-in user".into(),
            Roles::Only(r) => names(r),
        }
    }
}

fn names(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

const REGULATOR: Roles = Roles::Only(&[Role::Regulator]);
const OVERSEERS: Roles = Roles::Only(&[Role::Regulator, Role::Auditor]);
const OVERSIGHT: Roles = Roles::Only(&[Role::Regulator, Role::Auditor, Role::Bureau]);
const REPRESENTATIVES: Roles = Roles::Only(&[Role::Regulator, Role::Company]);
/// A company's own representatives, never the regulator: four eyes are two of them.
const COMPANIES: Roles = Roles::Only(&[Role::Company]);
const TRADERS: Roles = Roles::Only(&[Role::Regulator, Role::Company, Role::Member]);
const VERIFIERS: Roles = Roles::Only(&[Role::Regulator, Role::Verifier]);
const BUREAUS: Roles = Roles::Only(&[Role::Regulator, Role::Bureau]);

/// The body of a POST route: its type (schema, codes, check) and a documented example.
pub struct RouteBody {
    pub kind: BodyType,
    pub example: Value,
}

/// OpenAPI components by name, as a route's documented answer needs them.
pub type Components = fn() -> Vec<(&'static str, Value)>;

/// One route: method, path, documentation, who may call it, its body and handler.
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    /// Who may call it, in words (with the object-level rule).
    pub who: &'static str,
    /// Who may ever call it, checked before the body is read.
    pub roles: Roles,
    /// The request body of a POST.
    pub body: Option<RouteBody>,
    /// Codes this route's own rules may answer, beyond those every route shares.
    pub extra: &'static [&'static str],
    /// Whether the market may refuse it (all the market's rejection codes apply).
    pub market: bool,
    /// Its query parameters: name, required, schema.
    pub query: &'static [(&'static str, bool, QueryParam)],
    /// The documented schema of a success: the name of its component, and the components
    /// (that one and those it refers to) by name. `None`: any object.
    pub response: Option<(&'static str, Components)>,
    /// The largest body the route takes, in bytes (`x-max-body-bytes` in the document): a
    /// longer one is refused with 413 `payload_too_large` (and `Connection: close`), before it
    /// is read when its `Content-Length` says so. Zero for a GET, which takes no body.
    pub max_body: usize,
    pub handler: MethodRouter<AppState>,
}

/// The body limit of a write that carries a few fields (logins, orders, decisions): the largest
/// such body, a user with its passphrase or a raw command with its 500-character reason, is
/// well under 4 KiB.
pub const SMALL_BODY: usize = 16 * 1024;
/// The body limit of an emission report, its correction or its verification: 200 units of 32
/// fuels each, every figure a string of up to 40 characters.
pub const REPORT_BODY: usize = 4 * 1024 * 1024;
/// The body limit of a plan or market file given as text (`toml`: at most 200,000 characters,
/// four bytes each at worst, escaped in JSON).
pub const FILE_BODY: usize = 1024 * 1024;
/// The body limit of an account request: its documents in base64 (at most `MAX_DOCUMENTS` of
/// `MAX_DOCUMENT_BYTES`) and the rest.
pub const APPLICATION_BODY: usize = MAX_DOCUMENTS * base64_len(MAX_DOCUMENT_BYTES) + 64 * 1024;

/// The kind of a query parameter, for the document.
#[derive(Clone, Copy, Debug)]
pub enum QueryParam {
    Class,
    Limit,
    /// Companies per page of allocations.
    Page,
    Levels,
    Seq,
    Year,
    Holder,
    Company,
    Status(&'static [&'static str]),
}

impl QueryParam {
    fn schema(self) -> Value {
        match self {
            QueryParam::Class => json!({"type": "string", "pattern": CLASS_PATTERN}),
            QueryParam::Limit => json!({"type": "integer", "minimum": 1, "maximum": 10_000}),
            QueryParam::Levels => {
                json!({"type": "integer", "minimum": 1, "maximum": 50, "default": 5})
            }
            QueryParam::Seq => json!({"type": "integer", "minimum": 0, "maximum": u64::MAX}),
            QueryParam::Page => json!({"type": "integer", "minimum": 1,
                "maximum": crate::allocation_api::COMPANIES_PER_PAGE_MAX}),
            QueryParam::Year => {
                json!({"type": "integer", "minimum": YEAR_MIN, "maximum": YEAR_MAX})
            }
            QueryParam::Holder | QueryParam::Company => {
                json!({"type": "string", "pattern": ID_PATTERN})
            }
            QueryParam::Status(values) => json!({"type": "string", "enum": values}),
        }
    }
}

fn route(
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    who: &'static str,
    roles: Roles,
    handler: MethodRouter<AppState>,
) -> Route {
    Route {
        method,
        path,
        tag,
        summary,
        who,
        roles,
        body: None,
        extra: &[],
        market: false,
        query: &[],
        response: None,
        max_body: if method == "post" { SMALL_BODY } else { 0 },
        handler,
    }
}

impl Route {
    fn body<T: Schema + DeserializeOwned>(mut self, example: Value) -> Route {
        self.body = Some(RouteBody {
            kind: BodyType::of::<T>(),
            example,
        });
        self
    }
    fn codes(mut self, extra: &'static [&'static str]) -> Route {
        self.extra = extra;
        self
    }
    fn market(mut self) -> Route {
        self.market = true;
        self
    }
    fn query(mut self, query: &'static [(&'static str, bool, QueryParam)]) -> Route {
        self.query = query;
        self
    }
    fn response(mut self, name: &'static str, schemas: Components) -> Route {
        self.response = Some((name, schemas));
        self
    }
    /// A body limit other than [`SMALL_BODY`].
    fn max_body(mut self, bytes: usize) -> Route {
        self.max_body = bytes;
        self
    }

    /// Every code this route may answer with.
    pub fn all_codes(&self) -> BTreeSet<&'static str> {
        let mut c: BTreeSet<&'static str> = [
            // Anyone may send a bad token; anyone may be too fast; the server may be down.
            "unauthenticated",
            "rate_limited",
            "request_timeout",
            "internal",
            "unavailable",
            "store_unavailable",
        ]
        .into();
        if !matches!(self.roles, Roles::Anyone) {
            // By role before the body, or by scope after it (`authz`).
            c.insert("forbidden");
            // A user with a temporary password may only change it.
            if !account::allowed_before_change(&self.method.to_ascii_uppercase(), self.path) {
                c.insert("password_change_required");
            }
        }
        if self.method == "post" {
            c.extend([
                "malformed",
                "payload_too_large",
                "unsupported_media_type",
                "csrf",
                "queue_full",
                "not_writer",
            ]);
            if self.path != "/api/login" && self.path != "/api/logout" {
                c.extend([
                    "idempotency_key_required",
                    "invalid_idempotency_key",
                    "idempotency_key_reused",
                ]);
            }
        }
        if let Some(b) = &self.body {
            c.extend(["missing_field", "unknown_field"]);
            (b.kind.codes)(&mut c);
        }
        for param in path_params(self.path) {
            c.insert(match param {
                "account" => "invalid_account",
                "name" => "invalid_name",
                "plan" => "invalid_id",
                "id" if self.path.starts_with("/api/companies/") => "invalid_id",
                _ => "malformed",
            });
        }
        c.extend(self.extra);
        if self.market {
            c.insert("not_found");
            c.extend(
                crate::error::all_codes()
                    .iter()
                    .filter(|k| !crate::error::CODES.iter().any(|own| own.code == k.code))
                    .map(|k| k.code),
            );
        }
        c
    }
}

fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

/// Every route of the API.
pub fn routes() -> Vec<Route> {
    let class = json!("CEA-2021");
    vec![
        route(
            "get",
            "/api/health",
            "system",
            "Liveness, store and journal position",
            "anyone",
            Roles::Anyone,
            get(health),
        ),
        // Sessions, tokens, users.
        route(
            "post",
            "/api/login",
            "users",
            "Log in with user name and password: sets the session cookie, returns the CSRF token",
            "anyone",
            Roles::Anyone,
            post(login),
        )
        .body::<Login>(json!({"username": "rep-a", "password": "correct horse battery staple"}))
        .codes(&["bad_credentials", "login_throttled", "busy"]),
        route(
            "post",
            "/api/logout",
            "users",
            "End the browser session",
            "any logged-in user",
            Roles::LoggedIn,
            post(logout),
        )
        .codes(&["no_session"]),
        route(
            "get",
            "/api/me",
            "users",
            "Who am I: role, scope, CSRF token of the session",
            "any logged-in user",
            Roles::LoggedIn,
            get(me),
        ),
        route(
            "post",
            "/api/tokens",
            "users",
            "Issue an API token for a program (shown once)",
            "any logged-in user",
            Roles::LoggedIn,
            post(issue_token),
        )
        .body::<NewToken>(json!({"label": "trading robot"})),
        route(
            "get",
            "/api/users",
            "users",
            "List users",
            "regulator, auditor",
            OVERSEERS,
            get(list_users),
        ),
        route(
            "post",
            "/api/users",
            "users",
            "Create a user (bureau, verifier, auditor, member, regulator)",
            "regulator",
            REGULATOR,
            post(create_user),
        )
        .body::<NewUser>(json!({"name": "bureau-shanxi", "display": "Shanxi bureau", "password": "a long passphrase", "role": "bureau", "province": "Shanxi"}))
        .codes(&["invalid_name", "user_exists", "missing_scope", "weak_password", "not_found", "busy"]),
        route(
            "post",
            "/api/users/{name}/deactivate",
            "users",
            "Deactivate a user: its tokens and sessions stop working at once",
            "regulator",
            REGULATOR,
            write(deactivate_user),
        )
        .body::<Empty>(json!({}))
        .codes(&["not_found", "already_inactive", "last_regulator"]),
        route(
            "post",
            "/api/verifiers/{name}/companies",
            "users",
            "Assign a company to a verifier",
            "regulator",
            REGULATOR,
            write(assign_verifier),
        )
        .body::<Assignment>(json!({"company": "SX0001"}))
        .codes(&["not_found", "not_a_verifier"]),
        // Account opening.
        route(
            "post",
            "/api/account-requests",
            "accounts",
            "Apply for an account with documents (at most 4, 256 KiB each) and two to five representatives; a few an hour per address",
            "anyone, logged in or not",
            Roles::Anyone,
            post(request_account),
        )
        .body::<NewAccountRequest>(json!({
            "applicant": {"kind": "company", "company": {"id": "SX0999", "name": "Taiyuan Power", "province": "Shanxi"},
                          "units": [{"id": "SX0999-G1", "company": "SX0999", "category": "coal_above_300", "capacity_mw": 600, "cooling": "air"}]},
            "documents": [{"name": "licence.pdf", "media_type": "application/pdf", "content_base64": "JVBERi0xLjQK"}],
            "representatives": [{"name": "rep-a", "display": "Li Wei", "password": "a long passphrase"},
                                {"name": "rep-b", "display": "Wang Fang", "password": "another passphrase"}]}))
        .max_body(APPLICATION_BODY)
        .codes(&[
            "weak_password",
            "too_few_representatives",
            "documents_required",
            "duplicate_representative",
            "invalid_name",
            "user_exists",
            "company_exists",
            "holder_exists",
            "busy",
        ]),
        route(
            "get",
            "/api/account-requests",
            "accounts",
            "Account-opening requests (documents by digest)",
            "regulator, auditor",
            OVERSEERS,
            get(list_requests),
        ),
        route(
            "get",
            "/api/account-requests/{id}",
            "accounts",
            "One request with its documents",
            "regulator, auditor",
            OVERSEERS,
            get(show_request),
        )
        .codes(&["not_found"]),
        route(
            "post",
            "/api/account-requests/{id}/approve",
            "accounts",
            "Approve: opens the account and creates the representatives' users",
            "regulator",
            REGULATOR,
            write(approve_request),
        )
        .body::<Empty>(json!({}))
        .codes(&["not_found", "already_decided", "user_exists", "company_exists", "holder_exists"])
        .market(),
        route(
            "post",
            "/api/account-requests/{id}/reject",
            "accounts",
            "Reject with a reason",
            "regulator",
            REGULATOR,
            write(reject_request),
        )
        .body::<Reason>(json!({"reason": "licence expired"}))
        .codes(&["not_found", "already_decided"]),
        // Registry.
        route(
            "get",
            "/api/accounts",
            "registry",
            "Accounts the caller may see",
            "any logged-in user",
            Roles::LoggedIn,
            get(list_accounts),
        ),
        route(
            "get",
            "/api/accounts/{account}",
            "registry",
            "Holdings by unit class with serial blocks, funds and open orders",
            "the account's own company or member; regulator, auditor, its bureau",
            Roles::LoggedIn,
            get(show_account),
        )
        .codes(&["not_found"]),
        route(
            "get",
            "/api/accounts/{account}/transactions",
            "registry",
            "Registry transactions of an account, newest first (?limit=)",
            "as the account",
            Roles::LoggedIn,
            get(account_transactions),
        )
        .query(&[("limit", false, QueryParam::Limit)])
        .codes(&["out_of_range"]),
        route(
            "get",
            "/api/transactions",
            "registry",
            "All registry transactions, newest first (?limit=&before=)",
            "regulator, auditor",
            OVERSEERS,
            get(list_transactions),
        )
        .query(&[("limit", false, QueryParam::Limit), ("before", false, QueryParam::Seq)])
        .codes(&["out_of_range", "malformed"]),
        route(
            "get",
            "/api/transactions/{seq}",
            "registry",
            "One registry transaction",
            "regulator, auditor, or a party to it",
            Roles::LoggedIn,
            get(show_transaction),
        )
        .codes(&["not_found"]),
        // Four eyes.
        route(
            "post",
            "/api/instructions",
            "four-eyes",
            "Initiate a transfer, surrender or trusted-account entry; takes effect when a second representative approves",
            "company representative",
            COMPANIES,
            write(propose_instruction),
        )
        .body::<NewInstruction>(json!({"company": "SX0001", "kind": "transfer", "class": class, "quantity": 1000, "to": "CN-000004"}))
        .codes(&["unknown_account", "own_account", "untrusted_account", "not_own_account", "not_an_instruction"])
        .market(),
        route(
            "get",
            "/api/instructions",
            "four-eyes",
            "Instructions (?company=&status=pending)",
            "company representative (own), regulator, auditor",
            Roles::LoggedIn,
            get(list_instructions),
        )
        .query(&[("company", false, QueryParam::Company), ("status", false, QueryParam::Status(INSTRUCTION_STATUSES))])
        .codes(&["invalid_id", "invalid_enum"]),
        route(
            "post",
            "/api/instructions/{id}/approve",
            "four-eyes",
            "Approve (a different representative of the same company) and execute",
            "another representative of the same company (never the regulator)",
            COMPANIES,
            write(approve_instruction),
        )
        .body::<Empty>(json!({}))
        .codes(&["not_found", "already_decided", "four_eyes", "unknown_account", "own_account", "untrusted_account", "not_own_account"])
        .market(),
        route(
            "post",
            "/api/instructions/{id}/reject",
            "four-eyes",
            "Reject",
            "company representative",
            COMPANIES,
            write(reject_instruction),
        )
        .body::<Empty>(json!({}))
        .codes(&["not_found", "already_decided"]),
        route(
            "get",
            "/api/companies/{id}/trusted",
            "four-eyes",
            "The company's trusted-account list with effective times",
            "company representative (own), regulator, auditor",
            Roles::Only(&[Role::Regulator, Role::Auditor, Role::Company]),
            get(list_trusted),
        ),
        route(
            "post",
            "/api/companies/{id}/trusted/{account}/remove",
            "four-eyes",
            "Remove an account from the trusted list (immediate)",
            "company representative",
            COMPANIES,
            write(remove_trusted),
        )
        .body::<Empty>(json!({}))
        .codes(&["not_found"]),
        // Companies, MRV.
        route(
            "get",
            "/api/companies",
            "mrv",
            "Companies the caller may see",
            "any logged-in user",
            Roles::LoggedIn,
            get(list_companies),
        ),
        route(
            "get",
            "/api/companies/{id}",
            "mrv",
            "A company: units, account, holdings, reports, allocation, obligation per plan",
            "own company, its bureau, assigned verifier (reports), regulator, auditor",
            Roles::LoggedIn,
            get(show_company),
        )
        .codes(&["not_found"]),
        route(
            "get",
            "/api/reports",
            "mrv",
            "Emission reports (?status=submitted|verified|accepted&year=): the verification queue",
            "scoped by role",
            Roles::LoggedIn,
            get(list_reports),
        )
        .query(&[("status", false, QueryParam::Status(REPORT_STATUSES)), ("year", false, QueryParam::Year)])
        .codes(&["malformed", "out_of_range", "invalid_enum"]),
        route(
            "post",
            "/api/reports",
            "mrv",
            "Submit an emission report",
            "company representative",
            REPRESENTATIVES,
            command(submit_report),
        )
        .body::<ReportBody>(json!({"company": "SX0001", "year": 2021, "units": [{"unit": "SX0001-G1", "year": 2021,
            "fuels": [{"fuel": "bituminous_coal", "consumption": "1150000", "ncv_gj": "21.5", "carbon_content_tc_per_gj": "0.0262", "elemental_carbon": null, "oxidation_rate": "0.99"}],
            "purchased_electricity_mwh": "0", "power_supplied_mwh": "3000000", "heat_supplied_gj": "0", "load_factor": "0.82"}]}))
        .max_body(REPORT_BODY)
        .market(),
        route(
            "post",
            "/api/reports/corrections",
            "mrv",
            "Correct a report (a new version, with the reason)",
            "company representative",
            REPRESENTATIVES,
            command(correct_report),
        )
        .body::<Correction>(json!({"report": {"company": "SX0001", "year": 2021, "units": []}, "reason": "meter recalibrated"}))
        .max_body(REPORT_BODY)
        .market(),
        route(
            "post",
            "/api/reports/verifications",
            "mrv",
            "Record verified figures (units null confirms the reported ones)",
            "assigned verifier",
            VERIFIERS,
            command(verify_report),
        )
        .body::<Verification>(json!({"company": "SX0001", "year": 2021, "units": null, "findings": ["sampling plan followed"]}))
        .max_body(REPORT_BODY)
        .market(),
        route(
            "post",
            "/api/reports/acceptances",
            "mrv",
            "Accept a verified report",
            "regulator, the company's bureau",
            BUREAUS,
            command(accept_report),
        )
        .body::<Acceptance>(json!({"company": "SX0001", "year": 2021}))
        .market(),
        // Plans, allocation, offsets.
        route(
            "get",
            "/api/plans",
            "allocation",
            "Adopted allocation plans",
            "anyone",
            Roles::Anyone,
            get(list_plans),
        ),
        route(
            "post",
            "/api/plans",
            "allocation",
            "Adopt a plan: a shipped one by id, or a policy file's text",
            "regulator",
            REGULATOR,
            command(adopt_plan),
        )
        .body::<FileBody>(json!({"builtin": "cn-power-2021-2022"}))
        .max_body(FILE_BODY)
        .codes(&["file_choice", "not_found"])
        .market(),
        route(
            "post",
            "/api/allocations",
            "allocation",
            "Pre-allocate or true up a company's allowances under a plan",
            "regulator",
            REGULATOR,
            command(allocate),
        )
        .body::<AllocationBody>(json!({"plan": "cn-power-2021-2022", "company": "SX0001", "stage": "pre"}))
        .market(),
        route(
            "get",
            "/api/allocations",
            "allocation",
            "Each unit's pre-allocation and final allocation with its inputs and correction factors (?plan=&company=, or pages of companies: ?after=&limit=)",
            "any logged-in user; each sees the companies it may read (own company, its bureau's province, regulator, auditor; none for others)",
            Roles::LoggedIn,
            get(crate::allocation_api::list),
        )
        // allocation_api answers `malformed` for a bad company id or limit, and the market's
        // `unknown_company` / `unknown_plan`.
        .codes(&["malformed", "not_found", "invalid_id", "out_of_range"])
        .query(&[
            ("plan", false, QueryParam::Company),
            ("company", false, QueryParam::Company),
            ("after", false, QueryParam::Company),
            ("limit", false, QueryParam::Page),
        ])
        .market(),
        route(
            "post",
            "/api/projects",
            "offsets",
            "Register an offset project",
            "regulator",
            REGULATOR,
            command(register_project),
        )
        .body::<NewProject>(json!({"project": "CCER-FOREST-0001", "name": "Lüliang afforestation", "province": "Shanxi", "kind": "forestry"}))
        .market(),
        route(
            "post",
            "/api/offsets",
            "offsets",
            "Issue offset credits to a project",
            "regulator",
            REGULATOR,
            command(issue_offsets),
        )
        .body::<Issuance>(json!({"project": "CCER-FOREST-0001", "vintage": 2021, "quantity": 50000}))
        .market(),
        // Compliance.
        route(
            "get",
            "/api/compliance/{plan}",
            "compliance",
            "Compliance by company, province and nation",
            "regulator, auditor; a provincial bureau sees its province",
            OVERSIGHT,
            get(compliance),
        )
        .market(),
        route(
            "get",
            "/api/public/compliance/{plan}",
            "compliance",
            "Published compliance: nation and provinces; companies once assessed",
            "anyone",
            Roles::Anyone,
            get(public_compliance),
        )
        .market(),
        route(
            "post",
            "/api/compliance/{plan}/exemptions",
            "compliance",
            "Exempt a company from a cycle",
            "regulator",
            REGULATOR,
            command(exempt),
        )
        .body::<Exemption>(json!({"company": "SX0001", "reason": "closed 2022-03"}))
        .market(),
        route(
            "post",
            "/api/compliance/{plan}/assessment",
            "compliance",
            "Assess the cycle at the deadline",
            "regulator",
            REGULATOR,
            command(assess),
        )
        .body::<Empty>(json!({}))
        .market(),
        route(
            "post",
            "/api/commands",
            "system",
            "A registry command of the regulator, with its reason (journaled): direct transfer, surrender, cancellation, account status (freeze), holding account. Exchange commands are not taken here: they go through the exchange's routes, which take the time from the server's clock",
            "regulator",
            REGULATOR,
            command(raw_command),
        )
        .body::<RawCommand>(json!({"command": "set_account_status", "holder": "SX0001", "status": "frozen", "reason": "court order 2021-17"}))
        .market(),
        // Exchange.
        route(
            "post",
            "/api/exchange",
            "exchange",
            "Open the exchange under a market file (shipped id or text)",
            "regulator",
            REGULATOR,
            command(open_exchange),
        )
        .body::<FileBody>(json!({"builtin": "cn-seee"}))
        .max_body(FILE_BODY)
        .codes(&["file_choice", "not_found"])
        .market(),
        route(
            "post",
            "/api/exchange/days/open",
            "exchange",
            "Open today's trading day",
            "regulator",
            REGULATOR,
            command(open_day),
        )
        .body::<Empty>(json!({}))
        .market(),
        route(
            "post",
            "/api/exchange/days/close",
            "exchange",
            "Close the day: settlement, closing prices",
            "regulator",
            REGULATOR,
            command(close_day),
        )
        .body::<Empty>(json!({}))
        .market(),
        route(
            "post",
            "/api/funds/deposits",
            "exchange",
            "Credit a trading account's funds (fen)",
            "regulator",
            REGULATOR,
            command(deposit),
        )
        .body::<Funds>(json!({"holder": "trader-0001", "fen": 100000000}))
        .market(),
        route(
            "post",
            "/api/funds/withdrawals",
            "exchange",
            "Pay out available funds (fen)",
            "regulator",
            REGULATOR,
            command(withdraw),
        )
        .body::<Funds>(json!({"holder": "trader-0001", "fen": 100000}))
        .market(),
        route(
            "post",
            "/api/orders",
            "exchange",
            "Enter an order (price in fen per tonne; tif day|ioc|fok)",
            "the account's company representative or member",
            TRADERS,
            command(order),
        )
        .body::<NewOrder>(json!({"holder": "trader-0001", "class": class, "side": "buy", "price": 4500, "qty": 1000, "tif": "day"}))
        .market(),
        route(
            "get",
            "/api/orders",
            "exchange",
            "Open orders of an account (?holder=)",
            "as the account",
            Roles::LoggedIn,
            get(open_orders),
        )
        .query(&[("holder", true, QueryParam::Holder)])
        .codes(&["missing_field", "invalid_id", "not_found"]),
        route(
            "post",
            "/api/orders/{id}/cancel",
            "exchange",
            "Cancel an order",
            "the order's owner",
            TRADERS,
            command(cancel_order),
        )
        .body::<HolderBody>(json!({"holder": "trader-0001"}))
        .market(),
        route(
            "post",
            "/api/orders/{id}/amend",
            "exchange",
            "Amend price and quantity (loses time priority unless only reduced)",
            "the order's owner",
            TRADERS,
            command(amend_order),
        )
        .body::<Amendment>(json!({"holder": "trader-0001", "price": 4510, "qty": 800}))
        .market(),
        route(
            "post",
            "/api/orders/{id}/take",
            "exchange",
            "Click-to-trade: take a listed order at its price",
            "the account's company representative or member",
            TRADERS,
            command(take_order),
        )
        .body::<TakeBody>(json!({"holder": "trader-0002", "qty": 100}))
        .market(),
        route(
            "post",
            "/api/blocks",
            "exchange",
            "Propose a block trade to a named counterparty",
            "the account's company representative or member",
            TRADERS,
            command(propose_block),
        )
        .body::<BlockProposal>(json!({"holder": "trader-0001", "counterparty": "trader-0002", "class": class, "side": "sell", "price": 4400, "qty": 100000}))
        .market(),
        route(
            "post",
            "/api/blocks/{id}/accept",
            "exchange",
            "Accept a block proposal",
            "the counterparty",
            TRADERS,
            command(accept_block),
        )
        .body::<HolderBody>(json!({"holder": "trader-0002"}))
        .market(),
        route(
            "post",
            "/api/blocks/{id}/withdraw",
            "exchange",
            "Withdraw a block proposal not yet accepted (its proposer), releasing what it froze",
            "the proposer",
            TRADERS,
            command(withdraw_block),
        )
        .body::<HolderBody>(json!({"holder": "trader-0001"}))
        .market(),
        route(
            "post",
            "/api/auctions",
            "exchange",
            "Announce a one-way auction (floor or ceiling price, bidding window)",
            "the account's company representative or member",
            TRADERS,
            command(announce),
        )
        .body::<NewAuction>(json!({"holder": "trader-0001", "class": class, "side": "sell", "qty": 200000, "limit": 4200, "pay_as_bid": false, "open_minute": 840, "close_minute": 870}))
        .market(),
        route(
            "post",
            "/api/auctions/{id}/bids",
            "exchange",
            "Bid in a one-way auction",
            "the account's company representative or member",
            TRADERS,
            command(bid),
        )
        .body::<BidBody>(json!({"holder": "trader-0002", "price": 4300, "qty": 50000}))
        .market(),
        route(
            "post",
            "/api/auctions/{id}/close",
            "exchange",
            "Close the auction and allocate",
            "regulator",
            REGULATOR,
            command(close_auction),
        )
        .body::<Empty>(json!({}))
        .market(),
        // Market data.
        route(
            "get",
            "/api/market/book",
            "market data",
            "Book depth: each level's price, quantity, number of orders and its orders (id, open quantity) in time priority, for click-to-trade (?class=CEA-2021&levels=5)",
            "anyone",
            Roles::Anyone,
            get(book),
        )
        .query(&[("class", true, QueryParam::Class), ("levels", false, QueryParam::Levels)])
        .codes(&["malformed", "invalid_class", "out_of_range"]),
        route(
            "get",
            "/api/market/trades",
            "market data",
            "Recent trades, newest first (?class=&limit=)",
            "anyone",
            Roles::Anyone,
            get(trades),
        )
        .query(&[("class", false, QueryParam::Class), ("limit", false, QueryParam::Limit)])
        .codes(&["invalid_class", "out_of_range"]),
        route(
            "get",
            "/api/market/days",
            "market data",
            "Daily figures: each instrument's days (?class= for one) and the market's days, with listed, block and one-way volume, turnover and trades apart and in total",
            "anyone",
            Roles::Anyone,
            get(days),
        )
        .query(&[("class", false, QueryParam::Class)])
        .response("DailyFigures", daily_figures_schemas)
        .codes(&["invalid_class"]),
        // Audit.
        route(
            "get",
            "/api/audit",
            "system",
            "The latest audit entries, newest first (?limit=)",
            "regulator, auditor",
            OVERSEERS,
            get(audit),
        )
        .query(&[("limit", false, QueryParam::Limit)])
        .codes(&["out_of_range"]),
    ]
    .into_iter()
    // Tokens, sessions and passwords.
    .chain(account::routes())
    .collect()
}

/// The API router (without its state), built from [`routes`]: each route's roles are checked
/// before its handler (and so before its body is read).
pub fn router() -> Router<AppState> {
    routes().into_iter().fold(Router::new(), |r, route| {
        let roles = route.roles;
        let mut handler = route.handler;
        if route.max_body > 0 {
            // The route's own limit, after its roles (a role that may never call it is 403
            // whatever it sends): a body that says it is longer is refused before it is read; one
            // that does not say is cut off at the limit as it is read.
            let max = route.max_body;
            handler = handler
                .route_layer(axum::extract::DefaultBodyLimit::max(max))
                .route_layer(axum::middleware::from_fn(
                    move |req: axum::extract::Request, next: Next| async move {
                        if let Some(e) = too_large(req.headers(), max) {
                            return e.into_response();
                        }
                        let resp = next.run(req).await;
                        if resp.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                            // Cut off as it was read (no Content-Length, or a false one): the
                            // same refusal, with the limit.
                            return payload_too_large(max).into_response();
                        }
                        resp
                    },
                ));
        }
        if matches!(roles, Roles::Anyone) {
            // Nobody to refuse: public routes (market data, login) skip the layer's cost.
            return r.route(route.path, handler);
        }
        let handler = handler.route_layer(axum::middleware::from_fn(
            move |req: axum::extract::Request, next: Next| async move {
                let role = req.extensions().get::<Caller>().and_then(|c| c.role);
                match roles.refuse(role) {
                    Some(e) => e.into_response(),
                    None => next.run(req).await,
                }
            },
        ));
        r.route(route.path, handler)
    })
}

/// The 413 of a body whose `Content-Length` is above `max` bytes.
fn too_large(headers: &HeaderMap, max: usize) -> Option<ApiError> {
    let length = headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse::<u64>()
        .ok()?;
    (length > max as u64).then(|| payload_too_large(max).with("length", length))
}

/// The refusal of a body above the route's limit of `max` bytes.
pub fn payload_too_large(max: usize) -> ApiError {
    ApiError::of(
        "payload_too_large",
        format!("the body is larger than this route's limit of {max} bytes"),
        None,
    )
    .with("max", max)
}

/// The OpenAPI 3.1 document of [`routes`]: per route its roles, its body's schema (from the
/// request type) with an example, and its refusals by status with the codes each may carry.
pub fn openapi() -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    let codes = crate::error::all_codes();
    schemas.insert("Error".into(), error_schema(&codes));
    for r in routes() {
        let success = if r.method == "post" && r.path != "/api/login" {
            "201"
        } else {
            "200"
        };
        let mut responses = Map::new();
        let success_schema = match r.response {
            Some((name, components)) => {
                schemas.extend(components().into_iter().map(|(k, v)| (k.to_string(), v)));
                json!({"$ref": format!("#/components/schemas/{name}")})
            }
            None => json!({"type": "object"}),
        };
        responses.insert(
            success.into(),
            json!({"description": "done", "content": {"application/json": {"schema": success_schema}}}),
        );
        let mut by_status: std::collections::BTreeMap<u16, Vec<&str>> = Default::default();
        for c in r.all_codes() {
            let status = codes
                .iter()
                .find(|k| k.code == c)
                .map(|k| k.status)
                .unwrap_or_else(|| panic!("code {c} of {} is not listed", r.path));
            by_status.entry(status).or_default().push(c);
        }
        for (status, list) in by_status {
            let mut response = json!({
                "description": status_text(status),
                "content": {"application/json": {"schema": {"allOf": [
                    {"$ref": "#/components/schemas/Error"},
                    {"type": "object", "properties": {"code": {"enum": list}}},
                ]}}},
            });
            if status == 503 || status == 429 {
                response["headers"] = json!({"Retry-After": {"description": "seconds to wait before retrying (queue_full, busy, rate_limited, login_throttled)", "schema": {"type": "integer"}}});
            }
            responses.insert(status.to_string(), response);
        }
        let mut op = json!({
            "operationId": format!("{}{}", r.method, r.path.replace(['/', '{', '}', '-'], "_")),
            "summary": r.summary,
            "description": format!("Who: {}. Roles: {}.", r.who, r.roles.describe()),
            "tags": [r.tag],
            "responses": responses,
        });
        if let Some(roles) = r.roles.roles() {
            op["x-roles"] = json!(roles.iter().map(|x| x.as_str()).collect::<Vec<_>>());
        }
        if matches!(r.roles, Roles::Anyone) {
            op["security"] = json!([{}, {"token": []}, {"session": []}]);
        } else {
            op["security"] = json!([{"token": []}, {"session": []}]);
        }
        let mut params: Vec<Value> = path_params(r.path)
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": path_schema(r.path, name)}))
            .collect();
        if r.method == "post" && r.path != "/api/login" && r.path != "/api/logout" {
            params.push(json!({"name": "Idempotency-Key", "in": "header", "required": true,
                "description": "Unique per request; a retry with the same key and body gets the first answer, with another body 409.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[!-~]+$"}}));
        }
        params.extend(r.query.iter().map(|(name, required, kind)| {
            json!({"name": name, "in": "query", "required": required, "schema": kind.schema()})
        }));
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        if let Some(body) = &r.body {
            schemas.insert(body.kind.name.into(), (body.kind.schema)());
            op["requestBody"] = json!({"required": true,
                "description": format!("At most {} bytes (`x-max-body-bytes`); a longer body is refused with 413 `payload_too_large`.", r.max_body),
                "content": {"application/json": {
                "schema": {"$ref": format!("#/components/schemas/{}", body.kind.name)},
                "example": body.example}}});
        }
        if r.max_body > 0 {
            op["x-max-body-bytes"] = json!(r.max_body);
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
                 "description": "Registry, MRV, allocation, compliance, offsets and the exchange of a national carbon market. Tonnes and fen are integers. Authenticate with `Authorization: Bearer <token>` (POST /api/tokens) or the session cookie of POST /api/login plus its `X-CSRF-Token`. Every refusal is an `Error` with a stable `code`: `x-codes` lists them all with their status and meaning."},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"},
                                "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE}}
        },
        "x-codes": codes.iter().map(|c| json!({"code": c.code, "status": c.status, "description": c.description})).collect::<Vec<_>>(),
        "security": [{"token": []}, {"session": []}, {}]
    })
}

fn error_schema(codes: &[crate::error::Code]) -> Value {
    let description: String = codes
        .iter()
        .map(|c| format!("- `{}` ({}): {}\n", c.code, c.status, c.description))
        .collect();
    json!({"type": "object", "required": ["status", "code", "message", "field", "params"],
        "additionalProperties": false,
        "properties": {
            "status": {"type": "integer", "description": "the HTTP status again"},
            "code": {"type": "string", "enum": codes.iter().map(|c| c.code).collect::<Vec<_>>(),
                     "description": format!("what went wrong, stable; translate by it:\n{description}")},
            "message": {"type": "string", "description": "the same in English words, with the figures"},
            "field": {"type": ["string", "null"], "description": "the request field at fault (`units[0].unit`), or a header"},
            "params": {"type": "object", "description": "the figures of the refusal by name (`max`, `held_t`…), for translations"},
            "replayed": {"type": "boolean", "description": "present and true when this is the remembered answer to an earlier request with the same Idempotency-Key"}}})
}

fn path_schema(path: &str, name: &str) -> Value {
    match name {
        "account" => json!({"type": "string", "pattern": ACCOUNT_PATTERN, "maxLength": 12}),
        "plan" => json!({"type": "string", "pattern": ID_PATTERN}),
        "id" if path.starts_with("/api/companies/") => {
            json!({"type": "string", "pattern": ID_PATTERN})
        }
        "id" | "seq" => json!({"type": "integer", "minimum": 0, "maximum": u64::MAX}),
        // A token's or session's id: the first 16 hex digits of its digest (`credential_id`).
        "credential" => {
            json!({"type": "string", "pattern": "^[0-9a-f]{16}$", "minLength": 16, "maxLength": 16})
        }
        "name" => {
            json!({"type": "string", "pattern": crate::core::USER_NAME_PATTERN, "minLength": 1, "maxLength": 64})
        }
        _ => json!({"type": "string", "maxLength": 64}),
    }
}

fn status_text(status: u16) -> &'static str {
    match status {
        400 => "malformed: the request is wrong as sent",
        401 => "not logged in, or an unknown token",
        403 => "not allowed for this caller",
        404 => "no such thing",
        405 => "method not allowed",
        408 => "timed out",
        409 => "conflict: exists already, decided already, or a reused idempotency key",
        413 => "body too large",
        415 => "not JSON",
        422 => "against the rules",
        429 => "too many requests",
        500 => "a bug",
        503 => "not now: retry later with the same idempotency key",
        _ => "refused",
    }
}

/// `/openapi.json` and the interactive docs at `/docs`, served from the binary.
/// The document is served as written (OpenAPI 3.1 with JSON Schema keywords such as `const`
/// and `discriminator`, which utoipa's typed model does not hold).
pub fn docs() -> Router<AppState> {
    Router::new().merge(
        utoipa_swagger_ui::SwaggerUi::new("/docs")
            .external_url_unchecked("/openapi.json", openapi()),
    )
}

// ---------------------------------------------------------------------------------------------
// Helpers

fn bad(code: &str, message: impl Into<String>, field: Option<&str>) -> ApiError {
    ApiError::of(code, message, field)
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

fn path_company(params: &Params, name: &str) -> Result<CompanyId, ApiError> {
    let text = params.get(name).map(String::as_str).unwrap_or_default();
    CompanyId::parse(text)
        .ok()
        .filter(|_| text == text.trim())
        .ok_or_else(|| {
            bad(
                "invalid_id",
                format!(
                    "company {:?}: expected 1 to 64 characters of A-Z, a-z, 0-9, '-', '_', '.'",
                    clip(text)
                ),
                Some(name),
            )
        })
}

fn path_plan(params: &Params) -> Result<String, ApiError> {
    let text = params.get("plan").map(String::as_str).unwrap_or_default();
    let ok = !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(text.to_string())
    } else {
        Err(bad(
            "invalid_id",
            format!(
                "plan {:?}: expected 1 to 64 characters of A-Z, a-z, 0-9, '-', '_', '.'",
                clip(text)
            ),
            Some("plan"),
        ))
    }
}

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
                "invalid_idempotency_key",
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
    let retry = reply.body["code"] == "queue_full";
    let mut resp = (status, Json(reply.body)).into_response();
    if retry {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp.extensions_mut().insert(Audited);
    resp
}

/// A rejection of axum's extractors as one of our refusals (413 above all).
fn rejection(status: axum::http::StatusCode, text: String) -> Response {
    let code = match status.as_u16() {
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        s if s >= 500 => "internal",
        _ => "malformed",
    };
    ApiError::of(code, text, None).into_response()
}

/// What every write takes: the caller, the path parameters, the request path, the headers and
/// the raw body (its digest is part of the idempotency check). The route's roles were checked
/// before this reads the body.
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
            .map_err(|e| rejection(e.status(), e.body_text()))?;
        let caller =
            parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
                ApiError::internal("request did not pass the gate").into_response()
            })?;
        let path = parts.uri.path().to_string();
        let headers = parts.headers.clone();
        let body = Bytes::from_request(axum::extract::Request::from_parts(parts, body), state)
            .await
            .map_err(|e| rejection(e.status(), e.body_text()))?;
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
    /// The common path of every write: idempotency key, the typed body, the op, the writer.
    async fn write<T: DeserializeOwned>(
        &self,
        make: impl FnOnce(T) -> Result<Op, ApiError>,
    ) -> Response {
        let op = decode::<T>(&self.body).and_then(make);
        self.send(op).await
    }

    /// Hands a prepared op to the writer under the request's idempotency key.
    async fn send(&self, op: Result<Op, ApiError>) -> Response {
        let key = match idempotency_key(&self.headers) {
            Ok(k) => k,
            Err(e) => return e.into_response(),
        };
        let op = match op {
            Ok(op) => op,
            Err(e) => return e.into_response(),
        };
        let ctx = self
            .caller
            .ctx("POST", &self.path, Some(key), Some(&self.body));
        respond(self.app.submit(ctx, op).await)
    }
}

type Make<T> = fn(&Caller, &Params, T) -> Result<Op, ApiError>;

/// A write route whose body is `T`.
fn write<T: DeserializeOwned + Send + 'static>(make: Make<T>) -> MethodRouter<AppState> {
    post(move |w: Post| async move { w.write(|b: T| make(&w.caller, &w.params, b)).await })
}

/// A market command, with the journal entry's reason when the body gives one.
type Built = Result<(Command, Option<String>), ApiError>;

/// A route of a market command whose body is `T`.
fn command<T: DeserializeOwned + Send + 'static>(
    make: fn(&Caller, &Params, T) -> Built,
) -> MethodRouter<AppState> {
    post(move |w: Post| async move {
        w.write(|b: T| {
            let (command, reason) = make(&w.caller, &w.params, b)?;
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
                    "out_of_range",
                    format!("limit {s:?}: 1 to 10000"),
                    Some("limit"),
                )
                .with("min", 1)
                .with("max", 10_000)
            }),
    }
}

type JsonResult = Result<Json<Value>, ApiError>;

// ---------------------------------------------------------------------------------------------
// Market command builders: from the request types to the market's commands

fn fuel(f: FuelBody) -> FuelUse {
    FuelUse {
        fuel: f.fuel.0,
        consumption: f.consumption.0,
        ncv_gj: f.ncv_gj.map(|d| d.0),
        carbon_content_tc_per_gj: f.carbon_content_tc_per_gj.map(|d| d.0),
        elemental_carbon: f.elemental_carbon.map(|d| d.0),
        oxidation_rate: f.oxidation_rate.map(|d| d.0),
    }
}

fn activity(a: ActivityBody) -> UnitActivity {
    UnitActivity {
        unit: a.unit.0,
        year: a.year.u16(),
        fuels: a.fuels.0.into_iter().map(fuel).collect(),
        purchased_electricity_mwh: a.purchased_electricity_mwh.0,
        power_supplied_mwh: a.power_supplied_mwh.0,
        heat_supplied_gj: a.heat_supplied_gj.0,
        load_factor: a.load_factor.0,
    }
}

fn report(r: ReportBody) -> ReportInput {
    ReportInput {
        company: r.company.0,
        year: r.year.u16(),
        units: r.units.0.into_iter().map(activity).collect(),
    }
}

fn submit_report(_: &Caller, _: &Params, b: ReportBody) -> Built {
    Ok((Command::SubmitReport { report: report(b) }, None))
}
fn correct_report(_: &Caller, _: &Params, b: Correction) -> Built {
    let reason = b.reason.0;
    Ok((
        Command::CorrectReport {
            report: report(b.report),
            reason: reason.clone(),
        },
        Some(reason),
    ))
}
fn verify_report(c: &Caller, _: &Params, b: Verification) -> Built {
    // The verifier signs with its own name; the regulator may record on a verifier's behalf.
    let own = c.user.clone().unwrap_or_default();
    let verifier = match b.verifier {
        Some(v) if c.role == Some(Role::Regulator) => v.0,
        Some(v) if v.0 != own => {
            return Err(ApiError::forbidden(
                "only the regulator may record a verification on another verifier's behalf",
            )
            .at("verifier"));
        }
        _ => own,
    };
    Ok((
        Command::VerifyReport {
            verification: ets_types::VerificationInput {
                company: b.company.0,
                year: b.year.u16(),
                verifier,
                units: b.units.map(|u| u.0.into_iter().map(activity).collect()),
                findings: b.findings.0.into_iter().map(|f| f.0).collect(),
            },
        },
        None,
    ))
}
fn accept_report(_: &Caller, _: &Params, b: Acceptance) -> Built {
    Ok((
        Command::AcceptReport {
            company: b.company.0,
            year: b.year.u16(),
        },
        None,
    ))
}
/// A shipped file by id, or a file's text.
fn file_body(
    b: FileBody,
    builtin: fn(&str) -> Option<&'static str>,
) -> Result<(String, String), ApiError> {
    match (b.builtin, b.toml) {
        (Some(id), None) if b.source.is_none() => {
            let text = builtin(&id.0).ok_or_else(|| {
                ApiError::not_found(format!("no shipped file {:?}", id.0))
                    .at("builtin")
                    .with("value", id.0.clone())
            })?;
            Ok((format!("builtin:{}", id.0), text.to_string()))
        }
        (None, Some(toml)) => Ok((b.source.map_or_else(|| "api".into(), |s| s.0), toml.0)),
        _ => Err(ApiError::of(
            "file_choice",
            "give either builtin (a shipped id) or toml (the file's text, with an optional source)",
            Some("builtin"),
        )),
    }
}
fn adopt_plan(_: &Caller, _: &Params, b: FileBody) -> Built {
    let (source, toml) = file_body(b, ets_policy::Plan::builtin_text)?;
    Ok((Command::AdoptPlan { source, toml }, None))
}
fn open_exchange(_: &Caller, _: &Params, b: FileBody) -> Built {
    let (source, toml) = file_body(b, |id| {
        (id == "cn-seee").then(ets_market::trading::config::MarketRules::builtin_text)
    })?;
    Ok((Command::OpenExchange { source, toml }, None))
}
fn allocate(_: &Caller, _: &Params, b: AllocationBody) -> Built {
    let (plan, company) = (b.plan.0, b.company.0);
    let command = match b.stage {
        Stage::Pre => Command::PreAllocate { plan, company },
        Stage::Final => Command::TrueUp { plan, company },
    };
    Ok((command, None))
}
fn register_project(_: &Caller, _: &Params, b: NewProject) -> Built {
    Ok((
        Command::RegisterProject {
            project: b.project.0,
            name: b.name.0,
            province: b.province.0,
            kind: b.kind.0,
        },
        None,
    ))
}
fn issue_offsets(_: &Caller, _: &Params, b: Issuance) -> Built {
    Ok((
        Command::IssueOffsets {
            project: b.project.0,
            vintage: b.vintage.u16(),
            quantity: b.quantity.u64(),
        },
        None,
    ))
}
fn exempt(_: &Caller, p: &Params, b: Exemption) -> Built {
    let reason = b.reason.0;
    Ok((
        Command::ExemptCompany {
            plan: path_plan(p)?,
            company: b.company.0,
            reason: reason.clone(),
        },
        Some(reason),
    ))
}
fn assess(_: &Caller, p: &Params, _: Empty) -> Built {
    Ok((
        Command::AssessCycle {
            plan: path_plan(p)?,
        },
        None,
    ))
}
/// The regulator's own procedures (freeze, correct, move): each journaled with its reason.
fn raw_command(_: &Caller, _: &Params, b: RawCommand) -> Built {
    let (command, reason) = match b {
        RawCommand::Transfer(t) => (
            Command::Transfer {
                class: t.class.0,
                quantity: t.quantity.u64(),
                from: t.from.0,
                to: t.to.0,
            },
            t.reason,
        ),
        RawCommand::Surrender(s) => (
            Command::Surrender {
                plan: s.plan.0,
                company: s.company.0,
                class: s.class.0,
                quantity: s.quantity.u64(),
            },
            s.reason,
        ),
        RawCommand::Cancel(c) => (
            Command::Cancel {
                holder: c.holder.0,
                class: c.class.0,
                quantity: c.quantity.u64(),
            },
            c.reason,
        ),
        RawCommand::SetAccountStatus(s) => (
            Command::SetAccountStatus {
                holder: s.holder.0,
                status: s.status,
            },
            s.reason,
        ),
        RawCommand::RegisterHolder(h) => (Command::RegisterHolder { holder: h.holder.0 }, h.reason),
    };
    Ok((command, Some(reason.0)))
}
fn exchange(e: ExchangeCommand) -> Built {
    Ok((Command::Exchange(e), None))
}
/// The minute of the day of the request, Beijing time (the exchange's sessions are by it).
fn minute(c: &Caller) -> u16 {
    crate::clock::beijing(c.at).1
}
fn open_day(_: &Caller, _: &Params, _: Empty) -> Built {
    exchange(ExchangeCommand::OpenDay)
}
fn close_day(_: &Caller, _: &Params, _: Empty) -> Built {
    exchange(ExchangeCommand::CloseDay)
}
fn deposit(_: &Caller, _: &Params, b: Funds) -> Built {
    exchange(ExchangeCommand::Deposit {
        holder: b.holder.0,
        fen: b.fen.u64(),
    })
}
fn withdraw(_: &Caller, _: &Params, b: Funds) -> Built {
    exchange(ExchangeCommand::Withdraw {
        holder: b.holder.0,
        fen: b.fen.u64(),
    })
}
fn order(c: &Caller, _: &Params, b: NewOrder) -> Built {
    exchange(ExchangeCommand::Order {
        holder: b.holder.0,
        class: b.class.0,
        side: b.side,
        price: b.price.0,
        qty: b.qty.u64(),
        tif: b.tif.unwrap_or(ets_market::trading::exchange::Tif::Day),
        minute: minute(c),
    })
}
fn cancel_order(_: &Caller, p: &Params, b: HolderBody) -> Built {
    // A cancel takes no minute: it is allowed outside the sessions too.
    exchange(ExchangeCommand::Cancel {
        holder: b.holder.0,
        order: parse_id(p, "id")?,
    })
}
fn amend_order(c: &Caller, p: &Params, b: Amendment) -> Built {
    exchange(ExchangeCommand::Amend {
        holder: b.holder.0,
        order: parse_id(p, "id")?,
        price: b.price.0,
        qty: b.qty.u64(),
        minute: minute(c),
    })
}
fn take_order(c: &Caller, p: &Params, b: TakeBody) -> Built {
    exchange(ExchangeCommand::Take {
        holder: b.holder.0,
        order: parse_id(p, "id")?,
        qty: b.qty.u64(),
        minute: minute(c),
    })
}
fn propose_block(c: &Caller, _: &Params, b: BlockProposal) -> Built {
    exchange(ExchangeCommand::ProposeBlock {
        holder: b.holder.0,
        counterparty: b.counterparty.0,
        class: b.class.0,
        side: b.side,
        price: b.price.0,
        qty: b.qty.u64(),
        minute: minute(c),
    })
}
fn accept_block(c: &Caller, p: &Params, b: HolderBody) -> Built {
    exchange(ExchangeCommand::AcceptBlock {
        holder: b.holder.0,
        proposal: parse_id(p, "id")?,
        minute: minute(c),
    })
}
fn withdraw_block(_: &Caller, p: &Params, b: HolderBody) -> Built {
    exchange(ExchangeCommand::WithdrawBlock {
        holder: b.holder.0,
        proposal: parse_id(p, "id")?,
    })
}
fn announce(_: &Caller, _: &Params, b: NewAuction) -> Built {
    exchange(ExchangeCommand::Announce {
        holder: b.holder.0,
        class: b.class.0,
        side: b.side,
        qty: b.qty.u64(),
        limit: b.limit.0,
        pay_as_bid: b.pay_as_bid,
        open_minute: b.open_minute.u16(),
        close_minute: b.close_minute.u16(),
    })
}
fn bid(c: &Caller, p: &Params, b: BidBody) -> Built {
    exchange(ExchangeCommand::Bid {
        holder: b.holder.0,
        auction: parse_id(p, "id")?,
        price: b.price.0,
        qty: b.qty.u64(),
        minute: minute(c),
    })
}
fn close_auction(c: &Caller, p: &Params, _: Empty) -> Built {
    exchange(ExchangeCommand::CloseAuction {
        auction: parse_id(p, "id")?,
        minute: minute(c),
    })
}

// ---------------------------------------------------------------------------------------------
// Sessions, tokens, users

/// A password long enough to hash (checked before any hashing).
pub fn check_password(password: &str) -> Result<(), ApiError> {
    if password.chars().count() < 12 {
        return Err(ApiError::unprocessable(
            "weak_password",
            "passwords need at least 12 characters",
            Some("password"),
        ));
    }
    Ok(())
}

/// Argon2id with the crate's default parameters (OWASP's minimum), salted from the OS.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    use argon2::PasswordHasher;
    check_password(password)?;
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

async fn health(AxState(app): AxState<AppState>) -> JsonResult {
    // Down: 503, and nothing of the state (it may hold what never became durable).
    if app.progress.role() == crate::core::StoreRole::Down {
        return Err(app.progress.unavailable().with("status", "down"));
    }
    let st = app.read();
    Ok(Json(json!({
        "status": "ok",
        "role": if app.progress.role() == crate::core::StoreRole::Standby { "standby" } else { "writer" },
        "unrecorded": app.progress.unrecorded.load(std::sync::atomic::Ordering::Relaxed),
        "store": st.store_name,
        "audit_entries": st.audit_count,
        "registry_transactions": st.market.registry().transactions().len(),
        "queued": app.progress.queued.load(std::sync::atomic::Ordering::Relaxed).max(0),
        "shed": app.shed.load(std::sync::atomic::Ordering::Relaxed),
        "password_hashes": app.hashing.done.load(std::sync::atomic::Ordering::Relaxed),
        "password_hashes_waiting": app.hashing.waiting(),
    })))
}

/// Checks a password and opens a session; shared by the API and the dashboard's login form.
pub async fn open_session(
    app: &App,
    caller: &Caller,
    path: &str,
    username: String,
    password: String,
) -> Result<(String, Reply), ApiError> {
    // Backing off: refused before the password is checked (right or wrong, it is not looked at).
    let waiting = app
        .logins
        .lock()
        .expect("logins lock")
        .wait(&username, &caller.from, caller.at);
    if let Some(wait) = waiting {
        return Err(ApiError::of(
            "login_throttled",
            format!("too many failed logins for this user or from this address; retry in {wait} s"),
            Some("username"),
        )
        .with("retry_after_s", wait));
    }
    let phc = app
        .read()
        .access
        .user(&username)
        .filter(|u| u.active)
        .map(|u| u.password.clone());
    let ok = match phc {
        // Verify against a dummy hash when the user is unknown, so timing does not tell.
        Some(phc) => app.hash(move || verify_password(&password, &phc)).await?,
        None => {
            app.hash(move || verify_password(&password, DUMMY_PHC))
                .await?;
            false
        }
    };
    if !ok {
        app.logins
            .lock()
            .expect("logins lock")
            .failed(&username, &caller.from, caller.at);
        return Err(ApiError::new(
            401,
            "bad_credentials",
            "wrong user name or password",
            Some("password"),
        ));
    }
    app.logins.lock().expect("logins lock").succeeded(&username);
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

/// The session cookie; `Secure` when the server speaks TLS, so that the browser never sends it
/// over plain HTTP.
pub fn session_cookie(app: &App, session: &str, max_age_s: i64) -> HeaderValue {
    let secure = if app
        .secure_cookies
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={session}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_s}{secure}"
    ))
    .expect("cookie is ASCII")
}

async fn login(
    AxState(app): AxState<AppState>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
    body: Bytes,
) -> Response {
    let b: Login = match decode(&body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    match open_session(&app, &caller, uri.path(), b.username.0, b.password.0).await {
        Err(e) => e.into_response(),
        Ok((session, mut reply)) => {
            if reply.status < 300 {
                reply.body["csrf"] = json!(csrf_of(&session));
                // After a reset by the regulator only the password change is allowed.
                let must_change = reply.body["user"]
                    .as_str()
                    .is_some_and(|u| app.read().access.must_change_password(u));
                reply.body["password_change_required"] = json!(must_change);
            }
            let ok = reply.status < 300;
            let mut resp = respond(reply);
            if ok {
                let ttl = app.read().policy.session_ttl_ms / 1000;
                resp.headers_mut()
                    .insert(header::SET_COOKIE, session_cookie(&app, &session, ttl));
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
        return ApiError::of("no_session", "no browser session to end", None).into_response();
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
        .insert(header::SET_COOKIE, session_cookie(&app, "", 0));
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
    let token = random_token();
    let digest = sha256_hex(token.as_bytes());
    let resp = w
        .write(|b: NewToken| {
            Ok(Op::IssueToken {
                token_sha256: digest.clone(),
                label: b.label.0,
            })
        })
        .await;
    // The token goes to the caller once: a retry with the same key gets the first answer
    // without it (its token is the first one, which only the first answer showed).
    let id = crate::access::credential_id(&digest).to_string();
    account::reveal_once(resp, &[("token", &token), ("id", &id)]).await
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

async fn create_user(w: Post) -> Response {
    // Hash outside the writer (Argon2 takes tens of milliseconds by design), in a hashing slot,
    // and only once the key and the password's length are known to be right.
    let checked = idempotency_key(&w.headers)
        .and_then(|_| decode::<NewUser>(&w.body))
        .and_then(|u| check_password(&u.password.0).map(|()| u));
    let op = match checked {
        Ok(u) => {
            let pw = u.password.0.clone();
            match w.app.hash(move || hash_password(&pw)).await {
                Ok(Ok(password)) => Ok(Op::CreateUser {
                    user: User {
                        name: u.name.0,
                        display: u.display.0,
                        role: u.role,
                        province: u.province.map(|p| p.0),
                        company: u.company.map(|c| c.0),
                        holder: u.holder.map(|h| h.0),
                        password,
                        active: true,
                    },
                }),
                Ok(Err(e)) | Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    w.send(op).await
}

fn path_user(p: &Params) -> Result<String, ApiError> {
    parse_user(p.get("name").map_or("", String::as_str), "name")
}

fn deactivate_user(_: &Caller, p: &Params, _: Empty) -> Result<Op, ApiError> {
    Ok(Op::DeactivateUser {
        name: path_user(p)?,
    })
}

fn assign_verifier(_: &Caller, p: &Params, b: Assignment) -> Result<Op, ApiError> {
    Ok(Op::AssignVerifier {
        verifier: path_user(p)?,
        company: b.company.0,
    })
}

/// A query parameter that must be one of `allowed`, if given.
fn query_enum<'q>(
    q: &'q Params,
    name: &str,
    allowed: &[&str],
) -> Result<Option<&'q str>, ApiError> {
    match q.get(name) {
        None => Ok(None),
        Some(v) if allowed.contains(&v.as_str()) => Ok(Some(v)),
        Some(v) => Err(bad(
            "invalid_enum",
            format!(
                "{name} {:?}: one of {}",
                v.chars().take(40).collect::<String>(),
                allowed.join(", ")
            ),
            Some(name),
        )
        .with("allowed", json!(allowed))),
    }
}

const INSTRUCTION_STATUSES: &[&str] = &["pending", "executed", "rejected", "failed"];
const REPORT_STATUSES: &[&str] = &["draft", "submitted", "verified", "accepted"];

// ---------------------------------------------------------------------------------------------
// Account opening

/// The path of account requests, the one anonymous write that is journaled with documents: the
/// gate keeps a per-address hourly allowance for it.
pub const APPLY_PATH: &str = "/api/account-requests";

/// An account request: everything cheap is checked before anything expensive. The body is
/// bounded by its type (at most `MAX_REPRESENTATIVES` representatives, `MAX_DOCUMENTS`
/// documents of `MAX_DOCUMENT_BYTES`), then the key, every password's length and the state's
/// rules (names free, company or holder new) are checked, and only then are the passwords
/// hashed, one at a time in the bounded hashing slots. The writer checks the state again.
async fn request_account(w: Post) -> Response {
    let prepared: Result<Op, ApiError> = async {
        let key = idempotency_key(&w.headers)?;
        let r: NewAccountRequest = decode(&w.body)?;
        let applicant = match r.applicant {
            requests::Applicant::Company(c) => Applicant::Company {
                company: Company {
                    id: c.company.id.0,
                    name: c.company.name.0,
                    province: c.company.province.0,
                },
                units: c
                    .units
                    .0
                    .into_iter()
                    .map(|u| GeneratingUnit {
                        id: u.id.0,
                        company: u.company.0,
                        category: u.category,
                        capacity_mw: u32::try_from(u.capacity_mw.0).unwrap_or(u32::MAX),
                        cooling: u.cooling,
                    })
                    .collect(),
            },
            requests::Applicant::Holder(h) => Applicant::Holder { holder: h.holder.0 },
        };
        let documents = r
            .documents
            .0
            .into_iter()
            .map(|d| Document {
                name: d.name.0,
                media_type: d.media_type.0,
                sha256: sha256_hex(&d.content_base64.0),
                bytes: d.content_base64.0.len() as u64,
                content_base64: base64::engine::general_purpose::STANDARD
                    .encode(&d.content_base64.0),
            })
            .collect();
        let mut passwords = Vec::new();
        let mut representatives = Vec::new();
        for (i, rep) in r.representatives.0.into_iter().enumerate() {
            check_password(&rep.password.0).map_err(|mut e| {
                e.field = Some(format!("representatives[{i}].password"));
                e
            })?;
            passwords.push(rep.password.0);
            representatives.push(Representative {
                name: rep.name.0,
                display: rep.display.0,
                password: String::new(),
            });
        }
        let mut request = AccountRequest {
            id: 0,
            applicant,
            documents,
            representatives,
            submitted_at: 0,
            status: RequestStatus::Pending,
            decided_by: None,
            reason: None,
        };
        {
            let st = w.app.read();
            // A retry of an answered request is answered by the writer from its memory; any
            // other request must pass the state's rules before a password is hashed.
            let ctx = w
                .caller
                .ctx("POST", &w.path, Some(key.clone()), Some(&w.body));
            let scope = crate::core::idempotency_scope(&ctx);
            if st.remembered(&scope, &key, w.caller.at).is_none() {
                crate::core::validate_account_request(&st, &request)?;
            }
        }
        for (rep, pw) in request.representatives.iter_mut().zip(passwords) {
            rep.password = w.app.hash(move || hash_password(&pw)).await??;
        }
        Ok(Op::RequestAccount { request })
    }
    .await;
    w.send(prepared).await
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

fn approve_request(_: &Caller, p: &Params, _: Empty) -> Result<Op, ApiError> {
    Ok(Op::DecideAccountRequest {
        id: parse_id(p, "id")?,
        approve: true,
        reason: None,
    })
}

fn reject_request(_: &Caller, p: &Params, b: Reason) -> Result<Op, ApiError> {
    Ok(Op::DecideAccountRequest {
        id: parse_id(p, "id")?,
        approve: false,
        reason: Some(b.reason.0),
    })
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
    let id = parse_account(p.get("account").map_or("", String::as_str), "account")?;
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
    let id = parse_account(p.get("account").map_or("", String::as_str), "account")?;
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
    let t = st.market.registry().transaction(seq);
    // One who is no party to it must be one who reads everything, whether it exists or not:
    // an unknown number and another's transaction answer the same 403.
    let party = t.is_some_and(|t| {
        may_read_account(&st, &caller, t.to)
            || t.from.is_some_and(|a| may_read_account(&st, &caller, a))
    });
    if !party {
        st.check(caller.user.as_deref(), Action::ReadAudit)?;
    }
    let t = t.ok_or_else(|| ApiError::not_found(format!("no registry transaction {seq}")))?;
    Ok(Json(transaction_json(t)))
}

// ---------------------------------------------------------------------------------------------
// Four eyes

fn propose_instruction(_: &Caller, _: &Params, b: NewInstruction) -> Result<Op, ApiError> {
    let (company, instruction) = match b {
        NewInstruction::Transfer(t) => {
            let company = t.company.0;
            let command = Command::Transfer {
                class: t.class.0,
                quantity: t.quantity.u64(),
                from: company.to_string(),
                to: t.to.0,
            };
            (company, Instruction::Command { command })
        }
        NewInstruction::Surrender(s) => {
            let company = s.company.0;
            let command = Command::Surrender {
                plan: s.plan.0,
                company: company.clone(),
                class: s.class.0,
                quantity: s.quantity.u64(),
            };
            (company, Instruction::Command { command })
        }
        NewInstruction::Trust(t) => (
            t.company.0,
            Instruction::Trust {
                account: t.account.0,
            },
        ),
    };
    Ok(Op::ProposeInstruction {
        company,
        instruction,
    })
}

async fn list_instructions(
    AxState(app): AxState<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<Params>,
) -> JsonResult {
    let company = q
        .get("company")
        .map(|c| path_company(&q, "company").map(|_| c))
        .transpose()?;
    let status = query_enum(&q, "status", INSTRUCTION_STATUSES)?;
    let st = app.read();
    st.check(caller.user.as_deref(), Action::Own)?;
    let list: Vec<Value> = st
        .access
        .instructions()
        .filter(|i| company.is_none_or(|c| i.company.to_string() == *c))
        .filter(|i| {
            status.is_none_or(|s| {
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

fn approve_instruction(_: &Caller, p: &Params, _: Empty) -> Result<Op, ApiError> {
    Ok(Op::DecideInstruction {
        id: parse_id(p, "id")?,
        approve: true,
    })
}

fn reject_instruction(_: &Caller, p: &Params, _: Empty) -> Result<Op, ApiError> {
    Ok(Op::DecideInstruction {
        id: parse_id(p, "id")?,
        approve: false,
    })
}

async fn list_trusted(
    AxState(app): AxState<AppState>,
    Extension(caller): Extension<Caller>,
    Path(p): Path<Params>,
) -> JsonResult {
    let company = path_company(&p, "id")?;
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

fn remove_trusted(_: &Caller, p: &Params, _: Empty) -> Result<Op, ApiError> {
    Ok(Op::RemoveTrusted {
        company: path_company(p, "id")?,
        account: parse_account(p.get("account").map_or("", String::as_str), "account")?,
    })
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
///
/// Asked before the company is looked up: one who may not read a company gets 403 whether it
/// exists or not, so that nobody learns which ids exist; 404 only to those who may read it.
pub fn company_detail(st: &State, caller: &Caller, id: &CompanyId) -> Result<Value, ApiError> {
    let user = caller.user.as_deref();
    let full = st.check(user, Action::ReadCompany(id)).is_ok();
    if !full {
        st.check(user, Action::ReadReports(id))?;
    }
    let company = st
        .market
        .company(id)
        .ok_or_else(|| ApiError::not_found(format!("no company {id}")))?;
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
    let id = path_company(&p, "id")?;
    Ok(Json(company_detail(&app.read(), &caller, &id)?))
}

async fn list_reports(
    AxState(app): AxState<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<Params>,
) -> JsonResult {
    let status = query_enum(&q, "status", REPORT_STATUSES)?;
    let year = match q.get("year") {
        Some(y) => Some(
            y.parse::<i64>()
                .map_err(|_| bad("malformed", "year: YYYY", Some("year")))
                .and_then(|n| {
                    u16::try_from(n)
                        .ok()
                        .filter(|_| (YEAR_MIN..=YEAR_MAX).contains(&n))
                        .ok_or_else(|| {
                            bad(
                                "out_of_range",
                                format!("year {n}: {YEAR_MIN} to {YEAR_MAX}"),
                                Some("year"),
                            )
                            .with("min", YEAR_MIN)
                            .with("max", YEAR_MAX)
                        })
                })?,
        ),
        None => None,
    };
    let st = app.read();
    st.check(caller.user.as_deref(), Action::Own)?;
    let list: Vec<Value> = st
        .market
        .reports()
        .filter(|r| {
            st.check(caller.user.as_deref(), Action::ReadReports(&r.company))
                .is_ok()
        })
        .filter(|r| year.is_none_or(|y| r.year == y))
        .map(|r| serde_json::to_value(r).expect("reports serialize"))
        .filter(|r| status.is_none_or(|s| r["status"].as_str() == Some(s)))
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
    let companies: Vec<Value> = companies
        .into_iter()
        .map(|c| named(&st.market, c))
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
        v["companies"] = report
            .companies
            .iter()
            .map(|c| named(&st.market, c))
            .collect();
    }
    Ok(Json(v))
}

/// A company's result with its registered name beside its id (a bureau's spreadsheet needs
/// both; docs/server.md).
fn named(m: &ets_market::Market, c: &ets_compliance::CompanyResult) -> Value {
    let mut v = serde_json::to_value(c).expect("results serialize");
    v["name"] = m.company(&c.company).map(|co| co.name.clone()).into();
    v
}

// ---------------------------------------------------------------------------------------------
// Exchange reads

async fn open_orders(
    AxState(app): AxState<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<Params>,
) -> JsonResult {
    let holder = q.get("holder").ok_or_else(|| {
        bad(
            "missing_field",
            "holder: the account's holder",
            Some("holder"),
        )
    })?;
    let holder = &parse_id_text(holder, "holder")?;
    let st = app.read();
    // An unknown holder is 404 only to those who read every account (as `ReadAccount` of an
    // account that does not exist); anyone else gets the 403 of another's account.
    let Some(id) = st.market.resolve_account(holder) else {
        st.check(caller.user.as_deref(), Action::ReadAudit)?;
        return Err(ApiError::not_found(format!("no account holder {holder}")));
    };
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
    match st.market.exchange() {
        None => json!({"class": class.to_string(), "bids": [], "asks": [], "open": false}),
        Some(e) => {
            let (bids, asks) = e.depth(class, levels);
            // Each level with its orders' ids and open quantities in time priority, which a
            // click-to-trade taker names (`POST /api/orders/{id}/take`); never their accounts.
            let side = |levels: &[ets_exchange::LevelView],
                        side: ets_market::trading::exchange::OrderSide| {
                let orders = e.best_orders(class, side, levels.len());
                levels
                    .iter()
                    .map(|l| {
                        let ids: Vec<Value> = orders
                            .iter()
                            .filter(|o| o.2 == l.price)
                            .map(|o| json!({"id": o.0, "qty": o.3}))
                            .collect();
                        json!({"price": l.price, "qty": l.qty, "orders": l.orders, "order_ids": ids})
                    })
                    .collect::<Vec<_>>()
            };
            json!({
                "class": class.to_string(),
                "open_day": e.open_day(),
                "prev_close": e.prev_close(class),
                "bids": side(&bids, ets_market::trading::exchange::OrderSide::Buy),
                "asks": side(&asks, ets_market::trading::exchange::OrderSide::Sell),
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

/// The schemas of `GET /api/market/days`: `DailyFigures` of `DayBar`s and `MarketDay`s, each
/// field described by `DAY_FIELDS` (docs/exchange.md repeats the same text).
fn daily_figures_schemas() -> Vec<(&'static str, Value)> {
    use ets_market::trading::exchange::DAY_FIELDS;
    let day = |with_class: bool, description: &str| {
        let mut properties = Map::new();
        let mut required = Vec::new();
        for (name, meaning) in DAY_FIELDS {
            let mut schema = match *name {
                "date" => json!({"type": "string", "format": "date"}),
                "class" if !with_class => continue,
                "class" => json!({"type": "string", "pattern": CLASS_PATTERN}),
                "open" | "high" | "low" | "close" => json!({"type": "integer"}),
                _ => json!({"type": "integer", "minimum": 0}),
            };
            schema["description"] = json!(meaning);
            properties.insert((*name).to_string(), schema);
            required.push(*name);
        }
        json!({"type": "object", "description": description, "properties": properties,
               "required": required, "additionalProperties": false})
    };
    vec![
        (
            "DailyFigures",
            json!({"type": "object", "required": ["market", "days", "market_days"], "additionalProperties": false,
            "properties": {
                "market": {"type": ["string", "null"], "description": "The market file's id; null before the exchange opens."},
                "days": {"type": "array", "items": {"$ref": "#/components/schemas/DayBar"},
                         "description": "Each instrument's closed days, by date then instrument (only `?class=`'s when given)."},
                "market_days": {"type": "array", "items": {"$ref": "#/components/schemas/MarketDay"},
                                "description": "The market's closed days: all allowance vintages together (offset credits only in their instruments' days)."},
            }}),
        ),
        (
            "DayBar",
            day(true, "One instrument's day, recorded at the close."),
        ),
        (
            "MarketDay",
            day(
                false,
                "The market's day: the trades of all allowance vintages, the prices from their listed trades.",
            ),
        ),
    ]
}

/// The instruments' days (of `?class=` when given) and the market's days: the document
/// `ets report market --json` prints, fields as `DAY_FIELDS` describes them.
async fn days(AxState(app): AxState<AppState>, Query(q): Query<Params>) -> JsonResult {
    let class = class_query(&q)?;
    let st = app.read();
    Ok(Json(match st.market.exchange() {
        Some(e) => serde_json::to_value(e.daily_figures(class)).expect("figures serialize"),
        None => json!({"market": null, "days": [], "market_days": []}),
    }))
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
