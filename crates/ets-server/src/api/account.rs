//! A user's credentials: API tokens and browser sessions, listed by id and revoked one at a time
//! (by their owner or the regulator), every session of the caller at once ("log out
//! everywhere"), a user's own password change and the regulator's reset.
//!
//! Tokens and sessions are named by [`credential_id`], the first 16 hex digits of their
//! SHA-256 digest: it identifies them in lists and revocations and reveals nothing of the
//! secret. Passwords are checked and hashed in the HTTP layer, in the bounded hashing slots
//! (Argon2id is slow by design), never in the writer; the writer receives only PHC strings and
//! checks that nothing changed in between. Every change is an access event in the journal;
//! no secret is journaled, logged or kept (a temporary password is in the answer only, once).
//!
//! A reset sets a temporary password that the regulator hands to the user; with it the user may
//! only log in, see who they are, change it and log out (`password_change_required` otherwise,
//! see [`allowed_before_change`]). Setting any password revokes every token of its user and
//! closes every session, except, for a change of one's own, the session that made it.

use axum::extract::{Path, State as AxState};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::{BTreeSet, HashMap};

use super::requests::{Empty, Schema, Text, decode, parse_user, request};
use super::{
    AppState, JsonResult, OVERSEERS, Post, REGULATOR, Roles, Route, check_password, hash_password,
    idempotency_key, random_token, route, verify_password,
};
use crate::access::{AccessEvent, Digest, Role, credential_id};
use crate::authz::Action;
use crate::core::{Op, RequestCtx, State};
use crate::error::ApiError;
use crate::{App, Audited, Caller, sha256_hex};

request!(
    /// A user's own password change.
    NewPassword {
        /// The password in use now (the temporary one after a reset).
        old_password: Text<1024>,
        /// At least 12 characters, different from the old one.
        new_password: Text<1024>,
    }
);

/// What the writer does for this module.
#[derive(Debug)]
pub enum AccountOp {
    RevokeToken {
        id: String,
    },
    RevokeSession {
        id: String,
    },
    /// Every session of the caller.
    CloseAllSessions,
    /// The caller's own password; `old_phc` is the hash the old password was checked against
    /// (refused if it changed meanwhile), `kept` the session that asked.
    ChangePassword {
        old_phc: String,
        new_phc: String,
        kept: Option<Digest>,
    },
    /// The regulator's reset of `user` to a temporary password (its hash).
    ResetPassword {
        user: String,
        phc: String,
    },
    /// `ets admin set-password` on the store, without a server (no HTTP route leads here): the
    /// operator sets a password they chose, e.g. for a regulator locked out.
    AdminSetPassword {
        user: String,
        phc: String,
    },
}

/// The routes of this module, appended to the API's table.
pub fn routes() -> Vec<Route> {
    vec![
        route(
            "get",
            "/api/me/credentials",
            "users",
            "Your API tokens and browser sessions, by id (never the secrets)",
            "any logged-in user",
            Roles::LoggedIn,
            get(my_credentials),
        ),
        route(
            "get",
            "/api/users/{name}/credentials",
            "users",
            "A user's API tokens and browser sessions, by id (never the secrets)",
            "regulator, auditor",
            OVERSEERS,
            get(user_credentials),
        )
        .codes(&["not_found"]),
        route(
            "post",
            "/api/tokens/{credential}/revoke",
            "users",
            "Revoke one API token (by the id of /api/me/credentials): it stops working at once",
            "its owner, or the regulator",
            Roles::LoggedIn,
            post(|w: Post| async move { w.revoke("credential", true).await }),
        )
        .body::<Empty>(json!({}))
        .codes(&["not_found"]),
        route(
            "post",
            "/api/sessions/{credential}/revoke",
            "users",
            "End one browser session (by the id of /api/me/credentials)",
            "its owner, or the regulator",
            Roles::LoggedIn,
            post(|w: Post| async move { w.revoke("credential", false).await }),
        )
        .body::<Empty>(json!({}))
        .codes(&["not_found"]),
        route(
            "post",
            "/api/sessions/revoke-all",
            "users",
            "Log out everywhere: end every browser session of the caller, this one included",
            "any logged-in user",
            Roles::LoggedIn,
            post(|w: Post| async move {
                w.write(|_: Empty| Ok(Op::Account(AccountOp::CloseAllSessions)))
                    .await
            }),
        )
        .body::<Empty>(json!({})),
        route(
            "post",
            "/api/password",
            "users",
            "Change your own password: revokes your API tokens and ends your other sessions",
            "any logged-in user",
            Roles::LoggedIn,
            post(change_password),
        )
        .body::<NewPassword>(json!({"old_password": "correct horse battery", "new_password": "a new long passphrase"}))
        .codes(&[
            "wrong_password",
            "same_password",
            "weak_password",
            "login_throttled",
            "password_changed",
            "busy",
        ]),
        route(
            "post",
            "/api/users/{name}/reset-password",
            "users",
            "Reset a user's password to a temporary one, shown once, which the user must change at the next login; revokes the user's tokens and ends their sessions",
            "regulator",
            REGULATOR,
            post(reset_password),
        )
        .body::<Empty>(json!({}))
        .codes(&["not_found", "busy"]),
    ]
}

