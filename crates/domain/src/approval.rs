//! 電子決裁 (e-approval) before a query leaves: an org may require, per duty (事務), that its
//! queries wait in 承認待ち until an approver other than the filer approves (→ 送信待ち) or
//! rejects with a reason (→ エラー). A query nobody decides within the policy's window ends by
//! itself. These are the rules; the tenant store keeps the policies and the decisions.

/// Shortest approval window: an approver needs time to look.
pub const MIN_WINDOW_MINUTES: u32 = 10;
/// Longest approval window: 30 days; a query older than that has lost its reason to be.
pub const MAX_WINDOW_MINUTES: u32 = 30 * 24 * 60;
/// Longest reason a person gives for a query they end or decline (a rejection here, a
/// provider's decline in `marks`), in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// Whether `reason` is one a person may give: there, at most [`MAX_REASON_CHARS`], printable.
pub fn reason_is_fit(reason: &str) -> bool {
    let n = reason.trim().chars().count();
    n > 0 && n <= MAX_REASON_CHARS && !reason.chars().any(char::is_control)
}

/// An approver's decision on a query waiting in 承認待ち.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject { reason: String },
}

/// A decision or policy that breaks a rule. Messages name the rule, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalRule {
    #[error("a query is decided by an approver other than the one who filed it")]
    OwnQuery,
    #[error("a rejection gives a reason of 1–{MAX_REASON_CHARS} characters, without control characters")]
    Reason,
    #[error("an approval window is {MIN_WINDOW_MINUTES} minutes to {MAX_WINDOW_MINUTES} minutes (30 days)")]
    Window,
}

/// Whether `decider` may decide a query `filer` filed (both as the audit log names actors).
pub fn check_decider(filer: &str, decider: &str) -> Result<(), ApprovalRule> {
    if filer == decider { Err(ApprovalRule::OwnQuery) } else { Ok(()) }
}

/// Whether a decision is well formed: a rejection's reason is there, short and printable.
pub fn check_decision(d: &Decision) -> Result<(), ApprovalRule> {
    match d {
        Decision::Approve => Ok(()),
        Decision::Reject { reason } if reason_is_fit(reason) => Ok(()),
        Decision::Reject { .. } => Err(ApprovalRule::Reason),
    }
}

/// Whether `minutes` is an approval window a policy may set.
pub fn check_window(minutes: u32) -> Result<(), ApprovalRule> {
    if (MIN_WINDOW_MINUTES..=MAX_WINDOW_MINUTES).contains(&minutes) { Ok(()) } else { Err(ApprovalRule::Window) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filer_may_not_decide_their_own_query() {
        assert_eq!(check_decider("tanaka", "tanaka"), Err(ApprovalRule::OwnQuery));
        assert_eq!(check_decider("tanaka", "suzuki"), Ok(()));
        assert_eq!(check_decider("api-key:0123456789ab", "suzuki"), Ok(()), "a client system's filing is decided by a person");
    }

    #[test]
    fn a_rejection_needs_a_short_printable_reason() {
        let reject = |r: &str| Decision::Reject { reason: r.into() };
        assert_eq!(check_decision(&Decision::Approve), Ok(()));
        assert_eq!(check_decision(&reject("目的外の照会のため")), Ok(()));
        assert_eq!(check_decision(&reject("  ")), Err(ApprovalRule::Reason));
        assert_eq!(check_decision(&reject(&"長".repeat(MAX_REASON_CHARS))), Ok(()));
        assert_eq!(check_decision(&reject(&"長".repeat(MAX_REASON_CHARS + 1))), Err(ApprovalRule::Reason));
        assert_eq!(check_decision(&reject("a\u{7}b")), Err(ApprovalRule::Reason));
    }

    #[test]
    fn windows_are_ten_minutes_to_thirty_days() {
        assert_eq!(check_window(MIN_WINDOW_MINUTES - 1), Err(ApprovalRule::Window));
        assert_eq!(check_window(MIN_WINDOW_MINUTES), Ok(()));
        assert_eq!(check_window(MAX_WINDOW_MINUTES), Ok(()));
        assert_eq!(check_window(MAX_WINDOW_MINUTES + 1), Err(ApprovalRule::Window));
    }
}
