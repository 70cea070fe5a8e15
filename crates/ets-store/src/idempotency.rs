//! The remembered answers to requests with an idempotency key, in generations.
//!
//! One `HashMap` of every key made the server pause: past a million keys, growing it rehashes
//! every entry under the write lock (the 100–200 ms maxima of order entry in
//! docs/benchmarks.md), and sweeping expired keys scanned the whole table. Here keys go into
//! the newest of a queue of generations, each closed at [`GENERATION_CAP`] keys or when it
//! spans a quarter of the time-to-live; a generation whose newest answer has expired is dropped
//! whole. So the longest pause is one rehash or one drop of a generation, whatever the table's
//! size, and a lookup asks at most a few dozen small maps, newest first.

use std::collections::{HashMap, VecDeque};

use crate::state::Remembered;

/// Keys per generation: a rehash or a drop of this many entries takes about a millisecond.
pub const GENERATION_CAP: usize = 1 << 16;

struct Generation {
    keys: HashMap<(String, String), Remembered>,
    /// The earliest and latest `at` of its answers (the server's clock may step back).
    first_at: i64,
    last_at: i64,
}

#[derive(Default)]
pub(crate) struct Remembers {
    generations: VecDeque<Generation>,
}

impl Remembers {
    /// Remembers an answer; drops the generations that expired before `r.at`.
    pub(crate) fn insert(&mut self, scope: String, key: String, r: Remembered, ttl_ms: i64) {
        let horizon = r.at - ttl_ms;
        while self
            .generations
            .front()
            .is_some_and(|g| g.last_at < horizon)
        {
            self.generations.pop_front();
        }
        let open = self
            .generations
            .back()
            .is_some_and(|g| g.keys.len() < GENERATION_CAP && r.at - g.first_at <= ttl_ms / 4);
        if !open {
            self.generations.push_back(Generation {
                keys: HashMap::new(),
                first_at: r.at,
                last_at: r.at,
            });
        }
        let g = self.generations.back_mut().expect("pushed");
        g.first_at = g.first_at.min(r.at);
        g.last_at = g.last_at.max(r.at);
        g.keys.insert((scope, key), r);
    }

    /// The newest answer remembered for the key, whatever its age.
    pub(crate) fn get(&self, scope: &str, key: &str) -> Option<&Remembered> {
        let k = (scope.to_string(), key.to_string());
        self.generations.iter().rev().find_map(|g| g.keys.get(&k))
    }

    #[cfg(test)]
    fn generations(&self) -> usize {
        self.generations.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(at: i64, status: u16) -> Remembered {
        Remembered {
            body_sha256: None,
            path: "/api/orders".into(),
            status,
            response: "{}".into(),
            at,
        }
    }

    #[test]
    fn generations_are_bounded_dropped_when_expired_and_newest_wins() {
        let ttl = 1_000_000;
        let mut r = Remembers::default();
        let n = GENERATION_CAP * 3 + 5;
        for i in 0..n {
            r.insert("u".into(), format!("k{i}"), answer(i as i64, 201), ttl);
        }
        assert_eq!(r.generations(), 4, "closed at the cap");
        assert_eq!(r.get("u", "k0").unwrap().at, 0);
        assert_eq!(
            r.get("u", &format!("k{}", n - 1)).unwrap().at,
            (n - 1) as i64
        );
        assert!(r.get("v", "k0").is_none(), "scopes are apart");
        // The same key again, later: the newest answer is the one returned.
        r.insert("u".into(), "k0".into(), answer(n as i64, 409), ttl);
        assert_eq!(r.get("u", "k0").unwrap().status, 409);
        // Far later: every generation whose newest answer expired is gone.
        let later = n as i64 + ttl + 1;
        r.insert("u".into(), "fresh".into(), answer(later, 201), ttl);
        assert_eq!(r.generations(), 1);
        assert!(r.get("u", "k1").is_none());
        assert!(r.get("u", "fresh").is_some());
    }

    #[test]
    fn a_generation_spans_at_most_a_quarter_of_the_ttl() {
        let mut r = Remembers::default();
        for (i, at) in [0, 10, 25, 26, 60].into_iter().enumerate() {
            r.insert("u".into(), format!("k{i}"), answer(at, 201), 100);
        }
        // [0, 10, 25], [26], [60]: a new generation once 25 ms (100 / 4) have passed.
        assert_eq!(r.generations(), 3);
    }
}
