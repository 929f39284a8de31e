//! サービス時間 (service hours): when a tenant's service is promised to be up, for the SLA's
//! availability (表2-13). A resident-facing service is promised around the clock; a
//! staff-facing one on 開庁日 (the days offices are open: weekdays that are neither a 国民の祝日
//! nor in the year-end closure of 12/29–1/3) during office hours with an hour either side.
//!
//! The public holidays are computed from the law (国民の祝日に関する法律) rather than taken from
//! a crate: the one crate for them (`jpholiday`) needs a newer Rust in its maintained line, and
//! its older line misses 2021's moved holidays; the rules are short and the tests check them
//! against the Cabinet Office's published lists. Valid from 2000 to 2099 (the equinox formula's
//! range); years outside have no holidays here but for the fixed ones.

use chrono::{Datelike, Duration, NaiveDate, NaiveTime, Weekday};

/// Japan's time: the calendars and office hours are in JST, which has no summer time.
pub const JST_OFFSET_SECONDS: i32 = 9 * 3600;

/// Whether `d` is a 国民の祝日, a 振替休日 or a 国民の休日.
pub fn is_public_holiday(d: NaiveDate) -> bool {
    named_holiday(d) || substitute_holiday(d) || citizens_holiday(d)
}

/// The day of the `n`th `weekday` of a month.
fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u8) -> Option<u32> {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n).map(|d| d.day())
}

/// 春分日 and 秋分日 by the formula the Cabinet Office's announcements follow (1980–2099).
fn equinoxes(year: i32) -> Option<(u32, u32)> {
    if !(1980..=2099).contains(&year) {
        return None;
    }
    let y = f64::from(year - 1980);
    let leap = f64::from((year - 1980) / 4);
    let day = |base: f64| (base + 0.242194 * y - leap).floor() as u32;
    Some((day(20.8431), day(23.2488)))
}

/// The holidays the law names, on their own dates (before substitutes).
fn named_holiday(d: NaiveDate) -> bool {
    let (y, m, day) = (d.year(), d.month(), d.day());
    let monday = |n| nth_weekday(y, m, Weekday::Mon, n) == Some(day);
    match (m, day) {
        (1, 1) | (2, 11) | (4, 29) | (5, 3) | (5, 4) | (5, 5) | (11, 3) | (11, 23) => return true,
        (2, 23) if y >= 2020 => return true,
        (12, 23) if (1989..=2018).contains(&y) => return true,
        _ => {}
    }
    if let Some((spring, autumn)) = equinoxes(y)
        && ((m == 3 && day == spring) || (m == 9 && day == autumn))
    {
        return true;
    }
    // The Olympic years moved 海の日, スポーツの日 and 山の日 by special laws.
    let moved: &[(u32, u32)] = match y {
        2020 => &[(7, 23), (7, 24), (8, 10)],
        2021 => &[(7, 22), (7, 23), (8, 8)],
        _ => &[],
    };
    if !moved.is_empty() && matches!(m, 7 | 8 | 10) {
        return moved.contains(&(m, day));
    }
    match m {
        1 => monday(2),               // 成人の日
        7 => y >= 2003 && monday(3),  // 海の日
        8 => y >= 2016 && day == 11,  // 山の日
        9 => y >= 2003 && monday(3),  // 敬老の日
        10 => y >= 2000 && monday(2), // 体育の日, スポーツの日
        _ => false,
    }
}

/// 振替休日: a named holiday on a Sunday moves to the next day that is not one.
fn substitute_holiday(d: NaiveDate) -> bool {
    if named_holiday(d) {
        return false;
    }
    let mut back = d - Duration::days(1);
    // Walk back over the named holidays just before; the run must start on a Sunday.
    while named_holiday(back) {
        if back.weekday() == Weekday::Sun {
            return true;
        }
        back -= Duration::days(1);
    }
    false
}

/// 国民の休日: a day between two named holidays (not a Sunday, and not one itself).
fn citizens_holiday(d: NaiveDate) -> bool {
    d.weekday() != Weekday::Sun && !named_holiday(d) && named_holiday(d - Duration::days(1)) && named_holiday(d + Duration::days(1))
}

/// Whether offices are open on `d` (開庁日): a weekday, no public holiday, outside the year-end
/// closure (12/29–1/3, 行政機関の休日に関する法律).
pub fn is_office_day(d: NaiveDate) -> bool {
    let closed = matches!((d.month(), d.day()), (12, 29..=31) | (1, 1..=3));
    !matches!(d.weekday(), Weekday::Sat | Weekday::Sun) && !closed && !is_public_holiday(d)
}

/// When a service is promised to be up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceHours {
    /// 24 時間 365 日: resident-facing services.
    Always,
    /// 開庁日, from `open` to `close` JST: staff-facing services (office hours ± 1 h by default).
    OfficeDays { open: NaiveTime, close: NaiveTime },
}

