//! Queries this tenant files (情報照会) and their durable outbox: filing, states, leased claims,
//! deadlines, answers received.

use super::*;

/// When a tenant's outbox next has work ([`TenantStore::outbox_schedule`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxSchedule {
    /// The earliest `next_attempt_at` of a queued query (ms since the epoch).
    pub next_attempt_at: Option<i64>,
    /// The earliest deadline of a query not yet final (ms since the epoch).
    pub next_deadline_at: Option<i64>,
}

/// How long a claimed outbox entry is left to the process that claimed it before another may
/// retry it (milliseconds), unless the operator sets another lease. Delivery is idempotent, so a
/// retry after a crash is safe.
pub const OUTBOX_LEASE_MS: i64 = 30_000;

/// A query as the requester filed it. The person's code is not in it: the store looks it up
/// in the filing transaction and puts it in the request it keeps.
#[derive(Debug, Clone)]
pub struct NewQuery {
    pub org: OrgId,
    pub idempotency_key: String,
    pub addressee: AddresseeNo,
    pub request_id: RequestId,
    pub provider: OrgId,
    pub duty: DutyCode,
    pub items: Vec<ItemCode>,
    pub reference_date: Date,
    /// Milliseconds since the epoch after which the query ends in エラー (once approved, where
    /// its duty needs approval: until then the policy's window counts).
    pub deadline_at: i64,
    /// Who files it: an account's name, or `api-key:<key id>`.
    pub filed_by: String,
}

impl NewQuery {
    /// The request as the hub will see it, with the requester's code read when it is filed.
    pub(super) fn request(&self, requester_code: OrgCode) -> QueryRequest {
        QueryRequest {
            request_id: self.request_id.clone(),
            requester: self.org.clone(),
            provider: self.provider.clone(),
            duty: self.duty.clone(),
            items: self.items.clone(),
            requester_code,
            reference_date: self.reference_date,
            issued_at: now_unix(),
        }
    }
}

/// The query `org` filed before under idempotency `key`, if any; a conflict if it was another
/// query (`fingerprint`).
pub(super) fn filed_before(tx: &mut dyn Tx, tenant: &str, org: &str, key: &str, fingerprint: &str) -> Result<Option<String>> {
    let Some(row) = tx.query_opt(
        "SELECT id, fingerprint FROM queries WHERE tenant_id = ?1 AND org_id = ?2 AND idempotency_key = ?3",
        args![tenant, org, key],
    )?
    else {
        return Ok(None);
    };
    if row.get::<String>(1)? != fingerprint {
        return Err(StoreError::Conflict("the idempotency key was used for a different query".into()));
    }
    Ok(Some(row.get(0)?))
}

/// What filing a query did ([`TenantStore::file_query`]).
#[derive(Debug, Clone)]
pub enum Filing {
    /// A new query, in the outbox, or waiting for approval (電子決裁) where its org's policy
    /// says so.
    Created(QueryView),
    /// The query filed before with the same idempotency key, as it is now.
    Existing(QueryView),
    /// No person is registered under the addressee number: nothing was filed.
    PersonNotRegistered,
}

/// A query as the requester sees it.
#[derive(Debug, Clone)]
pub struct QueryView {
    pub id: String,
    pub request_id: RequestId,
    pub org: OrgId,
    pub duty: DutyCode,
    pub provider: OrgId,
    pub items: Vec<ItemCode>,
    pub addressee: AddresseeNo,
    pub reference_date: Date,
    pub state: QueryState,
    pub error: Option<String>,
    pub outcome: Option<Outcome>,
    /// The opened answer body (JSON), once answered.
    pub answer: Option<Value>,
    pub attempts: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Milliseconds since the epoch after which a query not yet final ends in エラー.
    pub deadline_at: i64,
    /// Who filed it (an account's name, or `api-key:<key id>`; empty for queries filed before
    /// this was kept).
    pub filed_by: String,
    /// The approver who decided it, where its duty needed approval.
    pub decided_by: Option<String>,
    /// Answered inside the platform by another org of the tenant (庁内連携).
    pub in_house: bool,
}

