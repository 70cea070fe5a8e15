//! The public pages: the market overview and the published compliance table.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::extract::{Query, State as AxState};
use axum::http::StatusCode;
use axum::response::Response;
use ets_market::Market;
use ets_market::trading::exchange::{DayBar, Exchange, TradeKindTag};
use ets_types::UnitClass;
use maud::{Markup, html};
use serde_json::Value;

use super::charts::{self, Bar, Labels, Point};
use super::{Ctx, Params, deny, desk, error_page, group, hhmm, page, pct_encode, percent, yuan};
use crate::App;
use crate::api;
use crate::authz::Action;
use crate::core::State;

/// Classes worth showing: those with a book or trades, then the market file's allowances.
pub fn classes(ex: &Exchange) -> (Vec<UnitClass>, Vec<UnitClass>) {
    let mut active: BTreeSet<UnitClass> = ex.trades().iter().map(|t| t.class).collect();
    active.extend(ex.days().iter().map(|d| d.class));
    let listed: Vec<UnitClass> = ex
        .rules
        .instruments
        .iter()
        .filter(|i| !i.offset)
        .flat_map(|i| i.vintages.iter().map(|&vintage| UnitClass::Cea { vintage }))
        .collect();
    for c in &listed {
        let (bids, asks) = ex.depth(*c, 1);
        if !bids.is_empty() || !asks.is_empty() {
            active.insert(*c);
        }
    }
    let mut all: BTreeSet<UnitClass> = active.clone();
    all.extend(listed.iter().copied());
    (active.into_iter().collect(), all.into_iter().collect())
}

/// The class a page shows when none is asked for: the first with a book or trades.
pub fn default_class(ex: &Exchange) -> Option<UnitClass> {
    let (active, all) = classes(ex);
    active.first().or(all.first()).copied()
}

/// The `class` of the query, or the default; `Err` is the message of a malformed one.
pub fn chosen_class(
    ctx: &Ctx,
    q: &Params,
    ex: Option<&Exchange>,
) -> Result<Option<UnitClass>, String> {
    match q.get("class").map(|c| c.trim()).filter(|c| !c.is_empty()) {
        Some(c) => api::parse_class(c).map(Some).map_err(|e| ctx.message(&e)),
        None => Ok(ex.and_then(default_class)),
    }
}

/// The price chart's points: the day bars of the class (close, and the volume of all its
/// trades), then today so far (last price, volume so far).
fn series(ex: &Exchange, class: UnitClass) -> Vec<Point> {
    let mut points: Vec<Point> = ex
        .days()
        .iter()
        .filter(|d| d.class == class)
        .map(|d| Point {
            label: format!("{:02}-{:02}", d.date.month(), d.date.day()),
            price: d.figures.close,
            volume: d.figures.volume_t,
            provisional: false,
        })
        .collect();
    if let Some(today) = ex.day_so_far(class) {
        let day = today.date;
        let last = ex
            .trades()
            .iter()
            .rev()
            .find(|t| t.class == class && t.date == day);
        if let Some(last) = last {
            points.push(Point {
                label: format!("{:02}-{:02}", day.month(), day.day()),
                price: last.price,
                volume: today.figures.volume_t,
                provisional: true,
            });
        }
    }
    points
}

/// How many closed days the daily table shows.
const TABLE_DAYS: usize = 10;

/// An amount of fen as yuan with two decimals and thousands separators.
fn yuan_amount(fen: u64) -> String {
    format!("{}.{:02}", group(fen / 100), fen % 100)
}

