//! The gate's bounded bookkeeping of hostile traffic: the back-off of failed logins per user and
//! per address, and the tally of refusals and anonymous requests, journaled per period in
//! aggregated form instead of one record each (an anonymous flood must not fill the disk).
//!
//! Both are memory of bounded size: entries that can no longer matter are swept, and beyond
//! their cap new keys are folded into one.

use std::collections::{BTreeMap, HashMap};

/// Failed logins allowed per user name before the back-off starts.
pub const USER_FREE_FAILURES: u32 = 5;
/// Failed logins allowed per address (any user names) before the back-off starts.
pub const ADDRESS_FREE_FAILURES: u32 = 20;
/// The longest back-off, in seconds.
pub const MAX_BACKOFF_S: i64 = 15 * 60;
/// Failures older than this are forgotten (the count starts again).
pub const FAILURE_WINDOW_MS: i64 = 3600 * 1000;
/// Keys (user names and addresses) tracked at most.
const MAX_KEYS: usize = 100_000;

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    last_ms: i64,
    blocked_until_ms: i64,
}

/// Failed logins per user name and per address, with an exponential back-off: after the free
/// failures each further failure doubles the wait (1 s, 2 s, 4 s… at most 15 min), during which
/// every attempt is refused before its password is checked, right or wrong.
#[derive(Default)]
pub struct LoginBackoff {
    keys: HashMap<String, Failures>,
}

fn user_key(user: &str) -> String {
    format!("user {user}")
}

fn address_key(address: &str) -> String {
    format!("address {address}")
}

impl LoginBackoff {
    /// The seconds to wait before `user` may try again from `address`, if either is backing off.
    pub fn wait(&self, user: &str, address: &str, now: i64) -> Option<u64> {
        [user_key(user), address_key(address)]
            .iter()
            .filter_map(|k| self.keys.get(k))
            .map(|f| f.blocked_until_ms - now)
            .filter(|ms| *ms > 0)
            .max()
            .map(|ms| ((ms + 999) / 1000) as u64)
    }

    /// Records a failed login of `user` from `address`.
    pub fn failed(&mut self, user: &str, address: &str, now: i64) {
        if self.keys.len() >= MAX_KEYS {
            self.keys
                .retain(|_, f| f.blocked_until_ms > now || now - f.last_ms < FAILURE_WINDOW_MS / 4);
        }
        for (key, free) in [
            (user_key(user), USER_FREE_FAILURES),
            (address_key(address), ADDRESS_FREE_FAILURES),
        ] {
            if self.keys.len() >= MAX_KEYS && !self.keys.contains_key(&key) {
                // Full of recent failures: keep the ones known (the address's above all).
                continue;
            }
            let f = self.keys.entry(key).or_insert(Failures {
                count: 0,
                last_ms: now,
                blocked_until_ms: 0,
            });
            if now - f.last_ms > FAILURE_WINDOW_MS {
                f.count = 0;
            }
            f.count += 1;
            f.last_ms = now;
            if f.count >= free {
                let doublings = (f.count - free).min(20);
                let wait_s = (1i64 << doublings).min(MAX_BACKOFF_S);
                f.blocked_until_ms = now + wait_s * 1000;
            }
        }
    }

    /// A successful login: the user's failures are forgotten (the address's are not, so that
    /// one account of one's own does not reset a guessing campaign).
    pub fn succeeded(&mut self, user: &str) {
        self.keys.remove(&user_key(user));
    }
}

/// What a tallied request is counted under.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TallyKey {
    /// The user, or `public`.
    pub who: String,
    pub method: String,
    /// The route's template (`/api/companies/{id}`), or `*` when no route matched.
    pub route: String,
    pub status: u16,
    pub code: Option<String>,
}

/// The requests of one key in one period.
#[derive(Clone, Debug, Default)]
pub struct TallyCount {
    pub count: u64,
    /// Requests per address (at most [`MAX_ADDRESSES`] addresses; the rest are `others`).
    addresses: HashMap<String, u64>,
    others: u64,
}

/// Addresses named per key and period at most.
const MAX_ADDRESSES: usize = 1024;
/// Keys per period at most; beyond, requests are counted under one key of their status.
const MAX_TALLY_KEYS: usize = 4096;

impl TallyCount {
    /// The address that sent the most, and how many others sent some: `203.0.113.7` or
    /// `203.0.113.7 and 12 other addresses`.
    pub fn from(&self) -> String {
        let top = self
            .addresses
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
            .map_or_else(|| "unknown".to_string(), |(a, _)| a.clone());
        let others = self.addresses.len().saturating_sub(1) + usize::from(self.others > 0);
        if others == 0 {
            top
        } else {
            format!("{top} and {others} other addresses")
        }
    }
}