/// What a user whose password was reset may still do: log in and out, see who they are, and
/// change the password (and the public pages, which need no login).
pub fn allowed_before_change(method: &str, path: &str) -> bool {
    matches!(
        (method, path),
        ("GET", "/api/me" | "/api/health" | "/password" | "/")
            | (
                "POST",
                "/api/password" | "/api/logout" | "/password" | "/logout"
            )
    ) || path.starts_with("/lang/")
        || path.starts_with("/static/")
}

/// The body listing `user`'s credentials; `current` marks the caller's own session.
fn credentials(st: &State, user: &str, now: i64, current: Option<&str>) -> Value {
    let tokens: Vec<Value> = st
        .access
        .tokens_of(user)
        .into_iter()
        .map(|(d, t)| json!({"id": credential_id(d), "label": t.label, "issued_at": t.issued_at}))
        .collect();
    let current = current.map(|s| sha256_hex(s.as_bytes()));
    let sessions: Vec<Value> = st
        .access
        .sessions_of(user, now)
        .into_iter()
        .map(|(d, s)| {
            json!({"id": credential_id(d), "expires_at": s.expires_at,
                   "current": current.as_deref() == Some(d.as_str())})
        })
        .collect();
    json!({
        "user": user,
        "must_change_password": st.access.must_change_password(user),
        "tokens": tokens,
        "sessions": sessions,
    })
}

async fn my_credentials(
    AxState(app): AxState<AppState>,
    Extension(caller): Extension<Caller>,
) -> JsonResult {
    let st = app.read();
    st.check(caller.user.as_deref(), Action::Own)?;
    let user = caller.user.as_deref().unwrap_or_default();
    Ok(Json(credentials(
        &st,
        user,
        caller.at,
        caller.session.as_deref(),
    )))
}

async fn user_credentials(
    AxState(app): AxState<AppState>,
    Extension(caller): Extension<Caller>,
    Path(p): Path<HashMap<String, String>>,
) -> JsonResult {
    let name = parse_user(p.get("name").map_or("", String::as_str), "name")?;
    let st = app.read();
    st.check(caller.user.as_deref(), Action::ReadAudit)?;
    if st.access.user(&name).is_none() {
        return Err(ApiError::not_found(format!("no user {name}")));
    }
    Ok(Json(credentials(&st, &name, caller.at, None)))
}

impl Post {
    /// Revokes the token or session named by the path's `param`.
    async fn revoke(&self, param: &str, token: bool) -> Response {
        let id = self.params.get(param).cloned().unwrap_or_default();
        self.write(|_: Empty| {
            Ok(Op::Account(if token {
                AccountOp::RevokeToken { id }
            } else {
                AccountOp::RevokeSession { id }
            }))
        })
        .await
    }
}

