//! The dashboard: server-rendered pages in Chinese and English, for the public (market data,
//! published compliance) and for each role (regulator and auditor, company representative,
//! verifier, exchange member).
//!
//! Pages are HTML made with `maud` (which escapes everything), with inline CSS and charts drawn
//! as inline SVG here in Rust: no JavaScript, nothing fetched from elsewhere. Every page and every
//! piece of data on it is decided by [`crate::authz`] through `State::check`, as in the API, and
//! reads come from the API's own JSON builders (`account_detail`, `company_detail`, `book_json`).
//! Every form goes to the writer like an API call: it carries the session's CSRF token and an
//! idempotency key made when the page was rendered, so a double submit takes effect once.
//!
//! Map: [`i18n`] the one translation table; [`charts`] the SVG charts; [`public`] the market
//! overview and the compliance table; [`roles`] the pages and forms of each role; this file the
//! layout, the request context, login, logout, language, and the helpers of forms and numbers.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State as AxState};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use maud::{DOCTYPE, Markup, html};

use crate::access::Role;
use crate::core::{Op, Reply, RequestCtx};
use crate::error::ApiError;
use crate::{App, Audited, Caller, ErrorCode, api, csrf_of, sha256_hex};

mod account;
pub mod charts;
mod desk;
pub mod i18n;
mod public;
mod roles;

pub use i18n::{Lang, province, t};

type Params = HashMap<String, String>;

/// The cookie holding the chosen language.
pub const LANG_COOKIE: &str = "lang";
/// A one-time message for the next page (after a form's redirect).
const FLASH_COOKIE: &str = "ets_flash";

/// The dashboard's routes; merged into [`crate::router`], behind the gate.
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(public::market))
        .route("/compliance", get(public::compliance))
        .route(
            "/compliance/companies.csv",
            get(desk::compliance_companies_csv),
        )
        .route(
            "/compliance/provinces.csv",
            get(desk::compliance_provinces_csv),
        )
        .route("/market/days.csv", get(desk::market_days_csv))
        .route("/holdings.csv", get(desk::holdings_csv))
        .route("/allocations.csv", get(desk::allocations_csv))
        .route("/regulator/users", post(desk::create_user))
        .route("/regulator/day/{what}", post(desk::trading_day))
        .route("/orders/{id}/take", post(desk::take))
        .route("/blocks", post(desk::propose_block))
        .route("/blocks/{id}/{what}", post(desk::decide_block))
        .route("/company/surrenders", post(desk::propose_surrender))
        .route("/lang/{lang}", get(set_lang))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/home", get(home))
        .route("/regulator", get(roles::regulator))
        .route(
            "/regulator/requests/{id}/{decision}",
            post(roles::decide_request),
        )
        .route(
            "/regulator/reports/{company}/{year}/accept",
            post(roles::accept_report),
        )
        .route("/company", get(roles::company))
        .route(
            "/company/instructions/{id}/{decision}",
            post(roles::decide_instruction),
        )
        .route("/verifier", get(roles::verifier))
        .route("/verifier/verifications", post(roles::verify))
        .route("/member", get(roles::member))
        .route("/orders", post(roles::place_order))
        .route("/orders/{id}/cancel", post(roles::cancel_order))
        .route("/password", get(account::form).post(account::change))
        .route("/password/reset", post(account::reset))
        .route("/sessions/revoke-all", post(account::log_out_everywhere))
        .route(STYLESHEET, get(stylesheet))
}

/// The dashboard's one stylesheet, served as a file so that the pages' Content-Security-Policy
/// allows styles from this server only (`style-src 'self'`), no inline style.
pub const STYLESHEET: &str = "/static/ets.css";

async fn stylesheet() -> Response {
    let mut resp = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/css; charset=utf-8"),
        )],
        CSS,
    )
        .into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    resp
}

/// Headers every answer carries (the dashboard's pages set a stricter policy of their own in
/// [`page`]): no MIME sniffing, no framing, no referrer; a JSON answer may not load or run
/// anything if a browser ever renders it.
pub async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    }
    let json = h
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if json && !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
    }
    resp
}

