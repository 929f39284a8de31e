//! サービスレベル (SLA) figures of one tenant and month, from what the monitor recorded:
//! availability (稼働率) over the promised service hours less announced maintenance, mean time
//! to recovery (平均復旧時間), response-time percentiles, and the contract's grade with the fee
//! reduction (減額) a missed grade owes. Times are Unix seconds; a span is `[start, end)`.

use crate::calendar::JST_OFFSET_SECONDS;
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// `[start, end)` in Unix seconds.
pub type Span = (i64, i64);

/// `spans` sorted, empty ones dropped, overlapping and touching ones joined.
pub fn normalize(spans: &[Span]) -> Vec<Span> {
    let mut v: Vec<Span> = spans.iter().copied().filter(|(a, b)| a < b).collect();
    v.sort_unstable();
    let mut out: Vec<Span> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The time in both.
pub fn intersect(a: &[Span], b: &[Span]) -> Vec<Span> {
    let (a, b) = (normalize(a), normalize(b));
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        let (start, end) = (a[i].0.max(b[j].0), a[i].1.min(b[j].1));
        if start < end {
            out.push((start, end));
        }
        if a[i].1 < b[j].1 { i += 1 } else { j += 1 }
    }
    out
}

/// The time in `a` but not in `b`.
pub fn subtract(a: &[Span], b: &[Span]) -> Vec<Span> {
    let b = normalize(b);
    let mut out = Vec::new();
    for (mut start, end) in normalize(a) {
        for &(bs, be) in &b {
            if be <= start || bs >= end {
                continue;
            }
            if bs > start {
                out.push((start, bs));
            }
            start = start.max(be);
        }
        if start < end {
            out.push((start, end));
        }
    }
    out
}

/// Seconds covered.
pub fn total(spans: &[Span]) -> i64 {
    normalize(spans).iter().map(|(a, b)| b - a).sum()
}

/// A month of the calendar (JST), e.g. `2026-11`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    /// `YYYY-MM`.
    pub fn parse(text: &str) -> Option<Month> {
        let (y, m) = text.trim().split_once('-')?;
        let (year, month) = (y.parse().ok()?, m.parse().ok()?);
        (y.len() == 4 && m.len() == 2 && NaiveDate::from_ymd_opt(year, month, 1).is_some()).then_some(Month { year, month })
    }

    pub fn first_day(&self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }

    pub fn last_day(&self) -> NaiveDate {
        self.next().first_day().pred_opt().unwrap_or(NaiveDate::MIN)
    }

    pub fn next(&self) -> Month {
        if self.month == 12 { Month { year: self.year + 1, month: 1 } } else { Month { year: self.year, month: self.month + 1 } }
    }

    /// The month before: what a report or a sheet is of by default.
    pub fn previous(&self) -> Month {
        if self.month == 1 { Month { year: self.year - 1, month: 12 } } else { Month { year: self.year, month: self.month - 1 } }
    }

    /// The month as a span, from its first midnight JST to the next month's.
    pub fn span(&self) -> Span {
        days_span(self.first_day(), self.last_day())
    }

    /// Its days, first to last.
    pub fn days(&self) -> Vec<NaiveDate> {
        self.first_day().iter_days().take_while(|d| *d <= self.last_day()).collect()
    }

    /// Its weeks as the report counts them: days 1–7, 8–14, 15–21, 22–28 and the rest.
    pub fn weeks(&self) -> Vec<(NaiveDate, NaiveDate)> {
        self.days().chunks(7).filter_map(|w| Some((*w.first()?, *w.last()?))).collect()
    }

    /// The month holding the instant `at` (JST).
    pub fn of(at: i64) -> Month {
        let d = jst_day(at);
        Month { year: d.year(), month: d.month() }
    }
}

/// The day (JST) holding the instant `at` (Unix seconds); out of chrono's range, the last day.
pub fn jst_day(at: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp(at.saturating_add(i64::from(JST_OFFSET_SECONDS)), 0).map_or(NaiveDate::MAX, |t| t.date_naive())
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// An incident as the figures need it: when it started and, once it has, when service came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    pub started_at: i64,
    pub recovered_at: Option<i64>,
}

/// The days `from` to `to` (JST) as a span: from the first's midnight to the midnight after the
/// last.
pub fn days_span(from: NaiveDate, to: NaiveDate) -> Span {
    let midnight = |d: NaiveDate| d.and_time(chrono::NaiveTime::MIN).and_utc().timestamp() - i64::from(JST_OFFSET_SECONDS);
    (midnight(from), to.succ_opt().map(midnight).unwrap_or(i64::MAX))
}

/// Availability over promised time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Availability {
    /// Promised service time less announced maintenance (seconds).
    pub scheduled: i64,
    /// Of it, time in an outage.
    pub outage: i64,
    /// Promised time taken by announced maintenance, excluded.
    pub maintenance: i64,
}

impl Availability {
    /// (scheduled − outage) / scheduled, in percent; `None` when nothing was promised.
    pub fn percent(&self) -> Option<f64> {
        (self.scheduled > 0).then(|| 100.0 * (self.scheduled - self.outage) as f64 / self.scheduled as f64)
    }
}

