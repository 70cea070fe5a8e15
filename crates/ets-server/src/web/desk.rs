//! The desks of issue 14: downloads of every dashboard table as CSV, the regulator's forms
//! (users of every role, the trading day) and the company's (take, block trades, surrender
//! instructions), and the market's rules explained beside a refusal.
//!
//! Downloads are the tables of `ets_market::exports` (the CLI's `--csv`), asked with the same
//! check as the page that links to them. Forms go to the writer as the other forms do
//! ([`super::posted`], [`super::finish`]).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxState};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ets_market::exports::{self, Table};
use ets_market::trading::exchange::{Exchange, OrderSide};
use ets_market::{Command, ExchangeCommand};
use ets_types::CompanyId;
use maud::{Markup, html};

use super::{
    Ctx, Params, deny, error_page, finish, flash_redirect, forbidden, group, pct_encode, posted,
    yuan,
};
use crate::App;
use crate::access::{Instruction, Role, User};
use crate::api;
use crate::authz::Action;
use crate::core::{Op, Reply, State};

// ---------------------------------------------------------------------------------------------
// Downloads

/// A table as a CSV download: UTF-8, `attachment` with an ASCII file name.
pub fn csv(name: &str, table: &Table) -> Response {
    let file: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut resp = table.to_csv().into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}.csv\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// A link to a download, marked as such.
pub fn download(ctx: &Ctx, href: &str, id: &str) -> Markup {
    html! {
        a.download id=(id) href=(href) download { "⤓ " (ctx.t("download.csv")) }
    }
}

/// The filters of the compliance pages: a province (English or Chinese, resolved to the data's
/// English name), a status, a page.
pub struct Filters {
    pub province: Option<&'static str>,
    pub status: Option<String>,
    pub page: usize,
}

/// Statuses the compliance filter offers; `at_risk` is any shortfall.
pub const STATUSES: &[&str] = &["at_risk", "complied", "partly", "not_at_all"];

/// Reads the filters of a query; a bureau user's province is the default. `Err` is the message
/// of a misspelt province (with the valid spellings) or an unknown status.
pub fn filters(ctx: &Ctx, st: &State, q: &Params) -> Result<Filters, String> {
    let own = st
        .user(ctx.user())
        .filter(|u| u.role == Role::Bureau)
        .and_then(|u| u.province.clone());
    let province = match q.get("province").map(|p| p.trim()) {
        Some("" | "all") => None,
        Some(p) => Some(ets_types::province_named(p).ok_or_else(|| {
            format!(
                "{} {p:?}. {} {}",
                ctx.t("filter.bad_province"),
                ctx.t("filter.valid_spellings"),
                ets_types::province_spellings()
            )
        })?),
        None => own.as_deref().and_then(ets_types::province_named),
    };
    let status = match q.get("status").map(|s| s.trim()) {
        None | Some("" | "all") => None,
        Some(s) if STATUSES.contains(&s) => Some(s.to_string()),
        Some(s) => {
            return Err(format!(
                "{} {s:?}: {}",
                ctx.t("filter.bad_status"),
                STATUSES.join(", ")
            ));
        }
    };
    let page = q
        .get("page")
        .and_then(|p| p.trim().parse::<usize>().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1);
    Ok(Filters {
        province,
        status,
        page,
    })
}

impl Filters {
    /// Whether a company's result passes the filters.
    pub fn keep(&self, c: &ets_compliance::CompanyResult) -> bool {
        use ets_compliance::Status;
        let status_ok = match self.status.as_deref() {
            None => true,
            Some("at_risk") => c.shortfall_t > 0,
            Some("complied") => c.status == Status::Complied,
            Some("partly") => c.status == Status::Partly,
            Some("not_at_all") => c.status == Status::NotAtAll,
            Some(_) => false,
        };
        status_ok && self.province.is_none_or(|p| c.province == p)
    }
    /// The query of these filters (without the page), for links and downloads.
    pub fn query(&self, plan: &str) -> String {
        let mut q = format!("plan={}", pct_encode(plan));
        q.push_str(&format!(
            "&province={}",
            pct_encode(self.province.unwrap_or("all"))
        ));
        if let Some(s) = &self.status {
            q.push_str(&format!("&status={s}"));
        }
        q
    }
}