impl ServiceHours {
    /// Office hours 8:30–17:15 with an hour either side (表2-12 (1)).
    pub fn office_default() -> Self {
        ServiceHours::OfficeDays { open: hm(7, 30), close: hm(18, 15) }
    }

    /// The promised intervals of the days `from` to `to` (inclusive), as Unix seconds
    /// `[start, end)`, sorted and apart.
    pub fn intervals(&self, from: NaiveDate, to: NaiveDate) -> Vec<(i64, i64)> {
        let start_of = |d: NaiveDate, t: NaiveTime| d.and_time(t).and_utc().timestamp() - i64::from(JST_OFFSET_SECONDS);
        let mut out: Vec<(i64, i64)> = Vec::new();
        let mut d = from;
        while d <= to {
            let (start, end) = match self {
                ServiceHours::Always => (start_of(d, NaiveTime::MIN), start_of(d, NaiveTime::MIN) + 86_400),
                ServiceHours::OfficeDays { open, close } if is_office_day(d) && open < close => (start_of(d, *open), start_of(d, *close)),
                ServiceHours::OfficeDays { .. } => {
                    d += Duration::days(1);
                    continue;
                }
            };
            match out.last_mut() {
                Some(last) if last.1 == start => last.1 = end,
                _ => out.push((start, end)),
            }
            d += Duration::days(1);
        }
        out
    }
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("a date")
    }

    fn holidays(year: i32) -> Vec<(u32, u32)> {
        let mut d = date(year, 1, 1);
        let mut out = Vec::new();
        while d.year() == year {
            if is_public_holiday(d) {
                out.push((d.month(), d.day()));
            }
            d += Duration::days(1);
        }
        out
    }

    #[test]
    fn the_holidays_are_the_cabinet_offices_lists() {
        // 内閣府「国民の祝日について」, 2025 to 2027.
        assert_eq!(
            holidays(2025),
            [
                (1, 1),
                (1, 13),
                (2, 11),
                (2, 23),
                (2, 24),
                (3, 20),
                (4, 29),
                (5, 3),
                (5, 4),
                (5, 5),
                (5, 6),
                (7, 21),
                (8, 11),
                (9, 15),
                (9, 23),
                (10, 13),
                (11, 3),
                (11, 23),
                (11, 24)
            ]
        );
        assert_eq!(
            holidays(2026),
            [
                (1, 1),
                (1, 12),
                (2, 11),
                (2, 23),
                (3, 20),
                (4, 29),
                (5, 3),
                (5, 4),
                (5, 5),
                (5, 6),
                (7, 20),
                (8, 11),
                (9, 21),
                (9, 22),
                (9, 23),
                (10, 12),
                (11, 3),
                (11, 23)
            ]
        );
        assert_eq!(
            holidays(2027),
            [
                (1, 1),
                (1, 11),
                (2, 11),
                (2, 23),
                (3, 21),
                (3, 22),
                (4, 29),
                (5, 3),
                (5, 4),
                (5, 5),
                (7, 19),
                (8, 11),
                (9, 20),
                (9, 23),
                (10, 11),
                (11, 3),
                (11, 23)
            ]
        );
        // The Olympic year's moved holidays.
        assert!(is_public_holiday(date(2021, 7, 22)) && is_public_holiday(date(2021, 8, 9)) && !is_public_holiday(date(2021, 10, 11)));
        assert!(is_public_holiday(date(2021, 1, 11)) && is_public_holiday(date(2021, 9, 20)), "the other Mondays stay");
    }

    #[test]
    fn offices_close_at_weekends_holidays_and_the_year_end() {
        assert!(is_office_day(date(2026, 12, 28)));
        for closed in [date(2026, 12, 29), date(2026, 12, 31), date(2027, 1, 1), date(2027, 1, 3), date(2026, 12, 5), date(2026, 11, 23)] {
            assert!(!is_office_day(closed), "{closed}");
        }
        assert!(is_office_day(date(2027, 1, 4)));
    }

    #[test]
    fn office_hours_are_promised_on_office_days_only_and_around_the_clock_otherwise() {
        // November 2026: 30 days, 19 office days (23rd a holiday, 3rd a holiday).
        let nov = (date(2026, 11, 1), date(2026, 11, 30));
        let total = |v: Vec<(i64, i64)>| v.iter().map(|(a, b)| b - a).sum::<i64>();
        assert_eq!(total(ServiceHours::Always.intervals(nov.0, nov.1)), 30 * 86_400);
        assert_eq!(ServiceHours::Always.intervals(nov.0, nov.1).len(), 1, "contiguous days join");
        let office = ServiceHours::office_default().intervals(nov.0, nov.1);
        assert_eq!(office.len(), 19);
        assert_eq!(total(office.clone()), 19 * (10 * 3600 + 45 * 60));
        // 7:30 JST on 2 November 2026 is 22:30 UTC on the 1st.
        assert_eq!(office[0].0, date(2026, 11, 1).and_hms_opt(22, 30, 0).expect("time").and_utc().timestamp());
    }
}
