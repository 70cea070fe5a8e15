//! The pages of each role and their forms: regulator (and auditor, read-only; a provincial
//! bureau sees its province), company representative, verifier, exchange member.
//!
//! A page first asks `State::check` whether the caller may see it, then asks again for every
//! piece of data it shows; a form goes to the writer, which authorises it once more.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State as AxState};
use axum::http::StatusCode;
use axum::response::Response;
use ets_market::trading::exchange::{OrderSide, Tif};
use ets_market::{Command, ExchangeCommand, Stage, VerificationInput};
use ets_types::{AccountId, CompanyId, UnitClass};
use maud::{Markup, html};
use serde_json::Value;

use super::public::{
    book_table, chosen_class, class_tabs, classes, completion_chart, latest_plan, plan_tabs,
    status_tag, totals_table,
};
use super::{
    Ctx, Params, Posted, deny, error_page, finish, flash_redirect, forbidden, group, guard, page,
    parse_yuan, pct_encode, posted, to_login, when, yuan,
};
use crate::App;
use crate::access::{Applicant, Instruction, InstructionStatus, RequestStatus, Role};
use crate::api;
use crate::authz::Action;
use crate::core::{Op, State};
use crate::error::ApiError;

/// The first refusal of a role page: nobody logged in goes to the login page, anyone else who
/// may not see it gets the 403 page.
fn refuse(ctx: &Ctx, e: &ApiError) -> Response {
    if ctx.caller.user.is_none() || e.status == StatusCode::UNAUTHORIZED {
        to_login(ctx)
    } else {
        forbidden(ctx)
    }
}

/// A role's own page: nobody logged in goes to the login page, another role gets the 403 page
/// (the `Err` is that page, as in `posted`).
#[allow(clippy::result_large_err)]
fn own_page(ctx: &Ctx, role: Role) -> Result<&super::Who, Response> {
    match &ctx.who {
        None => Err(to_login(ctx)),
        Some(who) if who.role != role => Err(forbidden(ctx)),
        Some(who) => Ok(who),
    }
}

fn report_status(ctx: &Ctx, s: &str) -> Markup {
    let (class, key) = match s {
        "draft" => ("", "report.draft"),
        "submitted" => ("warn", "report.submitted"),
        "verified" => ("warn", "report.verified"),
        "accepted" => ("ok", "report.accepted"),
        _ => return html! { span.tag { (s) } },
    };
    html! { span class=(format!("tag {class}")) { (ctx.t(key)) } }
}

fn opt_date(v: &Value) -> String {
    v.as_str().map_or_else(|| "—".to_string(), str::to_string)
}

fn tonnes(v: &Value) -> String {
    v.as_u64().map_or_else(|| "—".to_string(), group)
}

// ---------------------------------------------------------------------------------------------
// Regulator, auditor, bureau

pub async fn regulator(
    AxState(app): AxState<Arc<App>>,
    ctx: Ctx,
    Query(q): Query<Params>,
) -> Response {
    let st = app.read();
    if let Err(e) = st.check(ctx.user(), Action::Oversight) {
        return refuse(&ctx, &e);
    }
    let user = st.user(ctx.user());
    // A provincial bureau sees its province, as in `GET /api/compliance/{plan}`.
    let province = user
        .filter(|u| u.role == Role::Bureau)
        .and_then(|u| u.province.clone());
    let title = ctx.t("regulator.title");
    let plan = q.get("plan").cloned().or_else(|| latest_plan(&st.market));
    let report = match &plan {
        Some(p) => match st.market.compliance_report(p) {
            Ok(r) => Some(r),
            Err(e) => return error_page(&ctx, StatusCode::NOT_FOUND, &e.to_string()),
        },
        None => None,
    };
    let body = html! {
        @if ctx.who.as_ref().is_some_and(|w| w.role == Role::Auditor) {
            p.sub { (ctx.t("regulator.read_only")) }
        }
        @if let Some(p) = &province {
            p.sub { (ctx.t("regulator.province_only")) " " (ctx.province(p)) }
        }
        @match (&plan, &report) {
            (Some(plan), Some(report)) => {
                (plan_tabs(&st, "/regulator", plan))
                (progress(&ctx, &st, report, province.as_deref()))
            }
            _ => { section.card { p { (ctx.t("compliance.no_plan")) } } }
        }
        (super::desk::day_card(&ctx, &st))
        (allocation_totals(&ctx, &st, province.as_deref()))
        (verification_queue(&ctx, &st))
        (super::desk::users_card(&ctx, &st))
        @if st.check(ctx.user(), Action::ReadAudit).is_ok() {
            (account_requests(&ctx, &st))
        }
    };
    page(&ctx, StatusCode::OK, title, body)
}