/// The class's daily figures, newest first: the open day so far, then the last closed days;
/// per kind of trade (listed, block, one-way) and in total, the volume over the turnover. The
/// fields are the API's (`GET /api/market/days`).
fn day_table(ctx: &Ctx, ex: &Exchange, class: UnitClass) -> Markup {
    let mut rows: Vec<(DayBar, bool)> = ex
        .day_so_far(class)
        .map(|d| (d, true))
        .into_iter()
        .collect();
    rows.extend(
        ex.days()
            .iter()
            .rev()
            .filter(|d| d.class == class)
            .take(TABLE_DAYS)
            .map(|d| (d.clone(), false)),
    );
    let cell = |volume: u64, turnover: u64| {
        html! { td.n { (group(volume)) br; span.sub { (yuan_amount(turnover)) } } }
    };
    html! {
        @if rows.is_empty() {
            p.sub { (ctx.t("days.none")) }
        } @else {
            table #days {
                thead {
                    tr {
                        th { (ctx.t("days.date")) }
                        th.n { (ctx.t("days.open")) } th.n { (ctx.t("days.high")) }
                        th.n { (ctx.t("days.low")) } th.n { (ctx.t("days.close")) }
                        th.n { (ctx.t("trade.listed")) } th.n { (ctx.t("trade.block")) }
                        th.n { (ctx.t("trade.one_way")) } th.n { (ctx.t("days.total")) }
                    }
                }
                tbody {
                    @for (d, open) in &rows {
                        @let f = &d.figures;
                        tr data-date=(d.date.to_string()) {
                            td { (d.date.to_string()) @if *open { " " (ctx.t("days.so_far")) } }
                            td.n { (yuan(f.open)) } td.n { (yuan(f.high)) }
                            td.n { (yuan(f.low)) } td.n { (yuan(f.close)) }
                            (cell(f.listed_volume_t, f.listed_turnover_fen))
                            (cell(f.block_volume_t, f.block_turnover_fen))
                            (cell(f.one_way_volume_t, f.one_way_turnover_fen))
                            (cell(f.volume_t, f.turnover_fen))
                        }
                    }
                }
            }
            p.sub { (ctx.t("days.note")) }
        }
    }
}

fn trade_kind(ctx: &Ctx, k: TradeKindTag) -> &'static str {
    match k {
        TradeKindTag::Listed => ctx.t("trade.listed"),
        TradeKindTag::Block => ctx.t("trade.block"),
        TradeKindTag::OneWay => ctx.t("trade.one_way"),
    }
}

