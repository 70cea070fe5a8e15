//! `GET /api/allocations?plan=&company=`: each generating unit's pre-allocation and final
//! allocation with the inputs and correction factors that produced it
//! ([`ets_market::Market::unit_allocations`]); the same document as
//! `ets report allocation --json`. The company dashboard shows the same figures.
//!
//! Who sees what is the company detail's rule: a company's figures go to the regulator, the
//! auditor, the bureau of its province and its own representatives (`Action::ReadCompany`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State as AxState};
use axum::{Extension, Json};
use ets_market::CompanyYearAllocation;
use ets_types::CompanyId;
use serde_json::{Value, json};

use crate::authz::Action;
use crate::core::State;
use crate::error::ApiError;
use crate::{App, Caller};

/// Companies per answer when no `company` is named: a whole national market is thousands of
/// companies, tens of megabytes of figures, computed under the state's read lock.
pub const COMPANIES_PER_PAGE_DEFAULT: usize = 100;
pub const COMPANIES_PER_PAGE_MAX: usize = 1_000;

/// The handler of `GET /api/allocations?plan=&company=` (one company) or
/// `?plan=&after=&limit=` (the companies the caller may read, by id, a page at a time; `next` is
/// the `after` of the next page, `null` on the last).
pub async fn list(
    AxState(app): AxState<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let id = |field: &str| {
        q.get(field)
            .map(|c| {
                CompanyId::parse(c)
                    .map_err(|e| ApiError::bad_request("malformed", e.to_string(), Some(field)))
            })
            .transpose()
    };
    let (company, after) = (id("company")?, id("after")?);
    let limit = match q.get("limit") {
        None => COMPANIES_PER_PAGE_DEFAULT,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=COMPANIES_PER_PAGE_MAX).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(
                    "malformed",
                    format!("limit {s:?}: 1 to {COMPANIES_PER_PAGE_MAX} companies"),
                    Some("limit"),
                )
            })?,
    };
    let plan = q.get("plan").map(String::as_str);
    let st = app.read();
    match company {
        Some(c) => {
            let sheets = of_company(&st, &caller, plan, &c)?;
            Ok(Json(json!({ "allocations": sheets })))
        }
        None => {
            let (sheets, next) = page(&st, &caller, plan, after.as_ref(), limit)?;
            Ok(Json(json!({ "allocations": sheets, "next": next })))
        }
    }
}

/// One company's figures, to those who may read the company (the dashboard's table too).
///
/// # Errors
/// 401 for nobody logged in, 403 for a company the caller may not read (known or not), 404 for
/// an unknown plan or, to those who may read any company, an unknown company.
pub fn of_company(
    st: &State,
    caller: &Caller,
    plan: Option<&str>,
    company: &CompanyId,
) -> Result<Vec<CompanyYearAllocation>, ApiError> {
    let user = caller.user.as_deref();
    st.check(user, Action::Own)?;
    // Asked before the company is looked up: nobody learns which ids exist from a 404.
    st.check(user, Action::ReadCompany(company))?;
    st.market
        .unit_allocations(plan, Some(company))
        .map_err(|e| ApiError::from_market(&e))
}

/// The figures of up to `limit` companies the caller may read, by id, after `after`; and the
/// last company of the page when more may follow.
///
/// # Errors
/// 401 for nobody logged in, 404 for an unknown plan.
pub fn page(
    st: &State,
    caller: &Caller,
    plan: Option<&str>,
    after: Option<&CompanyId>,
    limit: usize,
) -> Result<(Vec<CompanyYearAllocation>, Option<CompanyId>), ApiError> {
    let user = caller.user.as_deref();
    st.check(user, Action::Own)?;
    if let Some(p) = plan
        && st.market.plan(p).is_none()
    {
        return Err(ApiError::from_market(
            &ets_market::MarketError::UnknownPlan(p.to_string()),
        ));
    }
    let mut readable = st
        .market
        .company_ids()
        .filter(|c| after.is_none_or(|a| *c > a))
        .filter(|c| st.check(user, Action::ReadCompany(c)).is_ok());
    let chosen: Vec<&CompanyId> = readable.by_ref().take(limit).collect();
    let next = match (readable.next(), chosen.last()) {
        (Some(_), Some(last)) => Some((*last).clone()),
        _ => None,
    };
    let mut out = Vec::new();
    for c in chosen {
        out.extend(
            st.market
                .unit_allocations(plan, Some(c))
                .map_err(|e| ApiError::from_market(&e))?,
        );
    }
    // As the whole market's list: plan, then company, then year.
    out.sort_by(|a, b| (&a.plan, &a.company, a.year).cmp(&(&b.plan, &b.company, b.year)));
    Ok((out, next))
}
