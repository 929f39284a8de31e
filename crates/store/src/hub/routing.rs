//! Routed queries: admission (別表第二, once per request id) and the leased forward/relay queue.

use super::*;

/// What happened when a query was offered to the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// New: stored and queued for forwarding.
    Accepted,
    /// The same query again (a retry): nothing new was stored.
    Duplicate,
    /// The request id was already used for a different query: a replay.
    Replayed,
    /// The requester's code is not one the hub issued to it: nothing was stored.
    UnknownCode,
}

/// Where a routed query is at the hub (`queries.state`). Only `accepted`, `answered` and
/// `undeliverable` have a step left: forward, relay, tell the requester it was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteState {
    /// Admitted; to be forwarded to the provider.
    Accepted,
    /// The provider's answer is stored; to be relayed to the requester.
    Answered,
    /// The requester has the answer. Final.
    Relayed,
    /// Forwarding was given up; the requester is to be told why.
    Undeliverable,
    /// Ended without an answer reaching the requester. Final.
    Failed,
}

impl RouteState {
    pub fn code(self) -> &'static str {
        match self {
            RouteState::Accepted => "accepted",
            RouteState::Answered => "answered",
            RouteState::Relayed => "relayed",
            RouteState::Undeliverable => "undeliverable",
            RouteState::Failed => "failed",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        use RouteState::*;
        [Accepted, Answered, Relayed, Undeliverable, Failed].into_iter().find(|s| s.code() == code)
    }
}

impl std::fmt::Display for RouteState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// What the hub's linkage record says of a query (`records.outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteOutcome {
    /// Admitted, no answer yet.
    InFlight,
    /// The provider answered.
    Answered,
    /// No answer reached the requester.
    Failed,
}

impl RouteOutcome {
    pub fn code(self) -> &'static str {
        match self {
            RouteOutcome::InFlight => "in_flight",
            RouteOutcome::Answered => "answered",
            RouteOutcome::Failed => "failed",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        use RouteOutcome::*;
        [InFlight, Answered, Failed].into_iter().find(|s| s.code() == code)
    }
}

/// A routed query at the hub.
#[derive(Debug, Clone)]
pub struct HubQuery {
    pub request_id: RequestId,
    pub requester: OrgId,
    pub provider: OrgId,
    pub forwarded: String,
    pub state: RouteState,
    pub answer: Option<String>,
    pub attempts: i64,
    /// The last delivery problem; in `undeliverable`, why the hub gave up.
    pub error: Option<String>,
}

/// The columns [`hub_query_row`] reads, in order.
pub(super) const HUB_QUERY_COLUMNS: &str = "request_id, requester, provider, forwarded, state, answer, attempts, error";

pub(super) fn hub_query_row(r: &Row) -> Result<HubQuery> {
    Ok(HubQuery {
        request_id: RequestId::parse(&r.get::<String>(0)?).map_err(corrupt)?,
        requester: OrgId::parse(&r.get::<String>(1)?).map_err(corrupt)?,
        provider: OrgId::parse(&r.get::<String>(2)?).map_err(corrupt)?,
        forwarded: r.get(3)?,
        state: RouteState::from_code(&r.get::<String>(4)?).ok_or_else(|| corrupt("a routed query's state"))?,
        answer: r.get(5)?,
        attempts: r.get(6)?,
        error: r.get(7)?,
    })
}

/// What admitting `request_id` again means, if it was admitted before: the same requester and
/// content is a retry, anything else a replay.
pub(super) fn prior_admission(tx: &mut dyn Tx, request_id: &str, requester: &str, fingerprint: &str) -> Result<Option<Admission>> {
    let Some(prior) = tx.query_opt("SELECT requester, fingerprint FROM queries WHERE request_id = ?1", args![request_id])? else {
        return Ok(None);
    };
    let same = prior.get::<String>(0)? == requester && prior.get::<String>(1)? == fingerprint;
    Ok(Some(if same { Admission::Duplicate } else { Admission::Replayed }))
}

