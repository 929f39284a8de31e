//! The largest answer that accepted copies can make travels every hop: sealed by the provider,
//! signed, relayed by the hub in an envelope of its own, it stays within the network listeners'
//! body limit and within the JSON parser's nesting limit, and opens whole at the requester.
//! The limits are `renkei_domain::copy`'s.

use renkei_crypto::sealing::OpeningKey;
use renkei_crypto::signing::{SigningKey, open_envelope};
use renkei_domain::copy::{MAX_MESSAGE_BYTES, check_fields, largest_fields};
use renkei_domain::wire::{AnswerBody, MAX_ITEMS_PER_QUERY, MessageKind, RelayedAnswer, SealedAnswer, SignedEnvelope};
use renkei_domain::{ItemAnswer, ItemCode, ItemStatus, OrgId, Outcome, RequestId};

#[test]
fn largest_accepted_answer_fits_every_hop() {
    let fields = largest_fields();
    assert!(check_fields(&fields).is_ok(), "the largest fields are accepted");
    // The longest item codes and request id the wire allows make the envelope longest too.
    let items: Vec<ItemAnswer> = (0..MAX_ITEMS_PER_QUERY)
        .map(|i| ItemAnswer {
            item: ItemCode::parse(&format!("ITEM{i:02}")).unwrap(),
            status: ItemStatus::Found { valid_from: "9999-12-31".into(), fields: fields.clone() },
        })
        .collect();
    let request_id = RequestId::parse(&uuid_like()).unwrap();
    let body = AnswerBody { request_id: request_id.clone(), outcome: Outcome::Found, items };
    let plaintext = serde_json::to_vec(&body).unwrap();

    let (provider, requester, hub) = (SigningKey::generate(), OpeningKey::generate(), SigningKey::generate());
    let sealed = requester.sealing_key().seal(&plaintext, request_id.as_str().as_bytes()).unwrap();
    let answer = SealedAnswer {
        request_id: request_id.clone(),
        provider: OrgId::parse("provider-org").unwrap(),
        requester: OrgId::parse("requester-org").unwrap(),
        sealed,
        issued_at: i64::MAX,
    };
    let signed = provider.sign("provider-org", MessageKind::Answer, &answer).unwrap();
    let to_hub = serde_json::to_vec(&signed).unwrap();
    assert!(to_hub.len() <= MAX_MESSAGE_BYTES, "provider → hub: {} bytes", to_hub.len());
    let relayed = RelayedAnswer { answer: signed, provider_verify_key: provider.verifying_key().to_base64(), issued_at: i64::MAX };
    let to_requester = serde_json::to_vec(&hub.sign("hub", MessageKind::RelayedAnswer, &relayed).unwrap()).unwrap();
    assert!(to_requester.len() <= MAX_MESSAGE_BYTES, "hub → requester: {} bytes", to_requester.len());

    // The requester parses and opens it with serde_json's default limits.
    let env: SignedEnvelope = serde_json::from_slice(&to_requester).unwrap();
    let relayed: RelayedAnswer = open_envelope(&env, MessageKind::RelayedAnswer, &hub.verifying_key()).unwrap();
    let answer: SealedAnswer = open_envelope(&relayed.answer, MessageKind::Answer, &provider.verifying_key()).unwrap();
    let opened = requester.open(&answer.sealed, request_id.as_str().as_bytes()).unwrap();
    let body_back: AnswerBody = serde_json::from_slice(&opened).unwrap();
    assert_eq!(body_back, body);
}

/// A request id of the usual form (a UUID).
fn uuid_like() -> String {
    "01890a5d-ac96-774b-bcce-b302099a8057".to_owned()
}
