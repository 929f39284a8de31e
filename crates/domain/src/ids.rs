//! Identifiers. Each is a validated string newtype so that a handler cannot pass a duty code
//! where an item code belongs, and so that every id that reaches storage or a log line has a
//! known, harmless alphabet.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a string is not a valid identifier of some kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} must be {rule}")]
pub struct IdError {
    pub kind: &'static str,
    pub rule: &'static str,
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $rule:literal, $max:expr, $valid:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, IdError> {
                let ok = !s.is_empty() && s.len() <= $max && s.chars().all($valid);
                if ok { Ok(Self(s.to_owned())) } else { Err(IdError { kind: $kind, rule: $rule }) }
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::parse(&s)
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

fn slug(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
}
fn code(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'
}

id_type!(
    /// 団体 — a tenant (municipality) id, e.g. `kou-city`.
    TenantId, "tenant id", "1–40 characters of a-z, 0-9 and -", 40, slug
);
id_type!(
    /// 複数団体 — a consortium of tenants one administrator oversees (status, SLA, cost), e.g.
    /// `kou-kumiai`.
    ConsortiumId, "consortium id", "1–40 characters of a-z, 0-9 and -", 40, slug
);
id_type!(
    /// 情報保有機関 — an organization id, unique in the hub's directory, e.g. `kou-mayor`.
    OrgId, "org id", "1–40 characters of a-z, 0-9 and -", 40, slug
);
id_type!(
    /// The type of an organization as the Matrix names it (MUNI, EDU, KENPO …).
    OrgType, "org type", "1–16 characters of A-Z, 0-9 and _", 16, code
);
id_type!(
    /// 事務 — the code of an administrative duty, the legal purpose of a query.
    DutyCode, "duty code", "1–32 characters of A-Z, 0-9 and _", 32, code
);
id_type!(
    /// 特定個人情報 — the code of a kind of personal data item (TAX, RESIDENT …).
    ItemCode, "item code", "1–32 characters of A-Z, 0-9 and _", 32, code
);
id_type!(
    /// 団体内統合宛名番号 — the tenant's own person id, used by its client systems.
    AddresseeNo, "addressee number", "1–32 characters of A-Z, a-z, 0-9 and -", 32,
    |c: char| c.is_ascii_alphanumeric() || c == '-'
);
impl AddresseeNo {
    /// The addressee number reserved for the SLA monitor's probe person (監視用の宛名): no
    /// client system may register it, and every business list and count leaves its rows out.
    pub const PROBE: &'static str = "renkei-sla-probe";

    /// The probe person's addressee number.
    pub fn probe() -> Self {
        Self(Self::PROBE.to_owned())
    }

    /// Whether this is the probe person's number.
    pub fn is_probe(&self) -> bool {
        self.0 == Self::PROBE
    }
}

id_type!(
    /// 機関別符号 — the opaque code one org holds for one person; differs per org.
    OrgCode, "org code", "1–64 characters of A-Z, a-z, 0-9, - and _", 64,
    |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_'
);
id_type!(
    /// A request id: unique per envelope, the key of every exactly-once effect.
    RequestId, "request id", "1–64 characters of a-z, 0-9 and -", 64, slug
);

id_type!(
    /// An account's sign-in name (e.g. a staff number or an e-mail address), compared as written.
    AccountName, "account name", "1–64 characters of a-z, 0-9, '.', '_', '-' and '@'", 64,
    |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-' | '@')
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_reject_characters_outside_their_alphabet() {
        assert!(TenantId::parse("kou-city").is_ok());
        assert!(TenantId::parse("Kou").is_err());
        assert!(TenantId::parse("").is_err());
        assert!(TenantId::parse(&"a".repeat(41)).is_err());
        assert!(DutyCode::parse("D015").is_ok());
        assert!(DutyCode::parse("d015").is_err());
        assert!(AddresseeNo::parse("A-0001").is_ok());
        assert!(AddresseeNo::parse("A 0001").is_err());
        assert_eq!(AddresseeNo::parse(AddresseeNo::PROBE), Ok(AddresseeNo::probe()));
        assert!(AddresseeNo::probe().is_probe() && !AddresseeNo::parse("A-0001").is_ok_and(|a| a.is_probe()));
    }

    #[test]
    fn ids_deserialize_through_validation() {
        let ok: Result<ItemCode, _> = serde_json::from_str("\"TAX\"");
        assert!(ok.is_ok());
        let bad: Result<ItemCode, _> = serde_json::from_str("\"tax; drop\"");
        assert!(bad.is_err());
    }
}
