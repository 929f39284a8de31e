//! Answers this tenant gives as a provider (情報提供): what to answer from, and the answer kept
//! once per request id.

use super::*;

/// A forwarded query's answer as the provider's store can give it ([`TenantStore::answer_basis`]).
#[derive(Debug)]
pub enum AnswerBasis {
    /// Already answered: the signed, sealed envelope given then, to be given again.
    Answered(String),
    /// No person is registered under the code.
    NotRegistered,
    /// Held for the provider's staff (an item is marked manual), not decided yet.
    Held,
    /// The person's copies valid on the reference date (items without one are left out), and
    /// the person's marks on items.
    Copies { copies: Vec<CopyVersion>, marks: HashMap<ItemCode, renkei_domain::marks::ItemMark> },
}

pub(super) const PROVIDED_ANSWER: &str = "SELECT envelope FROM provided_answers WHERE tenant_id = ?1 AND request_id = ?2";

impl TenantStore {
    /// What a provider needs to answer a forwarded query (情報提供), read in one transaction:
    /// the answer already given for `request_id`, or that it is held for review, or else the
    /// person registered under `code`, their copies of `items` valid on `date` and their marks
    /// (what a reviewer decides on, when `reviewing`).
    pub async fn answer_basis(
        &self,
        org: &OrgId,
        request_id: &RequestId,
        code: &OrgCode,
        items: &[ItemCode],
        date: Date,
        reviewing: bool,
    ) -> Result<AnswerBasis> {
        let c_idx = self.code_idx(org, code);
        let (tenant, org, rid) = (self.tenant.to_string(), org.to_string(), request_id.to_string());
        let items: Vec<String> = items.iter().map(|i| i.to_string()).collect();
        let d = date.to_string();
        let dk = self.dk.clone();
        let found = self
            .read(move |tx| {
                if let Some(r) = tx.query_opt(PROVIDED_ANSWER, args![tenant, rid])? {
                    return Ok(Err(Some(r.get::<String>(0)?)));
                }
                if !reviewing && review_pending(tx, &tenant, &rid)? {
                    return Ok(Err(None));
                }
                let person = tx.query_opt(
                    "SELECT addressee_idx FROM persons WHERE tenant_id = ?1 AND org_id = ?2 AND code_idx = ?3",
                    args![tenant, org, c_idx],
                )?;
                let Some(person) = person else { return Ok(Ok(None)) };
                let a_idx: String = person.get(0)?;
                let marks = marks_of(tx, &dk, &tenant, &org, &a_idx)?;
                Ok(Ok(Some((copy_rows(tx, &tenant, &org, &a_idx, &items, &d)?, marks))))
            })
            .await?;
        Ok(match found {
            Err(Some(envelope)) => AnswerBasis::Answered(envelope),
            Err(None) => AnswerBasis::Held,
            Ok(None) => AnswerBasis::NotRegistered,
            Ok(Some((rows, marks))) => AnswerBasis::Copies { copies: self.open_copies(rows)?, marks },
        })
    }

    /// The answer this tenant already gave for `request_id`, if any (signed, sealed envelope JSON).
    pub async fn provided_answer(&self, request_id: &RequestId) -> Result<Option<String>> {
        let (tenant, rid) = (self.tenant.to_string(), request_id.to_string());
        self.read(move |tx| tx.query_opt(PROVIDED_ANSWER, args![tenant, rid])?.map(|r| r.get(0)).transpose()).await
    }

    /// Keeps the answer given for `request_id` and the provider's linkage record, once, and
    /// notes a review held for it as decided by `reviewer`. If an answer was already stored (a
    /// concurrent retry, or another reviewer), that one is returned and kept.
    #[allow(clippy::too_many_arguments)]
    pub async fn save_provided_answer(
        &self,
        org: &OrgId,
        request_id: &RequestId,
        requester: &OrgId,
        duty: &DutyCode,
        items: &[ItemCode],
        outcome: Outcome,
        envelope: String,
        reviewer: Option<&str>,
    ) -> Result<String> {
        let reviewer = reviewer.map(str::to_owned);
        let (tenant, org, rid, requester, duty) =
            (self.tenant.to_string(), org.to_string(), request_id.to_string(), requester.to_string(), duty.to_string());
        let items_json = serde_json::to_string(items)?;
        self.tx(move |tx| {
            // ON CONFLICT DO NOTHING: of two concurrent answers to one request, the first stays.
            let inserted = tx.execute(
                "INSERT INTO provided_answers (tenant_id, org_id, request_id, envelope, outcome, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (tenant_id, request_id) DO NOTHING",
                args![tenant, org, rid, envelope, outcome.code(), now_unix()],
            )?;
            if inserted == 0 {
                return tx.value(PROVIDED_ANSWER, args![tenant, rid]);
            }
            if let Some(reviewer) = reviewer {
                tx.execute(
                    "UPDATE manual_reviews SET decided_by = ?3, decided_at = ?4 WHERE tenant_id = ?1 AND request_id = ?2",
                    args![tenant, rid, reviewer, now_millis()],
                )?;
            }
            insert_record(
                tx,
                NewRecord {
                    tenant: &tenant,
                    org: &org,
                    side: Side::Provider,
                    request_id: &rid,
                    counterpart: &requester,
                    duty: &duty,
                    items_json: &items_json,
                    outcome: outcome.into(),
                    in_house: false,
                },
            )?;
            Ok(envelope)
        })
        .await
    }
}
