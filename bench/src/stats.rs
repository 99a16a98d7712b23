//! Percentiles of a sample, and a histogram many tasks record into at once.

use std::sync::atomic::{AtomicU64, Ordering};

/// The quantiles of a sample that the reports quote.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Summary {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Summary {
    /// Sorts `values` and reads its quantiles (nearest rank); zeros for an empty sample.
    pub fn of(values: &mut [f64]) -> Summary {
        if values.is_empty() {
            return Summary::default();
        }
        values.sort_by(f64::total_cmp);
        Summary {
            p50: quantile(values, 0.5),
            p99: quantile(values, 0.99),
            max: values[values.len() - 1],
        }
    }
}

/// The `q` quantile of sorted `values` (nearest rank).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Sub-buckets per power of two: values are kept within 1/32 (about 3 %).
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;
/// Enough buckets for any u64.
const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) * SUB as usize;

/// A log-linear histogram of u64 values (microseconds, say) that any thread may record into.
pub struct Histogram {
    counts: Box<[AtomicU64]>,
    max: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max: AtomicU64::new(0),
        }
    }
}

fn bucket_of(value: u64) -> usize {
    if value < SUB {
        return value as usize;
    }
    let exponent = 63 - value.leading_zeros();
    let shift = exponent - SUB_BITS;
    ((shift as u64 + 1) * SUB + ((value >> shift) - SUB)) as usize
}

/// The smallest value of a bucket.
fn bucket_floor(index: usize) -> u64 {
    let index = index as u64;
    if index < SUB {
        return index;
    }
    let shift = index / SUB - 1;
    (SUB + index % SUB) << shift
}

impl Histogram {
    pub fn record(&self, value: u64) {
        self.counts[bucket_of(value)].fetch_add(1, Ordering::Relaxed);
        self.max.fetch_max(value, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    pub fn max(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }

    /// The `q` quantile (the floor of its bucket; the exact max for q = 1), 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        if q >= 1.0 {
            return self.max();
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (index, count) in self.counts.iter().enumerate() {
            seen += count.load(Ordering::Relaxed);
            if seen >= rank {
                return bucket_floor(index).min(self.max());
            }
        }
        self.max()
    }

    pub fn reset(&self) {
        for count in self.counts.iter() {
            count.store(0, Ordering::Relaxed);
        }
        self.max.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_trip_within_three_percent() {
        for value in [
            0,
            1,
            31,
            32,
            33,
            100,
            1_000,
            16_667,
            1_000_000,
            u64::MAX / 2,
        ] {
            let floor = bucket_floor(bucket_of(value));
            assert!(floor <= value, "{value}: {floor}");
            assert!(value - floor <= value / 32, "{value}: {floor}");
        }
    }

    #[test]
    fn quantiles_of_a_uniform_sample() {
        let histogram = Histogram::default();
        for value in 1..=10_000 {
            histogram.record(value);
        }
        let p50 = histogram.quantile(0.5);
        assert!((4_800..=5_000).contains(&p50), "{p50}");
        let p99 = histogram.quantile(0.99);
        assert!((9_600..=9_900).contains(&p99), "{p99}");
        assert_eq!(histogram.quantile(1.0), 10_000);
        let mut sample: Vec<f64> = (1..=100).map(f64::from).collect();
        let summary = Summary::of(&mut sample);
        assert_eq!((summary.p50, summary.p99, summary.max), (51.0, 99.0, 100.0));
    }
}
