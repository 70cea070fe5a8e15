//! Who may use the system: users and their roles, API tokens, browser sessions, account-opening
//! requests, four-eyes instructions and trusted-account lists.
//!
//! **Architecture Invariant:** pure and deterministic, like the market. Every change is an
//! [`AccessEvent`] that the writer journals next to the market's events and that replay applies
//! in order; times come in with the events (milliseconds since the Unix epoch, read at the edge).
//! Secrets are never stored: passwords as Argon2 PHC strings, tokens and sessions as SHA-256.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ets_market::{Command, Market};
use ets_types::{AccountId, Company, CompanyId, GeneratingUnit};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who did what, when, from where, and how it ended: one per request, in the journal.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Audit {
    /// Milliseconds since the Unix epoch (the server's clock).
    pub at: i64,
    pub who: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    pub from: String,
    pub method: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_sha256: Option<Digest>,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The response body of a request with an idempotency key, for answering a retry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
    /// An aggregated entry: this many requests of the same who, method, route, status and code
    /// from `at` over one period (refusals and anonymous requests are journaled so, not one
    /// record each). Absent: one request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

impl Audit {
    /// A copy without the remembered response.
    pub fn clone_head(&self) -> Audit {
        Audit {
            at: self.at,
            who: self.who.clone(),
            role: self.role,
            from: self.from.clone(),
            method: self.method.clone(),
            path: self.path.clone(),
            key: self.key.clone(),
            body_sha256: self.body_sha256.clone(),
            status: self.status,
            code: self.code.clone(),
            response: None,
            count: self.count,
        }
    }
}

/// A SHA-256 digest, as lowercase hex in JSON.
pub type Digest = String;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The national regulator: everything.
    Regulator,
    /// A provincial ecology and environment bureau: the companies of its province.
    Bureau,
    /// A representative of a covered company: its company's accounts.
    Company,
    /// A third-party verifier: the companies assigned to it.
    Verifier,
    /// An exchange member: its trading account.
    Member,
    /// Read-only, everything.
    Auditor,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Regulator,
        Role::Bureau,
        Role::Company,
        Role::Verifier,
        Role::Member,
        Role::Auditor,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Regulator => "regulator",
            Role::Bureau => "bureau",
            Role::Company => "company",
            Role::Verifier => "verifier",
            Role::Member => "member",
            Role::Auditor => "auditor",
        }
    }
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    pub display: String,
    pub role: Role,
    /// Bureau: its province.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub province: Option<String>,
    /// Company representative: its company.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<CompanyId>,
    /// Exchange member: the holder name of its trading account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<String>,
    /// Argon2id PHC string.
    pub password: String,
    pub active: bool,
}

/// A document attached to an account-opening request (a business licence, an ID card scan).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Document {
    pub name: String,
    pub media_type: String,
    /// Hex SHA-256 of the content, computed on receipt.
    pub sha256: Digest,
    pub bytes: u64,
    /// The content, base64 as received.
    pub content_base64: String,
}