/// A password change through the API (see [`checked_change`]).
async fn change_password(w: Post) -> Response {
    let op = async {
        idempotency_key(&w.headers)?;
        let b: NewPassword = decode(&w.body)?;
        checked_change(&w.app, &w.caller, b.old_password.0, b.new_password.0).await
    }
    .await;
    w.send(op).await
}

fn field(mut e: ApiError, name: &str) -> ApiError {
    e.field = Some(name.to_string());
    e
}

/// A temporary password: 20 random characters the regulator can read out or type.
fn temporary_password() -> String {
    // 32 random bytes as hex, cut to 20 hex digits: 80 bits, and always at least 12 characters.
    random_token()[..20].to_string()
}

async fn reset_password(w: Post) -> Response {
    let temporary = temporary_password();
    let op = async {
        idempotency_key(&w.headers)?;
        let _: Empty = decode(&w.body)?;
        let user = parse_user(w.params.get("name").map_or("", String::as_str), "name")?;
        let pw = temporary.clone();
        let phc = w.app.hash(move || hash_password(&pw)).await??;
        Ok(Op::Account(AccountOp::ResetPassword { user, phc }))
    }
    .await;
    let resp = w.send(op).await;
    reveal_once(resp, &[("temporary_password", &temporary)]).await
}

/// A success with secrets made for it added to the answer (a new token, a temporary password):
/// the writer's answer, and its copy kept for a retry with the same key, never hold them. A
/// retry is answered that copy (`"replayed": true`) without the secrets: those of the retry were
/// never recorded, and the first answer's are shown once.
pub(super) async fn reveal_once(resp: Response, secrets: &[(&str, &str)]) -> Response {
    if resp.status().as_u16() != 201 {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let mut v: Value = match axum::body::to_bytes(body, 1 << 16).await {
        Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|_| json!({})),
        Err(_) => json!({}),
    };
    if v["replayed"] != json!(true) {
        for (name, secret) in secrets {
            v[*name] = json!(secret);
        }
    }
    let mut resp = (parts.status, Json(v)).into_response();
    resp.extensions_mut().insert(Audited);
    resp
}

/// Resets `user`'s password from the dashboard: the temporary password with the writer's
/// answer; `Err` when refused before the writer (nothing journaled yet).
pub async fn reset_from_form(
    app: &App,
    req: RequestCtx,
    user: &str,
) -> Result<(Option<String>, crate::core::Reply), ApiError> {
    let temporary = temporary_password();
    let pw = temporary.clone();
    let phc = app.hash(move || hash_password(&pw)).await??;
    let op = Op::Account(AccountOp::ResetPassword {
        user: user.to_string(),
        phc,
    });
    let reply = app.submit(req, op).await;
    // A repeated form (the same key) is answered the first reset: its password was shown then.
    let fresh = reply.status < 300 && reply.body["replayed"] != json!(true);
    Ok((fresh.then_some(temporary), reply))
}

/// Changes the caller's password from the dashboard (the same checks as the API): the writer's
/// answer, or `Err` when refused before the writer.
pub async fn change_from_form(
    app: &App,
    caller: &Caller,
    req: RequestCtx,
    old: String,
    new: String,
) -> Result<crate::core::Reply, ApiError> {
    let op = checked_change(app, caller, old, new).await?;
    Ok(app.submit(req, op).await)
}

