//! A day's probes of one kind and tenant, rolled up (監視結果の日次集計): how many ran, how many
//! failed, and the passing ones' latencies counted in buckets whose bounds grow by a quarter. The
//! monitor writes four results per tenant a minute — about 10 M rows a day for 1,788 tenants —
//! so results older than a few weeks are kept only as a roll-up: a month's percentiles read from
//! it are the bucket's upper bound, at most a quarter above the true latency, never below.

/// Buckets of a roll-up: bound `i` is ⌈1.25^i⌉ ms, so the last is about 22 minutes; a latency
/// beyond it counts in the last.
pub const BUCKETS: usize = 64;

/// The upper bound (ms) of bucket `i`, the value its latencies are read back as.
pub fn upper_bound(i: usize) -> u64 {
    // Exact for every i < BUCKETS: powi of 1.25 (a power of two's quarter) rounds the same on
    // every platform.
    1.25_f64.powi(i.min(BUCKETS - 1) as i32).ceil() as u64
}

/// The bucket a latency of `ms` counts in: the first whose bound holds it.
pub fn bucket_of(ms: u64) -> usize {
    (0..BUCKETS).find(|&i| ms <= upper_bound(i)).unwrap_or(BUCKETS - 1)
}

/// A day's roll-up of one tenant's probes of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayRollup {
    pub probes: i64,
    pub failed: i64,
    /// Passing probes per latency bucket.
    pub buckets: [u64; BUCKETS],
}

impl Default for DayRollup {
    fn default() -> Self {
        DayRollup { probes: 0, failed: 0, buckets: [0; BUCKETS] }
    }
}

impl DayRollup {
    /// Counts `n` probes that passed within bucket `bucket`'s latency, or failed.
    pub fn add(&mut self, ok: bool, bucket: usize, n: u64) {
        self.probes += n as i64;
        if ok {
            self.buckets[bucket.min(BUCKETS - 1)] += n;
        } else {
            self.failed += n as i64;
        }
    }

    /// Adds another roll-up of the same day (results that arrived after the day was rolled up).
    pub fn merge(&mut self, other: &DayRollup) {
        self.probes += other.probes;
        self.failed += other.failed;
        for (a, b) in self.buckets.iter_mut().zip(other.buckets) {
            *a += b;
        }
    }

    /// The buckets as stored: `i:n` for each bucket holding any, comma-separated.
    pub fn encode_buckets(&self) -> String {
        self.buckets.iter().enumerate().filter(|(_, n)| **n > 0).map(|(i, n)| format!("{i}:{n}")).collect::<Vec<_>>().join(",")
    }

    /// The buckets from their stored text; `None` if it is not what `encode_buckets` writes.
    pub fn decode_buckets(text: &str) -> Option<[u64; BUCKETS]> {
        let mut buckets = [0; BUCKETS];
        for part in text.split(',').filter(|p| !p.is_empty()) {
            let (i, n) = part.split_once(':')?;
            let i: usize = i.parse().ok().filter(|i| *i < BUCKETS)?;
            buckets[i] = n.parse().ok()?;
        }
        Some(buckets)
    }

    /// The passing probes' latencies as they read back: each bucket's bound, once per probe.
    pub fn latencies(&self) -> impl Iterator<Item = u64> + '_ {
        self.buckets.iter().enumerate().flat_map(|(i, n)| std::iter::repeat_n(upper_bound(i), *n as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_latency_reads_back_at_most_a_quarter_above_and_never_below() {
        for ms in [0, 1, 2, 3, 7, 40, 80, 99, 120, 1_000, 1_234, 20_000, 999_999] {
            let back = upper_bound(bucket_of(ms));
            assert!(back >= ms && back as f64 <= (ms.max(1) as f64) * 1.25 + 1.0, "{ms} → {back}");
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        assert!(upper_bound(BUCKETS - 1) > 20 * 60 * 1000);
    }

    #[test]
    fn a_rollup_counts_merges_and_round_trips_its_text() {
        let mut day = DayRollup::default();
        day.add(true, bucket_of(40), 2);
        day.add(true, bucket_of(120), 1);
        day.add(false, 0, 3);
        assert_eq!((day.probes, day.failed), (6, 3));
        let text = day.encode_buckets();
        assert_eq!(DayRollup::decode_buckets(&text), Some(day.buckets));
        let mut two = day.clone();
        two.merge(&day);
        assert_eq!((two.probes, two.failed, two.latencies().count()), (12, 6, 6));
        let back: Vec<u64> = day.latencies().collect();
        assert_eq!(back, [upper_bound(bucket_of(40)), upper_bound(bucket_of(40)), upper_bound(bucket_of(120))]);
        for bad in ["x", "64:1", "1:", "1:-2", "1"] {
            assert_eq!(DayRollup::decode_buckets(bad), None, "{bad}");
        }
        assert_eq!(DayRollup::decode_buckets(""), Some([0; BUCKETS]));
    }
}
