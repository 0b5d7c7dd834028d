//! The simulator's one source of randomness: xoshiro256** (Blackman and
//! Vigna), seeded through SplitMix64 as its authors recommend.
//!
//! Written here rather than taken from a crate so that a tape's bytes depend
//! only on this file and the seed: a dependency upgrade that changed a
//! generator's stream would silently change every simulated day.
//!
//! Subsystems take [`Rng::fork`]ed children of the root generator, so adding
//! a draw in one part of the simulation does not shift every later draw in
//! another. Everything stays a deterministic function of the one seed.
//!
//! The float helpers use `ln`, `sqrt` and `cos` from the platform's math
//! library; the same build on the same platform gives the same bytes.

/// SplitMix64: a tiny generator used only to expand one `u64` seed into
/// xoshiro's 256-bit state (it never yields four zero words in a row, the one
/// state xoshiro cannot leave).
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// xoshiro256**: fast, 256 bits of state, passes BigCrush.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        let mut sm = SplitMix64::new(seed);
        Rng { s: [sm.next_u64(), sm.next_u64(), sm.next_u64(), sm.next_u64()] }
    }

    /// A generator with an explicit state, for checking against the
    /// reference implementation. An all-zero state is replaced by seed 0's.
    pub fn from_state(s: [u64; 4]) -> Rng {
        if s == [0; 4] { Rng::new(0) } else { Rng { s } }
    }

    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// An independent child stream.
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }

    /// Uniform in [0, 1), 53 bits.
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    /// Uniform integer in [0, n); 0 when n is 0. Rejection sampling keeps it
    /// unbiased for every n.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let zone = u64::MAX - (u64::MAX % n);
        // Each draw is accepted with probability above one half, so the
        // bound is never reached in practice; it only guarantees an end.
        for _ in 0..128 {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
        self.next_u64() % n
    }

    /// Uniform integer in [lo, hi] (inclusive); `lo` when hi < lo.
    pub fn int(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below((hi - lo) as u64 + 1) as i64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Standard normal (Box–Muller, one value per call so the stream does
    /// not depend on a cached second value).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.f64(); // (0, 1]: ln stays finite
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Exponential with the given mean.
    pub fn exp(&mut self, mean: f64) -> f64 {
        -(1.0 - self.f64()).ln() * mean
    }

    /// Poisson with mean `lambda`: Knuth's product method for small means,
    /// a rounded normal for large ones (where the two agree closely).
    pub fn poisson(&mut self, lambda: f64) -> u64 {
        if lambda.is_nan() || lambda <= 0.0 {
            return 0;
        }
        if lambda > 30.0 {
            return (lambda + lambda.sqrt() * self.normal()).round().max(0.0) as u64;
        }
        let limit = (-lambda).exp();
        let mut k = 0u64;
        let mut p = 1.0;
        // The expected number of steps is lambda + 1 ≤ 31; the bound only
        // guarantees an end.
        while k < 1000 {
            p *= self.f64();
            if p <= limit {
                break;
            }
            k += 1;
        }
        k
    }

    /// One element of a non-empty slice; `None` for an empty one.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len() as u64) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_the_reference_stream() {
        let mut sm = SplitMix64::new(0);
        let got: Vec<u64> = (0..4).map(|_| sm.next_u64()).collect();
        assert_eq!(got, [0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f, 0xf88bb8a8724c81ec]);
    }

    #[test]
    fn xoshiro_matches_the_reference_stream() {
        let mut r = Rng::from_state([1, 2, 3, 4]);
        let got: Vec<u64> = (0..4).map(|_| r.next_u64()).collect();
        assert_eq!(got, [11520, 0, 1509978240, 1215971899390074240]);
        // Seeded through SplitMix64: the stream every tape with seed 42 starts from.
        let mut r = Rng::new(42);
        let got: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(got, [0x15780b2e0c2ec716, 0x6104d9866d113a7e, 0xae17533239e499a1]);
    }

    #[test]
    fn helpers_stay_in_range_and_have_sane_moments() {
        let mut r = Rng::new(7);
        let n = 20_000;
        let (mut sum, mut sq, mut pois) = (0.0, 0.0, 0u64);
        for _ in 0..n {
            let u = r.f64();
            assert!((0.0..1.0).contains(&u));
            assert!(r.below(7) < 7);
            let k = r.int(-3, 3);
            assert!((-3..=3).contains(&k));
            let z = r.normal();
            sum += z;
            sq += z * z;
            pois += r.poisson(2.5);
        }
        let mean = sum / n as f64;
        assert!(mean.abs() < 0.05, "normal mean {mean}");
        assert!((sq / n as f64 - 1.0).abs() < 0.05, "normal variance");
        assert!((pois as f64 / n as f64 - 2.5).abs() < 0.1, "poisson mean");
        assert_eq!(r.below(0), 0);
        assert_eq!(r.poisson(0.0), 0);
        assert_eq!(r.pick::<u8>(&[]), None);
    }
}