/// Requests counted per key over a period, then journaled as one aggregated audit entry per key.
pub struct Tally {
    pub period_ms: i64,
    /// The start of the current period.
    pub start: i64,
    counts: BTreeMap<TallyKey, TallyCount>,
}

impl Tally {
    pub fn new(period_ms: i64, now: i64) -> Tally {
        Tally {
            period_ms: period_ms.max(1),
            start: now,
            counts: BTreeMap::new(),
        }
    }

    /// Counts one request.
    pub fn count(&mut self, mut key: TallyKey, address: &str) {
        if self.counts.len() >= MAX_TALLY_KEYS && !self.counts.contains_key(&key) {
            key = TallyKey {
                who: "*".into(),
                method: "*".into(),
                route: "*".into(),
                status: key.status,
                code: None,
            };
        }
        let c = self.counts.entry(key).or_default();
        c.count += 1;
        if let Some(n) = c.addresses.get_mut(address) {
            *n += 1;
        } else if c.addresses.len() < MAX_ADDRESSES {
            c.addresses.insert(address.to_string(), 1);
        } else {
            c.others += 1;
        }
    }

    /// The counts of the period that ended by `now` (all of them when `all`), and a new period.
    pub fn take(&mut self, now: i64, all: bool) -> Option<(i64, Vec<(TallyKey, TallyCount)>)> {
        if !all && now < self.start + self.period_ms {
            return None;
        }
        let start = self.start;
        self.start = now;
        let counts = std::mem::take(&mut self.counts);
        (!counts.is_empty()).then(|| (start, counts.into_iter().collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_after_the_free_failures_and_forgets_with_time() {
        let mut b = LoginBackoff::default();
        let t = 1_000_000;
        for _ in 0..USER_FREE_FAILURES - 1 {
            b.failed("alice", "a1", t);
            assert_eq!(b.wait("alice", "a1", t), None);
        }
        b.failed("alice", "a1", t);
        assert_eq!(b.wait("alice", "a1", t), Some(1));
        assert_eq!(b.wait("alice", "a2", t), Some(1), "the user, from anywhere");
        assert_eq!(
            b.wait("bob", "a1", t),
            None,
            "the address is not blocked yet"
        );
        b.failed("alice", "a1", t + 1000);
        assert_eq!(b.wait("alice", "a1", t + 1000), Some(2));
        b.failed("alice", "a1", t + 3000);
        assert_eq!(b.wait("alice", "a1", t + 3000), Some(4));
        b.succeeded("alice");
        assert_eq!(b.wait("alice", "a2", t + 3000), None);
        // The address backs off after its own free failures, whatever the names.
        let mut b = LoginBackoff::default();
        for i in 0..ADDRESS_FREE_FAILURES {
            b.failed(&format!("user{i}"), "a9", t);
        }
        assert_eq!(b.wait("someone", "a9", t), Some(1));
        assert_eq!(b.wait("someone", "a8", t), None);
        // The longest wait is bounded, and an hour later the count starts again.
        let mut b = LoginBackoff::default();
        for i in 0..100 {
            b.failed("carol", &format!("x{i}"), t);
        }
        assert_eq!(b.wait("carol", "x0", t), Some(MAX_BACKOFF_S as u64));
        let later = t + FAILURE_WINDOW_MS + 1;
        b.failed("carol", "y", later);
        assert_eq!(b.wait("carol", "y", later), None);
    }

    #[test]
    fn tally_counts_per_key_and_names_the_top_address() {
        let mut t = Tally::new(60_000, 0);
        let key = |status| TallyKey {
            who: "public".into(),
            method: "GET".into(),
            route: "/api/me".into(),
            status,
            code: Some("unauthenticated".into()),
        };
        for i in 0..10 {
            t.count(key(401), if i < 7 { "1.1.1.1" } else { "2.2.2.2" });
        }
        t.count(key(429), "1.1.1.1");
        assert!(t.take(59_999, false).is_none());
        let (start, counts) = t.take(60_000, false).unwrap();
        assert_eq!(start, 0);
        assert_eq!(counts.len(), 2);
        assert_eq!(counts[0].1.count, 10);
        assert_eq!(counts[0].1.from(), "1.1.1.1 and 1 other addresses");
        assert!(t.take(200_000, false).is_none(), "nothing counted since");
    }
}