/// The Content-Security-Policy of every dashboard page: nothing but this server's stylesheet
/// and images (the charts are inline SVG, which is markup, not script), forms posting here
/// only, no script at all, no framing.
pub const PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

// ---------------------------------------------------------------------------------------------
// The request context of a page

/// The logged-in user, as the page shows them.
#[derive(Clone, Debug)]
pub struct Who {
    pub name: String,
    pub display: String,
    pub role: Role,
}

/// A one-time message shown at the top of the next page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flash {
    pub ok: bool,
    pub text: String,
}

/// What every page needs to know about its request: language, caller, where it is.
pub struct Ctx {
    pub lang: Lang,
    pub caller: Caller,
    pub who: Option<Who>,
    /// The path of the request.
    pub path: String,
    /// Path and query, for links that come back here.
    pub here: String,
    pub flash: Option<Flash>,
}

impl Ctx {
    pub fn t(&self, key: &str) -> &'static str {
        t(self.lang, key)
    }
    /// The CSRF token of the browser session, if the caller has one.
    pub fn csrf(&self) -> Option<String> {
        self.caller.session.as_deref().map(csrf_of)
    }
    pub fn user(&self) -> Option<&str> {
        self.caller.user.as_deref()
    }
    /// A refusal in the page's language, by its code.
    pub fn message(&self, e: &ApiError) -> String {
        i18n::message(
            self.lang,
            &e.code,
            e.field.as_deref(),
            &e.params,
            &e.message,
        )
    }
    /// A province in the page's language.
    pub fn province(&self, name: &str) -> String {
        province(self.lang, name)
    }
}

