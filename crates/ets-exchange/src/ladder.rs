//! One side of a book: price levels in a dense array indexed by tick, with a bitset of the
//! occupied levels.
//!
//! Why an array and not a `BTreeMap`: prices live in a narrow band (±10 % of the previous
//! close for listed trading), so an array of a few thousand levels indexes a price in O(1)
//! and the bitset finds the next occupied level with a handful of `trailing_zeros` calls.
//! The array grows (and re-centres) when a price falls outside it, up to `levels_max`.

use crate::Qty;

/// "No slot" in the intrusive order lists.
pub(crate) const NIL: u32 = u32::MAX;
/// "No level" for `best`.
pub(crate) const NONE: usize = usize::MAX;

/// A price level: a FIFO of order slots (intrusive doubly linked list through the slab) and
/// its totals, kept so that depth views cost nothing.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Level {
    pub head: u32,
    pub tail: u32,
    pub qty: Qty,
    pub count: u32,
}

impl Default for Level {
    fn default() -> Self {
        Level {
            head: NIL,
            tail: NIL,
            qty: 0,
            count: 0,
        }
    }
}

/// One side's levels. Index `i` holds tick number `base + i` (price = tick number × tick).
#[derive(Clone, Debug)]
pub(crate) struct Ladder {
    base: i64,
    pub levels: Vec<Level>,
    bits: Vec<u64>,
    /// Index of the best occupied level or `NONE`. Bids: highest; asks: lowest.
    pub best: usize,
    is_bid: bool,
    levels_max: usize,
    occupied: usize,
}

/// Smallest array allocated; a multiple of 64 so that the bitset has whole words.
const LEVELS_MIN: usize = 1024;

impl Ladder {
    pub fn new(is_bid: bool, levels_max: usize) -> Ladder {
        Ladder {
            base: 0,
            levels: Vec::new(),
            bits: Vec::new(),
            best: NONE,
            is_bid,
            levels_max: levels_max.max(LEVELS_MIN),
            occupied: 0,
        }
    }

    /// The tick number held at index `i`.
    #[inline]
    pub fn tick_at(&self, i: usize) -> i64 {
        self.base + i as i64
    }

    /// The index of tick number `t` if the array covers it.
    #[inline]
    pub fn index(&self, t: i64) -> Option<usize> {
        let d = t.wrapping_sub(self.base);
        if d >= 0 && (d as u64) < self.levels.len() as u64 {
            Some(d as usize)
        } else {
            None
        }
    }

    /// The index of tick number `t`, growing the array if needed; `None` when the span of
    /// prices would exceed `levels_max`.
    pub fn ensure(&mut self, t: i64) -> Option<usize> {
        if let Some(i) = self.index(t) {
            return Some(i);
        }
        if self.occupied == 0 {
            // Nothing rests on this side: re-centre without copying.
            let len = self.levels.len().max(LEVELS_MIN);
            self.levels.clear();
            self.levels.resize(len, Level::default());
            self.bits.clear();
            self.bits.resize(len / 64, 0);
            self.base = t - (len / 2) as i64;
            self.best = NONE;
            return self.index(t);
        }
        // Size the new array on the occupied span (not the old array, whose slack would
        // otherwise count against `levels_max`) and copy only that span.
        let occ_lo = next_set(&self.bits, 0);
        let occ_hi = prev_set(&self.bits, self.levels.len() - 1);
        let lo = self.tick_at(occ_lo).min(t);
        let hi = self.tick_at(occ_hi).max(t);
        let span = usize::try_from(hi - lo + 1).ok()?;
        if span > self.levels_max {
            return None;
        }
        let len = ((span * 2).max(LEVELS_MIN).min(self.levels_max)).div_ceil(64) * 64;
        let new_base = lo - ((len - span) / 2) as i64;
        let shift = self.tick_at(occ_lo) - new_base;
        let mut levels = vec![Level::default(); len];
        let dst = shift as usize;
        levels[dst..dst + (occ_hi - occ_lo + 1)].copy_from_slice(&self.levels[occ_lo..=occ_hi]);
        let mut bits = vec![0u64; len / 64];
        for (i, l) in levels
            .iter()
            .enumerate()
            .skip(dst)
            .take(occ_hi - occ_lo + 1)
        {
            if l.count > 0 {
                bits[i / 64] |= 1 << (i % 64);
            }
        }
        // `best` is occupied, so it lies within the copied span.
        self.best = self.best - occ_lo + dst;
        self.levels = levels;
        self.bits = bits;
        self.base = new_base;
        self.index(t)
    }