/// The checks of a password change, then the new hash: every cheap check first (length,
/// back-off), then the old password against its hash and the new one hashed, each in a hashing
/// slot; a wrong old password counts as a failed login (a stolen session cannot guess it at
/// leisure).
async fn checked_change(
    app: &App,
    caller: &Caller,
    old: String,
    new: String,
) -> Result<Op, ApiError> {
    check_password(&new).map_err(|e| field(e, "new_password"))?;
    if old == new {
        return Err(ApiError::unprocessable(
            "same_password",
            "the new password must differ from the old one",
            Some("new_password"),
        ));
    }
    let user = caller.user.clone().ok_or_else(ApiError::unauthenticated)?;
    let wait = app
        .logins
        .lock()
        .expect("logins lock")
        .wait(&user, &caller.from, caller.at);
    if let Some(wait) = wait {
        return Err(ApiError::of(
            "login_throttled",
            format!(
                "too many wrong passwords for this user or from this address; retry in {wait} s"
            ),
            Some("old_password"),
        )
        .with("retry_after_s", wait));
    }
    let old_phc = app
        .read()
        .access
        .user(&user)
        .map(|u| u.password.clone())
        .ok_or_else(ApiError::unauthenticated)?;
    let phc = old_phc.clone();
    if !app.hash(move || verify_password(&old, &phc)).await? {
        app.logins
            .lock()
            .expect("logins lock")
            .failed(&user, &caller.from, caller.at);
        return Err(ApiError::unprocessable(
            "wrong_password",
            "the old password is wrong",
            Some("old_password"),
        ));
    }
    let new_phc = app.hash(move || hash_password(&new)).await??;
    Ok(Op::Account(AccountOp::ChangePassword {
        old_phc,
        new_phc,
        kept: caller.session.as_deref().map(|s| sha256_hex(s.as_bytes())),
    }))
}

/// Performs an op in the writer: the status, body and access events of its answer.
pub(crate) fn perform(
    st: &State,
    ctx: &RequestCtx,
    op: AccountOp,
) -> Result<(u16, Value, Vec<AccessEvent>), ApiError> {
    let name = ctx.user.as_deref();
    if let AccountOp::AdminSetPassword { user, phc } = op {
        if st.access.user(&user).is_none() {
            return Err(ApiError::not_found(format!("no user {user}")));
        }
        let body = json!({"user": user});
        let event = AccessEvent::PasswordSet {
            user,
            password: phc,
            must_change: false,
            kept: None,
            by: ctx.from.clone(),
        };
        return Ok((201, body, vec![event]));
    }
    st.check(name, Action::Own)?;
    let caller = st.user(name).ok_or_else(ApiError::unauthenticated)?;
    let by = caller.name.clone();
    let regulator = caller.role == Role::Regulator;
    // Someone else's credential is "not found" to all but the regulator: ids are not probed.
    let visible = |owner: &str| owner == by || regulator;
    match op {
        AccountOp::RevokeToken { id } => {
            let (digest, info) = st
                .access
                .token_by_id(&id)
                .filter(|(_, t)| visible(&t.user))
                .ok_or_else(|| ApiError::not_found(format!("no API token {}", clip(&id))))?;
            let body =
                json!({"revoked": credential_id(digest), "user": info.user, "label": info.label});
            let event = AccessEvent::TokenRevoked {
                token_sha256: digest.clone(),
                by,
            };
            Ok((201, body, vec![event]))
        }
        AccountOp::RevokeSession { id } => {
            let (digest, info) = st
                .access
                .session_by_id(&id)
                .filter(|(_, s)| visible(&s.user))
                .ok_or_else(|| ApiError::not_found(format!("no session {}", clip(&id))))?;
            let body = json!({"revoked": credential_id(digest), "user": info.user});
            let event = AccessEvent::SessionClosed {
                session_sha256: digest.clone(),
            };
            Ok((201, body, vec![event]))
        }
        AccountOp::CloseAllSessions => {
            let closed = st.access.sessions_of(&by, ctx.at).len();
            let body = json!({"user": by, "closed": closed});
            let event = AccessEvent::SessionsClosed {
                user: by.clone(),
                by,
            };
            Ok((201, body, vec![event]))
        }
        AccountOp::ChangePassword {
            old_phc,
            new_phc,
            kept,
        } => {
            if caller.password != old_phc {
                return Err(ApiError::conflict(
                    "password_changed",
                    "the password changed while this request was checked; try again",
                    Some("old_password"),
                ));
            }
            let body = json!({"user": by, "changed": true});
            let event = AccessEvent::PasswordSet {
                user: by.clone(),
                password: new_phc,
                must_change: false,
                kept,
                by,
            };
            Ok((201, body, vec![event]))
        }
        AccountOp::AdminSetPassword { .. } => unreachable!("performed above"),
        AccountOp::ResetPassword { user, phc } => {
            st.check(name, Action::Administer)?;
            if st.access.user(&user).is_none() {
                return Err(ApiError::not_found(format!("no user {user}")));
            }
            let body = json!({"user": user, "must_change_password": true});
            let event = AccessEvent::PasswordSet {
                user,
                password: phc,
                must_change: true,
                kept: None,
                by,
            };
            Ok((201, body, vec![event]))
        }
    }
}