/// Whom a compliance report's company rows may be shown to: everyone once the cycle is
/// assessed (they are published), before that those who may read the company.
pub fn may_see_company(
    st: &State,
    ctx: &Ctx,
    report: &ets_market::ComplianceReport,
    c: &CompanyId,
) -> bool {
    report.assessed_on.is_some() || st.check(ctx.user(), Action::ReadCompany(c)).is_ok()
}

fn plan_of(st: &State, q: &Params) -> Option<String> {
    q.get("plan")
        .cloned()
        .or_else(|| super::public::latest_plan(&st.market))
}

/// `GET /compliance/companies.csv?plan=&province=&status=`: the compliance page's companies
/// with its filters, every page.
pub async fn compliance_companies_csv(
    AxState(app): AxState<Arc<App>>,
    ctx: Ctx,
    Query(q): Query<Params>,
) -> Response {
    let st = app.read();
    if let Err(e) = st.check(ctx.user(), Action::PublishedCompliance) {
        return deny(&ctx, &e);
    }
    let Some(plan) = plan_of(&st, &q) else {
        return error_page(&ctx, StatusCode::NOT_FOUND, ctx.t("compliance.no_plan"));
    };
    let report = match st.market.compliance_report(&plan) {
        Ok(r) => r,
        Err(e) => return error_page(&ctx, StatusCode::NOT_FOUND, &e.to_string()),
    };
    let f = match filters(&ctx, &st, &q) {
        Ok(f) => f,
        Err(m) => return error_page(&ctx, StatusCode::BAD_REQUEST, &m),
    };
    let table = exports::compliance_companies(&st.market, &report, |c| {
        f.keep(c) && may_see_company(&st, &ctx, &report, &c.company)
    });
    let mut name = format!("compliance-{plan}");
    if let Some(p) = f.province {
        name.push_str(&format!("-{p}"));
    }
    if let Some(s) = &f.status {
        name.push_str(&format!("-{s}"));
    }
    csv(&name, &table)
}

/// `GET /compliance/provinces.csv?plan=`: the nation's and provinces' totals (public).
pub async fn compliance_provinces_csv(
    AxState(app): AxState<Arc<App>>,
    ctx: Ctx,
    Query(q): Query<Params>,
) -> Response {
    let st = app.read();
    if let Err(e) = st.check(ctx.user(), Action::PublishedCompliance) {
        return deny(&ctx, &e);
    }
    let Some(plan) = plan_of(&st, &q) else {
        return error_page(&ctx, StatusCode::NOT_FOUND, ctx.t("compliance.no_plan"));
    };
    match st.market.compliance_report(&plan) {
        Ok(r) => csv(
            &format!("provinces-{plan}"),
            &exports::compliance_totals(&r, |_| true),
        ),
        Err(e) => error_page(&ctx, StatusCode::NOT_FOUND, &e.to_string()),
    }
}

/// `GET /market/days.csv`: the market's daily figures (public, as the market page).
pub async fn market_days_csv(AxState(app): AxState<Arc<App>>, ctx: Ctx) -> Response {
    let st = app.read();
    if let Err(e) = st.check(ctx.user(), Action::MarketData) {
        return deny(&ctx, &e);
    }
    match st.market.exchange() {
        Some(ex) => csv("market-days", &exports::market_days(ex)),
        None => error_page(&ctx, StatusCode::NOT_FOUND, ctx.t("market.closed")),
    }
}

/// The account holder a download is about: the asked one, else the caller's own.
fn own_holder(st: &State, ctx: &Ctx) -> Option<String> {
    let u = st.user(ctx.user())?;
    match u.role {
        Role::Company => u.company.as_ref().map(ToString::to_string),
        Role::Member => u.holder.clone(),
        _ => None,
    }
}

/// `GET /holdings.csv?holder=`: an account's holdings, for whoever may read the account.
pub async fn holdings_csv(
    AxState(app): AxState<Arc<App>>,
    ctx: Ctx,
    Query(q): Query<Params>,
) -> Response {
    let st = app.read();
    let Some(holder) = q
        .get("holder")
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| own_holder(&st, &ctx))
    else {
        return if ctx.user().is_none() {
            super::to_login(&ctx)
        } else {
            error_page(&ctx, StatusCode::BAD_REQUEST, ctx.t("download.no_holder"))
        };
    };
    // Whether the holder exists is told only to those who may read it (as the API does).
    let Some(account) = st.market.resolve_account(&holder) else {
        if let Err(e) = st.check(ctx.user(), Action::ReadAudit) {
            return deny(&ctx, &e);
        }
        return error_page(&ctx, StatusCode::NOT_FOUND, &holder);
    };
    if let Err(e) = st.check(ctx.user(), Action::ReadAccount(account)) {
        return deny(&ctx, &e);
    }
    csv(
        &format!("holdings-{holder}"),
        &exports::holdings(&st.market, account),
    )
}

