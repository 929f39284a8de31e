//! People's accounts (利用者): the rules of signing in that need no clock or store of their own —
//! what a password must be, how long an account waits after failed attempts, when a session
//! ends. Times are Unix seconds passed in by the caller.

use crate::ids::AccountName;
use serde::Serialize;

/// Shortest password accepted (NIST SP 800-63B asks at least 8; a municipal terminal's staff
/// choose a passphrase, and a second factor is required too).
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Longest password accepted: hashing is deliberately slow, and its cost must not grow with
/// what an attacker sends.
pub const MAX_PASSWORD_BYTES: usize = 256;

/// Failed sign-ins (wrong password or wrong code) allowed before the account waits.
pub const FREE_FAILURES: u32 = 5;

/// The first wait after [`FREE_FAILURES`]; each further failure doubles it up to [`MAX_WAIT`].
pub const FIRST_WAIT_SECS: i64 = 30;

/// The longest wait. A back-off, never a permanent lock: whoever fails on purpose can delay an
/// account's owner by this much at a time, not shut them out.
pub const MAX_WAIT_SECS: i64 = 15 * 60;

/// A session unused this long ends (idle timeout).
pub const IDLE_SECS: i64 = 30 * 60;

/// A session ends this long after sign-in, however busy (absolute lifetime).
pub const LIFETIME_SECS: i64 = 12 * 60 * 60;

/// Why a new password is refused. The messages never repeat the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("a password has at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("a password has at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error("a password may not be the account's name")]
    IsTheName,
}

/// Whether `password` may be set for the account `name`.
pub fn check_new_password(name: &AccountName, password: &str) -> Result<(), PasswordError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    if password.eq_ignore_ascii_case(name.as_str()) {
        return Err(PasswordError::IsTheName);
    }
    Ok(())
}

/// How long an account with `failures` consecutive failed sign-ins waits after the last one:
/// nothing for the first [`FREE_FAILURES`], then [`FIRST_WAIT_SECS`] doubling to [`MAX_WAIT_SECS`].
pub fn wait_after(failures: u32) -> i64 {
    if failures < FREE_FAILURES {
        return 0;
    }
    let doublings = (failures - FREE_FAILURES).min(20);
    FIRST_WAIT_SECS.saturating_mul(1 << doublings).min(MAX_WAIT_SECS)
}

/// Why a session no longer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionEnd {
    /// Unused for [`IDLE_SECS`]: the page says "signed out for inactivity".
    Idle,
    /// Older than [`LIFETIME_SECS`].
    Expired,
    /// Signed out, or revoked (password changed, by an admin).
    Revoked,
}

/// Whether a session created at `created_at`, last used at `last_seen_at`, stands at `now`.
pub fn session_state(created_at: i64, last_seen_at: i64, revoked: bool, now: i64) -> Result<(), SessionEnd> {
    if revoked {
        Err(SessionEnd::Revoked)
    } else if now - created_at >= LIFETIME_SECS {
        Err(SessionEnd::Expired)
    } else if now - last_seen_at >= IDLE_SECS {
        Err(SessionEnd::Idle)
    } else {
        Ok(())
    }
}

/// The most people of one tenant a limit lets sign in at once.
pub const MAX_SESSION_LIMIT: u32 = 100_000;

/// The longest a temporary raise may last: 90 days (a busy season, not a new contract).
pub const MAX_RAISE_SECS: i64 = 90 * 24 * 60 * 60;

/// 同時接続利用者数 (表2-13): how many people of a tenant may be signed in at once — the
/// contracted limit, and a temporary raise that ends by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimit {
    pub normal: u32,
    /// A higher limit until a time (Unix seconds).
    pub raise: Option<(u32, i64)>,
}

impl SessionLimit {
    /// The limit in force at `now`.
    pub fn at(&self, now: i64) -> u32 {
        match self.raise {
            Some((limit, until)) if now < until => limit.max(self.normal),
            _ => self.normal,
        }
    }
}

/// A limit or raise that breaks a rule (named in the message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LimitRule {
    #[error("a limit is 1 to {MAX_SESSION_LIMIT} people")]
    OutOfRange,
    #[error("a raise is above the normal limit")]
    NotARaise,
    #[error("a raise ends in the future, within 90 days")]
    Until,
}

