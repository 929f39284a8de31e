//! データ保管場所: where each storage place of the platform or the hub is, as the operator
//! declares it (a country, ISO 3166-1 alpha-2, and optionally a region), and the countries data
//! may be kept in (the contracts ask for Japan). A place outside them is refused at start-up.
//! The declaration is the operator's word, printed for the compliance sheet
//! (`renkei admin locations`); the software cannot see where a disk is.

use std::fmt;

/// The countries allowed when none are named: Japan.
pub const DEFAULT_ALLOWED: &str = "JP";
/// The place declared when none is: Japan, region not stated.
pub const DEFAULT_PLACE: &str = "JP";
const MAX_REGION_CHARS: usize = 64;

/// A declared place: `JP` or `JP/東京都`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
    pub region: Option<String>,
}

/// Why a declaration or the allowed list is not usable, or a place not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocationError {
    #[error("a place is COUNTRY or COUNTRY/REGION with COUNTRY two letters of ISO 3166-1 (e.g. JP/東京都), not {0:?}")]
    BadPlace(String),
    #[error("the allowed countries are two-letter ISO 3166-1 codes separated by commas (e.g. JP), not {0:?}")]
    BadAllowed(String),
    #[error("{what} is declared in {place}, outside the allowed countries ({allowed})")]
    NotAllowed { what: String, place: String, allowed: String },
}

fn country(s: &str) -> Option<String> {
    let c = s.trim();
    (c.len() == 2 && c.chars().all(|ch| ch.is_ascii_alphabetic())).then(|| c.to_ascii_uppercase())
}

impl Place {
    pub fn parse(s: &str) -> Result<Place, LocationError> {
        let bad = || LocationError::BadPlace(s.chars().take(80).collect());
        let (c, region) = match s.split_once('/') {
            Some((c, r)) => (c, Some(r.trim())),
            None => (s, None),
        };
        let country = country(c).ok_or_else(bad)?;
        let region = match region {
            None => None,
            Some(r) if r.is_empty() || r.chars().count() > MAX_REGION_CHARS || r.chars().any(char::is_control) => return Err(bad()),
            Some(r) => Some(r.to_owned()),
        };
        Ok(Place { country, region })
    }
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.region {
            Some(r) => write!(f, "{}/{r}", self.country),
            None => f.write_str(&self.country),
        }
    }
}

/// The countries data may be kept in, from `JP` or `JP,US`.
pub fn parse_allowed(s: &str) -> Result<Vec<String>, LocationError> {
    let list: Option<Vec<String>> = s.split(',').map(country).collect();
    match list {
        Some(l) if !l.is_empty() => Ok(l),
        _ => Err(LocationError::BadAllowed(s.chars().take(80).collect())),
    }
}

/// Whether `what` (e.g. "the platform's database") at `place` may be used.
pub fn check(what: &str, place: &Place, allowed: &[String]) -> Result<(), LocationError> {
    if allowed.contains(&place.country) {
        Ok(())
    } else {
        Err(LocationError::NotAllowed { what: what.to_owned(), place: place.to_string(), allowed: allowed.join(",") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_is_a_country_and_maybe_a_region() {
        assert_eq!(Place::parse("JP").unwrap(), Place { country: "JP".into(), region: None });
        assert_eq!(Place::parse("jp/東京都").unwrap(), Place { country: "JP".into(), region: Some("東京都".into()) });
        assert_eq!(Place::parse("JP/東京都").unwrap().to_string(), "JP/東京都");
        for bad in ["", "J", "JPN", "1P", "JP/", "JP/\n", &format!("JP/{}", "x".repeat(65))] {
            assert!(Place::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_an_allowed_country_passes_and_the_refusal_says_why() {
        let allowed = parse_allowed(DEFAULT_ALLOWED).unwrap();
        assert!(check("the database", &Place::parse(DEFAULT_PLACE).unwrap(), &allowed).is_ok());
        let err = check("the database", &Place::parse("US/virginia").unwrap(), &allowed).unwrap_err();
        assert_eq!(err.to_string(), "the database is declared in US/virginia, outside the allowed countries (JP)");
        let both = parse_allowed("JP, us").unwrap();
        assert_eq!(both, ["JP", "US"]);
        assert!(check("the database", &Place::parse("US").unwrap(), &both).is_ok());
        assert!(parse_allowed("").is_err() && parse_allowed("JP,,US").is_err() && parse_allowed("Japan").is_err());
    }
}