    /// Whether index `a` is a better price than index `b` for this side.
    #[inline]
    pub fn better(&self, a: usize, b: usize) -> bool {
        if self.is_bid { a > b } else { a < b }
    }

    /// Records that level `i` went from empty to occupied.
    #[inline]
    pub fn mark_occupied(&mut self, i: usize) {
        self.bits[i / 64] |= 1 << (i % 64);
        self.occupied += 1;
        if self.best == NONE || self.better(i, self.best) {
            self.best = i;
        }
    }

    /// Records that level `i` went from occupied to empty.
    #[inline]
    pub fn mark_empty(&mut self, i: usize) {
        self.bits[i / 64] &= !(1 << (i % 64));
        self.occupied -= 1;
        if i == self.best {
            self.best = self.next_worse(i);
        }
    }

    /// The next occupied level strictly worse than `i`, or `NONE`.
    #[inline]
    pub fn next_worse(&self, i: usize) -> usize {
        if self.is_bid {
            if i == 0 {
                NONE
            } else {
                prev_set(&self.bits, i - 1)
            }
        } else {
            next_set(&self.bits, i + 1)
        }
    }

    /// Number of occupied levels.
    pub fn occupied(&self) -> usize {
        self.occupied
    }

    /// Forgets every level (the slab is cleared by the caller).
    pub fn clear(&mut self) {
        for l in &mut self.levels {
            *l = Level::default();
        }
        for w in &mut self.bits {
            *w = 0;
        }
        self.best = NONE;
        self.occupied = 0;
    }
}

/// Lowest set bit at index ≥ `i`, or `NONE`.
#[inline]
fn next_set(bits: &[u64], i: usize) -> usize {
    let mut w = i / 64;
    if w >= bits.len() {
        return NONE;
    }
    let mut word = bits[w] & (!0u64 << (i % 64));
    loop {
        if word != 0 {
            return w * 64 + word.trailing_zeros() as usize;
        }
        w += 1;
        if w == bits.len() {
            return NONE;
        }
        word = bits[w];
    }
}

/// Highest set bit at index ≤ `i`, or `NONE`.
#[inline]
fn prev_set(bits: &[u64], i: usize) -> usize {
    let mut w = i / 64;
    let mut word = bits[w] & (!0u64 >> (63 - i % 64));
    loop {
        if word != 0 {
            return w * 64 + 63 - word.leading_zeros() as usize;
        }
        if w == 0 {
            return NONE;
        }
        w -= 1;
        word = bits[w];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_scans_find_neighbours() {
        let mut bits = vec![0u64; 4];
        for i in [3usize, 64, 130, 255] {
            bits[i / 64] |= 1 << (i % 64);
        }
        assert_eq!(next_set(&bits, 0), 3);
        assert_eq!(next_set(&bits, 4), 64);
        assert_eq!(next_set(&bits, 131), 255);
        assert_eq!(next_set(&bits, 256), NONE);
        assert_eq!(prev_set(&bits, 255), 255);
        assert_eq!(prev_set(&bits, 254), 130);
        assert_eq!(prev_set(&bits, 63), 3);
        assert_eq!(prev_set(&bits, 2), NONE);
    }

    #[test]
    fn growth_keeps_levels_and_best() {
        let mut l = Ladder::new(false, 1 << 20);
        let i = l.ensure(10_000).unwrap();
        l.levels[i].count = 1;
        l.mark_occupied(i);
        let j = l.ensure(50_000).unwrap();
        assert_eq!(l.tick_at(j), 50_000);
        assert_eq!(l.tick_at(l.best), 10_000);
        assert_eq!(l.levels[l.best].count, 1);
        assert!(Ladder::new(true, 2048).ensure(0).is_some());
        let mut small = Ladder::new(true, 2048);
        let k = small.ensure(0).unwrap();
        small.levels[k].count = 1;
        small.mark_occupied(k);
        assert!(small.ensure(5_000).is_none());
    }
}