/// The five best levels each side, asks above bids, from the API's `book_json`.
pub fn book_table(ctx: &Ctx, book: &Value) -> Markup {
    let levels = |side: &str| -> Vec<(i64, u64, u64)> {
        book[side]
            .as_array()
            .map(|l| {
                l.iter()
                    .map(|v| {
                        (
                            v["price"].as_i64().unwrap_or(0),
                            v["qty"].as_u64().unwrap_or(0),
                            v["orders"].as_u64().unwrap_or(0),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let (bids, asks) = (levels("bids"), levels("asks"));
    let class = book["class"].as_str().unwrap_or("");
    html! {
        table.book #book data-class=(class) {
            thead { tr { th { (ctx.t("book.level")) } th.n { (ctx.t("book.price")) } th.n { (ctx.t("book.qty")) } th.n { (ctx.t("book.orders")) } } }
            tbody {
                @for i in (0..5usize).rev() {
                    tr.ask {
                        td { (ctx.t("book.ask")) " " (i + 1) }
                        @if let Some((p, q, o)) = asks.get(i) {
                            td.n.p { (yuan(*p)) } td.n { (group(*q)) } td.n { (o) }
                        } @else {
                            td.n { "—" } td.n { } td.n { }
                        }
                    }
                }
                @for i in 0..5usize {
                    tr.bid {
                        td { (ctx.t("book.bid")) " " (i + 1) }
                        @if let Some((p, q, o)) = bids.get(i) {
                            td.n.p { (yuan(*p)) } td.n { (group(*q)) } td.n { (o) }
                        } @else {
                            td.n { "—" } td.n { } td.n { }
                        }
                    }
                }
            }
        }
    }
}

/// Class tabs linking to `base?class=…`.
pub fn class_tabs(base: &str, all: &[UnitClass], on: Option<UnitClass>) -> Markup {
    html! {
        div.tabs {
            @for c in all {
                a.on[Some(*c) == on] href=(format!("{base}?class={}", pct_encode(&c.to_string()))) { (c.to_string()) }
            }
        }
    }
}

/// `/`: prices and volumes, the book, recent trades.
pub async fn market(
    AxState(app): AxState<Arc<App>>,
    ctx: Ctx,
    Query(q): Query<Params>,
) -> Response {
    let st = app.read();
    if let Err(e) = st.check(ctx.user(), Action::MarketData) {
        return deny(&ctx, &e);
    }
    let title = ctx.t("market.title");
    let Some(ex) = st.market.exchange() else {
        let body = html! {
            section.card { p { (ctx.t("market.closed")) } p { a href="/compliance" { (ctx.t("market.to_compliance")) } } }
        };
        return page(&ctx, StatusCode::OK, title, body);
    };
    let class = match chosen_class(&ctx, &q, Some(ex)) {
        Ok(Some(c)) => c,
        Ok(None) => UnitClass::Cea {
            vintage: crate::clock::beijing(ctx.caller.at).0.year(),
        },
        Err(m) => return error_page(&ctx, StatusCode::BAD_REQUEST, &m),
    };
    let (_, all) = classes(ex);
    let book = api::book_json(&st, class, 5);
    let points = series(ex, class);
    let trades: Vec<_> = ex
        .trades()
        .iter()
        .rev()
        .filter(|t| t.class == class)
        .take(20)
        .collect();
    let last = trades
        .first()
        .map(|t| t.price)
        .or_else(|| ex.prev_close(class));
    let prev = ex.prev_close(class);
    let today = ex.open_day();
    let today_volume = ex.day_so_far(class).map_or(0, |d| d.figures.volume_t);
    let chart = charts::price_volume(
        &points,
        &Labels {
            title: ctx.t("market.chart"),
            price: ctx.t("market.chart_price"),
            volume: ctx.t("market.chart_volume"),
            empty: ctx.t("market.chart_empty"),
        },
    );
    let body = html! {
        (class_tabs("/", &all, Some(class)))
        section.card {
            div.stats {
                div { span { (ctx.t("market.class")) } b #class { (class.to_string()) } }
                div { span { (ctx.t("market.last")) } b { (last.map_or("—".into(), yuan)) } }
                div { span { (ctx.t("market.prev_close")) } b { (prev.map_or("—".into(), yuan)) } }
                div { span { (ctx.t("market.today_volume")) } b { (group(today_volume)) } }
                div { span { (ctx.t("market.day")) } b { (today.map_or_else(|| ctx.t("market.day_closed").to_string(), |d| d.to_string())) } }
            }
            h2 { (ctx.t("market.chart")) }
            (chart)
        }
        section.card {
            (desk::download(&ctx, "/market/days.csv", "download-days"))
            h2 { (ctx.t("days.title")) " · " (class.to_string()) }
            (day_table(&ctx, ex, class))
        }
        div.grid {
            section.card {
                h2 { (ctx.t("book.title")) " · " (class.to_string()) }
                (book_table(&ctx, &book))
            }
            section.card {
                h2 { (ctx.t("market.trades")) }
                @if trades.is_empty() {
                    p.sub { (ctx.t("market.no_trades")) }
                } @else {
                    table #trades {
                        thead { tr { th { (ctx.t("market.time")) } th.n { (ctx.t("book.price")) } th.n { (ctx.t("book.qty")) } th { (ctx.t("market.kind")) } } }
                        tbody {
                            @for t in &trades {
                                tr { td { (t.date.to_string()) " " (hhmm(t.minute)) } td.n { (yuan(t.price)) } td.n { (group(t.qty)) } td { (trade_kind(&ctx, t.kind)) } }
                            }
                        }
                    }
                }
            }
        }
        p { a href="/compliance" { (ctx.t("market.to_compliance")) " →" } }
    };
    page(&ctx, StatusCode::OK, title, body)
}

/// The plan shown when none is asked for: the latest (by its first year, then id).
pub fn latest_plan(market: &Market) -> Option<String> {
    market
        .plan_ids()
        .filter_map(|p| market.plan(p))
        .max_by_key(|p| (p.years.first().copied(), p.id.clone()))
        .map(|p| p.id.clone())
}

/// Plan tabs linking to `base?plan=…`.
pub fn plan_tabs(st: &State, base: &str, on: &str) -> Markup {
    html! {
        div.tabs {
            @for p in st.market.plan_ids() {
                a.on[p == on] href=(format!("{base}?plan={}", pct_encode(p))) { (p) }
            }
        }
    }
}

/// The completion chart of a report's nation and provinces.
pub fn completion_chart(
    ctx: &Ctx,
    national: &ets_compliance::Totals,
    provinces: &[&ets_compliance::Totals],
) -> Markup {
    let mut bars = vec![Bar {
        label: ctx.t("compliance.national").to_string(),
        num: national.completion_volume.num,
        den: national.completion_volume.den,
        total: true,
    }];
    bars.extend(provinces.iter().map(|p| Bar {
        label: ctx.province(&p.name),
        num: p.completion_volume.num,
        den: p.completion_volume.den,
        total: false,
    }));
    let empty = ctx.t("compliance.none");
    if national.companies == 0 {
        return charts::completion_bars(&[], ctx.t("compliance.chart"), empty);
    }
    let start = charts::axis_start(&bars);
    html! {
        (charts::completion_bars(&bars, ctx.t("compliance.chart"), empty))
        @if start > 0 {
            p.sub #axis-note { (ctx.t("compliance.axis_from")) " " (charts::tenths(start)) " " (ctx.t("compliance.axis_why")) }
        }
    }
}

/// The table of nation and provinces: progress by volume and by count.
pub fn totals_table(
    ctx: &Ctx,
    national: &ets_compliance::Totals,
    provinces: &[&ets_compliance::Totals],
) -> Markup {
    let row = |t: &ets_compliance::Totals, name: &str, nat: bool| {
        html! {
            tr.nat[nat] {
                td { (name) }
                td.n { (t.companies) }
                td.n { (group(t.allocated_t)) }
                td.n { (group(t.verified_t)) }
                td.n { (group(t.obligation_t)) }
                td.n { (group(t.surrendered_t)) }
                td.n { (group(t.shortfall_t)) }
                td.n { (percent(t.completion_volume.num, t.completion_volume.den)) }
                td.n { (t.complied) "/" (t.companies) " · " (percent(t.completion_count.num, t.completion_count.den)) }
            }
        }
    };
    html! {
        table #totals {
            thead { tr {
                th { (ctx.t("compliance.region")) }
                th.n { (ctx.t("compliance.companies")) }
                th.n { (ctx.t("compliance.allocated")) }
                th.n { (ctx.t("compliance.verified")) }
                th.n { (ctx.t("compliance.obligation")) }
                th.n { (ctx.t("compliance.surrendered")) }
                th.n { (ctx.t("compliance.shortfall")) }
                th.n { (ctx.t("compliance.by_volume")) }
                th.n { (ctx.t("compliance.by_count")) }
            } }
            tbody {
                (row(national, ctx.t("compliance.national"), true))
                @for p in provinces { (row(p, &ctx.province(&p.name), false)) }
            }
        }
    }
}

pub fn status_tag(ctx: &Ctx, s: ets_compliance::Status) -> Markup {
    use ets_compliance::Status;
    let (class, key) = match s {
        Status::Complied => ("ok", "status.complied"),
        Status::Partly => ("warn", "status.partly"),
        Status::NotAtAll => ("bad", "status.not_at_all"),
    };
    html! { span class=(format!("tag {class}")) { (ctx.t(key)) } }
}

/// Company rows per page of `/compliance`.
pub const PER_PAGE: usize = 50;

/// `/compliance`: the published compliance of a plan, as `GET /api/public/compliance/{plan}`;
/// its companies filtered by province (English or Chinese) and status, 50 a page, each filter
/// downloadable as CSV. A bureau user sees its province unless it asks for another; company
/// rows are public once the cycle is assessed, shown before that to who may read them.
pub async fn compliance(
    AxState(app): AxState<Arc<App>>,
    ctx: Ctx,
    Query(q): Query<Params>,
) -> Response {
    let st = app.read();
    if let Err(e) = st.check(ctx.user(), Action::PublishedCompliance) {
        return deny(&ctx, &e);
    }
    let title = ctx.t("compliance.title");
    let Some(plan) = q.get("plan").cloned().or_else(|| latest_plan(&st.market)) else {
        return page(
            &ctx,
            StatusCode::OK,
            title,
            html! { section.card { p { (ctx.t("compliance.no_plan")) } } },
        );
    };
    let report = match st.market.compliance_report(&plan) {
        Ok(r) => r,
        Err(e) => return error_page(&ctx, StatusCode::NOT_FOUND, &e.to_string()),
    };
    let f = match desk::filters(&ctx, &st, &q) {
        Ok(f) => f,
        Err(m) => return error_page(&ctx, StatusCode::BAD_REQUEST, &m),
    };
    let provinces: Vec<&ets_compliance::Totals> = report.provinces.iter().collect();
    let visible: Vec<&ets_compliance::CompanyResult> = report
        .companies
        .iter()
        .filter(|c| desk::may_see_company(&st, &ctx, &report, &c.company))
        .collect();
    let shown: Vec<&ets_compliance::CompanyResult> =
        visible.iter().copied().filter(|c| f.keep(c)).collect();
    let pages = shown.len().div_ceil(PER_PAGE).max(1);
    let on = f.page.min(pages);
    let rows = &shown[(on - 1) * PER_PAGE..(on * PER_PAGE).min(shown.len())];
    let query = f.query(&plan);
    let chosen = f.province.unwrap_or("all");
    let body = html! {
        (plan_tabs(&st, "/compliance", &plan))
        section.card {
            h2 { (ctx.t("compliance.plan")) " " (plan) }
            p.sub {
                @match report.assessed_on {
                    Some(d) => { (ctx.t("compliance.assessed_on")) " " (d.to_string()) }
                    None => { (ctx.t("compliance.open")) }
                }
            }
            (completion_chart(&ctx, &report.national, &provinces))
        }
        section.card {
            (desk::download(&ctx, &format!("/compliance/provinces.csv?plan={}", pct_encode(&plan)), "download-provinces"))
            h2 { (ctx.t("compliance.by_province")) }
            (totals_table(&ctx, &report.national, &provinces))
        }
        // Company results are published with the assessment, not while the cycle is open.
        @if !visible.is_empty() {
            section.card #companies {
                (desk::download(&ctx, &format!("/compliance/companies.csv?{query}"), "download-companies"))
                h2 { (ctx.t("compliance.by_company")) }
                form.entry #filters method="get" action="/compliance" {
                    input type="hidden" name="plan" value=(plan);
                    label { (ctx.t("company.province"))
                        select name="province" {
                            option value="all" selected[chosen == "all"] { (ctx.t("filter.all")) }
                            @for (en, _) in ets_types::PROVINCES {
                                option value=(en) selected[chosen == *en] { (ctx.province(en)) }
                            }
                        }
                    }
                    label { (ctx.t("compliance.status"))
                        select name="status" {
                            option value="all" selected[f.status.is_none()] { (ctx.t("filter.all")) }
                            @for s in desk::STATUSES {
                                option value=(s) selected[f.status.as_deref() == Some(*s)] { (ctx.t(&format!("filter.{s}"))) }
                            }
                        }
                    }
                    button.go type="submit" { (ctx.t("filter.apply")) }
                }
                p.sub #filter-count { (ctx.t("filter.count")) " " (shown.len()) " / " (visible.len()) }
                table #company-table {
                    thead { tr {
                        th { (ctx.t("company.id")) } th { (ctx.t("company.name")) } th { (ctx.t("company.province")) }
                        th.n { (ctx.t("compliance.obligation")) } th.n { (ctx.t("compliance.surrendered")) }
                        th.n { (ctx.t("compliance.shortfall")) } th { (ctx.t("compliance.status")) }
                    } }
                    tbody {
                        @for c in rows {
                            tr data-company=(c.company.to_string()) {
                                td { (c.company.to_string()) }
                                td { (st.market.company(&c.company).map_or("", |x| x.name.as_str())) }
                                td { (ctx.province(&c.province)) }
                                td.n { (group(c.obligation_t)) } td.n { (group(c.surrendered_t)) }
                                td.n { (group(c.shortfall_t)) } td { (status_tag(&ctx, c.status)) }
                            }
                        }
                    }
                }
                @if pages > 1 {
                    nav.pages #pages {
                        @if on > 1 { a rel="prev" href=(format!("/compliance?{query}&page={}", on - 1)) { "‹" } }
                        @for n in 1..=pages {
                            @if n == on {
                                span.on { (n) }
                            } @else if n <= 2 || n + 1 >= pages || n.abs_diff(on) <= 2 {
                                a href=(format!("/compliance?{query}&page={n}")) { (n) }
                            } @else if n == 3 || n + 2 == pages {
                                span { "…" }
                            }
                        }
                        @if on < pages { a rel="next" href=(format!("/compliance?{query}&page={}", on + 1)) { "›" } }
                    }
                }
            }
        }
        p { a href="/" { "← " (ctx.t("nav.market")) } }
    };
    page(&ctx, StatusCode::OK, title, body)
}
