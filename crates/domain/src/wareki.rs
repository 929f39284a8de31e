//! 和暦: a date as the pages show it, in the Japanese era (元号) and in the Western calendar,
//! `令和8年12月1日 (2026-12-01)`.
//!
//! Eras from 明治6年 (1873), when Japan took up the Gregorian calendar: before it, the era's
//! months were lunar months, and a Gregorian day has no such simple name. Such dates (and none
//! arise in the linkage, whose dates are this century's) are shown in the Western calendar only.
//! An era's first year is written 元年, as official documents write it.

use crate::Date;
use chrono::Datelike;

/// An era (元号) and the Gregorian day it began.
struct Era {
    name: &'static str,
    begins: (i32, u32, u32),
    /// The Western year of the era's first year.
    first_year: i32,
}

/// Newest first.
const ERAS: [Era; 5] = [
    Era { name: "令和", begins: (2019, 5, 1), first_year: 2019 },
    Era { name: "平成", begins: (1989, 1, 8), first_year: 1989 },
    Era { name: "昭和", begins: (1926, 12, 25), first_year: 1926 },
    Era { name: "大正", begins: (1912, 7, 30), first_year: 1912 },
    Era { name: "明治", begins: (1873, 1, 1), first_year: 1868 },
];

/// The era form of `d` (`令和8年12月1日`, `平成元年1月8日`), or `None` before 1873.
pub fn era_date(d: Date) -> Option<String> {
    let n = d.naive();
    let key = (n.year(), n.month(), n.day());
    let era = ERAS.iter().find(|e| key >= e.begins)?;
    let year = n.year() - era.first_year + 1;
    let year = if year == 1 { "元".to_owned() } else { year.to_string() };
    Some(format!("{}{year}年{}月{}日", era.name, n.month(), n.day()))
}

/// `令和8年12月1日 (2026-12-01)`: both calendars, as every page shows a date; the Western form
/// alone where the era form does not apply.
pub fn both(d: Date) -> String {
    match era_date(d) {
        Some(era) => format!("{era} ({d})"),
        None => d.to_string(),
    }
}

/// Japan's time (UTC+9, no daylight saving), in which the pages show moments and take today.
pub fn jst() -> chrono::FixedOffset {
    use chrono::Offset;
    chrono::FixedOffset::east_opt(crate::calendar::JST_OFFSET_SECONDS).unwrap_or_else(|| chrono::Utc.fix())
}

/// A moment (seconds since the epoch) in Japan's time to the minute, as the operator's reports
/// and listings show it (`2026-12-03 13:05`); empty if out of range.
pub fn jst_minute(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0).map(|t| t.with_timezone(&jst()).format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default()
}

/// A moment (milliseconds since the epoch) as the pages show it: its date in both calendars and
/// its time, in Japan's time (`令和8年12月3日 (2026-12-03) 13:05`).
pub fn moment(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms).map(|t| t.with_timezone(&jst())) {
        Some(t) => match Date::new(t.date_naive()) {
            Ok(d) => format!("{} {}", both(d), t.format("%H:%M")),
            Err(_) => t.to_rfc3339(),
        },
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(y: i32, m: u32, d: u32) -> Date {
        Date::from_ymd(y, m, d).unwrap()
    }

    #[test]
    fn each_era_boundary_names_the_last_day_of_one_era_and_the_first_of_the_next() {
        let cases = [
            ((2019, 4, 30), "平成31年4月30日"),
            ((2019, 5, 1), "令和元年5月1日"),
            ((2020, 1, 1), "令和2年1月1日"),
            ((1989, 1, 7), "昭和64年1月7日"),
            ((1989, 1, 8), "平成元年1月8日"),
            ((1926, 12, 24), "大正15年12月24日"),
            ((1926, 12, 25), "昭和元年12月25日"),
            ((1912, 7, 29), "明治45年7月29日"),
            ((1912, 7, 30), "大正元年7月30日"),
            ((1873, 1, 1), "明治6年1月1日"),
        ];
        for ((y, m, d), want) in cases {
            assert_eq!(era_date(on(y, m, d)).as_deref(), Some(want), "{y}-{m}-{d}");
        }
    }

    #[test]
    fn both_calendars_are_shown_and_the_western_alone_before_1873() {
        assert_eq!(both(on(2026, 12, 1)), "令和8年12月1日 (2026-12-01)");
        assert_eq!(both(on(9999, 12, 31)), "令和7981年12月31日 (9999-12-31)");
        assert_eq!(era_date(on(1872, 12, 31)), None);
        assert_eq!(both(on(1872, 12, 31)), "1872-12-31");
        assert_eq!(both(on(1, 1, 1)), "0001-01-01");
    }

    #[test]
    fn a_moment_is_shown_in_japans_time() {
        // 2026-12-02T15:30:00Z is the next day, 00:30, in Japan.
        assert_eq!(moment(1_796_225_400_000), "令和8年12月3日 (2026-12-03) 00:30");
    }
}
