//! The messages that cross the network between servers and the hub.
//!
//! Every message travels inside a [`SignedEnvelope`]: the signer's id, the message kind, the
//! payload as base64 of its JSON bytes, and an Ed25519 signature over kind and bytes (see
//! `renkei_crypto::signing`). Receivers verify before they parse, so nothing unsigned is trusted.

use crate::date::Date;
use crate::ids::{DutyCode, ItemCode, OrgCode, OrgId, OrgType, RequestId};
use crate::query::{ItemAnswer, Outcome};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The most Individual Numbers one code request may carry.
pub const MAX_CODES_PER_REQUEST: usize = 1000;
/// The most items one query may ask for.
pub const MAX_ITEMS_PER_QUERY: usize = 16;
/// How far a signed message's `issued_at` may be from the receiver's clock, in seconds, unless
/// the operator sets another window (`--freshness-secs`). Older envelopes are refused as
/// replays; every delivery attempt is signed anew, so a peer that was down longer than the
/// window still gets a fresh one.
pub const FRESHNESS_SECONDS: i64 = 300;

/// A signed message. `payload` is base64 (standard) of the JSON bytes that were signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedEnvelope {
    /// The org id of the signer, or [`HUB_SIGNER`] for the hub.
    pub signer: String,
    pub kind: MessageKind,
    pub payload: String,
    pub signature: String,
}

/// The signer name the hub uses in envelopes it signs.
pub const HUB_SIGNER: &str = "hub";

/// What an envelope carries; part of the signed bytes, so one kind cannot be passed off as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    CodeRequest,
    SiblingCodeRequest,
    Query,
    ForwardedQuery,
    Answer,
    RelayedAnswer,
    DeliveryFailure,
}

impl MessageKind {
    pub fn code(self) -> &'static str {
        match self {
            MessageKind::CodeRequest => "code_request",
            MessageKind::SiblingCodeRequest => "sibling_code_request",
            MessageKind::Query => "query",
            MessageKind::ForwardedQuery => "forwarded_query",
            MessageKind::Answer => "answer",
            MessageKind::RelayedAnswer => "relayed_answer",
            MessageKind::DeliveryFailure => "delivery_failure",
        }
    }
}

/// Org → hub: mint or look up this org's codes for these numbers (in order).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    pub org: OrgId,
    pub request_id: RequestId,
    pub issued_at: i64,
    /// The numbers in the clear: they travel only inside mutual TLS to the hub, which keeps
    /// nothing but a keyed hash of each. Each is wiped when the request is dropped.
    pub numbers: Vec<Zeroizing<String>>,
    /// Other orgs of the signer's municipality (the hub directory's group) whose codes for the
    /// same numbers are wanted too: one person registry for the whole municipality.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub siblings: Vec<OrgId>,
}

impl std::fmt::Debug for CodeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeRequest")
            .field("org", &self.org)
            .field("request_id", &self.request_id)
            .field("issued_at", &self.issued_at)
            .field("numbers", &self.numbers.len())
            .field("siblings", &self.siblings)
            .finish()
    }
}

/// Hub → org: one code per number, in the order asked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeResponse {
    pub codes: Vec<OrgCode>,
    /// Each sibling's codes, in the order the siblings were asked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub siblings: Vec<Vec<OrgCode>>,
}

/// Org → hub: the codes of `siblings` (other orgs of the signer's municipality) for the persons
/// the signer knows by `codes`. For orgs that registered persons one at a time before they
/// shared one person registry, and no longer hold the Individual Numbers.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiblingCodeRequest {
    pub org: OrgId,
    pub request_id: RequestId,
    pub issued_at: i64,
    pub codes: Vec<OrgCode>,
    pub siblings: Vec<OrgId>,
}

/// Hub → org: per sibling (in the order asked), its code for each code asked, `None` where the
/// signer has no such code.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiblingCodeResponse {
    pub siblings: Vec<Vec<Option<OrgCode>>>,
}

/// Requester → hub: a query about the person the requester knows under `requester_code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    pub request_id: RequestId,
    pub requester: OrgId,
    pub provider: OrgId,
    pub duty: DutyCode,
    pub items: Vec<ItemCode>,
    pub requester_code: OrgCode,
    pub reference_date: Date,
    pub issued_at: i64,
}

/// Hub → provider: the query with the requester's code swapped for the provider's, and the key
/// the provider seals its answer to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardedQuery {
    pub request_id: RequestId,
    pub requester: OrgId,
    pub requester_type: OrgType,
    /// The requester's X25519 public key, base64.
    pub requester_seal_key: String,
    pub provider: OrgId,
    pub duty: DutyCode,
    pub items: Vec<ItemCode>,
    pub provider_code: OrgCode,
    pub reference_date: Date,
    pub issued_at: i64,
}

/// The plaintext of an answer; only the requester can open it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    pub request_id: RequestId,
    pub outcome: Outcome,
    pub items: Vec<ItemAnswer>,
}

/// Provider → hub → requester: an answer sealed to the requester (HPKE) and signed by the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedAnswer {
    pub request_id: RequestId,
    pub provider: OrgId,
    pub requester: OrgId,
    /// base64 of HPKE encapsulated key ‖ ciphertext.
    pub sealed: String,
    pub issued_at: i64,
}

/// Hub → requester: the provider's signed answer, with the provider's verifying key as the
/// hub's directory knows it (the requester has no directory of its own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayedAnswer {
    pub answer: SignedEnvelope,
    /// The provider's Ed25519 verifying key, base64.
    pub provider_verify_key: String,
    pub issued_at: i64,
}

/// Hub → requester: the hub gave up delivering the query (the provider refused it, or could not
/// be reached within the hub's attempts). The requester ends the query in エラー with `reason`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryFailure {
    pub request_id: RequestId,
    pub requester: OrgId,
    pub provider: OrgId,
    /// Why, for staff to read: the provider's problem type and detail, or the last delivery error.
    pub reason: String,
    pub issued_at: i64,
}

/// Hub → requester on accepting a query.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accepted {
    pub request_id: RequestId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_request_carries_its_numbers_on_the_wire_but_debug_prints_only_how_many() {
        let json = r#"{"org":"kou-mayor","request_id":"r-1","issued_at":0,"numbers":["123456789018","234567890123"]}"#;
        let req: CodeRequest = serde_json::from_str(json).unwrap();
        assert_eq!(req.numbers[1].as_str(), "234567890123");
        assert_eq!(serde_json::to_string(&req).unwrap(), json);
        let shown = format!("{req:?}");
        assert!(shown.contains("numbers: 2") && !shown.contains("1234") && !shown.contains("2345"), "{shown}");
    }
}
