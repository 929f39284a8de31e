//! 個人番号 (Individual Number): 12 digits whose last digit is a check digit.

use serde::{Deserialize, Deserializer};
use std::fmt;
use zeroize::Zeroizing;

/// Why a string is not an Individual Number. The messages never echo the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("an Individual Number has 12 digits, this has {found} characters")]
    Length { found: usize },
    #[error("an Individual Number has only digits; character {position} is not a digit")]
    NonDigit { position: usize },
    #[error("the check digit (12th digit) does not match the first 11 digits")]
    CheckDigit,
}

/// 個人番号 — a validated Individual Number.
///
/// `Debug` and `Display` print a mask, never the digits, so a stray `{:?}` in a log line cannot
/// leak one. The only way to the digits is [`IndividualNumber::expose`], which callers use to
/// hash or transmit the number and nothing else.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IndividualNumber([u8; 12]);

impl IndividualNumber {
    /// Parses after normalizing: surrounding spaces (ASCII and full-width) are trimmed and
    /// full-width digits (０-９) become ASCII digits, as clerks' files often carry them.
    pub fn parse(input: &str) -> Result<Self, NumberError> {
        let trimmed = input.trim_matches(|c: char| c.is_whitespace() || c == '\u{3000}');
        let mut digits = [0u8; 12];
        let mut count = 0usize;
        for (i, c) in trimmed.chars().enumerate() {
            let d = match c {
                '0'..='9' => c as u8 - b'0',
                '０'..='９' => (c as u32 - '０' as u32) as u8,
                _ => {
                    // Report the length first when it is wrong anyway: a clearer message.
                    let len = trimmed.chars().count();
                    if len != 12 {
                        return Err(NumberError::Length { found: len });
                    }
                    return Err(NumberError::NonDigit { position: i + 1 });
                }
            };
            if count < 12 {
                digits[count] = d;
            }
            count += 1;
        }
        if count != 12 {
            return Err(NumberError::Length { found: count });
        }
        if check_digit(&digits[..11]) != digits[11] {
            return Err(NumberError::CheckDigit);
        }
        Ok(Self(digits))
    }

    /// Builds a valid number from its first 11 digits by computing the check digit (used to
    /// generate synthetic residents). Returns `None` unless given exactly 11 digits 0–9.
    pub fn from_first_eleven(first: &[u8]) -> Option<Self> {
        if first.len() != 11 || first.iter().any(|d| *d > 9) {
            return None;
        }
        let mut digits = [0u8; 12];
        digits[..11].copy_from_slice(first);
        digits[11] = check_digit(first);
        Some(Self(digits))
    }

    /// The 12 ASCII digits, wiped when dropped. Call it only to hash or send the number.
    pub fn expose(&self) -> Zeroizing<String> {
        Zeroizing::new(self.0.iter().map(|d| char::from(b'0' + d)).collect())
    }
}

/// The check digit rule of the 個人番号 ordinance: with P_n the n-th digit counted leftwards
/// from the 11th (n = 1..11) and Q_n = n + 1 (n ≤ 6) or n − 5 (n ≥ 7), r = Σ P_n·Q_n mod 11;
/// the check digit is 0 when r ≤ 1, else 11 − r.
fn check_digit(first_eleven: &[u8]) -> u8 {
    let sum: u32 = (1..=11u32)
        .map(|n| {
            let p = u32::from(first_eleven[11 - n as usize]);
            let q = if n <= 6 { n + 1 } else { n - 5 };
            p * q
        })
        .sum();
    let r = sum % 11;
    if r <= 1 { 0 } else { (11 - r) as u8 }
}

/// Text that may hold personal data as it arrived (an Individual Number before it is parsed):
/// wiped when dropped, and printed by `Debug` as a mask, so a stray `{:?}` of a request cannot
/// leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretText(Zeroizing<String>);

impl SecretText {
    pub fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText(…)")
    }
}

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