/// The columns [`TenantStore::query_view`] opens; the person comes along (by its blind index) so
/// a read is one statement.
pub(super) const QUERY_VIEW: &str =
    "SELECT q.id, q.request_id, q.duty, q.provider_org, q.items, q.request_enc, q.state, q.error, q.outcome,
        q.answer_enc, q.attempts, q.created_at, q.updated_at, p.id, p.addressee_enc, q.filed_by, q.decided_by, q.deadline_at, q.in_house
     FROM queries q LEFT JOIN persons p ON p.tenant_id = q.tenant_id AND p.org_id = q.org_id AND p.addressee_idx = q.addressee_idx";

/// Which of an org's queries a list shows; `None` lets all through.
#[derive(Debug, Clone, Default)]
pub struct QueryFilter {
    pub state: Option<QueryState>,
    /// Filed at or after this time (milliseconds since the Unix epoch).
    pub filed_since_ms: Option<i64>,
    pub duty: Option<DutyCode>,
    /// Only queries of these duties (a staff member's assigned ones).
    pub only_duties: Option<Vec<DutyCode>>,
}

/// A query due for delivery to the hub.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    pub id: String,
    pub org: OrgId,
    pub attempts: i64,
    pub request: QueryRequest,
}

/// What became of an arriving answer ([`TenantStore::accept_answer`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acceptance {
    /// Stored: the query is 回答済 and the requester's linkage record written.
    Stored,
    /// The query was answered already (a retried relay): nothing changed.
    AlreadyAnswered,
    /// The query had ended in エラー (its deadline passed): the answer is dropped.
    Ended,
    /// No query of this tenant has the request id.
    UnknownRequest,
    /// The query was filed by another org or asked another provider.
    Mismatch,
}

/// Notes in `tx` that query `id` entered `state` at `at` (milliseconds), after the states noted
/// before it.
pub(super) fn note_state(tx: &mut dyn Tx, tenant: &str, id: &str, state: QueryState, at: i64) -> Result<()> {
    tx.execute(
        "INSERT INTO query_states (tenant_id, query_id, seq, state, at)
         SELECT ?1, ?2, COALESCE(MAX(seq), 0) + 1, ?3, ?4 FROM query_states WHERE tenant_id = ?1 AND query_id = ?2",
        args![tenant, id, state.code(), at],
    )?;
    crate::metrics::moved(state);
    Ok(())
}

/// A state a query entered, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    pub state: QueryState,
    /// Milliseconds since the epoch.
    pub at: i64,
}

/// Moves query `id` to `to` inside `tx` if the state machine allows it; false if it was there
/// already. A final state writes the requester's linkage record in the same transaction.
pub(super) fn transition(
    tx: &mut dyn Tx,
    tenant: &str,
    id: &str,
    to: QueryState,
    error: Option<String>,
    extra: Option<(Outcome, Vec<u8>)>,
) -> Result<bool> {
    let lock = if tx.backend() == Backend::Postgres { " FOR UPDATE" } else { "" };
    let row = tx
        .query_opt(
            &format!("SELECT state, org_id, request_id, provider_org, duty, items FROM queries WHERE tenant_id = ?1 AND id = ?2{lock}"),
            args![tenant, id],
        )?
        .ok_or(StoreError::NotFound("query"))?;
    let from = QueryState::from_code(&row.get::<String>(0)?).ok_or_else(|| corrupt("unknown state"))?;
    if from == to {
        return Ok(false);
    }
    from.move_to(to).map_err(|e| StoreError::Conflict(e.to_string()))?;
    let (extra_outcome, answer) = match extra {
        Some((o, a)) => (Some(o), Some(a)),
        None => (None, None),
    };
    let outcome = extra_outcome.map(Outcome::code);
    tx.execute(
        // A new reason goes first; the last delivery problem, if any, stays after it.
        "UPDATE queries SET state = ?3,
            error = CASE WHEN CAST(?4 AS TEXT) IS NULL THEN error WHEN error IS NULL THEN CAST(?4 AS TEXT)
                ELSE CAST(?4 AS TEXT) || '; last problem: ' || error END,
            outcome = COALESCE(?5, outcome),
            answer_enc = COALESCE(?6, answer_enc), updated_at = ?7 WHERE tenant_id = ?1 AND id = ?2",
        args![tenant, id, to.code(), error, outcome, answer, now_millis()],
    )?;
    note_state(tx, tenant, id, to, now_millis())?;
    if to.is_final() {
        let (org, request_id, provider, duty, items): (String, String, String, String, String) =
            (row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?);
        let outcome = extra_outcome.map_or(RecordOutcome::Error, RecordOutcome::from);
        insert_record(
            tx,
            NewRecord {
                tenant,
                org: &org,
                side: Side::Requester,
                request_id: &request_id,
                counterpart: &provider,
                duty: &duty,
                items_json: &items,
                outcome,
                in_house: false,
            },
        )?;
    }
    Ok(true)
}