/// Availability within `window` (a month) of a service promised during `service`, with
/// `outages` (an open one lasting until `now`) and announced `maintenance` windows, which are
/// neither promised nor counted as outage.
pub fn availability(window: Span, service: &[Span], outages: &[Outage], maintenance: &[Span], now: i64) -> Availability {
    let promised = intersect(service, &[window]);
    let scheduled = subtract(&promised, maintenance);
    let down: Vec<Span> = outages.iter().map(|o| (o.started_at, o.recovered_at.unwrap_or(now))).collect();
    Availability {
        scheduled: total(&scheduled),
        outage: total(&intersect(&scheduled, &down)),
        maintenance: total(&promised) - total(&scheduled),
    }
}

/// 平均復旧時間: the mean seconds from start to recovery of the outages recovered within
/// `window`; `None` if none was.
pub fn mttr(window: Span, outages: &[Outage]) -> Option<f64> {
    let took: Vec<i64> =
        outages.iter().filter_map(|o| o.recovered_at.filter(|r| (window.0..window.1).contains(r)).map(|r| r - o.started_at)).collect();
    (!took.is_empty()).then(|| took.iter().sum::<i64>() as f64 / took.len() as f64)
}

/// The `p`th percentile (0 < p ≤ 100) of `sorted` by nearest rank; `None` if empty.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// p50, p95 and p99 of some response times (ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Latency {
    pub count: usize,
    pub p50: u64,
    pub p95: u64,
    pub p99: u64,
}

impl Latency {
    /// The percentiles of `samples`; `None` if there are none.
    pub fn of(mut samples: Vec<u64>) -> Option<Latency> {
        samples.sort_unstable();
        Some(Latency {
            count: samples.len(),
            p50: percentile(&samples, 50.0)?,
            p95: percentile(&samples, 95.0)?,
            p99: percentile(&samples, 99.0)?,
        })
    }
}

/// One step of a contract's reduction table: availability below `below_percent` owes
/// `reduction_percent` of the month's fee.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Reduction {
    pub below_percent: f64,
    pub reduction_percent: u32,
}

/// What a tenant's contract promises (表2-13's grades by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grade {
    /// サービス稼働率 promised, in percent.
    pub availability_percent: f64,
    /// 平均復旧時間 promised, in hours.
    pub mttr_hours: f64,
    /// The fee reductions a missed availability owes, any order.
    pub reductions: Vec<Reduction>,
    /// 応答時間 promised for 検索系 and 更新系, as the 95th percentile in milliseconds; none by
    /// default (表2-13 names no figure), and then the compliance sheet says it is not agreed.
    #[serde(default)]
    pub search_p95_ms: Option<u64>,
    #[serde(default)]
    pub update_p95_ms: Option<u64>,
}

impl Default for Grade {
    /// 99.5 %, 3 hours (表2-13: 99–99.5 %, about 3 hours); 10 % off below 99.5 %, 25 % below
    /// 99 %, 50 % below 95 %.
    fn default() -> Self {
        Grade {
            availability_percent: 99.5,
            mttr_hours: 3.0,
            reductions: vec![
                Reduction { below_percent: 99.5, reduction_percent: 10 },
                Reduction { below_percent: 99.0, reduction_percent: 25 },
                Reduction { below_percent: 95.0, reduction_percent: 50 },
            ],
            search_p95_ms: None,
            update_p95_ms: None,
        }
    }
}

/// How a month measured against its grade.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Verdict {
    pub availability_met: bool,
    pub mttr_met: bool,
    /// Percent of the month's fee owed back.
    pub reduction_percent: u32,
}

impl Grade {
    /// The verdict on `availability` (percent) and `mttr` (seconds); a month with nothing
    /// promised or nothing recovered meets what it could not measure.
    pub fn judge(&self, availability: Option<f64>, mttr: Option<f64>) -> Verdict {
        let reduction_percent = match availability {
            None => 0,
            Some(a) => self.reductions.iter().filter(|r| a < r.below_percent).map(|r| r.reduction_percent).max().unwrap_or(0),
        };
        Verdict {
            availability_met: availability.is_none_or(|a| a >= self.availability_percent),
            mttr_met: mttr.is_none_or(|s| s <= self.mttr_hours * 3600.0),
            reduction_percent,
        }
    }
}

/// A tenant's contract: when service is promised, the grade, and the monthly fee the reduction
/// is a share of.
#[derive(Debug, Clone, PartialEq)]
pub struct Contract {
    pub hours: crate::calendar::ServiceHours,
    pub grade: Grade,
    /// 月額利用料 (yen).
    pub monthly_fee_yen: u64,
}

impl Default for Contract {
    /// Staff-facing (the intermediate server is used by municipal staff): office hours ± 1 h.
    fn default() -> Self {
        Contract { hours: crate::calendar::ServiceHours::office_default(), grade: Grade::default(), monthly_fee_yen: 0 }
    }
}

