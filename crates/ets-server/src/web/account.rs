//! The account page of every logged-in user: change one's password, log out everywhere; for the
//! regulator, reset another user's password (the temporary password is shown on the answering
//! page once, never put in a cookie or a redirect). The checks are the API's
//! (`api::account`), and so are the journaled events.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State as AxState;
use axum::http::{StatusCode, header};
use axum::response::Response;
use maud::{Markup, html};

use super::{Ctx, guard, i18n, page, posted, see_other};
use crate::access::Role;
use crate::api::account::{AccountOp, change_from_form, reset_from_form};
use crate::core::Op;
use crate::{App, Audited, ErrorCode, api};

/// The page's forms, with an outcome above them when there is one.
fn account_page(ctx: &Ctx, app: &App, status: StatusCode, notice: Option<Markup>) -> Response {
    let must_change = ctx
        .user()
        .is_some_and(|u| app.read().access.must_change_password(u));
    let regulator = ctx.who.as_ref().is_some_and(|w| w.role == Role::Regulator);
    let body = html! {
        @if let Some(n) = notice { (n) }
        @if must_change {
            div.flash.err role="alert" #must-change { (ctx.t("account.must_change")) }
        }
        section.card.login #change-password {
            h2 { (ctx.t("account.change")) }
            form method="post" action="/password" {
                (guard(ctx))
                label { (ctx.t("account.old")) br;
                    input type="password" name="old_password" autocomplete="current-password" required;
                }
                label { (ctx.t("account.new")) br;
                    input type="password" name="new_password" autocomplete="new-password" minlength="12" required;
                }
                label { (ctx.t("account.confirm")) br;
                    input type="password" name="new_password_again" autocomplete="new-password" minlength="12" required;
                }
                button.go type="submit" { (ctx.t("account.change")) }
            }
        }
        @if !must_change {
            section.card.login #everywhere {
                h2 { (ctx.t("account.everywhere")) }
                p.sub { (ctx.t("account.everywhere_note")) }
                form method="post" action="/sessions/revoke-all" {
                    (guard(ctx))
                    button.no type="submit" { (ctx.t("account.everywhere")) }
                }
            }
        }
        @if regulator && !must_change {
            section.card.login #reset-password {
                h2 { (ctx.t("account.reset")) }
                p.sub { (ctx.t("account.reset_note")) }
                form method="post" action="/password/reset" {
                    (guard(ctx))
                    label { (ctx.t("login.username")) br;
                        input type="text" name="user" required;
                    }
                    button.go type="submit" { (ctx.t("account.reset")) }
                }
            }
        }
    };
    page(ctx, status, ctx.t("account.title"), body)
}

fn notice(ok: bool, text: &str) -> Markup {
    html! { div.flash.ok[ok].err[!ok] role="status" { (text) } }
}

pub async fn form(AxState(app): AxState<Arc<App>>, ctx: Ctx) -> Response {
    if ctx.user().is_none() {
        return see_other("/login?next=/password");
    }
    account_page(&ctx, &app, StatusCode::OK, None)
}

pub async fn change(AxState(app): AxState<Arc<App>>, ctx: Ctx, body: Bytes) -> Response {
    let p = match posted(&ctx, &body) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let (old, new) = (
        p.fields.get("old_password").cloned().unwrap_or_default(),
        p.fields.get("new_password").cloned().unwrap_or_default(),
    );
    if p.fields.get("new_password_again") != Some(&new) {
        let n = notice(false, ctx.t("account.mismatch"));
        let mut resp = account_page(&ctx, &app, StatusCode::UNPROCESSABLE_ENTITY, Some(n));
        resp.extensions_mut().insert(ErrorCode("malformed".into()));
        return resp;
    }
    let (status, code, recorded) = match change_from_form(&app, &ctx.caller, p.req, old, new).await
    {
        Ok(reply) if reply.status < 300 => {
            let mut resp = super::flash_redirect(true, ctx.t("account.changed").into(), "/home");
            resp.extensions_mut().insert(Audited);
            return resp;
        }
        Ok(reply) => (reply.status, reply.body, true),
        Err(e) => (e.status.as_u16(), e.body(), false),
    };
    refused(&ctx, &app, status, &code, recorded)
}

/// The page again with a refusal above the forms; `recorded`: the writer journaled it already
/// (otherwise the gate does, with its code).
fn refused(
    ctx: &Ctx,
    app: &App,
    status: u16,
    body: &serde_json::Value,
    recorded: bool,
) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let n = notice(false, &i18n::body_message(ctx.lang, body));
    let mut resp = account_page(ctx, app, status, Some(n));
    if recorded {
        resp.extensions_mut().insert(Audited);
    } else {
        let code = body["code"].as_str().unwrap_or("malformed").to_string();
        resp.extensions_mut().insert(ErrorCode(code));
    }
    resp
}

pub async fn log_out_everywhere(
    AxState(app): AxState<Arc<App>>,
    ctx: Ctx,
    body: Bytes,
) -> Response {
    let p = match posted(&ctx, &body) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let reply = app
        .submit(p.req, Op::Account(AccountOp::CloseAllSessions))
        .await;
    if reply.status >= 300 {
        return super::finish(&ctx, &reply, String::new(), "/password");
    }
    let mut resp = see_other("/");
    resp.headers_mut()
        .append(header::SET_COOKIE, api::session_cookie(&app, "", 0));
    resp.extensions_mut().insert(Audited);
    resp
}

pub async fn reset(AxState(app): AxState<Arc<App>>, ctx: Ctx, body: Bytes) -> Response {
    let p = match posted(&ctx, &body) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let user = p.field("user").to_string();
    let outcome = match api::requests::parse_user(&user, "user") {
        Err(e) => Err(e),
        Ok(user) => reset_from_form(&app, p.req, &user).await,
    };
    match outcome {
        Ok((Some(temporary), _)) => {
            let n = html! {
                div.flash.ok role="status" #temporary {
                    (ctx.t("account.reset_done")) " " b { (user) } ": "
                    code #temporary-password { (temporary) }
                }
            };
            let mut resp = account_page(&ctx, &app, StatusCode::OK, Some(n));
            resp.extensions_mut().insert(Audited);
            resp
        }
        Ok((None, reply)) if reply.status < 300 => {
            // The same form sent twice: the first answer showed the password.
            let n = notice(true, ctx.t("account.reset_replayed"));
            let mut resp = account_page(&ctx, &app, StatusCode::OK, Some(n));
            resp.extensions_mut().insert(Audited);
            resp
        }
        Ok((None, reply)) => refused(&ctx, &app, reply.status, &reply.body, true),
        Err(e) => refused(&ctx, &app, e.status.as_u16(), &e.body(), false),
    }
}
