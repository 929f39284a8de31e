//! 情報照会 as the platform files it: the query's own rules (`domain::query`), 別表第二 for the
//! requester and the provider's type, then the durable outbox, told at once. The internal API's
//! handler only extracts the request and maps what this returns.

use crate::caller::Act;
use crate::{OrgContext, Platform};
use renkei_domain::{AddresseeNo, Date, DutyCode, FilingRule, ItemCode, OrgId, QueryState, RequestId};
use renkei_net::{Problem, ProblemKind};
use renkei_store::StoreError;
use renkei_store::tenant::{Filing, InHouse, NewQuery, QueryView, TenantStore};
use std::sync::Arc;

/// A query as a requester files it.
#[derive(Debug, Clone)]
pub struct QueryFiling {
    pub duty: DutyCode,
    pub provider: OrgId,
    pub items: Vec<ItemCode>,
    pub addressee: AddresseeNo,
    pub reference_date: Date,
    /// Filing again with the same key gives the first query back.
    pub idempotency_key: String,
    /// Who files it: an account's name, or `api-key:<key id>`.
    pub filed_by: String,
}

/// Why a query was not filed.
#[derive(Debug, thiserror::Error)]
pub enum FilingError {
    #[error(transparent)]
    Rule(#[from] FilingRule),
    #[error("the provider org is not in the hub's directory")]
    UnknownProvider,
    #[error("the caller may not file queries for duty {0}")]
    DutyNotAssigned(renkei_domain::DutyCode),
    /// An in-house query for an item the provider answers by hand only: its staff review
    /// in-house queries through the hub's path, which an in-house use does not take.
    #[error("an item asked is one the provider's staff answer by hand (自動応答不可); ask them directly")]
    InHouseManual,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<FilingError> for Problem {
    fn from(e: FilingError) -> Self {
        let detail = e.to_string();
        let kind = match e {
            FilingError::Store(e) => return e.into(),
            FilingError::Rule(FilingRule::IdempotencyKey | FilingRule::ItemCount) => ProblemKind::InvalidBody,
            FilingError::Rule(FilingRule::UnknownItem(_)) => ProblemKind::UnknownItem,
            FilingError::Rule(FilingRule::Denied { .. }) => ProblemKind::MatrixDenied,
            FilingError::UnknownProvider => ProblemKind::UnknownProvider,
            FilingError::DutyNotAssigned(_) => ProblemKind::DutyNotAssigned,
            FilingError::InHouseManual => ProblemKind::Conflict,
        };
        Problem::detailed(kind, detail)
    }
}

/// Files `f` as the caller `act` (of `Action::FileQuery`) for their org, auditing a person's new
/// query: the query, and whether it is new (`false`: the same idempotency key filed it before).
pub async fn file_as(p: &Arc<Platform>, act: &Act<'_>, f: QueryFiling) -> Result<(QueryView, bool), Problem> {
    p.admit_addressee(act, &f.addressee)?;
    let org = act.org_context(p).await?;
    let store = act.store(p).await?;
    match p.file_query(&org, store, f, act.duties).await? {
        Filing::Created(view) => {
            act.audit(p, "query.file", &format!("query:{}", view.id), &format!("duty {} provider {}", view.duty, view.provider)).await?;
            Ok((view, true))
        }
        Filing::Existing(view) => Ok((view, false)),
        Filing::PersonNotRegistered => {
            Err(Problem::detailed(ProblemKind::PersonNotRegistered, "register the person (POST /api/v1/persons) before querying"))
        }
    }
}

impl Platform {
    /// Files `f` for `org` into `store`'s outbox (送信待ち) and tells the outbox, once it meets
    /// the query's rules and 別表第二.
    pub async fn file_query(
        self: &Arc<Self>,
        org: &OrgContext,
        store: TenantStore,
        f: QueryFiling,
        duties: &renkei_domain::policy::DutyScope,
    ) -> Result<Filing, FilingError> {
        if !duties.allows(&f.duty) {
            return Err(FilingError::DutyNotAssigned(f.duty));
        }
        renkei_domain::query::check_filing(&f.idempotency_key, &f.items, &self.matrix)?;
        if let Some(filing) = self.file_in_house(org, &store, &f).await? {
            return Ok(filing);
        }
        self.check_query(org, &f).await?;
        Ok(self.enqueue_query(org, store, f).await?)
    }

    /// 庁内連携: a query to another org of the same tenant that the tenant's own table of in-house
    /// uses allows is answered inside the platform, in one transaction, without the hub; `None`
    /// if it is not one.
    async fn file_in_house(&self, org: &OrgContext, store: &TenantStore, f: &QueryFiling) -> Result<Option<Filing>, FilingError> {
        let load = || async {
            let csv = store.in_house_uses().await?;
            let uses = csv.map(|c| renkei_domain::Matrix::from_csv("in-house uses", &c)).transpose();
            Ok::<_, StoreError>(Some(Arc::new(uses.map_err(|e| StoreError::Corrupt(e.to_string()))?)))
        };
        let Some(uses) = self.in_house_uses.get_or_load(org.tenant.as_str(), load).await? else { return Ok(None) };
        let Some(uses) = uses.as_ref() else { return Ok(None) };
        let Some(provider) = self.org(&f.provider).await?.filter(|p| p.tenant == org.tenant && p.id != org.id) else { return Ok(None) };
        if renkei_domain::query::check_allowed(uses, &org.org_type, &f.duty, &provider.org_type, &f.items).is_err() {
            return Ok(None);
        }
        let q = self.new_query(org, f.clone())?;
        Ok(Some(match store.answer_in_house(q).await? {
            InHouse::Answered(v) => Filing::Created(v),
            InHouse::Existing(v) => Filing::Existing(v),
            InHouse::PersonNotRegistered => Filing::PersonNotRegistered,
            InHouse::NeedsReview => return Err(FilingError::InHouseManual),
        }))
    }

    /// The query's own rules, then 別表第二, checked here to answer at once. If the hub cannot
    /// be asked the provider's type right now, the query is still taken, and the hub checks
    /// 別表第二 when it admits it (a refusal then ends the query in エラー with the hub's reason).
    async fn check_query(&self, org: &OrgContext, f: &QueryFiling) -> Result<(), FilingError> {
        match self.org_type_of(&f.provider).await {
            Ok(Some(provider_type)) => {
                Ok(renkei_domain::query::check_allowed(&self.matrix, &org.org_type, &f.duty, &provider_type, &f.items)?)
            }
            Ok(None) => Err(FilingError::UnknownProvider),
            Err(detail) => {
                tracing::warn!(%detail, "hub unreachable: the query is queued and 別表第二 is checked when the hub admits it");
                Ok(())
            }
        }
    }

    /// Stores a checked query and tells the outbox. Runs to its end even if the caller goes
    /// away: a client that gives up waiting drops its request, and a query committed but never
    /// made known to the outbox would wait, on SQLite, until its deadline. Filing again with the
    /// same idempotency key tells the outbox again while the query is still 送信待ち, so a
    /// client's retry also mends an earlier filing that was cut off.
    pub(crate) async fn enqueue_query(
        self: &Arc<Self>,
        org: &OrgContext,
        store: TenantStore,
        f: QueryFiling,
    ) -> Result<Filing, StoreError> {
        let q = self.new_query(org, f)?;
        let p = self.clone();
        let filing = tokio::spawn(async move {
            let tenant = store.tenant().clone();
            let filing = store.file_query(q).await?;
            match &filing {
                // Waiting for approval, it is due at its window's end.
                Filing::Created(v) => p.filed(&tenant, v.deadline_at),
                Filing::Existing(v) if v.state == QueryState::Queued => p.filed(&tenant, v.deadline_at),
                Filing::Existing(_) | Filing::PersonNotRegistered => {}
            }
            Ok(filing)
        });
        filing.await.map_err(|e| StoreError::Task(e.to_string()))?
    }
}

impl Platform {
    /// The query as the store keeps it: a new request id, and its deadline from now.
    fn new_query(&self, org: &OrgContext, f: QueryFiling) -> Result<NewQuery, StoreError> {
        Ok(NewQuery {
            org: org.id.clone(),
            idempotency_key: f.idempotency_key,
            addressee: f.addressee,
            request_id: RequestId::parse(&uuid::Uuid::now_v7().to_string()).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            provider: f.provider,
            duty: f.duty,
            items: f.items,
            reference_date: f.reference_date,
            deadline_at: renkei_store::now_millis() + self.query_deadline.as_millis() as i64,
            filed_by: f.filed_by,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::platform;
    use std::time::Duration;

    /// A query to an org the hub is asked about; the hub is not there, so 別表第二 waits for it.
    fn query(key: &str) -> QueryFiling {
        QueryFiling {
            idempotency_key: key.into(),
            addressee: AddresseeNo::parse("A1").unwrap(),
            provider: OrgId::parse("other").unwrap(),
            duty: DutyCode::parse("D015").unwrap(),
            items: vec![ItemCode::parse("TAX").unwrap()],
            reference_date: "2026-07-01".parse().unwrap(),
            filed_by: "test".into(),
        }
    }

    /// Whether the outbox would visit the tenant now (taking the visit, as the outbox does).
    fn due(p: &Platform) -> bool {
        p.active.take_claims(renkei_store::now_millis()).iter().any(|t| t.as_str() == "t")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_filing_whose_caller_goes_away_still_reaches_the_outbox() {
        let (_dir, p, store, org) = platform().await;
        // The caller gives up at once: the filing's future is polled once, then dropped (had the
        // filing run in it, its store transaction would still be pending then).
        let filing = p.enqueue_query(&org, store.clone(), query("k1"));
        let _ended_at_once = tokio::time::timeout(Duration::ZERO, filing).await.is_ok();
        let mut told = false;
        for _ in 0..100 {
            if due(&p) {
                told = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(told, "the outbox was told of the query");
        assert!(store.outbox_schedule().await.unwrap().next_attempt_at.is_some(), "and it is in the store");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn filing_again_tells_the_outbox_again_while_the_query_waits_to_be_sent() {
        let (_dir, p, store, org) = platform().await;
        let Filing::Created(first) = p.file_query(&org, store.clone(), query("k2"), &renkei_domain::policy::DutyScope::All).await.unwrap()
        else {
            panic!("created")
        };
        assert!(due(&p));
        assert!(!due(&p), "the visit was taken");
        let Filing::Existing(again) = p.file_query(&org, store.clone(), query("k2"), &renkei_domain::policy::DutyScope::All).await.unwrap()
        else {
            panic!("existing")
        };
        assert_eq!(again.id, first.id);
        assert!(due(&p), "a retry of a query still 送信待ち tells the outbox again");
        assert!(store.mark_in_flight(&first.id).await.unwrap());
        p.file_query(&org, store.clone(), query("k2"), &renkei_domain::policy::DutyScope::All).await.unwrap();
        assert!(!due(&p), "one the hub took is not the outbox's any more");
    }
}
