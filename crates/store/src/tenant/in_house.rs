//! Same-office linkage (庁内連携): the tenant's own table of permitted in-house uses (its CSV,
//! the layout of 別表第二), and a query between two of the tenant's orgs answered inside one
//! transaction of the tenant's store — the requester's query, the provider's answer from its
//! copies and marks (`domain::marks`), and both sides' linkage records marked in-house — without
//! the hub. The person is the one the tenant knows by the addressee number in both orgs.

use super::persons::person_known;
use super::queries::filed_before;
use super::*;
use renkei_domain::QueryState;
use renkei_domain::marks::{answer_items, needs_review};
use renkei_domain::wire::AnswerBody;

/// What answering a query in-house did.
#[derive(Debug, Clone)]
pub enum InHouse {
    /// Answered (回答済), both sides recorded.
    Answered(QueryView),
    /// Filed before with the same idempotency key: the query as it is.
    Existing(QueryView),
    /// The requester has no person under the addressee number: nothing was filed.
    PersonNotRegistered,
    /// An item asked is marked manual by the provider: nothing was filed.
    NeedsReview,
}

impl TenantStore {
    /// The tenant's table of in-house uses as its admin gave it (CSV), if any.
    pub async fn in_house_uses(&self) -> Result<Option<String>> {
        let tenant = self.tenant.to_string();
        self.read(move |tx| {
            tx.query_opt("SELECT csv FROM in_house_uses WHERE tenant_id = ?1", args![tenant])?.map(|r| r.get(0)).transpose()
        })
        .await
    }

    /// Replaces the tenant's table of in-house uses (already checked as a 別表第二 CSV).
    pub async fn set_in_house_uses(&self, csv: &str, actor: &str) -> Result<()> {
        let (tenant, csv, actor) = (self.tenant.to_string(), csv.to_owned(), actor.to_owned());
        self.tx(move |tx| {
            tx.execute(
                "INSERT INTO in_house_uses (tenant_id, csv, updated_by, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (tenant_id) DO UPDATE SET csv = ?2, updated_by = ?3, updated_at = ?4",
                args![tenant, csv, actor, now_millis()],
            )?;
            Ok(())
        })
        .await
    }

    /// Files `q` and answers it from `q.provider`, another org of this tenant, in one
    /// transaction (the caller has checked the in-house table allows it).
    pub async fn answer_in_house(&self, q: NewQuery) -> Result<InHouse> {
        let id = new_id();
        let items_json = serde_json::to_string(&q.items)?;
        let fingerprint = self.fingerprint(&q, &items_json)?;
        let (a_req, a_prov) = (self.addressee_idx(&q.org, &q.addressee), self.addressee_idx(&q.provider, &q.addressee));
        // The path a query takes, in one step: checked against the state machine all the same.
        let state = QueryState::Created
            .move_to(QueryState::Queued)
            .and_then(|s| s.move_to(QueryState::InFlight))
            .and_then(|s| s.move_to(QueryState::Answered));
        let state = state.map_err(corrupt)?;
        let (tenant, this, q2, new) = (self.tenant.to_string(), self.clone(), q.clone(), id.clone());
        enum Done {
            Existing(String),
            Created,
            NoPerson,
            NeedsReview,
        }
        let done = self
            .tx(move |tx| {
                let (org, provider) = (q2.org.to_string(), q2.provider.to_string());
                if let Some(existing) = filed_before(tx, &tenant, &org, &q2.idempotency_key, &fingerprint)? {
                    return Ok(Done::Existing(existing));
                }
                let Some(code) = read_person_column(tx, &this.dk, &tenant, &org, CODE_BY_ADDRESSEE, &a_req)? else {
                    return Ok(Done::NoPerson);
                };
                let body = if person_known(tx, &tenant, &provider, &a_prov)? {
                    let marks = marks_of(tx, &this.dk, &tenant, &provider, &a_prov)?;
                    if needs_review(&q2.items, &marks) {
                        return Ok(Done::NeedsReview);
                    }
                    let items: Vec<String> = q2.items.iter().map(ToString::to_string).collect();
                    let copies = this.open_copies(copy_rows(tx, &tenant, &provider, &a_prov, &items, &q2.reference_date.to_string())?)?;
                    let items = answer_items(&q2.items, &marks, None, |item| CopyVersion::found_in(&copies, item));
                    AnswerBody { request_id: q2.request_id.clone(), outcome: Outcome::of_items(&items), items }
                } else {
                    AnswerBody { request_id: q2.request_id.clone(), outcome: Outcome::NotRegistered, items: vec![] }
                };
                let request = q2.request(OrgCode::parse(&code).map_err(corrupt)?);
                let id = new;
                let request_enc = this.dk.encrypt("queries.request", &id, &serde_json::to_vec(&request)?)?;
                let answer_enc = this.dk.encrypt("queries.answer", &id, &serde_json::to_vec(&body)?)?;
                let now = now_millis();
                tx.execute(
                    "INSERT INTO queries (tenant_id, org_id, id, request_id, idempotency_key, fingerprint, duty, provider_org, items,
                        addressee_idx, request_enc, reference_date, state, attempts, next_attempt_at, deadline_at, created_at, updated_at,
                        filed_by, outcome, answer_enc, in_house)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 0, ?14, ?14, ?14, ?14, ?15, ?16, ?17, 1)",
                    args![
                        tenant,
                        org,
                        id,
                        q2.request_id.to_string(),
                        q2.idempotency_key,
                        fingerprint,
                        q2.duty.to_string(),
                        provider,
                        items_json,
                        a_req,
                        request_enc,
                        q2.reference_date.to_string(),
                        state.code(),
                        now,
                        q2.filed_by,
                        body.outcome.code(),
                        answer_enc
                    ],
                )?;
                super::queries::note_state(tx, &tenant, &id, state, now)?;
                let (rid, duty) = (q2.request_id.to_string(), q2.duty.to_string());
                for (side, me, them) in [(Side::Requester, &org, &provider), (Side::Provider, &provider, &org)] {
                    let r = NewRecord {
                        tenant: &tenant,
                        org: me,
                        side,
                        request_id: &rid,
                        counterpart: them,
                        duty: &duty,
                        items_json: &items_json,
                        outcome: body.outcome.into(),
                        in_house: true,
                    };
                    insert_record(tx, r)?;
                }
                Ok(Done::Created)
            })
            .await?;
        let read = |id: String| async move { self.query(&q.org, &id).await?.ok_or(StoreError::NotFound("query")) };
        Ok(match done {
            Done::Existing(existing) => InHouse::Existing(read(existing).await?),
            Done::Created => InHouse::Answered(read(id).await?),
            Done::NoPerson => InHouse::PersonNotRegistered,
            Done::NeedsReview => InHouse::NeedsReview,
        })
    }
}
