//! 情報提供等記録 (linkage record): which side of a linkage wrote a record, and what came of it.
//! Both are stored as the codes below and shown as such in the API.

use crate::query::Outcome;
use serde::{Deserialize, Serialize};

/// Which side of a linkage a record was written by (the record's `role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The org that filed the query (情報照会者).
    Requester,
    /// The org that answered it (情報提供者).
    Provider,
}

impl Side {
    pub fn code(self) -> &'static str {
        match self {
            Side::Requester => "requester",
            Side::Provider => "provider",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        [Side::Requester, Side::Provider].into_iter().find(|s| s.code() == code)
    }
}

/// What a linkage ended in: the provision's outcome, or an error (no answer: refused,
/// undeliverable or past its deadline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordOutcome {
    Found,
    NotRegistered,
    NoCopy,
    Error,
}

impl RecordOutcome {
    pub fn code(self) -> &'static str {
        match self {
            RecordOutcome::Found => "found",
            RecordOutcome::NotRegistered => "not_registered",
            RecordOutcome::NoCopy => "no_copy",
            RecordOutcome::Error => "error",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        use RecordOutcome::*;
        [Found, NotRegistered, NoCopy, Error].into_iter().find(|o| o.code() == code)
    }
}

impl From<Outcome> for RecordOutcome {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Found => RecordOutcome::Found,
            Outcome::NotRegistered => RecordOutcome::NotRegistered,
            Outcome::NoCopy => RecordOutcome::NoCopy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_read_back_and_a_provision_outcome_keeps_its_code() {
        for s in [Side::Requester, Side::Provider] {
            assert_eq!(Side::from_code(s.code()), Some(s));
        }
        for o in [Outcome::Found, Outcome::NotRegistered, Outcome::NoCopy] {
            assert_eq!(RecordOutcome::from(o).code(), o.code());
        }
        assert_eq!(RecordOutcome::from_code("error"), Some(RecordOutcome::Error));
        assert_eq!(RecordOutcome::from_code("withheld?"), None);
    }
}
