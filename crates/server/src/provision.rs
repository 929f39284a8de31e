//! 情報提供 as a provider gives it: the answer built from the person's copies and marks
//! (`domain::marks::answer_items`: withheld items say only that, manual ones follow the staff's
//! review), sealed to the requester (HPKE), signed by the org, kept once per request id with
//! the provider's linkage record. The network API answers with it automatically; the review
//! API (`reviews_api`) once staff decide on a query held for an item marked manual.

use crate::{OrgContext, Platform};
use renkei_crypto::sealing::SealingKey;
use renkei_domain::marks::{ItemMark, Review};
use renkei_domain::wire::{AnswerBody, ForwardedQuery, MessageKind, SealedAnswer};
use renkei_domain::{ItemCode, Outcome};
use renkei_net::{Problem, ProblemKind};
use renkei_store::now_unix;
use renkei_store::tenant::{CopyVersion, TenantStore};
use std::collections::HashMap;

/// What an answer is made from.
pub enum Basis {
    NotRegistered,
    Copies { copies: Vec<CopyVersion>, marks: HashMap<ItemCode, ItemMark> },
}

impl Platform {
    /// Answers `q` for `org` from `basis` (and the staff's `review`, by `reviewer`): the signed,
    /// sealed envelope kept for the request id (the one kept before, if another answer won).
    pub async fn provide(
        &self,
        org: &OrgContext,
        store: &TenantStore,
        q: &ForwardedQuery,
        basis: Basis,
        review: Option<(&Review, &str)>,
    ) -> Result<String, Problem> {
        let body = match basis {
            Basis::NotRegistered => AnswerBody { request_id: q.request_id.clone(), outcome: Outcome::NotRegistered, items: vec![] },
            Basis::Copies { copies, marks } => {
                let items =
                    renkei_domain::marks::answer_items(&q.items, &marks, review.map(|r| r.0), |item| CopyVersion::found_in(&copies, item));
                AnswerBody { request_id: q.request_id.clone(), outcome: Outcome::of_items(&items), items }
            }
        };
        let seal_key = SealingKey::from_base64(&q.requester_seal_key)
            .map_err(|_| Problem::detailed(ProblemKind::InvalidMessage, "bad requester sealing key"))?;
        let plaintext = serde_json::to_vec(&body).map_err(|_| Problem::internal())?;
        let sealed = seal_key.seal(&plaintext, q.request_id.as_str().as_bytes()).map_err(|_| Problem::internal())?;
        let answer = SealedAnswer {
            request_id: q.request_id.clone(),
            provider: org.id.clone(),
            requester: q.requester.clone(),
            sealed,
            issued_at: now_unix(),
        };
        let env = org.signing.sign(org.id.as_str(), MessageKind::Answer, &answer).map_err(|_| Problem::internal())?;
        let env_json = serde_json::to_string(&env).map_err(|_| Problem::internal())?;
        let kept = store
            .save_provided_answer(&org.id, &q.request_id, &q.requester, &q.duty, &q.items, body.outcome, env_json, review.map(|r| r.1))
            .await?;
        tracing::info!(request_id = %q.request_id, provider = %org.id, outcome = body.outcome.code(), reviewed = review.is_some(), "answered");
        Ok(kept)
    }
}
