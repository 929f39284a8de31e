//! Calendar dates of the linkage: a provision copy's valid-from date and a query's reference
//! date (基準日).
//!
//! Years are 0001–9999 only, written `YYYY-MM-DD`. chrono accepts `+10000-01-01` too, which
//! sorts before `2026-…` as text: a copy valid only from the year 10000 was handed out for 2026.
//! With four-digit years the text form orders as the dates do, so both backends may compare the
//! stored text (SQLite) or a `date` column (PostgreSQL) and agree.

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Why a text is not a date of the linkage. Never repeats the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("a date is written YYYY-MM-DD")]
    Form,
    #[error("no such day in the calendar")]
    NoSuchDay,
    #[error("a date's year is 0001–9999")]
    Year,
}

/// A date with a year of 0001–9999.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date(NaiveDate);

impl Date {
    pub const MIN_YEAR: i32 = 1;
    pub const MAX_YEAR: i32 = 9999;

    /// The date, if its year is in range.
    pub fn new(d: NaiveDate) -> Result<Self, DateError> {
        if (Self::MIN_YEAR..=Self::MAX_YEAR).contains(&d.year()) { Ok(Self(d)) } else { Err(DateError::Year) }
    }

    pub fn from_ymd(y: i32, m: u32, d: u32) -> Result<Self, DateError> {
        Self::new(NaiveDate::from_ymd_opt(y, m, d).ok_or(DateError::NoSuchDay)?)
    }

    /// `YYYY-MM-DD` exactly (the API's and the wire's form).
    pub fn parse(s: &str) -> Result<Self, DateError> {
        Self::parse_in(s, false)
    }

    /// [`Date::parse`] with the forms clerks' CSV files carry as well: `YYYY/MM/DD`, and one-digit
    /// months and days (`2026/4/1`, `2026-4-1`).
    pub fn parse_csv(s: &str) -> Result<Self, DateError> {
        Self::parse_in(s, true)
    }

    fn parse_in(s: &str, csv: bool) -> Result<Self, DateError> {
        if s.starts_with(['+', '-']) {
            // A signed year (`+10000-01-01`, `-0001-01-01`) is out of range, said as such.
            return Err(DateError::Year);
        }
        let mut parts = s.split(if csv && s.contains('/') { '/' } else { '-' });
        let (Some(y), Some(m), Some(d), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(DateError::Form);
        };
        let digits = |p: &str, lens: std::ops::RangeInclusive<usize>| {
            (lens.contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit())).then(|| p.parse::<u32>().ok()).flatten()
        };
        let day_len = if csv { 1..=2 } else { 2..=2 };
        if y.len() > 4 && y.bytes().all(|c| c.is_ascii_digit()) {
            return Err(DateError::Year);
        }
        let (Some(y), Some(m), Some(d)) = (digits(y, 4..=4), digits(m, day_len.clone()), digits(d, day_len)) else {
            return Err(DateError::Form);
        };
        Self::from_ymd(y as i32, m, d)
    }

    pub fn naive(self) -> NaiveDate {
        self.0
    }
}

impl TryFrom<NaiveDate> for Date {
    type Error = DateError;
    fn try_from(d: NaiveDate) -> Result<Self, DateError> {
        Self::new(d)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Four digits always (chrono writes year 1 as `0001` too; said here, not assumed).
        write!(f, "{:04}-{:02}-{:02}", self.0.year(), self.0.month(), self.0.day())
    }
}

impl fmt::Debug for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Date({self})")
    }
}

impl std::str::FromStr for Date {
    type Err = DateError;
    fn from_str(s: &str) -> Result<Self, DateError> {
        Self::parse(s)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Date::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_are_0001_to_9999_and_the_text_orders_as_the_dates_do() {
        assert_eq!(Date::parse("2026-04-01").unwrap().to_string(), "2026-04-01");
        assert_eq!(Date::parse("0001-01-01").unwrap().to_string(), "0001-01-01");
        assert_eq!(Date::parse("9999-12-31").unwrap().to_string(), "9999-12-31");
        for far in ["+10000-01-01", "10000-01-01", "-0001-01-01", "+2026-01-01"] {
            assert_eq!(Date::parse(far), Err(DateError::Year), "{far}");
        }
        assert_eq!(Date::parse("0000-12-31"), Err(DateError::Year));
        assert_eq!(Date::parse("2026-02-30"), Err(DateError::NoSuchDay));
        for bad in ["2026-4-1", "2026/04/01", "26-04-01", "2026-04-01T00:00", "", "２０２６-04-01"] {
            assert_eq!(Date::parse(bad), Err(DateError::Form), "{bad}");
        }
        let d = |s| Date::parse(s).unwrap();
        let mut dates = [d("9999-12-31"), d("2026-07-01"), d("0001-01-01"), d("2025-12-31")];
        let mut texts: Vec<String> = dates.iter().map(Date::to_string).collect();
        dates.sort();
        texts.sort();
        assert_eq!(dates.iter().map(Date::to_string).collect::<Vec<_>>(), texts);
    }

    #[test]
    fn csv_files_may_write_slashes_and_one_digit_months_and_days() {
        let want = Date::from_ymd(2026, 4, 1).unwrap();
        for s in ["2026-04-01", "2026/04/01", "2026/4/1", "2026-4-1"] {
            assert_eq!(Date::parse_csv(s), Ok(want), "{s}");
        }
        assert_eq!(Date::parse_csv("+10000/01/01"), Err(DateError::Year));
        assert_eq!(Date::parse_csv("2026/04-01"), Err(DateError::Form));
    }

    #[test]
    fn json_carries_the_text_form_and_refuses_far_years_without_echoing_them() {
        let d: Date = serde_json::from_str("\"2026-07-01\"").unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"2026-07-01\"");
        let e = serde_json::from_str::<Date>("\"+10000-01-01\"").unwrap_err().to_string();
        assert!(e.contains("0001–9999") && !e.contains("10000"), "{e}");
    }
}
