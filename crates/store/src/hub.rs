//! The hub's database: the organization directory, codes (機関別符号) keyed by a keyed hash of
//! the Individual Number, routed queries with their forwarding/relay queue, the hub's linkage
//! records, and resident tokens for disclosure. No Individual Number and no answer plaintext
//! is ever stored here.

use crate::migrate::Migration;
use crate::{Db, Result, StoreError, now_millis, now_unix};
use renkei_crypto::hubkey::mint_code;
use renkei_domain::{OrgCode, OrgId, OrgType};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use std::path::Path;

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    sql: "
    CREATE TABLE orgs (
        id TEXT PRIMARY KEY,
        org_type TEXT NOT NULL,
        name TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        verify_key TEXT NOT NULL,
        seal_key TEXT NOT NULL,
        registered_at INTEGER NOT NULL
    );
    CREATE TABLE codes (
        org_id TEXT NOT NULL REFERENCES orgs(id),
        person_key TEXT NOT NULL,
        code TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (org_id, person_key),
        UNIQUE (org_id, code)
    );
    CREATE TABLE queries (
        request_id TEXT PRIMARY KEY,
        requester TEXT NOT NULL,
        provider TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        forwarded TEXT NOT NULL,
        state TEXT NOT NULL,
        answer TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        error TEXT,
        accepted_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX queries_due ON queries (state, next_attempt_at);
    CREATE TABLE records (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        request_id TEXT NOT NULL UNIQUE,
        person_key TEXT NOT NULL,
        requester TEXT NOT NULL,
        provider TEXT NOT NULL,
        duty TEXT NOT NULL,
        items TEXT NOT NULL,
        outcome TEXT NOT NULL,
        at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX records_person ON records (person_key, seq);
    CREATE TABLE resident_tokens (
        token_hash TEXT PRIMARY KEY,
        person_key TEXT NOT NULL,
        expires_at INTEGER NOT NULL
    );
    ",
}];

/// An organization in the hub's directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryEntry {
    pub id: OrgId,
    pub org_type: OrgType,
    pub name: String,
    /// Base URL of the org's server's network listener, e.g. `https://127.0.0.1:7443`.
    pub endpoint: String,
    /// Ed25519 verifying key, base64.
    pub verify_key: String,
    /// X25519 HPKE public key, base64.
    pub seal_key: String,
}

/// What happened when a query was offered to the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// New: stored and queued for forwarding.
    Accepted,
    /// The same query again (a retry): nothing new was stored.
    Duplicate,
    /// The request id was already used for a different query: a replay.
    Replayed,
}

/// A routed query at the hub.
#[derive(Debug, Clone)]
pub struct HubQuery {
    pub request_id: String,
    pub requester: String,
    pub provider: String,
    pub forwarded: String,
    pub state: String,
    pub answer: Option<String>,
    pub attempts: i64,
}

/// One of the hub's linkage records, as disclosed to the resident.
#[derive(Debug, Clone, Serialize)]
pub struct HubRecord {
    pub seq: i64,
    pub request_id: String,
    pub requester: String,
    pub provider: String,
    pub duty: String,
    pub items: Vec<String>,
    pub outcome: String,
    pub at: i64,
}

#[derive(Clone)]
pub struct HubStore {
    db: Db,
}

/// The columns [`hub_query_row`] reads, in order.
const HUB_QUERY_COLUMNS: &str = "request_id, requester, provider, forwarded, state, answer, attempts";