impl HubStore {
    /// Admits a verified query about the person the hub issued `requester_code` to the requester
    /// for: stores the forward envelope and the hub's linkage record, and mints the provider's
    /// code for the person if the provider has none yet (the provider then answers "not
    /// registered" itself). The forward envelope is built by `make_forward` from the provider's
    /// code, inside the same transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn admit_query<F>(
        &self,
        request_id: &str,
        requester: &OrgId,
        provider: &OrgId,
        fingerprint: &str,
        requester_code: &OrgCode,
        duty: &str,
        items_json: &str,
        make_forward: F,
    ) -> Result<Admission>
    where
        F: FnOnce(OrgCode) -> Result<String> + Send + 'static,
    {
        let (rid, req, prov, fp, req_code, duty, items) = (
            request_id.to_owned(),
            requester.to_string(),
            provider.to_string(),
            fingerprint.to_owned(),
            requester_code.to_string(),
            duty.to_owned(),
            items_json.to_owned(),
        );
        let result = self
            .tx(move |tx| {
                if let Some(prior) = prior_admission(tx, &rid, &req, &fp)? {
                    return Ok(prior);
                }
                let Some(person) = tx.query_opt("SELECT person_key FROM codes WHERE org_id = ?1 AND code = ?2", args![req, req_code])?
                else {
                    return Ok(Admission::UnknownCode);
                };
                let pk: String = person.get(0)?;
                let code = codes_in(tx, &prov, std::slice::from_ref(&pk))?.remove(&pk).ok_or(StoreError::NotFound("provider code"))?;
                let forwarded = make_forward(OrgCode::parse(&code).map_err(corrupt)?)?;
                let now = now_millis();
                tx.execute(
                    "INSERT INTO queries (request_id, requester, provider, fingerprint, forwarded, state, next_attempt_at, accepted_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'accepted', ?6, ?6, ?6)",
                    args![rid, req, prov, fp, forwarded, now],
                )?;
                tx.execute(
                    "INSERT INTO records (request_id, person_key, requester, provider, duty, items, outcome, at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'in_flight', ?7, ?7)",
                    args![rid, pk, req, prov, duty, items, now_unix()],
                )?;
                Ok(Admission::Accepted)
            })
            .await;
        match result {
            // The same request id admitted concurrently by another connection: a retry or a replay.
            Err(StoreError::Duplicate(_)) => {
                let (rid, req, fp) = (request_id.to_owned(), requester.to_string(), fingerprint.to_owned());
                Ok(self.tx(move |tx| prior_admission(tx, &rid, &req, &fp)).await?.unwrap_or(Admission::Replayed))
            }
            other => other,
        }
    }

    /// The hub's queue: how many queries wait to be forwarded (`accepted`), relayed
    /// (`answered`) or reported undeliverable, by state (states with none left out).
    pub async fn queue_depth(&self) -> Result<Vec<(RouteState, i64)>> {
        self.read(move |tx| {
            tx.query(
                "SELECT state, COUNT(*) FROM queries WHERE state IN ('accepted', 'answered', 'undeliverable') GROUP BY state ORDER BY state",
                args![],
            )?
            .iter()
            .map(|r| Ok((RouteState::from_code(&r.get::<String>(0)?).ok_or_else(|| corrupt("unknown route state"))?, r.get(1)?)))
            .collect()
        })
        .await
    }

    /// Claims queries waiting to be forwarded (`accepted`), relayed (`answered`) or reported
    /// undeliverable to their requester (`undeliverable`) whose time has come, leasing each for
    /// `lease_ms` (one statement) so no other worker takes it meanwhile.
    pub async fn claim_due(&self, limit: usize, lease_ms: i64) -> Result<Vec<HubQuery>> {
        self.tx(move |tx| {
            let lock = if tx.backend() == Backend::Postgres { " FOR UPDATE SKIP LOCKED" } else { "" };
            let now = now_millis();
            let rows = tx.query(
                &format!(
                    "UPDATE queries SET next_attempt_at = ?3 WHERE request_id IN (
                        SELECT request_id FROM queries WHERE state IN ('accepted', 'answered', 'undeliverable') AND next_attempt_at <= ?1
                        ORDER BY next_attempt_at LIMIT ?2{lock})
                     RETURNING {HUB_QUERY_COLUMNS}"
                ),
                args![now, limit as i64, now + lease_ms],
            )?;
            rows.iter().map(hub_query_row).collect()
        })
        .await
    }

    /// Moves a query from `from` to `to`, optionally storing the (sealed) answer envelope and
    /// setting the record's outcome. Returns false if the query was not in `from` (a retry).
    /// Its next step is due `hold_ms` from now: a worker that goes on with it at once holds it
    /// for its lease, so no other claims it meanwhile.
    pub async fn advance(
        &self,
        request_id: &str,
        from: RouteState,
        to: RouteState,
        answer: Option<String>,
        record_outcome: Option<RouteOutcome>,
        hold_ms: i64,
    ) -> Result<bool> {
        let (rid, from, to, outcome) = (request_id.to_owned(), from.code(), to.code(), record_outcome.map(RouteOutcome::code));
        self.tx(move |tx| {
            let now = now_millis();
            let n = tx.execute(
                "UPDATE queries SET state = ?3, answer = COALESCE(?4, answer), attempts = 0, next_attempt_at = ?6,
                    error = CASE WHEN ?3 = 'failed' THEN error END, updated_at = ?5
                 WHERE request_id = ?1 AND state = ?2",
                args![rid, from, to, answer, now, now + hold_ms],
            )?;
            if n == 1
                && let Some(o) = outcome
            {
                tx.execute("UPDATE records SET outcome = ?2, updated_at = ?3 WHERE request_id = ?1", args![rid, o, now_unix()])?;
            }
            Ok(n == 1)
        })
        .await
    }

    /// Gives up forwarding a query (`accepted` → `undeliverable`): its record says failed and
    /// `reason` waits to be told to the requester, due at once. False if it had moved on.
    pub async fn give_up(&self, request_id: &str, reason: &str) -> Result<bool> {
        let (rid, reason) = (request_id.to_owned(), reason.to_owned());
        self.tx(move |tx| {
            let now = now_millis();
            let n = tx.execute(
                "UPDATE queries SET state = 'undeliverable', attempts = 0, next_attempt_at = ?2, error = ?3, updated_at = ?2
                 WHERE request_id = ?1 AND state = 'accepted'",
                args![rid, now, reason],
            )?;
            if n == 1 {
                tx.execute("UPDATE records SET outcome = 'failed', updated_at = ?2 WHERE request_id = ?1", args![rid, now_unix()])?;
            }
            Ok(n == 1)
        })
        .await
    }

    pub async fn schedule_retry(&self, request_id: &str, next_attempt_at: i64, error: &str) -> Result<()> {
        let (rid, error) = (request_id.to_owned(), error.to_owned());
        self.tx(move |tx| {
            tx.execute(
                "UPDATE queries SET attempts = attempts + 1, next_attempt_at = ?2, error = ?3, updated_at = ?4 WHERE request_id = ?1",
                args![rid, next_attempt_at, error, now_millis()],
            )?;
            Ok(())
        })
        .await
    }

    /// Moves a step's next attempt later without counting an attempt (its destination's circuit
    /// breaker is open, so it was not tried).
    pub async fn postpone(&self, request_id: &str, next_attempt_at: i64) -> Result<()> {
        let rid = request_id.to_owned();
        self.tx(move |tx| {
            tx.execute("UPDATE queries SET next_attempt_at = ?2 WHERE request_id = ?1", args![rid, next_attempt_at])?;
            Ok(())
        })
        .await
    }

    pub async fn query(&self, request_id: &str) -> Result<Option<HubQuery>> {
        let rid = request_id.to_owned();
        self.read(move |tx| {
            tx.query_opt(&format!("SELECT {HUB_QUERY_COLUMNS} FROM queries WHERE request_id = ?1"), args![rid])?
                .as_ref()
                .map(hub_query_row)
                .transpose()
        })
        .await
    }
}