/// A representative named in an account-opening request; becomes a user when approved.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Representative {
    pub name: String,
    pub display: String,
    /// Argon2id PHC string of the password the applicant chose.
    pub password: String,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Applicant {
    /// A covered company with its generating units.
    Company {
        company: Company,
        units: Vec<GeneratingUnit>,
    },
    /// An institution or individual trader: a holding and trading account.
    Holder { holder: String },
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Pending,
    Approved,
    Rejected,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct AccountRequest {
    pub id: u64,
    pub applicant: Applicant,
    pub documents: Vec<Document>,
    pub representatives: Vec<Representative>,
    pub submitted_at: i64,
    pub status: RequestStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What a company's representatives instruct under four eyes.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Instruction {
    /// A registry transfer or surrender (the market command it will execute).
    Command { command: Command },
    /// Add an account to the company's trusted list.
    Trust { account: AccountId },
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstructionStatus {
    /// Waiting for a second representative.
    Pending,
    /// Approved and executed.
    Executed,
    /// Approved, but the market refused it when it was executed.
    Failed,
    Rejected,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct PendingInstruction {
    pub id: u64,
    pub company: CompanyId,
    pub instruction: Instruction,
    pub initiated_by: String,
    pub initiated_at: i64,
    pub status: InstructionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// An entry of a company's trusted-account list.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Trusted {
    pub account: AccountId,
    pub added_at: i64,
    /// Transfers to the account are allowed from this instant on.
    pub effective_at: i64,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct TokenInfo {
    pub user: String,
    pub label: String,
    pub issued_at: i64,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct SessionInfo {
    pub user: String,
    pub expires_at: i64,
}

/// A change to the access state. Journaled; replay applies them in order.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "access", rename_all = "snake_case")]
pub enum AccessEvent {
    UserCreated {
        user: User,
    },
    UserDeactivated {
        name: String,
    },
    VerifierAssigned {
        verifier: String,
        company: CompanyId,
    },
    TokenIssued {
        token_sha256: Digest,
        info: TokenInfo,
    },
    SessionOpened {
        session_sha256: Digest,
        info: SessionInfo,
    },
    SessionClosed {
        session_sha256: Digest,
    },
    AccountRequested {
        request: AccountRequest,
    },
    AccountRequestDecided {
        id: u64,
        approved: bool,
        by: String,
        reason: Option<String>,
    },
    InstructionProposed {
        instruction: PendingInstruction,
    },
    InstructionDecided {
        id: u64,
        status: InstructionStatus,
        by: String,
        outcome: Option<String>,
    },
    TrustedAdded {
        company: CompanyId,
        entry: Trusted,
    },
    TrustedRemoved {
        company: CompanyId,
        account: AccountId,
    },
    /// One API token revoked (by its owner or the regulator): it stops working at once.
    TokenRevoked {
        token_sha256: Digest,
        by: String,
    },
    /// "Log out everywhere": every session of `user` closed.
    SessionsClosed {
        user: String,
        by: String,
    },
    /// A user's password replaced (the new one as an Argon2id PHC string, never the secret).
    /// Every token of the user is revoked and every session closed except `kept` (the session
    /// from which users change their own password). `must_change`: a temporary password set by
    /// the regulator, which only lets its user change it.
    PasswordSet {
        user: String,
        password: String,
        must_change: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kept: Option<Digest>,
        by: String,
    },
}

/// The public id of a token or session: the first 16 hex digits of its digest. It names it in
/// lists and revocations and reveals nothing of the secret (a digest of a 256-bit random value).
pub fn credential_id(digest: &str) -> &str {
    digest.get(..CREDENTIAL_ID_LEN).unwrap_or(digest)
}

/// Hex digits of a [`credential_id`].
pub const CREDENTIAL_ID_LEN: usize = 16;

/// The access state.
#[derive(Clone, Debug, Default)]
pub struct Access {
    users: BTreeMap<String, User>,
    /// verifier → companies assigned to it.
    assignments: BTreeMap<String, Vec<CompanyId>>,
    tokens: HashMap<Digest, TokenInfo>,
    sessions: HashMap<Digest, SessionInfo>,
    requests: BTreeMap<u64, AccountRequest>,
    instructions: BTreeMap<u64, PendingInstruction>,
    trusted: BTreeMap<CompanyId, Vec<Trusted>>,
    /// Users whose password the regulator reset: they may only change it.
    must_change: BTreeSet<String>,
}

/// What [`Access::check_invariants`] counted.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct AccessSummary {
    pub users: usize,
    pub active: usize,
    pub tokens: usize,
    pub sessions: usize,
    pub requests: usize,
    pub instructions: usize,
}

/// Why an access event cannot apply (a replay of a journal this build does not understand).
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("{0}")]
pub struct AccessError(pub String);

impl Access {
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }
    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.users.values()
    }
    pub fn has_users(&self) -> bool {
        !self.users.is_empty()
    }
    /// Companies assigned to a verifier.
    pub fn assigned(&self, verifier: &str) -> &[CompanyId] {
        self.assignments
            .get(verifier)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
    /// The active user a token digest belongs to.
    pub fn token_user(&self, digest: &str) -> Option<&User> {
        let info = self.tokens.get(digest)?;
        self.users.get(&info.user).filter(|u| u.active)
    }
    /// The active user of an unexpired session.
    pub fn session_user(&self, digest: &str, now: i64) -> Option<&User> {
        let info = self.sessions.get(digest).filter(|s| s.expires_at > now)?;
        self.users.get(&info.user).filter(|u| u.active)
    }
    /// Whether `user` logs in with a temporary password and must change it first.
    pub fn must_change_password(&self, user: &str) -> bool {
        self.must_change.contains(user)
    }
    /// The API tokens of `user`, by digest, oldest first.
    pub fn tokens_of(&self, user: &str) -> Vec<(&Digest, &TokenInfo)> {
        let mut v: Vec<_> = self.tokens.iter().filter(|(_, t)| t.user == user).collect();
        v.sort_by(|a, b| (a.1.issued_at, a.0).cmp(&(b.1.issued_at, b.0)));
        v
    }
    /// The unexpired sessions of `user`, by digest, soonest to expire first.
    pub fn sessions_of(&self, user: &str, now: i64) -> Vec<(&Digest, &SessionInfo)> {
        let mut v: Vec<_> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.user == user && s.expires_at > now)
            .collect();
        v.sort_by(|a, b| (a.1.expires_at, a.0).cmp(&(b.1.expires_at, b.0)));
        v
    }
    /// The token whose [`credential_id`] is `id`.
    pub fn token_by_id(&self, id: &str) -> Option<(&Digest, &TokenInfo)> {
        self.tokens.iter().find(|(d, _)| credential_id(d) == id)
    }
    /// The session whose [`credential_id`] is `id`.
    pub fn session_by_id(&self, id: &str) -> Option<(&Digest, &SessionInfo)> {
        self.sessions.iter().find(|(d, _)| credential_id(d) == id)
    }
    pub fn request(&self, id: u64) -> Option<&AccountRequest> {
        self.requests.get(&id)
    }
    pub fn requests(&self) -> impl Iterator<Item = &AccountRequest> {
        self.requests.values()
    }
    pub fn next_request_id(&self) -> u64 {
        self.requests.keys().next_back().map_or(1, |k| k + 1)
    }
    pub fn instruction(&self, id: u64) -> Option<&PendingInstruction> {
        self.instructions.get(&id)
    }
    pub fn instructions(&self) -> impl Iterator<Item = &PendingInstruction> {
        self.instructions.values()
    }
    pub fn next_instruction_id(&self) -> u64 {
        self.instructions.keys().next_back().map_or(1, |k| k + 1)
    }
    pub fn trusted(&self, company: &CompanyId) -> &[Trusted] {
        self.trusted
            .get(company)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
    /// Whether transfers from `company` to `account` are allowed at `now`.
    pub fn is_trusted(&self, company: &CompanyId, account: AccountId, now: i64) -> bool {
        self.trusted(company)
            .iter()
            .any(|t| t.account == account && t.effective_at <= now)
    }
    /// Active representatives of a company.
    pub fn representatives(&self, company: &CompanyId) -> Vec<&User> {
        self.users
            .values()
            .filter(|u| u.active && u.role == Role::Company && u.company.as_ref() == Some(company))
            .collect()
    }

    /// Applies one event. Events are checked by the writer before they are journaled; an event
    /// that does not fit here means the journal and this build disagree.
    pub fn apply(&mut self, event: &AccessEvent) -> Result<(), AccessError> {
        match event {
            AccessEvent::UserCreated { user } => {
                if self.users.contains_key(&user.name) {
                    return Err(AccessError(format!("user {} exists", user.name)));
                }
                self.users.insert(user.name.clone(), user.clone());
            }
            AccessEvent::UserDeactivated { name } => {
                self.users
                    .get_mut(name)
                    .ok_or_else(|| AccessError(format!("no user {name}")))?
                    .active = false;
            }
            AccessEvent::VerifierAssigned { verifier, company } => {
                let list = self.assignments.entry(verifier.clone()).or_default();
                if !list.contains(company) {
                    list.push(company.clone());
                }
            }
            AccessEvent::TokenIssued { token_sha256, info } => {
                self.tokens.insert(token_sha256.clone(), info.clone());
            }
            AccessEvent::SessionOpened {
                session_sha256,
                info,
            } => {
                self.sessions.insert(session_sha256.clone(), info.clone());
            }
            AccessEvent::SessionClosed { session_sha256 } => {
                self.sessions.remove(session_sha256);
            }
            AccessEvent::AccountRequested { request } => {
                self.requests.insert(request.id, request.clone());
            }
            AccessEvent::AccountRequestDecided {
                id,
                approved,
                by,
                reason,
            } => {
                let r = self
                    .requests
                    .get_mut(id)
                    .ok_or_else(|| AccessError(format!("no account request {id}")))?;
                r.status = if *approved {
                    RequestStatus::Approved
                } else {
                    RequestStatus::Rejected
                };
                r.decided_by = Some(by.clone());
                r.reason = reason.clone();
            }
            AccessEvent::InstructionProposed { instruction } => {
                self.instructions
                    .insert(instruction.id, instruction.clone());
            }
            AccessEvent::InstructionDecided {
                id,
                status,
                by,
                outcome,
            } => {
                let i = self
                    .instructions
                    .get_mut(id)
                    .ok_or_else(|| AccessError(format!("no instruction {id}")))?;
                i.status = status.clone();
                i.decided_by = Some(by.clone());
                i.outcome = outcome.clone();
            }
            AccessEvent::TrustedAdded { company, entry } => {
                let list = self.trusted.entry(company.clone()).or_default();
                list.retain(|t| t.account != entry.account);
                list.push(entry.clone());
            }
            AccessEvent::TrustedRemoved { company, account } => {
                if let Some(list) = self.trusted.get_mut(company) {
                    list.retain(|t| t.account != *account);
                }
            }
            AccessEvent::TokenRevoked { token_sha256, .. } => {
                self.tokens.remove(token_sha256).ok_or_else(|| {
                    AccessError(format!("no token {}", credential_id(token_sha256)))
                })?;
            }
            AccessEvent::SessionsClosed { user, .. } => {
                self.sessions.retain(|_, s| s.user != *user);
            }
            AccessEvent::PasswordSet {
                user,
                password,
                must_change,
                kept,
                ..
            } => {
                self.users
                    .get_mut(user)
                    .ok_or_else(|| AccessError(format!("no user {user}")))?
                    .password = password.clone();
                self.tokens.retain(|_, t| t.user != *user);
                self.sessions
                    .retain(|d, s| s.user != *user || kept.as_ref() == Some(d));
                if *must_change {
                    self.must_change.insert(user.clone());
                } else {
                    self.must_change.remove(user);
                }
            }
        }
        Ok(())
    }

    /// Drops sessions that expired before `now` (memory hygiene; not journaled, since an
    /// expired session is refused anyway).
    /// Checks that the access state agrees with itself and with the market: every token and
    /// session belongs to a user, every user's scope names something that exists (a company,
    /// an account holder), verifiers are assigned only existing companies, instructions and
    /// trusted lists belong to existing companies and trusted accounts exist, and request and
    /// instruction ids are their keys. Run after every replay (`ets verify` prints the counts).
    pub fn check_invariants(&self, market: &Market) -> Result<AccessSummary, String> {
        let user = |name: &str, what: &str| {
            self.users
                .get(name)
                .map(|_| ())
                .ok_or_else(|| format!("{what} belongs to {name:?}, who is not a user"))
        };
        let company = |c: &CompanyId, what: &str| {
            market
                .company(c)
                .map(|_| ())
                .ok_or_else(|| format!("{what} names company {c}, which is not registered"))
        };
        for (name, u) in &self.users {
            if *name != u.name {
                return Err(format!("user {name:?} is filed under another name"));
            }
            match u.role {
                Role::Company => match &u.company {
                    Some(c) => company(c, &format!("user {name}"))?,
                    None => return Err(format!("company user {name} has no company")),
                },
                Role::Member => match &u.holder {
                    Some(h) if market.resolve_account(h).is_some() => {}
                    Some(h) => {
                        return Err(format!(
                            "member {name} trades for {h:?}, who has no account"
                        ));
                    }
                    None => return Err(format!("member {name} has no account holder")),
                },
                Role::Bureau if u.province.is_none() => {
                    return Err(format!("bureau user {name} has no province"));
                }
                _ => {}
            }
        }
        for (verifier, companies) in &self.assignments {
            user(verifier, "a verifier assignment")?;
            for c in companies {
                company(c, &format!("the assignment of verifier {verifier}"))?;
            }
        }
        for info in self.tokens.values() {
            user(&info.user, &format!("API token {:?}", info.label))?;
        }
        for info in self.sessions.values() {
            user(&info.user, "a session")?;
        }
        for name in &self.must_change {
            user(name, "a pending password change")?;
        }
        for (id, r) in &self.requests {
            if *id != r.id {
                return Err(format!("account request {id} is filed under another id"));
            }
        }
        for (id, i) in &self.instructions {
            if *id != i.id {
                return Err(format!("instruction {id} is filed under another id"));
            }
            company(&i.company, &format!("instruction {id}"))?;
            user(&i.initiated_by, &format!("instruction {id}"))?;
        }
        for (c, list) in &self.trusted {
            company(c, "a trusted-account list")?;
            for t in list {
                if market.registry().account(t.account).is_none() {
                    return Err(format!(
                        "the trusted list of {c} names account {}, which does not exist",
                        t.account
                    ));
                }
            }
        }
        Ok(AccessSummary {
            users: self.users.len(),
            active: self.users.values().filter(|u| u.active).count(),
            tokens: self.tokens.len(),
            sessions: self.sessions.len(),
            requests: self.requests.len(),
            instructions: self.instructions.len(),
        })
    }

    pub fn sweep_sessions(&mut self, now: i64) {
        self.sessions.retain(|_, s| s.expires_at > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> User {
        User {
            name: name.into(),
            display: name.into(),
            role: Role::Auditor,
            province: None,
            company: None,
            holder: None,
            password: "old-phc".into(),
            active: true,
        }
    }

    fn digest(n: u8) -> Digest {
        format!("{n:02x}").repeat(32)
    }

    /// Two users, each with two tokens and two sessions.
    fn access() -> Access {
        let mut a = Access::default();
        for (i, name) in ["ann", "bob"].into_iter().enumerate() {
            let i = u8::try_from(i).unwrap() * 10;
            a.apply(&AccessEvent::UserCreated { user: user(name) })
                .unwrap();
            for k in 0..2 {
                let info = TokenInfo {
                    user: name.into(),
                    label: format!("t{k}"),
                    issued_at: i64::from(k),
                };
                a.apply(&AccessEvent::TokenIssued {
                    token_sha256: digest(i + k),
                    info,
                })
                .unwrap();
                let info = SessionInfo {
                    user: name.into(),
                    expires_at: 100 + i64::from(k),
                };
                a.apply(&AccessEvent::SessionOpened {
                    session_sha256: digest(i + 5 + k),
                    info,
                })
                .unwrap();
            }
        }
        a
    }

    #[test]
    fn one_token_and_all_sessions_of_one_user_are_revoked_alone() {
        let mut a = access();
        assert_eq!(credential_id(&digest(1)), &digest(1)[..16]);
        let (d, _) = a.token_by_id(credential_id(&digest(1))).unwrap();
        assert_eq!(d, &digest(1));
        a.apply(&AccessEvent::TokenRevoked {
            token_sha256: digest(1),
            by: "ann".into(),
        })
        .unwrap();
        assert!(a.token_user(&digest(1)).is_none());
        assert!(a.token_user(&digest(0)).is_some());
        assert_eq!(a.tokens_of("ann").len(), 1);
        assert_eq!(a.tokens_of("bob").len(), 2);
        // Revoking what is not there means the journal and the build disagree.
        assert!(
            a.apply(&AccessEvent::TokenRevoked {
                token_sha256: digest(1),
                by: "ann".into(),
            })
            .is_err()
        );
        a.apply(&AccessEvent::SessionsClosed {
            user: "bob".into(),
            by: "bob".into(),
        })
        .unwrap();
        assert!(a.sessions_of("bob", 0).is_empty());
        assert_eq!(a.sessions_of("ann", 0).len(), 2);
        assert_eq!(a.sessions_of("ann", 100).len(), 1, "one has expired by 100");
        assert!(a.session_user(&digest(5), 0).is_some());
    }

    #[test]
    fn a_new_password_revokes_every_other_credential_of_its_user() {
        let mut a = access();
        a.apply(&AccessEvent::PasswordSet {
            user: "ann".into(),
            password: "new-phc".into(),
            must_change: false,
            kept: Some(digest(6)),
            by: "ann".into(),
        })
        .unwrap();
        assert_eq!(a.user("ann").unwrap().password, "new-phc");
        assert!(a.tokens_of("ann").is_empty());
        let left: Vec<_> = a
            .sessions_of("ann", 0)
            .into_iter()
            .map(|(d, _)| d.clone())
            .collect();
        assert_eq!(left, vec![digest(6)]);
        assert_eq!(a.tokens_of("bob").len(), 2);
        assert_eq!(a.sessions_of("bob", 0).len(), 2);
        assert!(!a.must_change_password("ann"));
        // A reset by the regulator: nothing kept, and the user must change it.
        a.apply(&AccessEvent::PasswordSet {
            user: "bob".into(),
            password: "temp-phc".into(),
            must_change: true,
            kept: None,
            by: "reg".into(),
        })
        .unwrap();
        assert!(a.must_change_password("bob"));
        assert!(a.tokens_of("bob").is_empty() && a.sessions_of("bob", 0).is_empty());
        a.apply(&AccessEvent::PasswordSet {
            user: "bob".into(),
            password: "own-phc".into(),
            must_change: false,
            kept: None,
            by: "bob".into(),
        })
        .unwrap();
        assert!(!a.must_change_password("bob"));
        assert!(
            a.apply(&AccessEvent::PasswordSet {
                user: "nobody".into(),
                password: "x".into(),
                must_change: false,
                kept: None,
                by: "reg".into(),
            })
            .is_err()
        );
    }

    #[test]
    fn the_events_read_back_as_written() {
        let e = AccessEvent::PasswordSet {
            user: "ann".into(),
            password: "$argon2id$v=19$...".into(),
            must_change: true,
            kept: None,
            by: "reg".into(),
        };
        let text = serde_json::to_string(&e).unwrap();
        assert!(!text.contains("kept"), "{text}");
        assert_eq!(serde_json::from_str::<AccessEvent>(&text).unwrap(), e);
    }
}
