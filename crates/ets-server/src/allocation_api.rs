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

/// The handler of `GET /api/allocations`.
pub async fn list(
    AxState(app): AxState<Arc<App>>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let company = q
        .get("company")
        .map(|c| {
            CompanyId::parse(c)
                .map_err(|e| ApiError::bad_request("malformed", e.to_string(), Some("company")))
        })
        .transpose()?;
    let st = app.read();
    let sheets = visible(
        &st,
        &caller,
        q.get("plan").map(String::as_str),
        company.as_ref(),
    )?;
    Ok(Json(json!({ "allocations": sheets })))
}

/// The figures `caller` may see: of `company` (403 when the caller may not read it), or of every
/// company the caller may read; only `plan` when given.
///
/// # Errors
/// 401 for nobody logged in, 403 for a company the caller may not read, 404 for an unknown plan
/// (or, to those who may read any company, an unknown company).
pub fn visible(
    st: &State,
    caller: &Caller,
    plan: Option<&str>,
    company: Option<&CompanyId>,
) -> Result<Vec<CompanyYearAllocation>, ApiError> {
    let user = caller.user.as_deref();
    st.check(user, Action::Own)?;
    let market = |c: Option<&CompanyId>| {
        st.market
            .unit_allocations(plan, c)
            .map_err(|e| ApiError::from_market(&e))
    };
    if let Some(c) = company {
        // Asked before the company is looked up: nobody learns which ids exist from a 404.
        st.check(user, Action::ReadCompany(c))?;
        return market(Some(c));
    }
    if let Some(p) = plan
        && st.market.plan(p).is_none()
    {
        return Err(ApiError::from_market(
            &ets_market::MarketError::UnknownPlan(p.to_string()),
        ));
    }
    let all = st.market.company_ids().count();
    let readable: Vec<&CompanyId> = st
        .market
        .company_ids()
        .filter(|c| st.check(user, Action::ReadCompany(c)).is_ok())
        .collect();
    if readable.len() == all {
        return market(None);
    }
    let mut out = Vec::new();
    for c in readable {
        out.extend(market(Some(c))?);
    }
    // In the order of the whole market's list: plan, company, year.
    out.sort_by(|a, b| (&a.plan, &a.company, a.year).cmp(&(&b.plan, &b.company, b.year)));
    Ok(out)
}
