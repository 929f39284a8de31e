//! 保存期間: when a linkage record kept `years` years has expired.

/// The retention when none is set: seven years.
pub const DEFAULT_YEARS: u32 = 7;

/// The time (Unix seconds) before which records kept `years` years have expired at `now`: the
/// same calendar day and time `years` earlier, in UTC (29 February falls back to the 28th).
pub fn cutoff(now: i64, years: u32) -> i64 {
    use chrono::{Datelike, TimeZone};
    let Some(t) = chrono::Utc.timestamp_opt(now, 0).single() else { return i64::MIN };
    let year = t.year() - years.min(9000) as i32;
    let back = t.with_year(year).or_else(|| t.with_day(28).and_then(|d| d.with_year(year)));
    back.map_or(i64::MIN, |b| b.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cutoff_is_the_same_day_years_before() {
        // 2026-12-03 → 2019-12-03, and 2016-12-03 for ten years.
        assert_eq!(cutoff(1_796_256_000, 7), 1_575_331_200);
        assert_eq!(cutoff(1_796_256_000, 10), 1_480_723_200);
        // 2028-02-29 → 2021-02-28
        assert_eq!(cutoff(1_835_395_200, 7), 1_614_470_400);
    }
}