/// A request body as its digest is journaled: unchanged, unless it holds a password (a JSON
/// field or a form field whose name contains `password`, at any depth), which is then left out.
/// The digest only tells a retry with the same key from a different request, and that needs
/// no password; an unsalted digest of a password would be a guessable copy of it.
pub fn without_secrets(body: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    use std::borrow::Cow;
    if !body.windows(8).any(|w| w.eq_ignore_ascii_case(b"password")) {
        return Cow::Borrowed(body);
    }
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.retain(|k, _| !k.to_ascii_lowercase().contains("password"));
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    if let Ok(mut v) = serde_json::from_slice::<Value>(body) {
        strip(&mut v);
        return Cow::Owned(v.to_string().into_bytes());
    }
    // A form: its fields in order, those named for a password left out.
    let kept: Vec<&[u8]> = body
        .split(|b| *b == b'&')
        .filter(|kv| {
            let name = kv.split(|b| *b == b'=').next().unwrap_or_default();
            !name.windows(8).any(|w| w.eq_ignore_ascii_case(b"password"))
        })
        .collect();
    Cow::Owned(kept.join(&b'&'))
}

/// `ets admin set-password`: sets `name`'s password directly in the store, without a server
/// (the store's lock keeps it from running beside one); revokes the user's tokens and sessions.
pub fn admin_set_password(
    location: &crate::store::Location,
    genesis: ets_types::Date,
    name: &str,
    password: &str,
    now_ms: i64,
) -> Result<(), String> {
    let phc = hash_password(password).map_err(|e| e.message)?;
    let app = App::open(
        location,
        genesis,
        crate::core::Policy::default(),
        std::sync::Arc::new(crate::clock::ManualClock::at(now_ms)),
        crate::Limits::default(),
    )
    .map_err(|e| e.to_string())?;
    let caller = Caller {
        user: None,
        role: None,
        session: None,
        from: "ets admin".into(),
        at: now_ms,
    };
    let ctx = caller.ctx("ADMIN", "ets admin set-password", None, None);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| e.to_string())?;
    let op = Op::Account(AccountOp::AdminSetPassword {
        user: name.to_string(),
        phc,
    });
    let reply = rt.block_on(app.submit(ctx, op));
    app.shutdown();
    if reply.status >= 300 {
        return Err(reply.body["message"]
            .as_str()
            .unwrap_or("refused")
            .to_string());
    }
    Ok(())
}

/// A caller-given id, cut short for a message.
fn clip(id: &str) -> String {
    id.chars().take(24).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_lose_their_passwords_before_their_digest() {
        let plain = br#"{"label":"robot"}"#;
        assert_eq!(
            &*without_secrets(plain),
            plain,
            "other bodies are unchanged"
        );
        let json = br#"{"name":"ann","password":"hunter2hunter2","reps":[{"n":"b","password":"s3cret-s3cret"}],"old_password":"x"}"#;
        let out = String::from_utf8(without_secrets(json).into_owned()).unwrap();
        assert_eq!(out, r#"{"name":"ann","reps":[{"n":"b"}]}"#);
        let form = b"csrf=abc&old_password=hunter2hunter2&new_password=s3cret-s3cret&new_password_again=s3cret-s3cret&idem=k";
        let out = String::from_utf8(without_secrets(form).into_owned()).unwrap();
        assert_eq!(out, "csrf=abc&idem=k");
    }
}