impl FromRequestParts<Arc<App>> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Ctx, Response> {
        let caller = parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response())?;
        let lang = crate::cookie(&parts.headers, LANG_COOKIE)
            .and_then(|v| Lang::parse(&v))
            .unwrap_or_default();
        let who = caller.user.as_deref().and_then(|n| {
            app.read().access.user(n).map(|u| Who {
                name: u.name.clone(),
                display: u.display.clone(),
                role: u.role,
            })
        });
        let path = parts.uri.path().to_string();
        let here = parts
            .uri
            .path_and_query()
            .map_or_else(|| path.clone(), |p| p.as_str().to_string());
        let flash = crate::cookie(&parts.headers, FLASH_COOKIE).and_then(|v| decode_flash(&v));
        Ok(Ctx {
            lang,
            caller,
            who,
            path,
            here,
            flash,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Layout and responses

const CSS: &str = r#"
*{box-sizing:border-box}
body{margin:0;font-family:"Noto Sans CJK SC","Source Han Sans SC","PingFang SC","Microsoft YaHei",system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2937;background:#f3f5f8;font-size:15px;line-height:1.5}
a{color:#1d4ed8;text-decoration:none}a:hover{text-decoration:underline}
header.top{display:flex;flex-wrap:wrap;align-items:center;gap:18px;background:#0f3d2e;color:#fff;padding:10px 24px}
header.top a{color:#e6f4ea}
header.top .brand{font-weight:700;font-size:17px;color:#fff;margin-right:12px}
header.top nav{display:flex;gap:16px;flex:1}
header.top .who{display:flex;gap:12px;align-items:center;font-size:14px}
header.top .who form{margin:0}
header.top button{background:transparent;color:#e6f4ea;border:1px solid #6b9e86;border-radius:4px;padding:2px 10px;cursor:pointer;font:inherit}
.lang{border:1px solid #6b9e86;border-radius:4px;padding:1px 8px}
main{max-width:1180px;margin:0 auto;padding:18px 24px 40px}
h1{font-size:22px;margin:6px 0 14px}
h2{font-size:17px;margin:0 0 10px}
.sub{color:#6b7280;font-size:13px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(340px,1fr));gap:16px}
section.card{background:#fff;border:1px solid #e2e8f0;border-radius:8px;padding:14px 16px;margin-bottom:16px;overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{padding:5px 8px;border-bottom:1px solid #edf0f4;text-align:left;vertical-align:top}
th{background:#f8fafc;font-weight:600;color:#475569;white-space:nowrap}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.ask td.p{color:#047857}tr.bid td.p{color:#b91c1c}
tr.nat td{font-weight:600;background:#f8fafc}
.flash{padding:9px 14px;border-radius:6px;margin-bottom:14px}
.flash.ok{background:#ecfdf5;border:1px solid #a7f3d0;color:#065f46}
.flash.err{background:#fef2f2;border:1px solid #fecaca;color:#991b1b}
.tabs{display:flex;flex-wrap:wrap;gap:6px;margin-bottom:12px}
.tabs a{padding:3px 10px;border:1px solid #cbd5e1;border-radius:14px;background:#fff;font-size:13px}
.tabs a.on{background:#0f3d2e;color:#fff;border-color:#0f3d2e}
.stats{display:flex;flex-wrap:wrap;gap:26px;margin-bottom:10px}
.stats div b{display:block;font-size:19px}
.stats div span{color:#6b7280;font-size:12px}
form.inline{display:inline;margin:0}
form.entry{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-end}
form.entry label{display:flex;flex-direction:column;font-size:13px;color:#475569}
input,select,textarea{font:inherit;padding:4px 8px;border:1px solid #cbd5e1;border-radius:4px;background:#fff}
button.go{background:#0f3d2e;color:#fff;border:0;border-radius:4px;padding:6px 14px;cursor:pointer;font:inherit}
button.no{background:#fff;color:#991b1b;border:1px solid #fca5a5;border-radius:4px;padding:3px 10px;cursor:pointer;font:inherit}
button.yes{background:#047857;color:#fff;border:0;border-radius:4px;padding:3px 10px;cursor:pointer;font:inherit}
.login{max-width:380px;margin:30px auto}
.login label{display:block;margin-bottom:10px;font-size:14px}
.login input{width:100%}
.tag{display:inline-block;padding:0 7px;border-radius:9px;font-size:12px;background:#e2e8f0}
.tag.ok{background:#d1fae5;color:#065f46}.tag.warn{background:#fef3c7;color:#92400e}.tag.bad{background:#fee2e2;color:#991b1b}
.blocks{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;color:#475569}
svg text{font-family:inherit}
svg.chart{display:block;max-width:980px}
footer{color:#94a3b8;font-size:12px;text-align:center;padding:10px}
a.download{float:right;font-size:13px;border:1px solid #cbd5e1;border-radius:4px;padding:1px 8px;background:#f8fafc}
.pages{display:flex;flex-wrap:wrap;gap:6px;margin-top:10px;font-size:13px}
.pages a,.pages span{padding:1px 8px;border:1px solid #cbd5e1;border-radius:4px}
.pages span.on{background:#0f3d2e;color:#fff;border-color:#0f3d2e}
.stats div b.buy{color:#b91c1c}.stats div b.sell{color:#047857}
input.qty{width:7em}
"#;

/// The frame of every page: header with navigation, who is logged in and the language switch.
fn layout(ctx: &Ctx, title: &str, body: Markup) -> Markup {
    let other = ctx.lang.other();
    let switch = format!("/lang/{}?back={}", other.code(), pct_encode(&ctx.here));
    html! {
        (DOCTYPE)
        html lang=(ctx.lang.html()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (ctx.t("site.name")) }
                link rel="stylesheet" href=(STYLESHEET);
            }
            body {
                header.top {
                    a.brand href="/" { (ctx.t("site.name")) }
                    nav {
                        a href="/" { (ctx.t("nav.market")) }
                        a href="/compliance" { (ctx.t("nav.compliance")) }
                        @if ctx.who.is_some() {
                            a href="/home" { (ctx.t("nav.home")) }
                        }
                    }
                    div.who {
                        @if let Some(w) = &ctx.who {
                            span { (w.display) " · " (role_name(ctx.lang, w.role)) }
                            @if ctx.caller.session.is_some() {
                                a #account href="/password" { (ctx.t("nav.account")) }
                                form.inline method="post" action="/logout" {
                                    (guard(ctx))
                                    button type="submit" { (ctx.t("nav.logout")) }
                                }
                            }
                        } @else {
                            a href="/login" { (ctx.t("nav.login")) }
                        }
                        a.lang #lang-switch href=(switch) hreflang=(other.html()) { (other.name()) }
                    }
                }
                main {
                    @if let Some(f) = &ctx.flash {
                        div.flash.ok[f.ok].err[!f.ok] role="status" { (f.text) }
                    }
                    h1 { (title) }
                    (body)
                }
                footer { (ctx.t("site.footer")) }
            }
        }
    }
}

/// A complete page with its status; clears the flash message it showed.
pub fn page(ctx: &Ctx, status: StatusCode, title: &str, body: Markup) -> Response {
    let mut resp = (status, Html(layout(ctx, title, body).into_string())).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if ctx.flash.is_some() {
        h.append(header::SET_COOKIE, clear_cookie(FLASH_COOKIE));
    }
    resp
}

/// A page that only says what went wrong.
pub fn error_page(ctx: &Ctx, status: StatusCode, message: &str) -> Response {
    let title = match status.as_u16() {
        400 | 422 => ctx.t("error.bad_request"),
        401 => ctx.t("error.unauthenticated"),
        403 => ctx.t("error.forbidden"),
        404 => ctx.t("error.not_found"),
        _ => ctx.t("error.other"),
    };
    let body = html! {
        section.card {
            p { (message) }
            p { a href="/" { (ctx.t("error.back")) } }
        }
    };
    let mut resp = page(ctx, status, title, body);
    let code = match status.as_u16() {
        400 | 422 => "malformed",
        401 => "unauthenticated",
        403 => "forbidden",
        404 => "not_found",
        _ => "error",
    };
    resp.extensions_mut().insert(ErrorCode(code.into()));
    resp
}

/// The 403 page of a logged-in user on a page that is not theirs.
pub fn forbidden(ctx: &Ctx) -> Response {
    error_page(ctx, StatusCode::FORBIDDEN, ctx.t("error.not_your_page"))
}

/// A refusal of `State::check`: log in when nobody is, 403 otherwise.
pub fn deny(ctx: &Ctx, e: &ApiError) -> Response {
    if e.status == StatusCode::UNAUTHORIZED || ctx.caller.user.is_none() {
        return to_login(ctx);
    }
    error_page(ctx, e.status, &ctx.message(e))
}

/// Sends the browser to the login page, to come back here afterwards.
pub fn to_login(ctx: &Ctx) -> Response {
    see_other(&format!("/login?next={}", pct_encode(&ctx.here)))
}

/// 303 See Other to a path of this site.
pub fn see_other(location: &str) -> Response {
    let value =
        HeaderValue::from_str(&header_safe(location)).unwrap_or(HeaderValue::from_static("/"));
    let mut resp = StatusCode::SEE_OTHER.into_response();
    resp.headers_mut().insert(header::LOCATION, value);
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Only a path of this site: `/…`, not `//host` nor `/\host`, no control characters.
pub fn safe_back(back: &str) -> bool {
    back.starts_with('/')
        && !back.starts_with("//")
        && !back.starts_with("/\\")
        && !back.contains('\\')
        && !back.chars().any(char::is_control)
        && back.len() <= 2000
}

/// The hidden fields of every form: the session's CSRF token and a fresh idempotency key.
pub fn guard(ctx: &Ctx) -> Markup {
    html! {
        @if let Some(csrf) = ctx.csrf() {
            input type="hidden" name="csrf" value=(csrf);
        }
        input type="hidden" name="idem" value=(api::random_token());
    }
}

fn set_cookie(resp: &mut Response, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn clear_cookie(name: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
    ))
    .expect("cookie is ASCII")
}

fn encode_flash(f: &Flash) -> String {
    let mut text = f.text.clone();
    if text.len() > 1200 {
        let mut cut = 1200;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    format!(
        "{}{}",
        if f.ok { '1' } else { '0' },
        hex::encode(text.as_bytes())
    )
}

fn decode_flash(v: &str) -> Option<Flash> {
    let ok = match v.get(..1)? {
        "1" => true,
        "0" => false,
        _ => return None,
    };
    let text = String::from_utf8(hex::decode(&v[1..]).ok()?).ok()?;
    Some(Flash { ok, text })
}

/// Redirects with a message for the next page.
pub fn flash_redirect(ok: bool, text: String, back: &str) -> Response {
    let mut resp = see_other(back);
    let value = encode_flash(&Flash { ok, text });
    set_cookie(
        &mut resp,
        format!("{FLASH_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=120"),
    );
    resp
}

// ---------------------------------------------------------------------------------------------
// Forms

/// A form the gate let through, checked: the caller is logged in, the CSRF field matches the
/// session, and the idempotency key is there. `req` is what the writer records.
pub struct Posted {
    pub fields: Params,
    pub req: RequestCtx,
}

impl Posted {
    pub fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", |v| v.trim())
    }
}

/// Checks a posted form; the `Err` is the response to give instead.
#[allow(clippy::result_large_err)]
pub fn posted(ctx: &Ctx, body: &Bytes) -> Result<Posted, Response> {
    if ctx.caller.user.is_none() {
        return Err(see_other("/login"));
    }
    let fields = parse_form(body);
    // A browser session must prove the form is ours; an API token is not sent by browsers on
    // their own, so it needs no such proof (as in the API).
    if let Some(session) = &ctx.caller.session
        && fields.get("csrf").map(String::as_str) != Some(csrf_of(session).as_str())
    {
        let mut resp = error_page(ctx, StatusCode::FORBIDDEN, ctx.t("error.csrf"));
        resp.extensions_mut().insert(ErrorCode("csrf".into()));
        return Err(resp);
    }
    let idem = fields
        .get("idem")
        .filter(|k| !k.is_empty() && k.len() <= 128 && k.bytes().all(|b| (0x21..0x7f).contains(&b)))
        .cloned()
        .ok_or_else(|| error_page(ctx, StatusCode::BAD_REQUEST, ctx.t("error.idem")))?;
    let req = ctx.caller.ctx("POST", &ctx.path, Some(idem), Some(body));
    Ok(Posted { fields, req })
}

/// After the writer answered a form: back to `back` with its outcome (the writer's message
/// when it refused), marked as recorded so that the gate does not record it again.
pub fn finish(ctx: &Ctx, reply: &Reply, ok_text: String, back: &str) -> Response {
    let mut resp = if reply.status < 300 {
        flash_redirect(true, ok_text, back)
    } else {
        let message = i18n::body_message(ctx.lang, &reply.body);
        flash_redirect(
            false,
            format!("{}: {message}", ctx.t("flash.refused")),
            back,
        )
    };
    resp.extensions_mut().insert(Audited);
    resp
}

/// Parses `application/x-www-form-urlencoded`.
pub fn parse_form(body: &[u8]) -> Params {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (pct_decode(k), pct_decode(v))
        })
        .collect()
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes a query value (everything but unreserved characters and `/`).
pub fn pct_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A path safe in a header: bytes outside visible ASCII percent-encoded.
fn header_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x21..0x7f).contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Numbers and names

/// Fen as yuan with two decimals, by integer arithmetic.
pub fn yuan(fen: i64) -> String {
    let a = fen.unsigned_abs();
    format!(
        "{}{}.{:02}",
        if fen < 0 { "-" } else { "" },
        group(a / 100),
        a % 100
    )
}

/// A price typed in yuan (`48`, `48.5`, `48.50`) as integer fen; no floating point.
pub fn parse_yuan(text: &str) -> Option<i64> {
    let text = text.trim();
    let (int, frac, dot) = match text.split_once('.') {
        Some((i, f)) => (i, f, true),
        None => (text, "", false),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let frac_ok = digits(frac) && frac.len() <= 2 && !(dot && frac.is_empty());
    if int.is_empty() || !digits(int) || !frac_ok || int.len() > 12 {
        return None;
    }
    let int: i64 = int.parse().ok()?;
    let frac: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac.parse().ok()?,
    };
    int.checked_mul(100)?.checked_add(frac)
}

/// Thousands separators: 1,234,567.
pub fn group(n: u64) -> String {
    ets_types::thousands(n)
}

/// An exact ratio as a percentage with one decimal (half up).
pub fn percent(num: u64, den: u64) -> String {
    if den == 0 {
        return "—".into();
    }
    let tenths = (u128::from(num) * 1000 + u128::from(den) / 2) / u128::from(den);
    format!("{}.{}%", tenths / 10, tenths % 10)
}

/// An instant as Beijing date and time.
pub fn when(ms: i64) -> String {
    let (date, minute) = crate::clock::beijing(ms);
    format!("{date} {}", hhmm(minute))
}

pub fn hhmm(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

pub fn role_name(lang: Lang, role: Role) -> &'static str {
    match role {
        Role::Regulator => t(lang, "role.regulator"),
        Role::Bureau => t(lang, "role.bureau"),
        Role::Company => t(lang, "role.company"),
        Role::Verifier => t(lang, "role.verifier"),
        Role::Member => t(lang, "role.member"),
        Role::Auditor => t(lang, "role.auditor"),
    }
}

/// The page of a role.
pub fn role_home(role: Role) -> &'static str {
    match role {
        Role::Regulator | Role::Auditor | Role::Bureau => "/regulator",
        Role::Company => "/company",
        Role::Verifier => "/verifier",
        Role::Member => "/member",
    }
}

// ---------------------------------------------------------------------------------------------
// Language, login, logout, home

async fn set_lang(ctx: Ctx, Path(code): Path<String>, Query(q): Query<Params>) -> Response {
    let Some(lang) = Lang::parse(&code) else {
        return error_page(&ctx, StatusCode::NOT_FOUND, ctx.t("error.no_lang"));
    };
    let back = q
        .get("back")
        .map(String::as_str)
        .filter(|b| safe_back(b))
        .unwrap_or("/");
    let mut resp = see_other(back);
    set_cookie(
        &mut resp,
        format!(
            "{LANG_COOKIE}={}; Path=/; SameSite=Lax; Max-Age=31536000",
            lang.code()
        ),
    );
    resp
}

fn login_page(
    ctx: &Ctx,
    status: StatusCode,
    next: &str,
    username: &str,
    error: Option<&str>,
) -> Response {
    let body = html! {
        section.card.login {
            @if let Some(e) = error {
                div.flash.err role="alert" { (e) }
            }
            @if let Some(w) = &ctx.who {
                p.sub { (ctx.t("login.already")) " " (w.display) " · " a href="/home" { (ctx.t("nav.home")) } }
            }
            form method="post" action="/login" {
                input type="hidden" name="next" value=(next);
                label { (ctx.t("login.username")) br;
                    input type="text" name="username" value=(username) autocomplete="username" required autofocus;
                }
                label { (ctx.t("login.password")) br;
                    input type="password" name="password" autocomplete="current-password" required;
                }
                button.go type="submit" { (ctx.t("login.submit")) }
            }
        }
    };
    page(ctx, status, ctx.t("login.title"), body)
}

async fn login_form(ctx: Ctx, Query(q): Query<Params>) -> Response {
    let next = q
        .get("next")
        .map(String::as_str)
        .filter(|n| safe_back(n))
        .unwrap_or("/home");
    login_page(&ctx, StatusCode::OK, next, "", None)
}

async fn login(AxState(app): AxState<Arc<App>>, ctx: Ctx, body: Bytes) -> Response {
    let f = parse_form(&body);
    let username = f.get("username").map_or("", |s| s.trim()).to_string();
    let password = f.get("password").cloned().unwrap_or_default();
    let next = f
        .get("next")
        .map(String::as_str)
        .filter(|n| safe_back(n) && *n != "/login")
        .unwrap_or("/home")
        .to_string();
    match api::open_session(&app, &ctx.caller, "/login", username.clone(), password).await {
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            let mut resp = login_page(
                &ctx,
                e.status,
                &next,
                &username,
                Some(ctx.t("login.failed")),
            );
            resp.extensions_mut().insert(ErrorCode(e.code));
            resp
        }
        Err(e) => error_page(&ctx, e.status, &ctx.message(&e)),
        Ok((session, reply)) => {
            if reply.status >= 300 {
                let message = i18n::body_message(ctx.lang, &reply.body);
                let status =
                    StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let mut resp = login_page(&ctx, status, &next, &username, Some(&message));
                resp.extensions_mut().insert(Audited);
                return resp;
            }
            let (ttl, must_change) = {
                let st = app.read();
                (
                    st.policy.session_ttl_ms / 1000,
                    st.access.must_change_password(&username),
                )
            };
            // A temporary password leads straight to the form that replaces it.
            let mut resp = see_other(if must_change { "/password" } else { &next });
            resp.headers_mut()
                .append(header::SET_COOKIE, api::session_cookie(&app, &session, ttl));
            resp.extensions_mut().insert(Audited);
            resp
        }
    }
}

async fn logout(AxState(app): AxState<Arc<App>>, ctx: Ctx, body: Bytes) -> Response {
    if ctx.caller.session.is_none() {
        return see_other("/");
    }
    let p = match posted(&ctx, &body) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let session = ctx.caller.session.clone().unwrap_or_default();
    let reply = app
        .submit(
            p.req,
            Op::CloseSession {
                session_sha256: sha256_hex(session.as_bytes()),
            },
        )
        .await;
    let mut resp = see_other("/");
    resp.headers_mut()
        .append(header::SET_COOKIE, api::session_cookie(&app, "", 0));
    let _ = reply;
    resp.extensions_mut().insert(Audited);
    resp
}

async fn home(ctx: Ctx) -> Response {
    match &ctx.who {
        None => see_other("/login"),
        Some(w) => see_other(role_home(w.role)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_parsed_and_shown_exactly() {
        assert_eq!(parse_yuan("48"), Some(4800));
        assert_eq!(parse_yuan("48.5"), Some(4850));
        assert_eq!(parse_yuan(" 48.05 "), Some(4805));
        assert_eq!(parse_yuan("0.01"), Some(1));
        for bad in [
            "",
            ".5",
            "48.",
            "48.005",
            "-1",
            "4e3",
            "1,000",
            "48.5.0",
            "9999999999999",
        ] {
            assert_eq!(parse_yuan(bad), None, "{bad:?}");
        }
        assert_eq!(yuan(4805), "48.05");
        assert_eq!(yuan(123_456_789), "1,234,567.89");
        assert_eq!(yuan(-5), "-0.05");
        assert_eq!(percent(1, 3), "33.3%");
        assert_eq!(percent(2, 3), "66.7%");
        assert_eq!(percent(5, 0), "—");
    }

    #[test]
    fn forms_decode_and_back_links_stay_here() {
        let f = parse_form(b"a=1&b=%E4%B8%AD+x&c=%zz&d");
        assert_eq!(f["a"], "1");
        assert_eq!(f["b"], "中 x");
        assert_eq!(f["c"], "%zz");
        assert_eq!(f["d"], "");
        assert_eq!(
            pct_encode("/company?class=CEA-2021"),
            "/company%3Fclass%3DCEA-2021"
        );
        assert!(safe_back("/company?class=CEA-2021"));
        for bad in [
            "//evil.example",
            "/\\evil",
            "https://evil.example",
            "evil",
            "/a\nb",
        ] {
            assert!(!safe_back(bad), "{bad:?}");
        }
        let f = Flash {
            ok: false,
            text: "拒绝: <b>".into(),
        };
        assert_eq!(decode_flash(&encode_flash(&f)), Some(f));
    }
}