impl Contract {
    /// The reduction owed in yen for `verdict`, rounded down.
    pub fn reduction_yen(&self, verdict: &Verdict) -> u64 {
        (u128::from(self.monthly_fee_yen) * u128::from(verdict.reduction_percent) / 100) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_join_intersect_and_subtract() {
        assert_eq!(normalize(&[(5, 9), (1, 3), (3, 4), (8, 12), (7, 7)]), vec![(1, 4), (5, 12)]);
        assert_eq!(intersect(&[(0, 10), (20, 30)], &[(5, 25)]), vec![(5, 10), (20, 25)]);
        assert_eq!(subtract(&[(0, 10), (20, 30)], &[(2, 3), (8, 22), (29, 40)]), vec![(0, 2), (3, 8), (22, 29)]);
        assert_eq!(total(&[(0, 10), (5, 15)]), 15);
    }

    #[test]
    fn a_month_is_its_jst_days() {
        let nov = Month::parse("2026-11").expect("month");
        assert_eq!(nov.to_string(), "2026-11");
        assert_eq!(nov.span().1 - nov.span().0, 30 * 86_400);
        assert_eq!(Month::of(nov.span().0), nov);
        assert_eq!(Month::of(nov.span().0 - 1), Month { year: 2026, month: 10 });
        assert_eq!(Month::parse("2026-12").expect("month").next(), Month { year: 2027, month: 1 });
        assert_eq!(Month::parse("2027-01").expect("month").previous(), Month { year: 2026, month: 12 });
        assert_eq!(nov.previous().next(), nov);
        assert_eq!(nov.days().len(), 30);
        let weeks = nov.weeks();
        let d = |day| NaiveDate::from_ymd_opt(2026, 11, day).expect("day");
        assert_eq!(weeks, [(d(1), d(7)), (d(8), d(14)), (d(15), d(21)), (d(22), d(28)), (d(29), d(30))]);
        assert_eq!(days_span(d(1), d(1)), (nov.span().0, nov.span().0 + 86_400));
        for bad in ["2026-13", "2026-1", "26-11", "2026/11", ""] {
            assert_eq!(Month::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn maintenance_is_neither_promised_nor_outage_and_outages_count_only_in_service_hours() {
        let day = 86_400;
        let window = (0, 10 * day);
        let service = [(0, 10 * day)];
        // Down 1 hour, 2 hours of which... an outage inside maintenance counts not.
        let outages = [
            Outage { started_at: day, recovered_at: Some(day + 3600) },
            Outage { started_at: 5 * day, recovered_at: Some(5 * day + 7200) },
        ];
        let maintenance = [(5 * day, 5 * day + 7200)];
        let a = availability(window, &service, &outages, &maintenance, 10 * day);
        assert_eq!(a, Availability { scheduled: 10 * day - 7200, outage: 3600, maintenance: 7200 });
        let pct = a.percent().expect("promised");
        assert!((pct - 100.0 * (10.0 * 86_400.0 - 7200.0 - 3600.0) / (10.0 * 86_400.0 - 7200.0)).abs() < 1e-9);
        // An open outage lasts until now; one across the window's end counts only inside it.
        let open = [Outage { started_at: 9 * day, recovered_at: None }];
        assert_eq!(availability(window, &service, &open, &[], 11 * day).outage, day);
        // Maintenance across the month's end takes only this month's share.
        assert_eq!(availability(window, &service, &[], &[(9 * day, 12 * day)], 0).maintenance, day);
        assert_eq!(availability(window, &[], &outages, &[], 0).percent(), None, "nothing promised");
    }

    #[test]
    fn mttr_is_the_mean_of_the_outages_recovered_within_the_month() {
        let o = |s, r| Outage { started_at: s, recovered_at: r };
        assert_eq!(mttr((100, 1000), &[o(50, Some(150)), o(200, Some(500)), o(900, Some(1200)), o(950, None)]), Some(200.0));
        assert_eq!(mttr((100, 1000), &[o(950, None)]), None);
    }

    #[test]
    fn percentiles_are_by_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!((percentile(&v, 50.0), percentile(&v, 95.0), percentile(&v, 99.0)), (Some(50), Some(95), Some(99)));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(Latency::of(vec![]), None);
        assert_eq!(Latency::of(vec![30, 10, 20]).map(|l| (l.p50, l.p99)), Some((20, 30)));
    }

    #[test]
    fn a_missed_grade_owes_the_largest_reduction_it_falls_under() {
        let g = Grade::default();
        assert_eq!(g.judge(Some(99.7), Some(3600.0)), Verdict { availability_met: true, mttr_met: true, reduction_percent: 0 });
        assert_eq!(g.judge(Some(99.2), None).reduction_percent, 10);
        assert_eq!(g.judge(Some(98.0), None).reduction_percent, 25);
        let v = g.judge(Some(90.0), Some(4.0 * 3600.0));
        assert_eq!((v.availability_met, v.mttr_met, v.reduction_percent), (false, false, 50));
        assert_eq!(g.judge(None, None).reduction_percent, 0);
        let c = Contract { monthly_fee_yen: 123_457, ..Contract::default() };
        assert_eq!(c.reduction_yen(&g.judge(Some(98.0), None)), 30_864, "25 % of 123 457, rounded down");
    }
}