/// `GET /allocations.csv?company=&plan=`: each unit's allocation with its inputs and factors.
pub async fn allocations_csv(
    AxState(app): AxState<Arc<App>>,
    ctx: Ctx,
    Query(q): Query<Params>,
) -> Response {
    let st = app.read();
    let company = q
        .get("company")
        .map(|c| c.trim().to_string())
        .filter(|c| !c.is_empty())
        .or_else(|| {
            st.user(ctx.user())
                .and_then(|u| u.company.as_ref().map(ToString::to_string))
        });
    let Some(company) = company else {
        return if ctx.user().is_none() {
            super::to_login(&ctx)
        } else {
            error_page(&ctx, StatusCode::BAD_REQUEST, ctx.t("download.no_company"))
        };
    };
    let Ok(id) = CompanyId::parse(&company) else {
        return error_page(&ctx, StatusCode::BAD_REQUEST, ctx.t("users.bad_company"));
    };
    let plan = q.get("plan").map(String::as_str);
    match crate::allocation_api::of_company(&st, &ctx.caller, plan, &id) {
        Ok(sheets) => csv(
            &format!("allocations-{company}"),
            &exports::allocations(&sheets),
        ),
        Err(e) => deny(&ctx, &e),
    }
}

// ---------------------------------------------------------------------------------------------
// The regulator's desk: users and the trading day

/// The users and the form that creates one (the regulator only; the auditor sees the list).
pub fn users_card(ctx: &Ctx, st: &State) -> Markup {
    if st.check(ctx.user(), Action::ReadAudit).is_err() {
        return html! {};
    }
    let may_create = st.check(ctx.user(), Action::Administer).is_ok();
    let users: Vec<&User> = st.access.users().collect();
    html! {
        section.card #users {
            h2 { (ctx.t("users.title")) }
            @if may_create {
                form.entry #user-form method="post" action="/regulator/users" {
                    (super::guard(ctx))
                    label { (ctx.t("users.name")) input type="text" name="name" required size="14"; }
                    label { (ctx.t("users.display")) input type="text" name="display" required size="16"; }
                    label { (ctx.t("users.password")) input type="password" name="password" required minlength="12" autocomplete="new-password" size="14"; }
                    label { (ctx.t("users.role"))
                        select name="role" {
                            @for r in Role::ALL {
                                option value=(r.as_str()) { (super::role_name(ctx.lang, r)) }
                            }
                        }
                    }
                    label { (ctx.t("users.province")) input type="text" name="province" list="provinces" size="10" placeholder=(ctx.t("users.province_hint")); }
                    label { (ctx.t("users.company")) input type="text" name="company" size="9" placeholder="SX0001"; }
                    label { (ctx.t("users.holder")) input type="text" name="holder" size="10"; }
                    button.go type="submit" { (ctx.t("users.create")) }
                    datalist #provinces {
                        @for (en, zh) in ets_types::PROVINCES { option value=(if ctx.lang == super::Lang::Zh { *zh } else { *en }) {} }
                    }
                }
                p.sub { (ctx.t("users.note")) }
            }
            table #user-list {
                thead { tr {
                    th { (ctx.t("users.name")) } th { (ctx.t("users.display")) } th { (ctx.t("users.role")) }
                    th { (ctx.t("users.scope")) } th { (ctx.t("users.active")) }
                } }
                tbody {
                    @for u in &users {
                        tr data-user=(u.name) {
                            td { (u.name) } td { (u.display) } td { (super::role_name(ctx.lang, u.role)) }
                            td {
                                @if let Some(p) = &u.province { (ctx.province(p)) }
                                @if let Some(c) = &u.company { (c.to_string()) }
                                @if let Some(h) = &u.holder { (h) }
                            }
                            td { @if u.active { "✓" } @else { "—" } }
                        }
                    }
                }
            }
        }
    }
}

