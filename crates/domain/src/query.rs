//! 情報照会 (query) states and 情報提供 (provision) outcomes.

use crate::Matrix;
use crate::ids::{DutyCode, ItemCode, OrgType};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The life of a query at the requester. Only the transitions in [`QueryState::can_move_to`]
/// are legal; storage refuses any other, so a state can never go backwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueryState {
    /// 作成 — filed and checked, not yet handed to the outbox.
    Created,
    /// 承認待ち — waiting for e-approval (電子決裁); used when approval is configured.
    PendingApproval,
    /// 送信待ち — in the durable outbox, waiting to be accepted by the hub.
    Queued,
    /// 照会中 — accepted by the hub, waiting for the provider's answer.
    InFlight,
    /// 回答済 — the answer arrived, was verified and opened.
    Answered,
    /// エラー — ended without an answer; the reason is kept with the query.
    Failed,
}

/// An illegal state transition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a query cannot move from {from} to {to}")]
pub struct StateError {
    pub from: QueryState,
    pub to: QueryState,
}

impl QueryState {
    pub fn can_move_to(self, to: QueryState) -> bool {
        use QueryState::*;
        matches!(
            (self, to),
            (Created, Queued)
                | (Created, PendingApproval)
                | (Created, Failed)
                | (PendingApproval, Queued)
                | (PendingApproval, Failed)
                | (Queued, InFlight)
                | (Queued, Failed)
                | (InFlight, Answered)
                | (InFlight, Failed)
        )
    }

    pub fn move_to(self, to: QueryState) -> Result<QueryState, StateError> {
        if self.can_move_to(to) { Ok(to) } else { Err(StateError { from: self, to }) }
    }

    pub fn is_final(self) -> bool {
        matches!(self, QueryState::Answered | QueryState::Failed)
    }

    /// The stable code stored in databases and sent over the API.
    pub fn code(self) -> &'static str {
        match self {
            QueryState::Created => "created",
            QueryState::PendingApproval => "pending_approval",
            QueryState::Queued => "queued",
            QueryState::InFlight => "in_flight",
            QueryState::Answered => "answered",
            QueryState::Failed => "failed",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        use QueryState::*;
        [Created, PendingApproval, Queued, InFlight, Answered, Failed].into_iter().find(|s| s.code() == code)
    }

    /// The Japanese label staff see.
    pub fn label_ja(self) -> &'static str {
        match self {
            QueryState::Created => "作成",
            QueryState::PendingApproval => "承認待ち",
            QueryState::Queued => "送信待ち",
            QueryState::InFlight => "照会中",
            QueryState::Answered => "回答済",
            QueryState::Failed => "エラー",
        }
    }
}

impl fmt::Display for QueryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.label_ja(), self.code())
    }
}

/// The overall outcome of a provision, as the provider decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// At least one requested item had a provision copy valid on the reference date.
    Found,
    /// The provider holds no person under the code the hub gave it.
    NotRegistered,
    /// The person is known but no requested item has a copy valid on the reference date.
    NoCopy,
}

impl Outcome {
    pub fn code(self) -> &'static str {
        match self {
            Outcome::Found => "found",
            Outcome::NotRegistered => "not_registered",
            Outcome::NoCopy => "no_copy",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        [Outcome::Found, Outcome::NotRegistered, Outcome::NoCopy].into_iter().find(|o| o.code() == code)
    }

    /// The overall outcome of per-item answers for a registered person.
    pub fn of_items(items: &[ItemAnswer]) -> Outcome {
        if items.iter().any(|i| matches!(i.status, ItemStatus::Found { .. })) { Outcome::Found } else { Outcome::NoCopy }
    }
}

/// One requested item in an answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ItemAnswer {
    #[schema(value_type = String)]
    pub item: ItemCode,
    #[serde(flatten)]
    pub status: ItemStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ItemStatus {
    Found {
        /// The date from which the copy used was valid (ISO 8601 date).
        valid_from: String,
        /// The copy's fields as the client system registered them.
        fields: serde_json::Map<String, serde_json::Value>,
    },
    NoCopy,
    /// 不開示: the provider withholds this item of this person (e.g. DV protection); the answer
    /// carries nothing else about it.
    Withheld,
    /// 自動応答不可, then declined by the provider's staff, with their reason.
    Declined {
        reason: String,
    },
}

/// A rule a query breaks before anything is stored. The message names the rule, and codes of
/// 別表第二, never a personal value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilingRule {
    #[error("idempotency_key must be 1–128 printable characters")]
    IdempotencyKey,
    #[error("items must list 1–{} item codes", crate::wire::MAX_ITEMS_PER_QUERY)]
    ItemCount,
    #[error("item {0} is not in 別表第二")]
    UnknownItem(ItemCode),
    #[error("別表第二 does not allow {requester} for duty {duty} to ask {provider} for {item}")]
    Denied { requester: OrgType, duty: DutyCode, provider: OrgType, item: ItemCode },
}