/// The query `org` filed with `provider` under `request_id`: its id and state, or why a message
/// about it is refused (no such request, or another org's or provider's).
pub(super) fn filed_query(
    tx: &mut dyn Tx,
    tenant: &str,
    request_id: &str,
    org: &str,
    provider: &str,
) -> Result<std::result::Result<(String, QueryState), Acceptance>> {
    let Some(row) = tx.query_opt(
        "SELECT id, org_id, provider_org, state FROM queries WHERE tenant_id = ?1 AND request_id = ?2",
        args![tenant, request_id],
    )?
    else {
        return Ok(Err(Acceptance::UnknownRequest));
    };
    if row.get::<String>(1)? != org || row.get::<String>(2)? != provider {
        return Ok(Err(Acceptance::Mismatch));
    }
    let state = QueryState::from_code(&row.get::<String>(3)?).ok_or_else(|| corrupt("unknown state"))?;
    Ok(Ok((row.get(0)?, state)))
}

impl TenantStore {
    /// When this tenant's outbox next has work: the earliest retry of a queued query and the
    /// earliest deadline of a query not yet final (ms since the epoch), each `None` if there is
    /// none. A tenant whose SQLite file was never made has none, and its file is not made by
    /// asking.
    pub async fn outbox_schedule(&self) -> Result<OutboxSchedule> {
        if !self.db.exists() {
            return Ok(OutboxSchedule::default());
        }
        let tenant = self.tenant.to_string();
        self.read(move |tx| {
            let r = tx
                .query_opt(
                    "SELECT MIN(CASE WHEN state = 'queued' THEN next_attempt_at END), MIN(deadline_at) FROM queries
                     WHERE tenant_id = ?1 AND state NOT IN ('answered', 'failed')",
                    args![tenant],
                )?
                .ok_or_else(|| corrupt("an aggregate returned no row"))?;
            Ok(OutboxSchedule { next_attempt_at: r.get(0)?, next_deadline_at: r.get(1)? })
        })
        .await
    }