/// `POST /regulator/users`: a user of any role; a bureau's province in English or Chinese
/// (a misspelling refused with the valid spellings), a representative's company must exist.
pub async fn create_user(AxState(app): AxState<Arc<App>>, ctx: Ctx, body: Bytes) -> Response {
    let p = match posted(&ctx, &body) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let back = "/regulator#users";
    if app.read().check(ctx.user(), Action::Administer).is_err() {
        return forbidden(&ctx);
    }
    let refuse = |text: String| flash_redirect(false, text, back);
    let Some(role) = Role::ALL
        .into_iter()
        .find(|r| r.as_str() == p.field("role"))
    else {
        return refuse(format!(
            "{}: {:?}",
            ctx.t("users.bad_role"),
            p.field("role")
        ));
    };
    let opt = |name: &str| Some(p.field(name).to_string()).filter(|v| !v.is_empty());
    let mut province = None;
    let mut company = None;
    let mut holder = None;
    match role {
        Role::Bureau => {
            let text = p.field("province");
            match ets_types::province_named(text) {
                Some(en) => province = Some(en.to_string()),
                None => {
                    return refuse(format!(
                        "{} {text:?}. {} {}",
                        ctx.t("filter.bad_province"),
                        ctx.t("filter.valid_spellings"),
                        ets_types::province_spellings()
                    ));
                }
            }
        }
        Role::Company => {
            let text = p.field("company");
            match CompanyId::parse(text) {
                Ok(c) if app.read().market.company(&c).is_some() => company = Some(c),
                Ok(_) => {
                    return refuse(format!("{}: {text:?}", ctx.t("users.no_company")));
                }
                Err(_) => return refuse(format!("{}: {text:?}", ctx.t("users.bad_company"))),
            }
        }
        Role::Member => holder = opt("holder"),
        _ => {}
    }
    let password = p.fields.get("password").cloned().unwrap_or_default();
    if let Err(e) = api::check_password(&password) {
        return refuse(ctx.message(&e));
    }
    let hashed = match app.hash(move || api::hash_password(&password)).await {
        Ok(Ok(h)) => h,
        Ok(Err(e)) | Err(e) => return refuse(ctx.message(&e)),
    };
    let name = p.field("name").to_string();
    let user = User {
        name: name.clone(),
        display: p.field("display").to_string(),
        role,
        province,
        company,
        holder,
        password: hashed,
        active: true,
    };
    let reply = app.submit(p.req, Op::CreateUser { user }).await;
    finish(
        &ctx,
        &reply,
        format!("{} {name}", ctx.t("flash.user_created")),
        back,
    )
}

/// The trading day: which is open, and the regulator's buttons that open and close it.
pub fn day_card(ctx: &Ctx, st: &State) -> Markup {
    let Some(ex) = st.market.exchange() else {
        return html! {};
    };
    let open = ex.open_day();
    let may = st
        .check(
            ctx.user(),
            Action::Command(&Command::Exchange(ExchangeCommand::OpenDay)),
        )
        .is_ok();
    html! {
        section.card #day {
            h2 { (ctx.t("day.title")) }
            div.stats {
                div { span { (ctx.t("market.day")) } b #open-day { (open.map_or_else(|| ctx.t("market.day_closed").to_string(), |d| d.to_string())) } }
                div { span { (ctx.t("day.hours")) } b { (hours(&ex.rules.calendar.sessions().listed)) } }
            }
            @if may {
                @if open.is_some() {
                    form.inline #close-day method="post" action="/regulator/day/close" {
                        (super::guard(ctx)) button.no type="submit" { (ctx.t("day.close")) }
                    }
                } @else {
                    form.inline #open-day-form method="post" action="/regulator/day/open" {
                        (super::guard(ctx)) button.go type="submit" { (ctx.t("day.open")) }
                    }
                }
                p.sub { (ctx.t("day.note")) }
            }
        }
    }
}

/// `POST /regulator/day/{open|close}`.
pub async fn trading_day(
    AxState(app): AxState<Arc<App>>,
    ctx: Ctx,
    Path(what): Path<String>,
    body: Bytes,
) -> Response {
    let p = match posted(&ctx, &body) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let (command, done) = match what.as_str() {
        "open" => (ExchangeCommand::OpenDay, ctx.t("flash.day_opened")),
        "close" => (ExchangeCommand::CloseDay, ctx.t("flash.day_closed")),
        _ => return error_page(&ctx, StatusCode::NOT_FOUND, ctx.t("error.no_page")),
    };
    let reply = app
        .submit(
            p.req,
            Op::Command {
                reason: format!("{what} the trading day on the dashboard"),
                command: Command::Exchange(command),
            },
        )
        .await;
    finish_explained(&ctx, &app, &reply, done.to_string(), "/regulator#day")
}