/// The rules of a query that need only the query and 別表第二: its idempotency key (1–128
/// printable characters), 1–`MAX_ITEMS_PER_QUERY` items, each an item 別表第二 knows.
pub fn check_filing(idempotency_key: &str, items: &[ItemCode], matrix: &Matrix) -> Result<(), FilingRule> {
    if idempotency_key.is_empty() || idempotency_key.len() > 128 || idempotency_key.chars().any(char::is_control) {
        return Err(FilingRule::IdempotencyKey);
    }
    if items.is_empty() || items.len() > crate::wire::MAX_ITEMS_PER_QUERY {
        return Err(FilingRule::ItemCount);
    }
    match items.iter().find(|i| !matrix.knows_item(i)) {
        Some(i) => Err(FilingRule::UnknownItem(i.clone())),
        None => Ok(()),
    }
}

/// Whether 別表第二 lets an org of type `requester` ask one of type `provider` for every item,
/// for `duty`; the first item it does not allow otherwise.
pub fn check_allowed(
    matrix: &Matrix,
    requester: &OrgType,
    duty: &DutyCode,
    provider: &OrgType,
    items: &[ItemCode],
) -> Result<(), FilingRule> {
    match matrix.first_denied(requester, duty, provider, items) {
        Some(item) => {
            Err(FilingRule::Denied { requester: requester.clone(), duty: duty.clone(), provider: provider.clone(), item: item.clone() })
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use QueryState::*;

    #[test]
    fn a_filing_is_checked_against_its_rules_in_order() {
        let matrix = Matrix::from_csv("matrix.csv", include_str!("../../../data/matrix.csv")).unwrap();
        let (tax, unknown) = (ItemCode::parse("TAX").unwrap(), ItemCode::parse("NO_SUCH_ITEM").unwrap());
        assert_eq!(check_filing("k", std::slice::from_ref(&tax), &matrix), Ok(()));
        for key in ["", "a\nb", &"k".repeat(129)] {
            assert_eq!(check_filing(key, std::slice::from_ref(&tax), &matrix), Err(FilingRule::IdempotencyKey));
        }
        assert_eq!(check_filing("k", &[], &matrix), Err(FilingRule::ItemCount));
        assert_eq!(check_filing("k", &vec![tax.clone(); crate::wire::MAX_ITEMS_PER_QUERY + 1], &matrix), Err(FilingRule::ItemCount));
        assert_eq!(check_filing("k", &[tax.clone(), unknown.clone()], &matrix), Err(FilingRule::UnknownItem(unknown)));
        let (muni, edu) = (OrgType::parse("MUNI").unwrap(), OrgType::parse("EDU").unwrap());
        let d015 = DutyCode::parse("D015").unwrap();
        assert_eq!(check_allowed(&matrix, &muni, &d015, &muni, std::slice::from_ref(&tax)), Ok(()));
        let denied = check_allowed(&matrix, &edu, &d015, &muni, std::slice::from_ref(&tax)).unwrap_err();
        assert!(matches!(denied, FilingRule::Denied { .. }), "{denied}");
    }

    #[test]
    fn legal_path_reaches_answered() {
        let s = Created.move_to(Queued).and_then(|s| s.move_to(InFlight)).and_then(|s| s.move_to(Answered));
        assert_eq!(s, Ok(Answered));
        assert!(Answered.is_final());
    }

    #[test]
    fn illegal_transitions_are_rejected() {
        for (from, to) in [(Answered, Queued), (Failed, InFlight), (InFlight, Queued), (Created, Answered), (Queued, Answered)] {
            assert_eq!(from.move_to(to), Err(StateError { from, to }));
        }
        let all = [Created, PendingApproval, Queued, InFlight, Answered, Failed];
        for s in all {
            assert_eq!(QueryState::from_code(s.code()), Some(s));
            if s.is_final() {
                assert!(all.iter().all(|t| !s.can_move_to(*t)), "{s} must be final");
            }
        }
    }

    #[test]
    fn outcome_of_items_is_found_when_any_item_is_found() {
        let tax = ItemCode::parse("TAX").unwrap();
        let found =
            ItemAnswer { item: tax.clone(), status: ItemStatus::Found { valid_from: "2026-04-01".into(), fields: Default::default() } };
        let none = ItemAnswer { item: tax, status: ItemStatus::NoCopy };
        assert_eq!(Outcome::of_items(&[none.clone(), found]), Outcome::Found);
        assert_eq!(Outcome::of_items(&[none]), Outcome::NoCopy);
    }
}
