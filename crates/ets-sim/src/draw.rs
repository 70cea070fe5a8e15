//! Random draws and the one way out of `f64`.
//!
//! The normal draw is Box–Muller over the seeded generator rather than `rand_distr`: one short
//! function, no extra dependency, and its output depends only on the ChaCha stream.

use ets_types::Decimal;
use rand::Rng;

/// A standard normal draw.
pub(crate) fn std_normal<R: Rng>(rng: &mut R) -> f64 {
    // 1 - u is in (0, 1], so the logarithm is finite.
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

pub(crate) fn normal<R: Rng>(rng: &mut R, mean: f64, sd: f64) -> f64 {
    mean + sd * std_normal(rng)
}

pub(crate) fn uniform<R: Rng>(rng: &mut R, lo: f64, hi: f64) -> f64 {
    debug_assert!(lo <= hi);
    lo + (hi - lo) * rng.random::<f64>()
}

pub(crate) fn chance<R: Rng>(rng: &mut R, p: f64) -> bool {
    rng.random::<f64>() < p
}

/// Index drawn with probability proportional to its weight. Weights are checked non-negative
/// with a positive sum when the config is parsed.
pub(crate) fn pick<R: Rng>(rng: &mut R, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    assert!(total > 0.0, "weights must add up to more than zero");
    let mut x = rng.random::<f64>() * total;
    for (i, &w) in weights.iter().enumerate() {
        if x < w {
            return i;
        }
        x -= w;
    }
    // Rounding can leave x a hair above the last weight: take the last positive one.
    weights
        .iter()
        .rposition(|&w| w > 0.0)
        .expect("a positive weight exists")
}

/// Rounds a drawn value to `dp` decimal places, exactly.
///
/// # Panics
/// If `x` is not finite or too large for 28 digits: a bug in the draws, not a data error.
pub(crate) fn dec(x: f64, dp: u32) -> Decimal {
    let scaled = (x * 10f64.powi(dp as i32)).round();
    assert!(
        scaled.is_finite() && scaled.abs() < 9.0e15,
        "value {x} cannot become a Decimal"
    );
    Decimal::new(scaled as i64, dp)
}

/// A stable 64-bit mix of a seed and a name (FNV-1a then splitmix64), so per-company draws do
/// not depend on the order in which companies are asked about.
pub(crate) fn seed_for(seed: u64, name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut z = seed ^ h;
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn normal_has_the_right_moments() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let n = 20_000;
        let xs: Vec<f64> = (0..n).map(|_| normal(&mut rng, 2.0, 0.5)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!((mean - 2.0).abs() < 0.02, "mean {mean}");
        assert!((var.sqrt() - 0.5).abs() < 0.02, "sd {}", var.sqrt());
    }

    #[test]
    fn pick_never_takes_a_zero_weight() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..1000 {
            assert_ne!(pick(&mut rng, &[0.5, 0.0, 0.5]), 1);
        }
    }

    #[test]
    fn dec_rounds_to_fixed_places() {
        assert_eq!(dec(0.12346, 4).to_string(), "0.1235");
        assert_eq!(dec(-0.5, 0).to_string(), "-1");
        assert_eq!(dec(1.0, 2).to_string(), "1.00");
    }

    #[test]
    fn seed_for_separates_names_and_seeds() {
        assert_ne!(seed_for(1, "SX0001"), seed_for(1, "SX0002"));
        assert_ne!(seed_for(1, "SX0001"), seed_for(2, "SX0001"));
        assert_eq!(seed_for(1, "SX0001"), seed_for(1, "SX0001"));
    }
}