fn progress(
    ctx: &Ctx,
    st: &State,
    report: &ets_market::ComplianceReport,
    province: Option<&str>,
) -> Markup {
    let provinces: Vec<&ets_compliance::Totals> = report
        .provinces
        .iter()
        .filter(|t| province.is_none_or(|p| t.name == p))
        .collect();
    let mut at_risk: Vec<&ets_compliance::CompanyResult> = report
        .companies
        .iter()
        .filter(|c| c.shortfall_t > 0)
        .filter(|c| {
            st.check(ctx.user(), Action::ReadCompany(&c.company))
                .is_ok()
        })
        .collect();
    at_risk.sort_by(|a, b| {
        b.shortfall_t
            .cmp(&a.shortfall_t)
            .then(a.company.cmp(&b.company))
    });
    let pending = report
        .pending
        .iter()
        .filter(|c| st.check(ctx.user(), Action::ReadCompany(c)).is_ok())
        .count();
    html! {
        section.card {
            (super::desk::download(ctx, &format!("/compliance/provinces.csv?plan={}", pct_encode(&report.plan)), "download-totals"))
            h2 { (ctx.t("regulator.progress")) " · " (report.plan) }
            p.sub {
                @match report.assessed_on {
                    Some(d) => { (ctx.t("compliance.assessed_on")) " " (d.to_string()) }
                    None => { (ctx.t("compliance.open")) }
                }
                @if pending > 0 { " · " (ctx.t("regulator.pending_companies")) " " (pending) }
            }
            (completion_chart(ctx, &report.national, &provinces))
            (totals_table(ctx, &report.national, &provinces))
        }
        section.card #at-risk {
            (super::desk::download(ctx, &format!("/compliance/companies.csv?plan={}&province={}&status=at_risk", pct_encode(&report.plan), province.unwrap_or("all")), "download-at-risk"))
            h2 { (ctx.t("regulator.at_risk")) }
            p.sub { a href=(format!("/compliance?plan={}&province={}&status=at_risk", pct_encode(&report.plan), province.unwrap_or("all"))) { (ctx.t("regulator.all_at_risk")) " →" } }
            @if at_risk.is_empty() {
                p.sub { (ctx.t("regulator.none_at_risk")) }
            } @else {
                table {
                    thead { tr {
                        th { (ctx.t("company.id")) } th { (ctx.t("company.name")) } th { (ctx.t("company.province")) }
                        th.n { (ctx.t("compliance.obligation")) } th.n { (ctx.t("compliance.surrendered")) }
                        th.n { (ctx.t("compliance.shortfall")) } th.n { (ctx.t("company.eligible")) } th { (ctx.t("compliance.status")) }
                    } }
                    tbody {
                        @for c in at_risk.iter().take(super::public::PER_PAGE) {
                            tr {
                                td { (c.company.to_string()) }
                                td { (st.market.company(&c.company).map_or("", |x| x.name.as_str())) }
                                td { (ctx.province(&c.province)) }
                                td.n { (group(c.obligation_t)) }
                                td.n { (group(c.surrendered_t)) }
                                td.n { b { (group(c.shortfall_t)) } }
                                td.n { (group(st.market.eligible_holdings(&report.plan, &c.company))) }
                                td { (status_tag(ctx, c.status)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn allocation_totals(ctx: &Ctx, st: &State, province: Option<&str>) -> Markup {
    let visible: Vec<&CompanyId> = st
        .market
        .company_ids()
        .filter(|c| st.check(ctx.user(), Action::ReadCompany(c)).is_ok())
        .collect();
    let plans: Vec<&ets_policy::Plan> = st
        .market
        .plan_ids()
        .filter_map(|p| st.market.plan(p))
        .collect();
    html! {
        section.card #allocation {
            h2 { (ctx.t("regulator.allocation")) }
            @if plans.is_empty() {
                p.sub { (ctx.t("compliance.no_plan")) }
            } @else {
                table {
                    thead { tr {
                        th { (ctx.t("allocation.plan")) } th { (ctx.t("allocation.year")) }
                        th.n { (ctx.t("allocation.pre")) } th.n { (ctx.t("allocation.final")) }
                        th.n { (ctx.t("allocation.assessed_total")) }
                    } }
                    tbody {
                        @for plan in &plans {
                            @let totals = st.market.compliance_report(&plan.id).ok().map(|r| match province {
                                Some(p) => r.provinces.iter().find(|t| t.name == p).map_or(0, |t| t.allocated_t),
                                None => r.national.allocated_t,
                            });
                            @for (i, y) in plan.years.iter().enumerate() {
                                @let pre: u64 = visible.iter().filter_map(|c| st.market.allocation(&plan.id, c, *y, Stage::Pre)).sum();
                                @let fin: u64 = visible.iter().filter_map(|c| st.market.allocation(&plan.id, c, *y, Stage::Final)).sum();
                                tr {
                                    td { @if i == 0 { (plan.id) } }
                                    td { (y) }
                                    td.n { (group(pre)) }
                                    td.n { (group(fin)) }
                                    td.n { @if i == 0 { (totals.map_or("—".into(), group)) } }
                                }
                            }
                        }
                    }
                }
                p.sub { (ctx.t("allocation.note")) }
            }
        }
    }
}

fn verification_queue(ctx: &Ctx, st: &State) -> Markup {
    use ets_mrv::ReportStatus;
    let queue: Vec<&ets_mrv::Report> = st
        .market
        .reports()
        .filter(|r| matches!(r.status, ReportStatus::Submitted | ReportStatus::Verified))
        .filter(|r| {
            st.check(ctx.user(), Action::ReadReports(&r.company))
                .is_ok()
        })
        .collect();
    html! {
        section.card #queue {
            h2 { (ctx.t("regulator.queue")) }
            @if queue.is_empty() {
                p.sub { (ctx.t("regulator.queue_empty")) }
            } @else {
                table {
                    thead { tr {
                        th { (ctx.t("company.id")) } th { (ctx.t("report.year")) } th.n { (ctx.t("report.version")) }
                        th { (ctx.t("report.status")) } th { (ctx.t("report.submitted_on")) }
                        th { (ctx.t("report.verifier")) } th { (ctx.t("report.verified_on")) }
                    } }
                    tbody {
                        @for r in &queue {
                            @let status = serde_json::to_value(r.status).unwrap_or(Value::Null);
                            tr {
                                td { (r.company.to_string()) }
                                td { (r.year) }
                                td.n { (r.version) }
                                td { (report_status(ctx, status.as_str().unwrap_or(""))) }
                                td { (r.submitted_on.map_or("—".into(), |d| d.to_string())) }
                                td { (r.verification.as_ref().map_or("—", |v| v.verifier.as_str())) }
                                td { (r.verification.as_ref().map_or("—".into(), |v| v.verified_on.to_string())) }
                                // Accepting is offered to whoever the one check lets do it: the
                                // regulator, or the bureau of the company's province.
                                @let accept = Command::AcceptReport { company: r.company.clone(), year: r.year };
                                @if r.status == ReportStatus::Verified && st.check(ctx.user(), Action::Command(&accept)).is_ok() {
                                    td {
                                        form.inline method="post" action=(format!("/regulator/reports/{}/{}/accept", r.company, r.year)) {
                                            (guard(ctx)) button.ok type="submit" { (ctx.t("report.accept")) }
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
}

/// `POST /regulator/reports/{company}/{year}/accept`: accept a verified report.
pub async fn accept_report(
    AxState(app): AxState<Arc<App>>,
    ctx: Ctx,
    Path((company, year)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let p = match posted(&ctx, &body) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let (Ok(company), Ok(year)) = (CompanyId::parse(&company), year.parse::<u16>()) else {
        return error_page(&ctx, StatusCode::NOT_FOUND, ctx.t("error.no_page"));
    };
    let text = format!("{company} {year}: {}", ctx.t("flash.report_accepted"));
    let op = Op::Command {
        command: Command::AcceptReport { company, year },
        reason: "report accepted on the dashboard".into(),
    };
    let reply = app.submit(p.req, op).await;
    finish(&ctx, &reply, text, "/regulator#queue")
}

fn account_requests(ctx: &Ctx, st: &State) -> Markup {
    let pending: Vec<_> = st
        .access
        .requests()
        .filter(|r| r.status == RequestStatus::Pending)
        .collect();
    // The auditor sees the queue; only the regulator decides.
    let may_decide = st.check(ctx.user(), Action::Administer).is_ok();
    html! {
        section.card #requests {
            h2 { (ctx.t("regulator.requests")) }
            @if pending.is_empty() {
                p.sub { (ctx.t("regulator.requests_empty")) }
            } @else {
                table {
                    thead { tr {
                        th.n { "#" } th { (ctx.t("request.applicant")) } th { (ctx.t("company.province")) }
                        th { (ctx.t("request.representatives")) } th.n { (ctx.t("request.documents")) } th { (ctx.t("request.submitted_at")) }
                    } }
                    tbody {
                        @for r in &pending {
                            tr {
                                td.n { (r.id) }
                                @match &r.applicant {
                                    Applicant::Company { company, units } => {
                                        td { (company.id.to_string()) " " (company.name) " · " (units.len()) " " (ctx.t("request.units")) }
                                        td { (ctx.province(&company.province)) }
                                    }
                                    Applicant::Holder { holder } => {
                                        td { (holder) " · " (ctx.t("request.holder")) }
                                        td { "—" }
                                    }
                                }
                                td { (r.representatives.iter().map(|p| format!("{} ({})", p.display, p.name)).collect::<Vec<_>>().join(", ")) }
                                td.n { (r.documents.len()) }
                                td { (when(r.submitted_at)) }
                                @if may_decide {
                                    td {
                                        form.inline method="post" action=(format!("/regulator/requests/{}/approve", r.id)) {
                                            (guard(ctx)) button.ok type="submit" { (ctx.t("approvals.approve")) }
                                        }
                                        form.inline method="post" action=(format!("/regulator/requests/{}/reject", r.id)) {
                                            (guard(ctx))
                                            input type="text" name="reason" required placeholder=(ctx.t("request.reason"));
                                            button.no type="submit" { (ctx.t("approvals.reject")) }
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
}

// ---------------------------------------------------------------------------------------------
// Shared by the company and the member page: holdings, funds, orders, the book

fn holdings_table(ctx: &Ctx, holdings: &Value) -> Markup {
    let rows = holdings.as_array().cloned().unwrap_or_default();
    html! {
        @if rows.is_empty() {
            p.sub { (ctx.t("holdings.none")) }
        } @else {
            table #holdings {
                thead { tr {
                    th { (ctx.t("holdings.class")) } th.n { (ctx.t("holdings.quantity")) }
                    th.n { (ctx.t("holdings.tradable")) } th { (ctx.t("holdings.blocks")) }
                } }
                tbody {
                    @for h in &rows {
                        tr data-class=(h["class"].as_str().unwrap_or("")) {
                            td { b { (h["class"].as_str().unwrap_or("")) } }
                            td.n { (tonnes(&h["quantity_t"])) }
                            td.n { (tonnes(&h["tradable_t"])) }
                            td.blocks {
                                @for (i, b) in h["blocks"].as_array().cloned().unwrap_or_default().iter().enumerate() {
                                    @if i > 0 { ", " }
                                    (b["start"]) "–" (b["end"])
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Funds, the order form, open orders with their cancel buttons, and the book of `class`.
fn trading(
    ctx: &Ctx,
    st: &State,
    account: &Value,
    account_id: Option<AccountId>,
    class: Option<UnitClass>,
) -> Markup {
    let Some(ex) = st.market.exchange() else {
        return html! { section.card { h2 { (ctx.t("trading.title")) } p.sub { (ctx.t("market.closed")) } } };
    };
    let (_, mut offered) = classes(ex);
    for h in account["holdings"].as_array().into_iter().flatten() {
        if let Some(c) = h["class"].as_str().and_then(|c| api::parse_class(c).ok())
            && !offered.contains(&c)
        {
            offered.push(c);
        }
    }
    offered.sort();
    let book = class.map(|c| api::book_json(st, c, 5));
    let orders = account["open_orders"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let funds = &account["funds"];
    let own_ids: Vec<u64> = orders.iter().filter_map(|o| o["id"].as_u64()).collect();
    html! {
        div.grid {
            section.card #trade {
                h2 { (ctx.t("trading.title")) }
                div.stats {
                    div { span { (ctx.t("funds.available")) } b #funds-available { (funds["available_fen"].as_i64().map_or("—".into(), yuan)) } }
                    div { span { (ctx.t("funds.frozen")) } b { (funds["frozen_fen"].as_i64().map_or("—".into(), yuan)) } }
                    div { span { (ctx.t("market.day")) } b { (ex.open_day().map_or_else(|| ctx.t("market.day_closed").to_string(), |d| d.to_string())) } }
                }
                form.entry #order-form method="post" action="/orders" {
                    (guard(ctx))
                    label { (ctx.t("order.class"))
                        select name="class" {
                            @for c in &offered {
                                option value=(c.to_string()) selected[Some(*c) == class] { (c.to_string()) }
                            }
                        }
                    }
                    label { (ctx.t("order.side"))
                        select name="side" {
                            option value="buy" { (ctx.t("order.buy")) }
                            option value="sell" { (ctx.t("order.sell")) }
                        }
                    }
                    label { (ctx.t("order.price"))
                        input type="text" name="price" inputmode="decimal" pattern="[0-9]+(\\.[0-9]{1,2})?" size="8" placeholder="48.00" required;
                    }
                    label { (ctx.t("order.qty"))
                        input type="number" name="qty" min="1" step="1" size="8" required;
                    }
                    button.go type="submit" { (ctx.t("order.submit")) }
                }
                p.sub { (ctx.t("order.note")) }
                h2 { (ctx.t("orders.title")) }
                @if orders.is_empty() {
                    p.sub { (ctx.t("orders.none")) }
                } @else {
                    table #open-orders {
                        thead { tr {
                            th.n { "#" } th { (ctx.t("order.class")) } th { (ctx.t("order.side")) }
                            th.n { (ctx.t("book.price")) } th.n { (ctx.t("orders.open_qty")) } th { }
                        } }
                        tbody {
                            @for o in &orders {
                                @let id = o["id"].as_u64().unwrap_or(0);
                                tr {
                                    td.n { (id) }
                                    td { (o["class"].as_str().unwrap_or("")) }
                                    td { @if o["side"] == "buy" { (ctx.t("order.buy")) } @else { (ctx.t("order.sell")) } }
                                    td.n { (o["price"].as_i64().map_or("—".into(), yuan)) }
                                    td.n { (tonnes(&o["open_qty"])) }
                                    td {
                                        form.inline method="post" action=(format!("/orders/{id}/cancel")) {
                                            (guard(ctx))
                                            input type="hidden" name="class" value=(o["class"].as_str().unwrap_or(""));
                                            button.no type="submit" { (ctx.t("orders.cancel")) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section.card {
                h2 { (ctx.t("book.title")) @if let Some(c) = class { " · " (c.to_string()) } }
                (class_tabs(&ctx.path, &offered, class))
                @if let Some(b) = &book {
                    (book_table(ctx, b))
                    (super::desk::take_table(ctx, b, &own_ids))
                }
            }
        }
        (super::desk::blocks_card(ctx, st, account_id, &offered, class))
    }
}

/// The class a trading page shows: the asked one, else the first allowance held, else the
/// market's default.
fn trading_class(
    ctx: &Ctx,
    q: &Params,
    st: &State,
    account: &Value,
) -> Result<Option<UnitClass>, String> {
    if q.get("class").is_some_and(|c| !c.trim().is_empty()) {
        return chosen_class(ctx, q, st.market.exchange());
    }
    let held = account["holdings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h["class"].as_str().and_then(|c| api::parse_class(c).ok()))
        .find(|c| matches!(c, UnitClass::Cea { .. }));
    Ok(held.or_else(|| st.market.exchange().and_then(super::public::default_class)))
}

// ---------------------------------------------------------------------------------------------
// Company representative

pub async fn company(
    AxState(app): AxState<Arc<App>>,
    ctx: Ctx,
    Query(q): Query<Params>,
) -> Response {
    let who = match own_page(&ctx, Role::Company) {
        Ok(who) => who,
        Err(page) => return page,
    };
    let st = app.read();
    let Some(id) = st.user(ctx.user()).and_then(|u| u.company.clone()) else {
        return forbidden(&ctx);
    };
    if let Err(e) = st.check(ctx.user(), Action::ReadCompany(&id)) {
        return refuse(&ctx, &e);
    }
    let detail = match api::company_detail(&st, &ctx.caller, &id) {
        Ok(v) => v,
        Err(e) => return deny(&ctx, &e),
    };
    let account = match st.market.company_account(&id) {
        Some(a) if st.check(ctx.user(), Action::ReadAccount(a)).is_ok() => {
            api::account_detail(&st, a).ok()
        }
        _ => None,
    }
    .unwrap_or(Value::Null);
    let class = match trading_class(&ctx, &q, &st, &account) {
        Ok(c) => c,
        Err(m) => return error_page(&ctx, StatusCode::BAD_REQUEST, &m),
    };
    let c = &detail["company"];
    let title = format!(
        "{} · {}",
        ctx.t("company.title"),
        c["name"].as_str().unwrap_or("")
    );
    let may_instruct = st.check(ctx.user(), Action::Instruct(&id)).is_ok();
    let pending: Vec<_> = st
        .access
        .instructions()
        .filter(|i| i.company == id && i.status == InstructionStatus::Pending)
        .filter(|_| may_instruct)
        .collect();
    let body = html! {
        section.card {
            div.stats {
                div { span { (ctx.t("company.id")) } b { (c["id"].as_str().unwrap_or("")) } }
                div { span { (ctx.t("company.name")) } b { (c["name"].as_str().unwrap_or("")) } }
                div { span { (ctx.t("company.province")) } b #province { (ctx.province(c["province"].as_str().unwrap_or(""))) } }
                div { span { (ctx.t("company.account")) } b #account { (detail["account"].as_str().unwrap_or("—")) } }
                div { span { (ctx.t("company.units")) } b { (detail["units"].as_array().map_or(0, Vec::len)) } }
            }
        }
        (super::desk::position_card(&ctx, &detail, may_instruct))
        section.card {
            (super::desk::download(&ctx, &format!("/holdings.csv?holder={id}"), "download-holdings"))
            h2 #holdings-title { (ctx.t("holdings.title")) }
            (holdings_table(&ctx, &detail["holdings"]))
        }
        section.card #approvals {
            h2 { (ctx.t("approvals.title")) }
            @if pending.is_empty() {
                p.sub { (ctx.t("approvals.none")) }
            } @else {
                table {
                    thead { tr {
                        th.n { "#" } th { (ctx.t("approvals.what")) } th { (ctx.t("approvals.by")) } th { (ctx.t("approvals.at")) } th { }
                    } }
                    tbody {
                        @for i in &pending {
                            tr {
                                td.n { (i.id) }
                                td { (describe(&ctx, &i.instruction)) }
                                td { (i.initiated_by) }
                                td { (when(i.initiated_at)) }
                                td {
                                    @if i.initiated_by == who.name {
                                        span.sub { (ctx.t("approvals.needs_other")) " " }
                                    } @else {
                                        form.inline method="post" action=(format!("/company/instructions/{}/approve", i.id)) {
                                            (guard(&ctx)) button.yes type="submit" { (ctx.t("approvals.approve")) }
                                        }
                                        " "
                                    }
                                    form.inline method="post" action=(format!("/company/instructions/{}/reject", i.id)) {
                                        (guard(&ctx)) button.no type="submit" { (ctx.t("approvals.reject")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        (trading(&ctx, &st, &account, st.market.company_account(&id), class))
        section.card #obligation {
            h2 { (ctx.t("obligation.title")) }
            (obligations(&ctx, &detail["plans"]))
        }
        section.card #allocation {
            h2 { (ctx.t("allocation.title")) }
            (allocations(&ctx, &detail["plans"]))
        }
        section.card #unit-allocation {
            (super::desk::download(&ctx, &format!("/allocations.csv?company={id}"), "download-allocations"))
            h2 { (ctx.t("unit_allocation.title")) }
            (unit_allocations(&ctx, crate::allocation_api::of_company(&st, &ctx.caller, None, &id)))
        }
        section.card #reports {
            h2 { (ctx.t("reports.title")) }
            (reports_table(&ctx, &detail["reports"]))
        }
    };
    page(&ctx, StatusCode::OK, &title, body)
}

fn describe(ctx: &Ctx, i: &Instruction) -> Markup {
    match i {
        Instruction::Command {
            command:
                Command::Transfer {
                    class,
                    quantity,
                    to,
                    ..
                },
        } => html! {
            (ctx.t("approvals.transfer")) " " (group(*quantity)) " t " (class.to_string()) " → " (to)
        },
        Instruction::Command {
            command:
                Command::Surrender {
                    plan,
                    class,
                    quantity,
                    ..
                },
        } => html! {
            (ctx.t("approvals.surrender")) " " (group(*quantity)) " t " (class.to_string()) " · " (plan)
        },
        Instruction::Command { command } => html! { (command.name()) },
        Instruction::Trust { account } => {
            html! { (ctx.t("approvals.trust")) " " (account.to_string()) }
        }
    }
}

fn obligations(ctx: &Ctx, plans: &Value) -> Markup {
    let plans = plans.as_array().cloned().unwrap_or_default();
    html! {
        @if plans.is_empty() {
            p.sub { (ctx.t("compliance.no_plan")) }
        } @else {
            table {
                thead { tr {
                    th { (ctx.t("allocation.plan")) } th.n { (ctx.t("compliance.obligation")) } th.n { (ctx.t("compliance.surrendered")) }
                    th.n { (ctx.t("compliance.shortfall")) } th.n { (ctx.t("company.eligible")) } th { (ctx.t("compliance.status")) }
                } }
                tbody {
                    @for p in &plans {
                        @let pos = &p["position"];
                        tr {
                            td { (p["plan"].as_str().unwrap_or("")) }
                            @if p["exempted"] == true {
                                td colspan="4" { (ctx.t("obligation.exempted")) }
                                td { }
                            } @else if pos.is_null() {
                                td.n { "—" } td.n { (tonnes(&p["surrendered_t"])) } td.n { "—" }
                                td.n { (tonnes(&p["eligible_holdings_t"])) }
                                td { span.tag { (ctx.t("obligation.pending")) } }
                            } @else {
                                td.n { (tonnes(&pos["obligation_t"])) }
                                td.n { (tonnes(&pos["surrendered_t"])) }
                                td.n { (tonnes(&pos["shortfall_t"])) }
                                td.n { (tonnes(&p["eligible_holdings_t"])) }
                                td {
                                    @match serde_json::from_value::<ets_compliance::Status>(pos["status"].clone()) {
                                        Ok(s) => { (status_tag(ctx, s)) }
                                        Err(_) => { "—" }
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

fn allocations(ctx: &Ctx, plans: &Value) -> Markup {
    let plans = plans.as_array().cloned().unwrap_or_default();
    html! {
        @if plans.is_empty() {
            p.sub { (ctx.t("compliance.no_plan")) }
        } @else {
            table {
                thead { tr {
                    th { (ctx.t("allocation.plan")) } th { (ctx.t("allocation.year")) }
                    th.n { (ctx.t("allocation.pre")) } th.n { (ctx.t("allocation.final")) }
                } }
                tbody {
                    @for p in &plans {
                        @for (i, y) in p["allocation"].as_array().cloned().unwrap_or_default().iter().enumerate() {
                            tr {
                                td { @if i == 0 { (p["plan"].as_str().unwrap_or("")) } }
                                td { (y["year"]) }
                                td.n { (tonnes(&y["pre_t"])) }
                                td.n { (tonnes(&y["final_t"])) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Each unit's pre-allocation and final allocation with its inputs and factors
/// (`GET /api/allocations`), one row per unit and stage, and the recorded totals per year.
fn unit_allocations(
    ctx: &Ctx,
    sheets: Result<Vec<ets_market::CompanyYearAllocation>, ApiError>,
) -> Markup {
    let sheets = match sheets {
        Ok(s) => s,
        Err(e) => return html! { p.sub { (e.message) } },
    };
    let category = |c: ets_types::UnitCategory| match c {
        ets_types::UnitCategory::CoalAbove300 => ctx.t("unit_allocation.coal_above_300"),
        ets_types::UnitCategory::CoalUpTo300 => ctx.t("unit_allocation.coal_up_to_300"),
        ets_types::UnitCategory::CoalUnconventional => ctx.t("unit_allocation.coal_unconventional"),
        ets_types::UnitCategory::Gas => ctx.t("unit_allocation.gas"),
    };
    let cooling = |c: ets_types::Cooling| match c {
        ets_types::Cooling::Water => ctx.t("unit_allocation.water"),
        ets_types::Cooling::Air => ctx.t("unit_allocation.air"),
    };
    let differs = sheets
        .iter()
        .flat_map(|s| &s.units)
        .flat_map(|u| [&u.pre_allocation, &u.final_allocation])
        .flatten()
        .any(|f| !f.reproduced);
    html! {
        @if sheets.is_empty() {
            p.sub { (ctx.t("unit_allocation.none")) }
        } @else {
            p.sub { (ctx.t("unit_allocation.note")) }
            table #unit-allocation-table {
                thead { tr {
                    th { (ctx.t("allocation.plan")) } th { (ctx.t("allocation.year")) }
                    th { (ctx.t("unit_allocation.unit")) } th { (ctx.t("unit_allocation.category")) }
                    th { (ctx.t("unit_allocation.stage")) } th { (ctx.t("unit_allocation.data_year")) }
                    th.n { (ctx.t("unit_allocation.power")) } th.n { (ctx.t("unit_allocation.heat")) }
                    th.n { (ctx.t("unit_allocation.load_factor")) }
                    th.n { (ctx.t("unit_allocation.supply_benchmark")) } th.n { (ctx.t("unit_allocation.heat_benchmark")) }
                    th.n { (ctx.t("unit_allocation.share")) } th.n { (ctx.t("unit_allocation.cooling")) }
                    th.n { (ctx.t("unit_allocation.heat_factor")) } th.n { (ctx.t("unit_allocation.load_factor_factor")) }
                    th.n { (ctx.t("unit_allocation.allocated")) }
                } }
                tbody {
                    @for s in &sheets {
                        @for u in &s.units {
                            @for (stage, f) in [("unit_allocation.pre", &u.pre_allocation), ("unit_allocation.final", &u.final_allocation)] {
                                @if let Some(f) = f {
                                    tr {
                                        td { (s.plan) } td { (s.year) }
                                        td { (u.unit.as_str()) }
                                        td { (category(u.category)) " · " (cooling(u.cooling)) }
                                        td { (ctx.t(stage)) } td { (f.activity_year) }
                                        td.n { (f.power_supplied_mwh) } td.n { (f.heat_supplied_gj) } td.n { (f.load_factor) }
                                        td.n { (f.supply_benchmark_t_per_mwh) } td.n { (f.heat_benchmark_t_per_gj) }
                                        td.n { (f.share) } td.n { (f.cooling_factor) } td.n { (f.heat_factor) }
                                        td.n { (f.load_factor_factor) }
                                        td.n { (group(f.allocated_t)) @if !f.reproduced { " *" } }
                                    }
                                }
                            }
                        }
                        tr.total {
                            td { (s.plan) } td { (s.year) }
                            td colspan="14" {
                                (ctx.t("unit_allocation.total")) " · " (ctx.t("unit_allocation.pre")) " "
                                (s.pre_t.map_or_else(|| "—".to_string(), group)) " · " (ctx.t("unit_allocation.final")) " "
                                (s.final_t.map_or_else(|| "—".to_string(), group))
                                @if s.deduction_t > 0 {
                                    " · " (ctx.t("unit_allocation.deduction")) " " (group(s.deduction_t))
                                }
                            }
                        }
                    }
                }
            }
            @if differs {
                p.sub { (ctx.t("unit_allocation.differs")) }
            }
        }
    }
}

fn reports_table(ctx: &Ctx, reports: &Value) -> Markup {
    let reports = reports.as_array().cloned().unwrap_or_default();
    html! {
        @if reports.is_empty() {
            p.sub { (ctx.t("reports.none")) }
        } @else {
            table {
                thead { tr {
                    th { (ctx.t("report.year")) } th.n { (ctx.t("report.version")) } th { (ctx.t("report.status")) }
                    th { (ctx.t("report.submitted_on")) } th { (ctx.t("report.verifier")) } th { (ctx.t("report.verified_on")) }
                    th { (ctx.t("report.accepted_on")) }
                } }
                tbody {
                    @for r in &reports {
                        tr {
                            td { (r["year"]) }
                            td.n { (r["version"]) }
                            td { (report_status(ctx, r["status"].as_str().unwrap_or(""))) }
                            td { (opt_date(&r["submitted_on"])) }
                            td { (opt_date(&r["verification"]["verifier"])) }
                            td { (opt_date(&r["verification"]["verified_on"])) }
                            td { (opt_date(&r["accepted_on"])) }
                        }
                    }
                }
            }
        }
    }
}

/// `POST /regulator/requests/{id}/{approve|reject}`: the regulator's decision on an
/// account-opening request (a rejection needs a reason).
pub async fn decide_request(
    AxState(app): AxState<Arc<App>>,
    ctx: Ctx,
    Path((id, decision)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let p = match posted(&ctx, &body) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let (Ok(id), Some(approve)) = (
        id.parse::<u64>(),
        match decision.as_str() {
            "approve" => Some(true),
            "reject" => Some(false),
            _ => None,
        },
    ) else {
        return error_page(&ctx, StatusCode::NOT_FOUND, ctx.t("error.no_page"));
    };
    let reason = p.field("reason").trim().to_string();
    if !approve && reason.is_empty() {
        return flash_redirect(
            false,
            ctx.t("request.reason_needed").to_string(),
            "/regulator#requests",
        );
    }
    let op = Op::DecideAccountRequest {
        id,
        approve,
        reason: (!approve).then_some(reason),
    };
    let reply = app.submit(p.req, op).await;
    let done = if approve {
        ctx.t("flash.request_approved")
    } else {
        ctx.t("flash.rejected")
    };
    finish(&ctx, &reply, format!("#{id} {done}"), "/regulator#requests")
}

/// `POST /company/instructions/{id}/{approve|reject}`: the second pair of eyes.
pub async fn decide_instruction(
    AxState(app): AxState<Arc<App>>,
    ctx: Ctx,
    Path((id, decision)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let p = match posted(&ctx, &body) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let approve = match decision.as_str() {
        "approve" => true,
        "reject" => false,
        _ => return error_page(&ctx, StatusCode::NOT_FOUND, ctx.t("error.no_page")),
    };
    let Ok(id) = id.parse::<u64>() else {
        return error_page(&ctx, StatusCode::NOT_FOUND, ctx.t("error.no_page"));
    };
    let reply = app
        .submit(p.req, Op::DecideInstruction { id, approve })
        .await;
    let done = if approve {
        ctx.t("flash.approved")
    } else {
        ctx.t("flash.rejected")
    };
    finish(&ctx, &reply, format!("#{id} {done}"), "/company")
}

// ---------------------------------------------------------------------------------------------
// Orders (company representative and member)

/// The account the caller trades for and the page to go back to.
fn trading_holder(st: &State, ctx: &Ctx) -> Option<(String, &'static str)> {
    let u = st.user(ctx.user())?;
    match u.role {
        Role::Company => u.company.as_ref().map(|c| (c.to_string(), "/company")),
        Role::Member => u.holder.clone().map(|h| (h, "/member")),
        _ => None,
    }
}

/// `POST /orders`: an order for the caller's own account; the price typed in yuan becomes
/// integer fen, the minute is the server's Beijing time.
pub async fn place_order(AxState(app): AxState<Arc<App>>, ctx: Ctx, body: Bytes) -> Response {
    let p = match posted(&ctx, &body) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let holder = trading_holder(&app.read(), &ctx);
    let Some((holder, home)) = holder else {
        return forbidden(&ctx);
    };
    let class = match api::parse_class(p.field("class")) {
        Ok(c) => c,
        Err(e) => return flash_redirect(false, ctx.message(&e), home),
    };
    let back = format!("{home}?class={}", pct_encode(&class.to_string()));
    let (side, price, qty) = match order_terms(&ctx, &p, &back) {
        Ok(t) => t,
        Err(resp) => return resp,
    };
    let minute = crate::clock::beijing(ctx.caller.at).1;
    let command = Command::Exchange(ExchangeCommand::Order {
        holder,
        class,
        side,
        price,
        qty,
        tif: Tif::Day,
        minute,
    });
    let reply = app
        .submit(
            p.req,
            Op::Command {
                reason: "order".into(),
                command,
            },
        )
        .await;
    let text = format!(
        "{} #{}: {} {} t {} @ {}",
        ctx.t("flash.order_placed"),
        reply.body["id"],
        if side == OrderSide::Buy {
            ctx.t("order.buy")
        } else {
            ctx.t("order.sell")
        },
        group(qty),
        class,
        yuan(price)
    );
    super::desk::finish_explained(&ctx, &app, &reply, text, &back)
}

/// `POST /orders/{id}/cancel`.
pub async fn cancel_order(
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
    let Ok(order) = id.parse::<u64>() else {
        return error_page(&ctx, StatusCode::NOT_FOUND, ctx.t("error.no_page"));
    };
    let back = match api::parse_class(p.field("class")) {
        Ok(c) => format!("{home}?class={}", pct_encode(&c.to_string())),
        Err(_) => home.to_string(),
    };
    let command = Command::Exchange(ExchangeCommand::Cancel { holder, order });
    let reply = app
        .submit(
            p.req,
            Op::Command {
                reason: "cancel order".into(),
                command,
            },
        )
        .await;
    finish(
        &ctx,
        &reply,
        format!("#{order} {}", ctx.t("flash.cancelled")),
        &back,
    )
}

// ---------------------------------------------------------------------------------------------
// Member

pub async fn member(
    AxState(app): AxState<Arc<App>>,
    ctx: Ctx,
    Query(q): Query<Params>,
) -> Response {
    if let Err(page) = own_page(&ctx, Role::Member) {
        return page;
    }
    let st = app.read();
    let Some(holder) = st.user(ctx.user()).and_then(|u| u.holder.clone()) else {
        return forbidden(&ctx);
    };
    let Some(id) = st.market.resolve_account(&holder) else {
        return error_page(&ctx, StatusCode::NOT_FOUND, &holder);
    };
    if let Err(e) = st.check(ctx.user(), Action::ReadAccount(id)) {
        return refuse(&ctx, &e);
    }
    let account = match api::account_detail(&st, id) {
        Ok(v) => v,
        Err(e) => return deny(&ctx, &e),
    };
    let class = match trading_class(&ctx, &q, &st, &account) {
        Ok(c) => c,
        Err(m) => return error_page(&ctx, StatusCode::BAD_REQUEST, &m),
    };
    let title = format!("{} · {holder}", ctx.t("member.title"));
    let body = html! {
        section.card {
            div.stats {
                div { span { (ctx.t("member.holder")) } b { (holder) } }
                div { span { (ctx.t("company.account")) } b #account { (AccountId::to_string(&id)) } }
                div { span { (ctx.t("member.status")) } b { (account_status(&ctx, account["status"].as_str().unwrap_or(""))) } }
            }
        }
        section.card {
            (super::desk::download(&ctx, &format!("/holdings.csv?holder={}", pct_encode(&holder)), "download-holdings"))
            h2 #holdings-title { (ctx.t("holdings.title")) }
            (holdings_table(&ctx, &account["holdings"]))
        }
        (trading(&ctx, &st, &account, Some(id), class))
    };
    page(&ctx, StatusCode::OK, &title, body)
}

// ---------------------------------------------------------------------------------------------
// Verifier

pub async fn verifier(AxState(app): AxState<Arc<App>>, ctx: Ctx) -> Response {
    let who = match own_page(&ctx, Role::Verifier) {
        Ok(who) => who,
        Err(page) => return page,
    };
    let st = app.read();
    if let Err(e) = st.check(ctx.user(), Action::Own) {
        return refuse(&ctx, &e);
    }
    let assigned: Vec<&CompanyId> = st
        .access
        .assigned(&who.name)
        .iter()
        .filter(|c| st.check(ctx.user(), Action::ReadReports(c)).is_ok())
        .collect();
    let body = html! {
        section.card {
            h2 { (ctx.t("verifier.assigned")) }
            @if assigned.is_empty() {
                p.sub { (ctx.t("verifier.none")) }
            } @else {
                p { @for (i, c) in assigned.iter().enumerate() {
                    @if i > 0 { ", " }
                    b { (c.to_string()) } " " (st.market.company(c).map_or("", |x| x.name.as_str()))
                } }
            }
        }
        section.card #reports {
            h2 { (ctx.t("reports.title")) }
            table {
                thead { tr {
                    th { (ctx.t("company.id")) } th { (ctx.t("report.year")) } th.n { (ctx.t("report.version")) }
                    th { (ctx.t("report.status")) } th { (ctx.t("report.submitted_on")) } th.n { (ctx.t("report.units")) }
                    th { (ctx.t("report.verification")) }
                } }
                tbody {
                    @for r in st.market.reports().filter(|r| assigned.contains(&&r.company)) {
                        @let status = serde_json::to_value(r.status).unwrap_or(Value::Null);
                        tr {
                            td { (r.company.to_string()) }
                            td { (r.year) }
                            td.n { (r.version) }
                            td { (report_status(&ctx, status.as_str().unwrap_or(""))) }
                            td { (r.submitted_on.map_or("—".into(), |d| d.to_string())) }
                            td.n { (r.units.len()) }
                            td {
                                @if let Some(v) = &r.verification {
                                    (v.verifier) " · " (v.verified_on.to_string())
                                    @for f in &v.findings { br; span.sub { (f) } }
                                } @else if r.status == ets_mrv::ReportStatus::Submitted {
                                    form.entry method="post" action="/verifier/verifications" {
                                        (guard(&ctx))
                                        input type="hidden" name="company" value=(r.company.to_string());
                                        input type="hidden" name="year" value=(r.year);
                                        label { (ctx.t("verifier.findings"))
                                            textarea name="findings" rows="2" cols="36" placeholder=(ctx.t("verifier.findings_hint")) {}
                                        }
                                        button.go type="submit" { (ctx.t("verifier.confirm")) }
                                    }
                                } @else {
                                    "—"
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page(&ctx, StatusCode::OK, ctx.t("verifier.title"), body)
}

/// `POST /verifier/verifications`: confirms the reported figures (`units: None`) with findings,
/// signed with the verifier's own name.
pub async fn verify(AxState(app): AxState<Arc<App>>, ctx: Ctx, body: Bytes) -> Response {
    let p = match posted(&ctx, &body) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let Ok(company) = CompanyId::parse(p.field("company")) else {
        return flash_redirect(
            false,
            ctx.t("verifier.bad_company").to_string(),
            "/verifier",
        );
    };
    let Ok(year) = p.field("year").parse::<u16>() else {
        return flash_redirect(false, ctx.t("verifier.bad_year").to_string(), "/verifier");
    };
    let findings: Vec<String> = p
        .field("findings")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let verification = VerificationInput {
        company: company.clone(),
        year,
        verifier: ctx.caller.user.clone().unwrap_or_default(),
        units: None,
        findings,
    };
    let reply = app
        .submit(
            p.req,
            Op::Command {
                reason: "verify report".into(),
                command: Command::VerifyReport { verification },
            },
        )
        .await;
    finish(
        &ctx,
        &reply,
        format!("{company} {year}: {}", ctx.t("flash.verified")),
        "/verifier",
    )
}

/// An account's status in the page's language.
fn account_status(ctx: &Ctx, status: &str) -> String {
    match status {
        "open" => ctx.t("account.open").to_string(),
        "frozen" => ctx.t("account.frozen").to_string(),
        "closed" => ctx.t("account.closed").to_string(),
        other => other.to_string(),
    }
}

/// The side, price (yuan on the form, fen here) and quantity of an order or block form; a bad
/// field is a flash message back on `back`, naming it.
#[allow(clippy::result_large_err)]
pub(super) fn order_terms(
    ctx: &Ctx,
    p: &Posted,
    back: &str,
) -> Result<(OrderSide, i64, u64), Response> {
    let side = match p.field("side") {
        "buy" => OrderSide::Buy,
        "sell" => OrderSide::Sell,
        _ => {
            return Err(flash_redirect(
                false,
                ctx.t("order.bad_side").to_string(),
                back,
            ));
        }
    };
    let Some(price) = parse_yuan(p.field("price")).filter(|p| *p > 0) else {
        return Err(flash_redirect(
            false,
            format!("{}: {:?}", ctx.t("order.bad_price"), p.field("price")),
            back,
        ));
    };
    Ok((side, price, positive_qty(ctx, p, "qty", back)?))
}

/// A positive whole number of tonnes from the form's `field`; otherwise a flash message back.
#[allow(clippy::result_large_err)]
pub(super) fn positive_qty(
    ctx: &Ctx,
    p: &Posted,
    field: &str,
    back: &str,
) -> Result<u64, Response> {
    p.field(field)
        .parse::<u64>()
        .ok()
        .filter(|q| *q > 0)
        .ok_or_else(|| {
            flash_redirect(
                false,
                format!("{}: {:?}", ctx.t("order.bad_qty"), p.field(field)),
                back,
            )
        })
}
