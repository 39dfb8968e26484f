//! Key index generators with memtier_benchmark's key-pattern semantics.

use crate::rng::Rng;

/// How a client picks the next key index in `[key_min, key_max]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPattern {
    /// `R`: uniform random over the range.
    Random,
    /// `S`: every client walks the whole range in order, wrapping at the end.
    Sequential,
    /// `G`: normal distribution centred on the middle of the range, σ = range/6, clamped.
    Gaussian,
    /// `P`: the range is cut into one slice per client (over all threads); each client walks its
    /// own slice in order, wrapping.
    Parallel,
}

impl KeyPattern {
    pub fn parse(text: &str) -> Result<KeyPattern, String> {
        match text {
            "R" => Ok(KeyPattern::Random),
            "S" => Ok(KeyPattern::Sequential),
            "G" => Ok(KeyPattern::Gaussian),
            "P" => Ok(KeyPattern::Parallel),
            other => Err(format!(
                "--key-pattern: unknown pattern {other:?} (use R, S, G or P)"
            )),
        }
    }
}

/// One stream of key indices.
#[derive(Debug, Clone)]
pub struct KeyGen {
    pattern: KeyPattern,
    min: u64,
    max: u64,
    next: u64,
}

impl KeyGen {
    /// A generator for client `client_index` of `client_count` (over all threads).
    pub fn new(
        pattern: KeyPattern,
        min: u64,
        max: u64,
        client_index: u64,
        client_count: u64,
    ) -> KeyGen {
        assert!(min <= max && client_index < client_count);
        let (min, max) = if pattern == KeyPattern::Parallel {
            parallel_slice(min, max, client_index, client_count)
        } else {
            (min, max)
        };
        KeyGen {
            pattern,
            min,
            max,
            next: min,
        }
    }

    /// The next key index; always within the generator's range.
    pub fn next(&mut self, rng: &mut Rng) -> u64 {
        let span = self.max - self.min + 1;
        let index = match self.pattern {
            KeyPattern::Random => self.min + rng.below(span),
            KeyPattern::Sequential | KeyPattern::Parallel => {
                let index = self.next;
                self.next = if index >= self.max {
                    self.min
                } else {
                    index + 1
                };
                index
            }
            KeyPattern::Gaussian => {
                let median = self.min as f64 + (span - 1) as f64 / 2.0;
                let sigma = span as f64 / 6.0;
                let sample = (median + rng.gaussian() * sigma).round();
                sample.clamp(self.min as f64, self.max as f64) as u64
            }
        };
        debug_assert!(index >= self.min && index <= self.max);
        index
    }
}

/// The slice of `[min, max]` that client `index` of `count` owns under the P pattern; the last
/// client takes the remainder, and when clients outnumber keys they share keys round-robin.
fn parallel_slice(min: u64, max: u64, index: u64, count: u64) -> (u64, u64) {
    let span = max - min + 1;
    if span < count {
        let key = min + index % span;
        return (key, key);
    }
    let width = span / count;
    let lo = min + width * index;
    let hi = if index == count - 1 {
        max
    } else {
        lo + width - 1
    };
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_walks_and_wraps() {
        let mut rng = Rng::new(1);
        let mut g = KeyGen::new(KeyPattern::Sequential, 5, 7, 0, 1);
        let got: Vec<u64> = (0..5).map(|_| g.next(&mut rng)).collect();
        assert_eq!(got, vec![5, 6, 7, 5, 6]);
    }

    #[test]
    fn parallel_slices_cover_the_range_without_overlap() {
        let mut rng = Rng::new(1);
        let mut seen = Vec::new();
        for client in 0..3 {
            let mut g = KeyGen::new(KeyPattern::Parallel, 0, 9, client, 3);
            let (lo, hi) = parallel_slice(0, 9, client, 3);
            for _ in lo..=hi {
                seen.push(g.next(&mut rng));
            }
        }
        seen.sort();
        assert_eq!(seen, (0..=9).collect::<Vec<_>>());
    }

    #[test]
    fn random_and_gaussian_stay_in_range() {
        let mut rng = Rng::new(3);
        for pattern in [KeyPattern::Random, KeyPattern::Gaussian] {
            let mut g = KeyGen::new(pattern, 100, 200, 0, 1);
            for _ in 0..10_000 {
                let k = g.next(&mut rng);
                assert!((100..=200).contains(&k));
            }
        }
    }

    #[test]
    fn gaussian_centres_on_the_middle() {
        let mut rng = Rng::new(9);
        let mut g = KeyGen::new(KeyPattern::Gaussian, 0, 1000, 0, 1);
        let mean: f64 = (0..20_000).map(|_| g.next(&mut rng) as f64).sum::<f64>() / 20_000.0;
        assert!((mean - 500.0).abs() < 10.0, "mean {mean}");
    }
}