fn hub_query_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<HubQuery> {
    Ok(HubQuery {
        request_id: r.get(0)?,
        requester: r.get(1)?,
        provider: r.get(2)?,
        forwarded: r.get(3)?,
        state: r.get(4)?,
        answer: r.get(5)?,
        attempts: r.get(6)?,
    })
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn code_in(tx: &rusqlite::Transaction<'_>, org: &str, person_key: &str, mint: bool) -> Result<Option<String>> {
    let found: Option<String> =
        tx.query_row("SELECT code FROM codes WHERE org_id = ?1 AND person_key = ?2", [org, person_key], |r| r.get(0)).optional()?;
    match found {
        Some(c) => Ok(Some(c)),
        None if mint => {
            let code = mint_code().to_string();
            tx.execute(
                "INSERT INTO codes (org_id, person_key, code, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![org, person_key, code, now_unix()],
            )?;
            Ok(Some(code))
        }
        None => Ok(None),
    }
}

impl HubStore {
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Self { db: Db::open(path, MIGRATIONS)? })
    }

    /// Adds or replaces an org's directory entry (keys rotate, endpoints move).
    pub async fn register_org(&self, e: &DirectoryEntry) -> Result<()> {
        let e = e.clone();
        self.db
            .tx(move |tx| {
                tx.execute(
                    "INSERT INTO orgs (id, org_type, name, endpoint, verify_key, seal_key, registered_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (id) DO UPDATE SET org_type = excluded.org_type, name = excluded.name, endpoint = excluded.endpoint,
                        verify_key = excluded.verify_key, seal_key = excluded.seal_key",
                    params![e.id.as_str(), e.org_type.as_str(), e.name, e.endpoint, e.verify_key, e.seal_key, now_unix()],
                )?;
                Ok(())
            })
            .await
    }

    pub async fn org(&self, id: &str) -> Result<Option<DirectoryEntry>> {
        let id = id.to_owned();
        let row: Option<(String, String, String, String, String, String)> = self
            .db
            .tx(move |tx| {
                Ok(tx
                    .query_row("SELECT id, org_type, name, endpoint, verify_key, seal_key FROM orgs WHERE id = ?1", [&id], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
                    })
                    .optional()?)
            })
            .await?;
        row.map(|(id, t, name, endpoint, verify_key, seal_key)| {
            Ok(DirectoryEntry {
                id: OrgId::parse(&id).map_err(corrupt)?,
                org_type: OrgType::parse(&t).map_err(corrupt)?,
                name,
                endpoint,
                verify_key,
                seal_key,
            })
        })
        .transpose()
    }

    /// `org`'s codes for these persons (keyed hashes), minting each missing one, in one transaction.
    pub async fn codes_for(&self, org: &OrgId, person_keys: Vec<String>) -> Result<Vec<OrgCode>> {
        let org = org.to_string();
        let codes: Vec<String> =
            self.db.tx(move |tx| person_keys.iter().map(|k| code_in(tx, &org, k, true).map(|c| c.unwrap_or_default())).collect()).await?;
        codes.iter().map(|c| OrgCode::parse(c).map_err(corrupt)).collect()
    }

    /// The person (keyed hash) that `org` knows under `code`.
    pub async fn person_of_code(&self, org: &OrgId, code: &OrgCode) -> Result<Option<String>> {
        let (org, code) = (org.to_string(), code.to_string());
        self.db
            .tx(move |tx| {
                Ok(tx.query_row("SELECT person_key FROM codes WHERE org_id = ?1 AND code = ?2", [&org, &code], |r| r.get(0)).optional()?)
            })
            .await
    }

    /// Admits a verified query: stores the forward envelope and the hub's linkage record, and
    /// mints the provider's code for the person if the provider has none yet (the provider then
    /// answers "not registered" itself). The forward envelope is built by `make_forward` from the
    /// provider's code, inside the same transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn admit_query<F>(
        &self,
        request_id: &str,
        requester: &OrgId,
        provider: &OrgId,
        fingerprint: &str,
        person_key: &str,
        duty: &str,
        items_json: &str,
        make_forward: F,
    ) -> Result<Admission>
    where
        F: FnOnce(OrgCode) -> Result<String> + Send + 'static,
    {
        let (rid, req, prov, fp, pk, duty, items) = (
            request_id.to_owned(),
            requester.to_string(),
            provider.to_string(),
            fingerprint.to_owned(),
            person_key.to_owned(),
            duty.to_owned(),
            items_json.to_owned(),
        );
        self.db
            .tx(move |tx| {
                let prior: Option<(String, String)> = tx
                    .query_row("SELECT requester, fingerprint FROM queries WHERE request_id = ?1", [&rid], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                if let Some((prior_req, prior_fp)) = prior {
                    return Ok(if prior_req == req && prior_fp == fp { Admission::Duplicate } else { Admission::Replayed });
                }
                let code = code_in(tx, &prov, &pk, true)?.ok_or(StoreError::NotFound("provider code"))?;
                let forwarded = make_forward(OrgCode::parse(&code).map_err(corrupt)?)?;
                let now = now_millis();
                tx.execute(
                    "INSERT INTO queries (request_id, requester, provider, fingerprint, forwarded, state, next_attempt_at, accepted_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, 'accepted', ?6, ?6, ?6)",
                    params![rid, req, prov, fp, forwarded, now],
                )?;
                tx.execute(
                    "INSERT INTO records (request_id, person_key, requester, provider, duty, items, outcome, at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'in_flight', ?7, ?7)",
                    params![rid, pk, req, prov, duty, items, now_unix()],
                )?;
                Ok(Admission::Accepted)
            })
            .await
    }

    /// Queries waiting to be forwarded (`accepted`) or relayed (`answered`) whose time has come.
    pub async fn due(&self, limit: usize) -> Result<Vec<HubQuery>> {
        self.db
            .tx(move |tx| {
                let mut st = tx.prepare_cached(&format!(
                    "SELECT {HUB_QUERY_COLUMNS} FROM queries
                     WHERE state IN ('accepted', 'answered') AND next_attempt_at <= ?1 ORDER BY next_attempt_at LIMIT ?2"
                ))?;
                let rows = st.query_map(params![now_millis(), limit as i64], hub_query_row)?;
                Ok(rows.collect::<std::result::Result<_, _>>()?)
            })
            .await
    }

    /// Moves a query from `from` to `to`, optionally storing the (sealed) answer envelope and
    /// setting the record's outcome. Returns false if the query was not in `from` (a retry).
    pub async fn advance(
        &self,
        request_id: &str,
        from: &str,
        to: &str,
        answer: Option<String>,
        record_outcome: Option<&str>,
    ) -> Result<bool> {
        let (rid, from, to, outcome) = (request_id.to_owned(), from.to_owned(), to.to_owned(), record_outcome.map(str::to_owned));
        self.db
            .tx(move |tx| {
                let n = tx.execute(
                    "UPDATE queries SET state = ?3, answer = COALESCE(?4, answer), attempts = 0, next_attempt_at = ?5, error = NULL, updated_at = ?5
                     WHERE request_id = ?1 AND state = ?2",
                    params![rid, from, to, answer, now_millis()],
                )?;
                if n == 1 && let Some(o) = outcome {
                    tx.execute("UPDATE records SET outcome = ?2, updated_at = ?3 WHERE request_id = ?1", params![rid, o, now_unix()])?;
                }
                Ok(n == 1)
            })
            .await
    }

    pub async fn schedule_retry(&self, request_id: &str, next_attempt_at: i64, error: &str) -> Result<()> {
        let (rid, error) = (request_id.to_owned(), error.to_owned());
        self.db
            .tx(move |tx| {
                tx.execute(
                    "UPDATE queries SET attempts = attempts + 1, next_attempt_at = ?2, error = ?3, updated_at = ?4 WHERE request_id = ?1",
                    params![rid, next_attempt_at, error, now_millis()],
                )?;
                Ok(())
            })
            .await
    }

    pub async fn query(&self, request_id: &str) -> Result<Option<HubQuery>> {
        let rid = request_id.to_owned();
        self.db
            .tx(move |tx| {
                Ok(tx
                    .query_row(&format!("SELECT {HUB_QUERY_COLUMNS} FROM queries WHERE request_id = ?1"), [&rid], hub_query_row)
                    .optional()?)
            })
            .await
    }

    /// Every hub record about one person, oldest first.
    pub async fn records_of_person(&self, person_key: &str) -> Result<Vec<HubRecord>> {
        let pk = person_key.to_owned();
        self.db
            .tx(move |tx| {
                let mut st = tx.prepare(
                    "SELECT seq, request_id, requester, provider, duty, items, outcome, at FROM records WHERE person_key = ?1 ORDER BY seq",
                )?;
                let rows = st.query_map([&pk], |r| {
                    let items: String = r.get(5)?;
                    Ok(HubRecord {
                        seq: r.get(0)?,
                        request_id: r.get(1)?,
                        requester: r.get(2)?,
                        provider: r.get(3)?,
                        duty: r.get(4)?,
                        items: serde_json::from_str(&items).unwrap_or_default(),
                        outcome: r.get(6)?,
                        at: r.get(7)?,
                    })
                })?;
                Ok(rows.collect::<std::result::Result<_, _>>()?)
            })
            .await
    }

    /// Number of hub records (for the demo's summary and tests).
    pub async fn record_count(&self) -> Result<i64> {
        self.db.tx(|tx| Ok(tx.query_row("SELECT COUNT(*) FROM records", [], |r| r.get(0))?)).await
    }

    pub async fn add_resident_token(&self, token_hash: &str, person_key: &str, expires_at: i64) -> Result<()> {
        let (th, pk) = (token_hash.to_owned(), person_key.to_owned());
        self.db
            .tx(move |tx| {
                tx.execute("DELETE FROM resident_tokens WHERE expires_at < ?1", [now_unix()])?;
                tx.execute(
                    "INSERT INTO resident_tokens (token_hash, person_key, expires_at) VALUES (?1, ?2, ?3)",
                    params![th, pk, expires_at],
                )?;
                Ok(())
            })
            .await
    }

    /// The person a live resident token stands for.
    pub async fn token_person(&self, token_hash: &str) -> Result<Option<String>> {
        let th = token_hash.to_owned();
        self.db
            .tx(move |tx| {
                Ok(tx
                    .query_row(
                        "SELECT person_key FROM resident_tokens WHERE token_hash = ?1 AND expires_at >= ?2",
                        params![th, now_unix()],
                        |r| r.get(0),
                    )
                    .optional()?)
            })
            .await
    }
}