    /// Files a query into the outbox (state 送信待ち). Filing again with the same idempotency key
    /// returns the first query; with the same key but different content, a conflict. The
    /// person's code is read in the same transaction as the query is written.
    pub async fn file_query(&self, q: NewQuery) -> Result<Filing> {
        let id = new_id();
        let items_json = serde_json::to_string(&q.items)?;
        let fingerprint = self.fingerprint(&q, &items_json)?;
        let a_idx = self.addressee_idx(&q.org, &q.addressee);
        let (tenant, dk, q2) = (self.tenant.to_string(), self.dk.clone(), q.clone());
        let (org, key) = (q.org.to_string(), q.idempotency_key.clone());
        let (request_id, duty, provider, date) =
            (q.request_id.to_string(), q.duty.to_string(), q.provider.to_string(), q.reference_date.to_string());
        let (deadline, filed_by) = (q.deadline_at, q.filed_by.clone());
        let probe = i64::from(q.addressee.is_probe());
        /// What the transaction found.
        enum Filed {
            Existing(String),
            NoPerson,
            Created { id: String, now: i64, state: QueryState, deadline_at: i64 },
        }
        let filed = self
            .tx(move |tx| {
                if let Some(existing) = filed_before(tx, &tenant, &org, &key, &fingerprint)? {
                    return Ok(Filed::Existing(existing));
                }
                let Some(code) = read_person_column(tx, &dk, &tenant, &org, CODE_BY_ADDRESSEE, &a_idx)? else {
                    return Ok(Filed::NoPerson);
                };
                let code = OrgCode::parse(&code).map_err(corrupt)?;
                let request_enc = dk.encrypt("queries.request", &id, &serde_json::to_vec(&q2.request(code))?)?;
                let now = now_millis();
                // Read in the filing's transaction: a policy set a moment before applies. The
                // monitor's probe asks nobody's approval: it is no business query.
                let window = if probe == 1 { None } else { approval_window_minutes(tx, &tenant, &org, &duty)? };
                let (state, deadline_at) = match window {
                    Some(minutes) => (QueryState::Created.move_to(QueryState::PendingApproval), now + minutes * 60_000),
                    None => (QueryState::Created.move_to(QueryState::Queued), deadline),
                };
                let state = state.map_err(corrupt)?;
                tx.execute(
                    "INSERT INTO queries (tenant_id, org_id, id, request_id, idempotency_key, fingerprint, duty, provider_org, items,
                        addressee_idx, request_enc, reference_date, state, attempts, next_attempt_at, deadline_at, created_at, updated_at,
                        filed_by, probe)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 0, ?14, ?15, ?14, ?14, ?16, ?17)",
                    args![
                        tenant,
                        org,
                        id,
                        request_id,
                        key,
                        fingerprint,
                        duty,
                        provider,
                        items_json,
                        a_idx,
                        request_enc,
                        date,
                        state.code(),
                        now,
                        deadline_at,
                        filed_by,
                        probe
                    ],
                )?;
                note_state(tx, &tenant, &id, state, now)?;
                Ok(Filed::Created { id, now, state, deadline_at })
            })
            .await?;
        let (id, now, state, deadline_at) = match filed {
            Filed::NoPerson => return Ok(Filing::PersonNotRegistered),
            // Filed before with this key: the query as it is now.
            Filed::Existing(id) => return Ok(Filing::Existing(self.query(&q.org, &id).await?.ok_or(StoreError::NotFound("query"))?)),
            Filed::Created { id, now, state, deadline_at } => (id, now, state, deadline_at),
        };
        // Just filed: the view is what was written, no need to read it back.
        Ok(Filing::Created(QueryView {
            id,
            request_id: q.request_id,
            org: q.org,
            duty: q.duty,
            provider: q.provider,
            items: q.items,
            addressee: q.addressee,
            reference_date: q.reference_date,
            state,
            error: None,
            outcome: None,
            answer: None,
            attempts: 0,
            created_at: now,
            updated_at: now,
            deadline_at,
            filed_by: q.filed_by,
            decided_by: None,
            in_house: false,
        }))
    }

    /// What makes two filings with one idempotency key the same query.
    pub(super) fn fingerprint(&self, q: &NewQuery, items_json: &str) -> Result<String> {
        let basis = (q.provider.as_str(), q.duty.as_str(), items_json, q.addressee.as_str(), q.reference_date.to_string());
        Ok(self.dk.blind_index("query-fingerprint", &serde_json::to_string(&basis)?))
    }

    /// One query of `org`, with its answer opened if answered. Another org's query is `None`.
    pub async fn query(&self, org: &OrgId, id: &str) -> Result<Option<QueryView>> {
        let (tenant, org_s, id) = (self.tenant.to_string(), org.to_string(), id.to_owned());
        let row = self
            .read(move |tx| {
                tx.query_opt(&format!("{QUERY_VIEW} WHERE q.tenant_id = ?1 AND q.org_id = ?2 AND q.id = ?3"), args![tenant, org_s, id])
            })
            .await?;
        row.map(|row| self.query_view(org, &row)).transpose()
    }

    /// The states query `id` of `org` has been in, oldest first (none for a query filed before
    /// they were kept, or not `org`'s).
    pub async fn query_history(&self, org: &OrgId, id: &str) -> Result<Vec<StateChange>> {
        let (tenant, org_s, id) = (self.tenant.to_string(), org.to_string(), id.to_owned());
        let rows = self
            .read(move |tx| {
                tx.query(
                    "SELECT s.state, s.at FROM query_states s JOIN queries q ON q.tenant_id = s.tenant_id AND q.id = s.query_id
                     WHERE s.tenant_id = ?1 AND q.org_id = ?2 AND s.query_id = ?3 ORDER BY s.seq",
                    args![tenant, org_s, id],
                )
            })
            .await?;
        rows.iter()
            .map(|r| {
                let state = QueryState::from_code(&r.get::<String>(0)?).ok_or_else(|| corrupt("unknown state"))?;
                Ok(StateChange { state, at: r.get(1)? })
            })
            .collect()
    }

    /// `org`'s queries that `filter` lets through (never the monitor's probes), newest first, `limit` after the query `after`
    /// (a page; ids are time-ordered, so the order is the filing order).
    pub async fn queries(&self, org: &OrgId, filter: &QueryFilter, after: Option<String>, limit: usize) -> Result<Vec<QueryView>> {
        let (tenant, org_s) = (self.tenant.to_string(), org.to_string());
        let (state, since, duty) =
            (filter.state.map(|s| s.code().to_owned()), filter.filed_since_ms, filter.duty.as_ref().map(DutyCode::to_string));
        let mut args = args![tenant, org_s, after, state, since, duty, limit as i64].to_vec();
        // A duty list is a few codes: one placeholder each (none at all lets no query through).
        let only = match &filter.only_duties {
            None => String::new(),
            Some(duties) => {
                let first = args.len() + 1;
                args.extend(duties.iter().map(|d| d.as_str().to_value()));
                let marks: Vec<String> = (first..args.len() + 1).map(|n| format!("?{n}")).collect();
                if marks.is_empty() { " AND 1 = 0".to_owned() } else { format!(" AND q.duty IN ({})", marks.join(", ")) }
            }
        };
        let rows = self
            .read(move |tx| {
                tx.query(
                    &format!(
                        "{QUERY_VIEW} WHERE q.tenant_id = ?1 AND q.org_id = ?2 AND (CAST(?3 AS TEXT) IS NULL OR q.id < ?3)
                         AND (CAST(?4 AS TEXT) IS NULL OR q.state = ?4) AND (CAST(?5 AS BIGINT) IS NULL OR q.created_at >= ?5)
                         AND (CAST(?6 AS TEXT) IS NULL OR q.duty = ?6) AND q.probe = 0{only}
                         ORDER BY q.id DESC LIMIT ?7"
                    ),
                    &args,
                )
            })
            .await?;
        rows.iter().map(|row| self.query_view(org, row)).collect()
    }

    /// A row of [`QUERY_VIEW`], opened.
    pub(super) fn query_view(&self, org: &OrgId, row: &Row) -> Result<QueryView> {
        let id: String = row.get(0)?;
        let request: QueryRequest = serde_json::from_slice(&self.dk.decrypt("queries.request", &id, &row.get::<Vec<u8>>(5)?)?)?;
        let answer = row
            .get::<Option<Vec<u8>>>(9)?
            .map(|enc| -> Result<Value> { Ok(serde_json::from_slice(&self.dk.decrypt("queries.answer", &id, &enc)?)?) })
            .transpose()?;
        let (person, addressee_enc) = (row.get::<Option<String>>(13)?, row.get::<Option<Vec<u8>>>(14)?);
        let (Some(person), Some(addressee_enc)) = (person, addressee_enc) else {
            return Err(StoreError::NotFound("person of query"));
        };
        let addressee = String::from_utf8(self.dk.decrypt("persons.addressee", &person, &addressee_enc)?).map_err(corrupt)?;
        let addressee = AddresseeNo::parse(&addressee).map_err(corrupt)?;
        Ok(QueryView {
            request_id: RequestId::parse(&row.get::<String>(1)?).map_err(corrupt)?,
            org: org.clone(),
            duty: DutyCode::parse(&row.get::<String>(2)?).map_err(corrupt)?,
            provider: OrgId::parse(&row.get::<String>(3)?).map_err(corrupt)?,
            items: serde_json::from_str(&row.get::<String>(4)?)?,
            addressee,
            reference_date: request.reference_date,
            state: QueryState::from_code(&row.get::<String>(6)?).ok_or_else(|| corrupt("unknown state"))?,
            error: row.get(7)?,
            outcome: row.get::<Option<String>>(8)?.as_deref().and_then(Outcome::from_code),
            answer,
            attempts: row.get(10)?,
            created_at: row.get(11)?,
            updated_at: row.get(12)?,
            filed_by: row.get(15)?,
            decided_by: row.get(16)?,
            deadline_at: row.get(17)?,
            in_house: row.get::<i64>(18)? != 0,
            id,
        })
    }

    /// Claims up to `limit` queries of every org of this tenant due for (re)delivery, oldest
    /// first. Claimed entries are leased for `lease_ms` in the same statement: other processes
    /// sharing the database skip them (on PostgreSQL, `FOR UPDATE SKIP LOCKED`), so each delivery
    /// attempt runs in one process; if that process dies, the lease runs out and another retries.
    pub async fn claim_outbox(&self, limit: usize, lease_ms: i64) -> Result<Vec<OutboxItem>> {
        let tenant = self.tenant.to_string();
        let rows: Vec<(String, String, i64, Vec<u8>)> = self
            .tx(move |tx| {
                let lock = if tx.backend() == Backend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
                let now = now_millis();
                let rows = tx.query(
                    &format!(
                        "UPDATE queries SET next_attempt_at = ?4 WHERE tenant_id = ?1 AND id IN (
                            SELECT id FROM queries WHERE tenant_id = ?1 AND state = 'queued' AND next_attempt_at <= ?2
                            ORDER BY next_attempt_at LIMIT ?3{lock})
                         RETURNING id, org_id, attempts, request_enc"
                    ),
                    args![tenant, now, limit as i64, now + lease_ms],
                )?;
                rows.iter().map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).collect()
            })
            .await?;
        rows.into_iter()
            .map(|(id, org, attempts, enc)| {
                let request = serde_json::from_slice(&self.dk.decrypt("queries.request", &id, &enc)?)?;
                Ok(OutboxItem { id, org: OrgId::parse(&org).map_err(corrupt)?, attempts, request })
            })
            .collect()
    }

    /// Moves a query to `to`, refusing transitions the domain forbids. Moving to a state the
    /// query is already in is a no-op (a retried effect), reported as `Ok(false)`.
    pub(super) async fn transition(
        &self,
        id: &str,
        to: QueryState,
        error: Option<String>,
        extra: Option<(Outcome, Vec<u8>)>,
    ) -> Result<bool> {
        let (tenant, id) = (self.tenant.to_string(), id.to_owned());
        self.tx(move |tx| transition(tx, &tenant, &id, to, error, extra)).await
    }

    /// The hub accepted the query: 送信待ち → 照会中.
    pub async fn mark_in_flight(&self, id: &str) -> Result<bool> {
        self.transition(id, QueryState::InFlight, None, None).await
    }

    /// The hub accepted these queries: 送信待ち → 照会中 for each, in one transaction. A query
    /// that has moved on (its answer came first) or is gone is left as it is. Returns how many
    /// moved.
    pub async fn mark_many_in_flight(&self, mut ids: Vec<String>) -> Result<usize> {
        // One order for every batch, so two processes marking overlapping batches on PostgreSQL
        // lock rows in the same order.
        ids.sort_unstable();
        ids.dedup();
        let tenant = self.tenant.to_string();
        self.tx(move |tx| {
            let mut moved = 0;
            for id in &ids {
                // Refusals come from the state machine before anything is written.
                match transition(tx, &tenant, id, QueryState::InFlight, None, None) {
                    Ok(true) => moved += 1,
                    Ok(false) | Err(StoreError::Conflict(_) | StoreError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(moved)
        })
        .await
    }

    /// Delivery failed for now; try again at `next_attempt_at` (ms).
    pub async fn schedule_retry(&self, id: &str, next_attempt_at: i64, error: &str) -> Result<()> {
        let (tenant, id, error) = (self.tenant.to_string(), id.to_owned(), error.to_owned());
        self.tx(move |tx| {
            tx.execute(
                "UPDATE queries SET attempts = attempts + 1, next_attempt_at = ?3, error = ?4, updated_at = ?5
                 WHERE tenant_id = ?1 AND id = ?2 AND state = 'queued'",
                args![tenant, id, next_attempt_at, error, now_millis()],
            )?;
            Ok(())
        })
        .await
    }

    /// Ends a query in エラー with a reason staff can read.
    pub async fn fail(&self, id: &str, reason: &str) -> Result<bool> {
        self.transition(id, QueryState::Failed, Some(reason.to_owned()), None).await
    }

    /// Ends query `id` in エラー, with `reason(its state)`, if it is past its deadline and not
    /// final, both read again in this transaction: an approval may have given it a new deadline
    /// since it was listed as overdue. False if it was left as it was.
    pub async fn end_if_overdue(&self, id: &str, reason: fn(QueryState) -> &'static str) -> Result<bool> {
        let (tenant, id) = (self.tenant.to_string(), id.to_owned());
        self.tx(move |tx| {
            let lock = if tx.backend() == Backend::Postgres { " FOR UPDATE" } else { "" };
            let Some(row) =
                tx.query_opt(&format!("SELECT state, deadline_at FROM queries WHERE tenant_id = ?1 AND id = ?2{lock}"), args![tenant, id])?
            else {
                return Ok(false);
            };
            let state = QueryState::from_code(&row.get::<String>(0)?).ok_or_else(|| corrupt("unknown state"))?;
            if state.is_final() || row.get::<i64>(1)? > now_millis() {
                return Ok(false);
            }
            transition(tx, &tenant, &id, QueryState::Failed, Some(reason(state).to_owned()), None)
        })
        .await
    }

    /// Queries past their deadline that are not final.
    pub async fn overdue(&self) -> Result<Vec<(String, QueryState)>> {
        let tenant = self.tenant.to_string();
        self.read(move |tx| {
            tx.query(
                "SELECT id, state FROM queries WHERE tenant_id = ?1 AND state IN ('pending_approval', 'queued', 'in_flight')
                 AND deadline_at <= ?2 LIMIT 500",
                args![tenant, now_millis()],
            )?
            .iter()
            .map(|r| Ok((r.get(0)?, QueryState::from_code(&r.get::<String>(1)?).ok_or_else(|| corrupt("unknown state"))?)))
            .collect()
        })
        .await
    }

    /// Stores an opened, verified answer to `request_id` if it belongs to the query `org` filed
    /// with `provider`: 照会中 → 回答済, and the requester's linkage record, in one transaction.
    /// An answer that arrives before the hub's acceptance was noted moves the query through 照会中.
    pub async fn accept_answer(
        &self,
        request_id: &RequestId,
        org: &OrgId,
        provider: &OrgId,
        outcome: Outcome,
        body: &Value,
    ) -> Result<Acceptance> {
        let (tenant, rid, org, provider) = (self.tenant.to_string(), request_id.to_string(), org.to_string(), provider.to_string());
        let (body, dk) = (serde_json::to_vec(body)?, self.dk.clone());
        self.tx(move |tx| {
            let (id, state) = match filed_query(tx, &tenant, &rid, &org, &provider)? {
                Ok(found) => found,
                Err(refused) => return Ok(refused),
            };
            if state == QueryState::Failed {
                return Ok(Acceptance::Ended);
            }
            // The row id is known only now, and it is part of the ciphertext's associated data.
            let enc = dk.encrypt("queries.answer", &id, &body)?;
            // 送信待ち → 照会中 first when the hub's acceptance was not noted yet; from any other
            // state that step is refused before anything is written, and the next one decides.
            match transition(tx, &tenant, &id, QueryState::InFlight, None, None) {
                Ok(_) | Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
            Ok(if transition(tx, &tenant, &id, QueryState::Answered, None, Some((outcome, enc)))? {
                Acceptance::Stored
            } else {
                Acceptance::AlreadyAnswered
            })
        })
        .await
    }

    /// Ends the query `org` filed with `provider` under `request_id` in エラー with the hub's
    /// `reason` (the hub gave up delivering it), and writes its linkage record, in one
    /// transaction. `Stored` if it ended now; `AlreadyAnswered` or `Ended` if it had ended before.
    pub async fn delivery_failed(&self, request_id: &RequestId, org: &OrgId, provider: &OrgId, reason: &str) -> Result<Acceptance> {
        let (tenant, rid, org, provider) = (self.tenant.to_string(), request_id.to_string(), org.to_string(), provider.to_string());
        let reason = reason.to_owned();
        self.tx(move |tx| {
            let (id, state) = match filed_query(tx, &tenant, &rid, &org, &provider)? {
                Ok(found) => found,
                Err(refused) => return Ok(refused),
            };
            match state {
                QueryState::Answered => Ok(Acceptance::AlreadyAnswered),
                QueryState::Failed => Ok(Acceptance::Ended),
                _ => {
                    transition(tx, &tenant, &id, QueryState::Failed, Some(reason), None)?;
                    Ok(Acceptance::Stored)
                }
            }
        })
        .await
    }
}