impl Drop for IndividualNumber {
    /// The digits are wiped when the value goes, so a number does not linger in freed memory.
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl fmt::Debug for IndividualNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IndividualNumber(************)")
    }
}

impl fmt::Display for IndividualNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("************")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_text_prints_as_a_mask_and_exposed_digits_are_a_wiping_copy() {
        let text: SecretText = serde_json::from_str("\"123456789018\"").unwrap();
        assert_eq!(text.as_str(), "123456789018");
        assert!(!format!("{text:?}").contains("1234"), "{text:?}");
        let mut digits = IndividualNumber::parse(text.as_str()).unwrap().expose();
        assert_eq!(digits.as_str(), "123456789018");
        // What its drop does: the bytes are overwritten, not merely freed.
        zeroize::Zeroize::zeroize(&mut *digits);
        assert!(digits.is_empty());
    }

    /// 1234 5678 9018 is valid: Σ = 1·2+0·3+9·4+8·5+7·6+6·7+5·2+4·3+3·4+2·5+1·6 = 212,
    /// 212 mod 11 = 3, check = 8.
    #[test]
    fn accepts_a_number_with_the_right_check_digit() {
        let n = IndividualNumber::parse("123456789018").expect("valid");
        assert_eq!(n.expose().as_str(), "123456789018");
    }

    #[test]
    fn rejects_a_wrong_check_digit() {
        assert_eq!(IndividualNumber::parse("123456789010"), Err(NumberError::CheckDigit));
    }

    #[test]
    fn remainder_zero_or_one_gives_check_digit_zero() {
        // Search 11-digit prefixes for remainders 0 and 1 and check both give 0.
        let mut seen = [false; 2];
        for k in 0u64..2000 {
            let prefix: Vec<u8> = format!("{k:011}").bytes().map(|b| b - b'0').collect();
            let sum: u32 = (1..=11u32).map(|n| u32::from(prefix[11 - n as usize]) * if n <= 6 { n + 1 } else { n - 5 }).sum();
            let r = (sum % 11) as usize;
            if r <= 1 {
                seen[r] = true;
                assert_eq!(check_digit(&prefix), 0);
            } else {
                assert_eq!(u32::from(check_digit(&prefix)), 11 - r as u32);
            }
        }
        assert!(seen[0] && seen[1]);
    }

    #[test]
    fn normalizes_full_width_digits_and_spaces() {
        let n = IndividualNumber::parse("\u{3000} １２３４５６７８９０１８ ").expect("valid");
        assert_eq!(n.expose().as_str(), "123456789018");
    }

    #[test]
    fn rejects_short_long_and_non_digit_input_with_a_reason() {
        assert_eq!(IndividualNumber::parse("12345"), Err(NumberError::Length { found: 5 }));
        assert_eq!(IndividualNumber::parse("1234567890181"), Err(NumberError::Length { found: 13 }));
        assert_eq!(IndividualNumber::parse("12345678901a"), Err(NumberError::NonDigit { position: 12 }));
        assert_eq!(IndividualNumber::parse(""), Err(NumberError::Length { found: 0 }));
        assert_eq!(IndividualNumber::parse("1234-5678-9018"), Err(NumberError::Length { found: 14 }));
    }

    #[test]
    fn debug_and_display_never_print_the_digits() {
        let n = IndividualNumber::parse("123456789018").expect("valid");
        assert!(!format!("{n:?}").contains("1234"));
        assert!(!format!("{n}").contains("1234"));
    }

    #[test]
    fn built_numbers_pass_validation() {
        for k in 0u64..500 {
            let prefix: Vec<u8> = format!("{:011}", k * 7919 + 13).bytes().map(|b| b - b'0').collect();
            let n = IndividualNumber::from_first_eleven(&prefix).expect("11 digits");
            assert_eq!(IndividualNumber::parse(&n.expose()), Ok(n));
        }
        assert!(IndividualNumber::from_first_eleven(&[1, 2, 3]).is_none());
    }
}