// ---------------------------------------------------------------------------------------------
// The company's desk

/// Windows as `09:30–11:30, 13:00–15:00`.
fn hours(windows: &[ets_exchange::Window]) -> String {
    windows
        .iter()
        .map(|w| format!("{}–{}", super::hhmm(w.start), super::hhmm(w.end)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The market's rule behind a refusal, in the page's language, when there is one to tell.
pub fn rule_hint(ctx: &Ctx, ex: Option<&Exchange>, code: &str) -> Option<String> {
    let ex = ex?;
    let r = &ex.rules;
    let listed = hours(&r.calendar.sessions().listed);
    let block = hours(&r.calendar.sessions().block);
    let fill = |key: &str| {
        ctx.t(key)
            .replace("{listed_below}", &group(r.limits.listed_below))
            .replace("{block_at_least}", &group(r.limits.block_at_least))
            .replace("{listed_hours}", &listed)
            .replace("{block_hours}", &block)
            .replace("{listed_band}", &bps(r.listed_band_bps))
            .replace("{block_band}", &bps(r.block_band_bps))
    };
    let key = match code {
        "listed_size_limit" => "hint.listed_size_limit",
        "block_size_limit" => "hint.block_size_limit",
        "outside_listed_session" | "outside_block_session" | "closed_day" => "hint.sessions",
        "day_not_open" => "hint.day_not_open",
        "outside_band" => "hint.band",
        _ => return None,
    };
    Some(fill(key))
}

/// Basis points as a percentage (`1000` → `10%`, `150` → `1.5%`), exactly.
fn bps(b: u32) -> String {
    let frac = format!("{:02}", b % 100);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{}%", b / 100)
    } else {
        format!("{}.{frac}%", b / 100)
    }
}

/// [`finish`], with the market's rule added to a refusal that has one.
pub fn finish_explained(
    ctx: &Ctx,
    app: &App,
    reply: &Reply,
    ok_text: String,
    back: &str,
) -> Response {
    let hint = (reply.status >= 300)
        .then(|| {
            let code = reply.body["code"].as_str().unwrap_or("");
            rule_hint(ctx, app.read().market.exchange(), code)
        })
        .flatten();
    let mut resp = finish(ctx, reply, ok_text, back);
    if let Some(hint) = hint {
        // The flash already set by `finish`, replaced with the same text and the rule.
        let message = super::i18n::body_message(ctx.lang, &reply.body);
        let text = format!("{}: {message} — {hint}", ctx.t("flash.refused"));
        let mut again = flash_redirect(false, text, back);
        again.extensions_mut().insert(crate::Audited);
        resp = again;
    }
    resp
}

/// The account the caller trades for and its page.
fn trading_holder(st: &State, ctx: &Ctx) -> Option<(String, &'static str)> {
    let u = st.user(ctx.user())?;
    match u.role {
        Role::Company => u.company.as_ref().map(|c| (c.to_string(), "/company")),
        Role::Member => u.holder.clone().map(|h| (h, "/member")),
        _ => None,
    }
}

fn back_to(home: &str, class: &str, anchor: &str) -> String {
    match api::parse_class(class) {
        Ok(c) => format!("{home}?class={}#{anchor}", pct_encode(&c.to_string())),
        Err(_) => format!("{home}#{anchor}"),
    }
}

/// `POST /orders/{id}/take`: click-to-trade, at the listed order's price.
pub async fn take(
    AxState(app): AxState<Arc<App>>,
    ctx: Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let p = match posted(&ctx, &body) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let holder = trading_holder(&app.read(), &ctx);
    let Some((holder, home)) = holder else {
        return forbidden(&ctx);
    };
    let back = back_to(home, p.field("class"), "trade");
    let Ok(order) = id.parse::<u64>() else {
        return error_page(&ctx, StatusCode::NOT_FOUND, ctx.t("error.no_page"));
    };
    let qty = match super::roles::positive_qty(&ctx, &p, "qty", &back) {
        Ok(q) => q,
        Err(resp) => return resp,
    };
    let minute = crate::clock::beijing(ctx.caller.at).1;
    let command = Command::Exchange(ExchangeCommand::Take {
        holder,
        order,
        qty,
        minute,
    });
    let reply = app
        .submit(
            p.req,
            Op::Command {
                reason: "take".into(),
                command,
            },
        )
        .await;
    let text = format!("{} #{order}: {} t", ctx.t("flash.taken"), group(qty),);
    finish_explained(&ctx, &app, &reply, text, &back)
}

/// `POST /blocks`: a block-trade proposal to a named counterparty, the price in yuan.
pub async fn propose_block(AxState(app): AxState<Arc<App>>, ctx: Ctx, body: Bytes) -> Response {
    let p = match posted(&ctx, &body) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let holder = trading_holder(&app.read(), &ctx);
    let Some((holder, home)) = holder else {
        return forbidden(&ctx);
    };
    let back = back_to(home, p.field("class"), "blocks");
    let class = match api::parse_class(p.field("class")) {
        Ok(c) => c,
        Err(e) => return flash_redirect(false, ctx.message(&e), &back),
    };
    let (side, price, qty) = match super::roles::order_terms(&ctx, &p, &back) {
        Ok(t) => t,
        Err(resp) => return resp,
    };
    let counterparty = p.field("counterparty").to_string();
    if counterparty.is_empty() {
        return flash_redirect(false, ctx.t("block.no_counterparty").to_string(), &back);
    }
    let minute = crate::clock::beijing(ctx.caller.at).1;
    let command = Command::Exchange(ExchangeCommand::ProposeBlock {
        holder,
        counterparty: counterparty.clone(),
        class,
        side,
        price,
        qty,
        minute,
    });
    let reply = app
        .submit(
            p.req,
            Op::Command {
                reason: "block proposal".into(),
                command,
            },
        )
        .await;
    let text = format!(
        "{} #{}: {} {} t {class} @ {} → {counterparty}",
        ctx.t("flash.block_proposed"),
        reply.body["id"],
        side_name(&ctx, side),
        group(qty),
        yuan(price),
    );
    finish_explained(&ctx, &app, &reply, text, &back)
}

fn side_name(ctx: &Ctx, side: OrderSide) -> &'static str {
    match side {
        OrderSide::Buy => ctx.t("order.buy"),
        OrderSide::Sell => ctx.t("order.sell"),
    }
}

/// `POST /blocks/{id}/{accept|withdraw}`.
pub async fn decide_block(
    AxState(app): AxState<Arc<App>>,
    ctx: Ctx,
    Path((id, what)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let p = match posted(&ctx, &body) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let holder = trading_holder(&app.read(), &ctx);
    let Some((holder, home)) = holder else {
        return forbidden(&ctx);
    };
    let back = back_to(home, p.field("class"), "blocks");
    let Ok(proposal) = id.parse::<u64>() else {
        return error_page(&ctx, StatusCode::NOT_FOUND, ctx.t("error.no_page"));
    };
    let minute = crate::clock::beijing(ctx.caller.at).1;
    let (command, done) = match what.as_str() {
        "accept" => (
            ExchangeCommand::AcceptBlock {
                holder,
                proposal,
                minute,
            },
            ctx.t("flash.block_accepted"),
        ),
        "withdraw" => (
            ExchangeCommand::WithdrawBlock { holder, proposal },
            ctx.t("flash.block_withdrawn"),
        ),
        _ => return error_page(&ctx, StatusCode::NOT_FOUND, ctx.t("error.no_page")),
    };
    let reply = app
        .submit(
            p.req,
            Op::Command {
                reason: format!("{what} block proposal"),
                command: Command::Exchange(command),
            },
        )
        .await;
    finish_explained(&ctx, &app, &reply, format!("#{proposal} {done}"), &back)
}

/// `POST /company/surrenders`: a surrender instruction, which a second representative
/// approves; refused at once when the plan's state does not allow it.
pub async fn propose_surrender(AxState(app): AxState<Arc<App>>, ctx: Ctx, body: Bytes) -> Response {
    let p = match posted(&ctx, &body) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let back = "/company#position";
    let company = app
        .read()
        .user(ctx.user())
        .filter(|u| u.role == Role::Company)
        .and_then(|u| u.company.clone());
    let Some(company) = company else {
        return forbidden(&ctx);
    };
    let class = match api::parse_class(p.field("class")) {
        Ok(c) => c,
        Err(e) => return flash_redirect(false, ctx.message(&e), back),
    };
    let Some(quantity) = p.field("quantity").parse::<u64>().ok().filter(|q| *q > 0) else {
        return flash_redirect(
            false,
            format!("{}: {:?}", ctx.t("order.bad_qty"), p.field("quantity")),
            back,
        );
    };
    let plan = p.field("plan").to_string();
    let instruction = Instruction::Command {
        command: Command::Surrender {
            plan: plan.clone(),
            company: company.clone(),
            class,
            quantity,
        },
    };
    let reply = app
        .submit(
            p.req,
            Op::ProposeInstruction {
                company,
                instruction,
            },
        )
        .await;
    let text = format!(
        "{} #{}: {} t {class} · {plan}. {}",
        ctx.t("flash.surrender_proposed"),
        reply.body["instruction"]["id"],
        group(quantity),
        ctx.t("approvals.needs_other"),
    );
    finish(&ctx, &reply, text, "/company#approvals")
}

/// The company's position per plan, newest first: obligation, surrendered, what is still to
/// buy (or may be sold), and the surrender instruction form.
pub fn position_card(ctx: &Ctx, detail: &serde_json::Value, may_instruct: bool) -> Markup {
    let mut plans = detail["plans"].as_array().cloned().unwrap_or_default();
    plans.reverse();
    let classes: Vec<String> = detail["holdings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h["class"].as_str())
        .filter(|c| c.starts_with("CEA-"))
        .map(str::to_string)
        .collect();
    let t = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
    html! {
        section.card #position {
            h2 { (ctx.t("position.title")) }
            @if plans.is_empty() {
                p.sub { (ctx.t("compliance.no_plan")) }
            }
            @for p in &plans {
                @let plan = p["plan"].as_str().unwrap_or("");
                @let pos = &p["position"];
                @let eligible = t(&p["eligible_holdings_t"]);
                div.plan data-plan=(plan) {
                    h2 { (plan) }
                    @if p["exempted"] == true {
                        p { (ctx.t("obligation.exempted")) }
                    } @else if pos.is_null() {
                        p.sub { (ctx.t("obligation.pending")) " · " (ctx.t("company.eligible")) " " (group(eligible)) " t" }
                    } @else {
                        @let shortfall = t(&pos["shortfall_t"]);
                        div.stats {
                            div { span { (ctx.t("compliance.obligation")) } b.obligation { (group(t(&pos["obligation_t"]))) " t" } }
                            div { span { (ctx.t("compliance.surrendered")) } b.surrendered { (group(t(&pos["surrendered_t"]))) " t" } }
                            div { span { (ctx.t("compliance.shortfall")) } b.shortfall { (group(shortfall)) " t" } }
                            div { span { (ctx.t("company.eligible")) } b.eligible { (group(eligible)) " t" } }
                            @if shortfall > eligible {
                                div { span { (ctx.t("position.to_buy")) } b.buy.to-buy { (group(shortfall - eligible)) " t" } }
                            } @else {
                                div { span { (ctx.t("position.may_sell")) } b.sell.may-sell { (group(eligible - shortfall)) " t" } }
                            }
                        }
                        @if may_instruct && shortfall > 0 && !classes.is_empty() {
                            form.entry.surrender method="post" action="/company/surrenders" {
                                (super::guard(ctx))
                                input type="hidden" name="plan" value=(plan);
                                label { (ctx.t("order.class"))
                                    select name="class" { @for c in &classes { option value=(c) { (c) } } }
                                }
                                label { (ctx.t("position.quantity"))
                                    input.qty type="number" name="quantity" min="1" step="1" value=(shortfall.min(eligible).max(1)) required;
                                }
                                button.go type="submit" { (ctx.t("position.surrender")) }
                            }
                            p.sub { (ctx.t("position.four_eyes")) }
                        }
                    }
                }
            }
        }
    }
}

/// The book's orders a trader may take (not its own), with their ids: a quantity and a button
/// each; an ask is bought, a bid sold.
pub fn take_table(ctx: &Ctx, book: &serde_json::Value, own: &[u64]) -> Markup {
    let class = book["class"].as_str().unwrap_or("");
    let mut rows = Vec::new();
    for (side, buy) in [("asks", true), ("bids", false)] {
        for l in book[side].as_array().into_iter().flatten() {
            for o in l["order_ids"].as_array().into_iter().flatten() {
                let id = o["id"].as_u64().unwrap_or(0);
                if !own.contains(&id) {
                    rows.push((
                        id,
                        buy,
                        l["price"].as_i64().unwrap_or(0),
                        o["qty"].as_u64().unwrap_or(0),
                    ));
                }
            }
        }
    }
    html! {
        h2 { (ctx.t("take.title")) }
        @if rows.is_empty() {
            p.sub { (ctx.t("take.none")) }
        } @else {
            table #take {
                thead { tr {
                    th.n { (ctx.t("take.order")) } th { (ctx.t("order.side")) } th.n { (ctx.t("book.price")) }
                    th.n { (ctx.t("orders.open_qty")) } th { }
                } }
                tbody {
                    @for (id, buy, price, qty) in &rows {
                        tr data-order=(id) {
                            td.n { "#" (id) }
                            td { @if *buy { (ctx.t("take.buy")) } @else { (ctx.t("take.sell")) } }
                            td.n { (yuan(*price)) }
                            td.n { (group(*qty)) }
                            td {
                                form.inline method="post" action=(format!("/orders/{id}/take")) {
                                    (super::guard(ctx))
                                    input type="hidden" name="class" value=(class);
                                    input.qty type="number" name="qty" min="1" step="1" value=(qty) required;
                                    " "
                                    button.yes type="submit" { @if *buy { (ctx.t("take.buy")) } @else { (ctx.t("take.sell")) } }
                                }
                            }
                        }
                    }
                }
            }
            p.sub { (ctx.t("take.note")) }
        }
    }
}

/// Block trades: the proposal form and the open proposals that the account made or that name
/// it (accept those addressed to it, withdraw its own).
pub fn blocks_card(
    ctx: &Ctx,
    st: &State,
    account: Option<ets_types::AccountId>,
    offered: &[ets_types::UnitClass],
    class: Option<ets_types::UnitClass>,
) -> Markup {
    let Some(ex) = st.market.exchange() else {
        return html! {};
    };
    let proposals = account.map(|a| ex.block_proposals(a)).unwrap_or_default();
    let holder = |a: ets_types::AccountId| {
        st.market
            .registry()
            .account(a)
            .map_or_else(|| a.to_string(), |x| x.holder.clone())
    };
    let r = &ex.rules;
    html! {
        section.card #blocks {
            h2 { (ctx.t("block.title")) }
            p.sub { (ctx.t("block.rules").replace("{min}", &group(r.limits.block_at_least)).replace("{hours}", &hours(&r.calendar.sessions().block))) }
            form.entry #block-form method="post" action="/blocks" {
                (super::guard(ctx))
                label { (ctx.t("block.counterparty")) input type="text" name="counterparty" required size="12" placeholder="trader-1"; }
                label { (ctx.t("order.class"))
                    select name="class" {
                        @for c in offered { option value=(c.to_string()) selected[Some(*c) == class] { (c.to_string()) } }
                    }
                }
                label { (ctx.t("order.side"))
                    select name="side" {
                        option value="buy" { (ctx.t("order.buy")) }
                        option value="sell" { (ctx.t("order.sell")) }
                    }
                }
                label { (ctx.t("order.price")) input type="text" name="price" inputmode="decimal" pattern="[0-9]+(\\.[0-9]{1,2})?" size="8" placeholder="48.00" required; }
                label { (ctx.t("order.qty")) input type="number" name="qty" min="1" step="1" size="9" required; }
                button.go type="submit" { (ctx.t("block.propose")) }
            }
            @if proposals.is_empty() {
                p.sub { (ctx.t("block.none")) }
            } @else {
                table #proposals {
                    thead { tr {
                        th.n { "#" } th { (ctx.t("block.from")) } th { (ctx.t("block.to")) } th { (ctx.t("order.class")) }
                        th { (ctx.t("block.proposer_side")) } th.n { (ctx.t("book.price")) } th.n { (ctx.t("book.qty")) } th { }
                    } }
                    tbody {
                        @for b in &proposals {
                            tr data-proposal=(b.id) {
                                td.n { (b.id) }
                                td { (holder(b.proposer)) }
                                td { (holder(b.counterparty)) }
                                td { (b.class.to_string()) }
                                td { (side_name(ctx, b.side)) }
                                td.n { (yuan(b.price)) }
                                td.n { (group(b.qty)) }
                                td {
                                    @let (what, label, button) = if Some(b.counterparty) == account { ("accept", "block.accept", "yes") } else { ("withdraw", "block.withdraw", "no") };
                                    form.inline method="post" action=(format!("/blocks/{}/{what}", b.id)) {
                                        (super::guard(ctx))
                                        input type="hidden" name="class" value=(b.class.to_string());
                                        button class=(button) type="submit" { (ctx.t(label)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