/// Whether `n` may be a tenant's normal limit.
pub fn check_session_limit(n: u32) -> Result<(), LimitRule> {
    if (1..=MAX_SESSION_LIMIT).contains(&n) { Ok(()) } else { Err(LimitRule::OutOfRange) }
}

/// Whether a raise to `limit` until `until` may be set on `normal` at `now`.
pub fn check_raise(normal: u32, limit: u32, until: i64, now: i64) -> Result<(), LimitRule> {
    check_session_limit(limit)?;
    if limit <= normal {
        return Err(LimitRule::NotARaise);
    }
    if until <= now || until > now + MAX_RAISE_SECS {
        return Err(LimitRule::Until);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_are_lowercase_words_of_up_to_sixty_four_characters() {
        for ok in ["abc", "tanaka.taro@city.example.lg.jp", "staff-0001", "a_b"] {
            assert!(AccountName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Tanaka", "田中", "a b", "x;drop", &"a".repeat(65)] {
            assert!(AccountName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_new_password_is_long_enough_not_too_long_and_not_the_name() {
        let name = AccountName::parse("tanaka-0001").unwrap();
        assert_eq!(check_new_password(&name, "short"), Err(PasswordError::TooShort));
        assert_eq!(check_new_password(&name, "十二文字のパスフレーズです"), Ok(()), "characters, not bytes");
        assert_eq!(check_new_password(&name, &"x".repeat(MAX_PASSWORD_BYTES + 1)), Err(PasswordError::TooLong));
        assert_eq!(check_new_password(&name, "TANAKA-0001"), Err(PasswordError::TooShort));
        let long_name = AccountName::parse("tanaka.taro.0001").unwrap();
        assert_eq!(check_new_password(&long_name, "Tanaka.Taro.0001"), Err(PasswordError::IsTheName));
        assert!(!format!("{}", PasswordError::TooShort).contains("short"), "the message names the rule, not the value");
    }

    #[test]
    fn failures_wait_nothing_then_double_up_to_a_ceiling_never_for_ever() {
        let waits: Vec<i64> = (0..12).map(wait_after).collect();
        assert_eq!(waits, [0, 0, 0, 0, 0, 30, 60, 120, 240, 480, 900, 900]);
        assert_eq!(wait_after(u32::MAX), MAX_WAIT_SECS);
    }

    #[test]
    fn a_session_ends_when_idle_past_its_lifetime_or_revoked() {
        let t0 = 1_800_000_000;
        assert_eq!(session_state(t0, t0, false, t0 + 60), Ok(()));
        assert_eq!(session_state(t0, t0, false, t0 + IDLE_SECS), Err(SessionEnd::Idle));
        assert_eq!(session_state(t0, t0 + IDLE_SECS, false, t0 + IDLE_SECS + 60), Ok(()), "use keeps it");
        assert_eq!(session_state(t0, t0 + LIFETIME_SECS - 1, false, t0 + LIFETIME_SECS), Err(SessionEnd::Expired));
        assert_eq!(session_state(t0, t0, true, t0 + 1), Err(SessionEnd::Revoked));
    }

    #[test]
    fn a_raise_holds_until_its_end_then_the_normal_limit_returns() {
        let l = SessionLimit { normal: 50, raise: Some((80, 1_000)) };
        assert_eq!(l.at(999), 80);
        assert_eq!(l.at(1_000), 50, "ended by itself");
        assert_eq!(SessionLimit { normal: 50, raise: None }.at(0), 50);
    }

    #[test]
    fn limits_and_raises_keep_their_bounds() {
        assert_eq!(check_session_limit(0), Err(LimitRule::OutOfRange));
        assert_eq!(check_session_limit(MAX_SESSION_LIMIT + 1), Err(LimitRule::OutOfRange));
        assert_eq!(check_session_limit(1), Ok(()));
        assert_eq!(check_raise(50, 50, 100, 0), Err(LimitRule::NotARaise));
        assert_eq!(check_raise(50, 80, 0, 0), Err(LimitRule::Until), "already over");
        assert_eq!(check_raise(50, 80, MAX_RAISE_SECS + 1, 0), Err(LimitRule::Until));
        assert_eq!(check_raise(50, 80, MAX_RAISE_SECS, 0), Ok(()));
    }
}
