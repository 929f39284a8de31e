//! One tenant's (団体) database: persons (AddresseeNo ↔ OrgCode), provision copies (副本) with
//! history, queries with their durable outbox, answers this tenant provided, and linkage records
//! (情報提供等記録). Every personal-data value is encrypted here with the tenant's data key;
//! look-ups go through keyed blind indexes, never plaintext.

use crate::db::{Backend, Finish, Row, Scope, ToValue, Tx};
use crate::migrate::{Migration, Migrations};
use crate::{Db, Result, StoreError, args, now_millis, now_unix};
use renkei_crypto::datakey::DataKey;
use renkei_domain::Date;
use renkei_domain::wire::QueryRequest;
use renkei_domain::{AddresseeNo, DutyCode, ItemCode, OrgCode, OrgId, Outcome, QueryState, RequestId, TenantId};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

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

/// The tenant file's schema on SQLite. On PostgreSQL the same tables, with row-level security,
/// are part of the platform schema (`tenant_pg_v1.sql`).
/// Large pages, for bulk loads of copies written in key order (+20–30 % rows/s); queries run as
/// fast as on small pages since their savepoint journals stay in memory (docs/benchmarks.md).
pub(crate) const SQLITE_MIGRATIONS: Migrations =
    Migrations { sqlite: SQLITE, postgres: &[], postgres_grants: "", sqlite_page_size: crate::migrate::BULK_PAGE_SIZE };

const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        sql: "
    CREATE TABLE persons (
        tenant_id TEXT NOT NULL,
        org_id TEXT NOT NULL,
        id TEXT NOT NULL,
        addressee_idx TEXT NOT NULL,
        addressee_enc BLOB NOT NULL,
        code_idx TEXT NOT NULL,
        code_enc BLOB NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, id),
        UNIQUE (tenant_id, org_id, addressee_idx),
        UNIQUE (tenant_id, org_id, code_idx)
    );
    CREATE TABLE provision_copies (
        tenant_id TEXT NOT NULL,
        org_id TEXT NOT NULL,
        id TEXT NOT NULL,
        addressee_idx TEXT NOT NULL,
        item TEXT NOT NULL,
        valid_from TEXT NOT NULL,
        fields_enc BLOB NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, id),
        UNIQUE (tenant_id, org_id, addressee_idx, item, valid_from)
    );
    CREATE TABLE queries (
        tenant_id TEXT NOT NULL,
        org_id TEXT NOT NULL,
        id TEXT NOT NULL,
        request_id TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        duty TEXT NOT NULL,
        provider_org TEXT NOT NULL,
        items TEXT NOT NULL,
        addressee_idx TEXT NOT NULL,
        request_enc BLOB NOT NULL,
        reference_date TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        deadline_at INTEGER NOT NULL,
        error TEXT,
        outcome TEXT,
        answer_enc BLOB,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, id),
        UNIQUE (tenant_id, request_id),
        UNIQUE (tenant_id, org_id, idempotency_key)
    );
    CREATE INDEX queries_due ON queries (tenant_id, state, next_attempt_at);
    CREATE TABLE provided_answers (
        tenant_id TEXT NOT NULL,
        org_id TEXT NOT NULL,
        request_id TEXT NOT NULL,
        envelope TEXT NOT NULL,
        outcome TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, request_id)
    );
    CREATE TABLE linkage_records (
        tenant_id TEXT NOT NULL,
        org_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        role TEXT NOT NULL,
        request_id TEXT NOT NULL,
        counterpart_org TEXT NOT NULL,
        duty TEXT NOT NULL,
        items TEXT NOT NULL,
        outcome TEXT NOT NULL,
        at INTEGER NOT NULL,
        PRIMARY KEY (tenant_id, seq),
        UNIQUE (tenant_id, org_id, role, request_id)
    );
    ",
    },
    Migration { version: 2, sql: IMPORT_ID_MIGRATION },
    Migration { version: 3, sql: COPIES_BY_NATURAL_KEY },
];

/// Version 3 (SQLite): provision copies are stored in their natural key's order, in one B-tree
/// (`WITHOUT ROWID`), instead of a rowid table with two indexes. Each row was written three
/// times; a bulk load's final write and commit were most of its time (docs/benchmarks.md). The
/// row id stays a column (it is what each ciphertext is bound to), no longer indexed: nothing
/// looks a copy up by it. A row written by a bulk load has no id of its own (NULL): its id is
/// its natural key ([`copy_id`]), a quarter of the row's bytes not written. PostgreSQL keeps its
/// heap and two indexes.
const COPIES_BY_NATURAL_KEY: &str = "
    CREATE TABLE provision_copies_v3 (
        tenant_id TEXT NOT NULL,
        org_id TEXT NOT NULL,
        addressee_idx TEXT NOT NULL,
        item TEXT NOT NULL,
        valid_from TEXT NOT NULL,
        id TEXT,
        fields_enc BLOB NOT NULL,
        updated_at INTEGER NOT NULL,
        import_id TEXT,
        PRIMARY KEY (tenant_id, org_id, addressee_idx, item, valid_from)
    ) WITHOUT ROWID;
    INSERT INTO provision_copies_v3 (tenant_id, org_id, addressee_idx, item, valid_from, id, fields_enc, updated_at, import_id)
        SELECT tenant_id, org_id, addressee_idx, item, valid_from, id, fields_enc, updated_at, import_id FROM provision_copies
        ORDER BY tenant_id, org_id, addressee_idx, item, valid_from;
    DROP TABLE provision_copies;
    ALTER TABLE provision_copies_v3 RENAME TO provision_copies;
";

/// Version 2 (both backends): which bulk import last wrote a row, so that a key repeated within
/// one file is told apart from a key loaded by an earlier import.
pub(crate) const IMPORT_ID_MIGRATION: &str = "
    ALTER TABLE persons ADD COLUMN import_id TEXT;
    ALTER TABLE provision_copies ADD COLUMN import_id TEXT;
";

/// A person's registration result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    Created,
    AlreadyRegistered,
}

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
    /// Milliseconds since the epoch after which the query ends in エラー.
    pub deadline_at: i64,
}

/// What filing a query did ([`TenantStore::file_query`]).
#[derive(Debug, Clone)]
pub enum Filing {
    /// A new query, in the outbox.
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
}

/// The columns [`TenantStore::query_view`] opens; the person comes along (by its blind index) so
/// a read is one statement.
const QUERY_VIEW: &str = "SELECT q.id, q.request_id, q.duty, q.provider_org, q.items, q.request_enc, q.state, q.error, q.outcome,
        q.answer_enc, q.attempts, q.created_at, q.updated_at, p.id, p.addressee_enc
     FROM queries q LEFT JOIN persons p ON p.tenant_id = q.tenant_id AND p.org_id = q.org_id AND p.addressee_idx = q.addressee_idx";

/// Which of an org's queries a list shows; `None` lets all through.
#[derive(Debug, Clone, Default)]
pub struct QueryFilter {
    pub state: Option<QueryState>,
    /// Filed at or after this time (milliseconds since the Unix epoch).
    pub filed_since_ms: Option<i64>,
    pub duty: Option<DutyCode>,
}

/// A query due for delivery to the hub.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    pub id: String,
    pub org: OrgId,
    pub attempts: i64,
    pub request: QueryRequest,
}

/// Which side of a linkage a record was written by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Requester,
    Provider,
}

impl Role {
    pub fn code(self) -> &'static str {
        match self {
            Role::Requester => "requester",
            Role::Provider => "provider",
        }
    }
}

/// 情報提供等記録 — who asked whom for what, when, why, with what outcome. Never the content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkageRecord {
    pub seq: i64,
    pub org: String,
    pub role: String,
    pub request_id: String,
    pub counterpart_org: String,
    pub duty: String,
    pub items: Vec<String>,
    pub outcome: String,
    pub at: i64,
}

/// A forwarded query's answer as the provider's store can give it ([`TenantStore::answer_basis`]).
#[derive(Debug)]
pub enum AnswerBasis {
    /// Already answered: the signed, sealed envelope given then, to be given again.
    Answered(String),
    /// No person is registered under the code.
    NotRegistered,
    /// The person's copies valid on the reference date (items without one are left out).
    Copies(Vec<CopyVersion>),
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

const PROVIDED_ANSWER: &str = "SELECT envelope FROM provided_answers WHERE tenant_id = ?1 AND request_id = ?2";

/// One column of a person read through one blind index: (index column, value column, the
/// value's associated-data table). Fixed names from this module, never input.
type PersonColumn = (&'static str, &'static str, &'static str);
const CODE_BY_ADDRESSEE: PersonColumn = ("addressee_idx", "code_enc", "persons.code");
const ADDRESSEE_BY_CODE: PersonColumn = ("code_idx", "addressee_enc", "persons.addressee");

/// Looks a person of `org` up by one blind index and decrypts one of its columns, inside `tx`.
fn read_person_column(tx: &mut dyn Tx, dk: &DataKey, tenant: &str, org: &str, column: PersonColumn, index: &str) -> Result<Option<String>> {
    let (index_column, value_column, aad_table) = column;
    let sql = format!("SELECT id, {value_column} FROM persons WHERE tenant_id = ?1 AND org_id = ?2 AND {index_column} = ?3");
    tx.query_opt(&sql, args![tenant, org, index])?
        .map(|r| String::from_utf8(dk.decrypt(aad_table, &r.get::<String>(0)?, &r.get::<Vec<u8>>(1)?)?).map_err(corrupt))
        .transpose()
}

/// A provision copy row as read, still encrypted: (id, item, valid_from, fields_enc).
type CopyRow = (String, String, String, Vec<u8>);

/// The row id of a provision copy version that is its natural key (the addressee by its blind
/// index): what a bulk load binds each ciphertext to. A SQLite bulk load does not store it; a
/// row without a stored id has this one.
fn copy_id(a_idx: &str, item: &str, valid_from: &str) -> String {
    format!("{a_idx}/{item}/{valid_from}")
}

/// For each item, the copy row valid on `date` (latest `valid_from` ≤ date).
fn copy_rows(tx: &mut dyn Tx, tenant: &str, org: &str, a_idx: &str, items: &[String], date: &str) -> Result<Vec<CopyRow>> {
    let mut out = Vec::new();
    for item in items {
        if let Some(r) = tx.query_opt(
            "SELECT id, item, valid_from, fields_enc FROM provision_copies
             WHERE tenant_id = ?1 AND org_id = ?2 AND addressee_idx = ?3 AND item = ?4 AND valid_from <= ?5
             ORDER BY valid_from DESC LIMIT 1",
            args![tenant, org, a_idx, item, date],
        )? {
            let (item, valid_from): (String, String) = (r.get(1)?, r.get(2)?);
            let id = r.get::<Option<String>>(0)?.unwrap_or_else(|| copy_id(a_idx, &item, &valid_from));
            out.push((id, item, valid_from, r.get(3)?));
        }
    }
    Ok(out)
}

/// Moves query `id` to `to` inside `tx` if the state machine allows it; false if it was there
/// already. A final state writes the requester's linkage record in the same transaction.
fn transition(
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
    let (outcome, answer) = match extra {
        Some((o, a)) => (Some(o.code()), Some(a)),
        None => (None, None),
    };
    tx.execute(
        // A new reason goes first; the last delivery problem, if any, stays after it.
        "UPDATE queries SET state = ?3,
            error = CASE WHEN CAST(?4 AS TEXT) IS NULL THEN error WHEN error IS NULL THEN CAST(?4 AS TEXT)
                ELSE CAST(?4 AS TEXT) || '; last problem: ' || error END,
            outcome = COALESCE(?5, outcome),
            answer_enc = COALESCE(?6, answer_enc), updated_at = ?7 WHERE tenant_id = ?1 AND id = ?2",
        args![tenant, id, to.code(), error, outcome, answer, now_millis()],
    )?;
    if to.is_final() {
        let (org, request_id, provider, duty, items): (String, String, String, String, String) =
            (row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?);
        let outcome = outcome.unwrap_or("error");
        insert_record(
            tx,
            NewRecord {
                tenant,
                org: &org,
                role: Role::Requester,
                request_id: &request_id,
                counterpart: &provider,
                duty: &duty,
                items_json: &items,
                outcome,
            },
        )?;
    }
    Ok(true)
}

/// The query `org` filed with `provider` under `request_id`: its id and state, or why a message
/// about it is refused (no such request, or another org's or provider's).
fn filed_query(
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

/// A provision copy valid on some date.
#[derive(Debug, Clone)]
pub struct CopyVersion {
    pub item: ItemCode,
    pub valid_from: Date,
    pub fields: Map<String, Value>,
}

/// SQLite page cache of a tenant file during a bulk load (KiB); the default is 2,000 KiB.
const BULK_CACHE_KIB: u32 = 65_536;

/// SQLite page cache (KiB) while a load's staged copies are sorted and written, which also bounds
/// the memory of SQLite's sorter.
const BULK_SORT_CACHE_KIB: u32 = 16_384;

/// Duplicate lines of a staged SQLite load handed on at once.
const DUPLICATES_PAGE: i64 = 4_096;

/// The blind index of a person by addressee number. It is per org: one org's index reveals nothing
/// about another's persons.
fn addressee_idx(dk: &DataKey, org: &OrgId, a: &AddresseeNo) -> String {
    dk.blind_index_of("addressee", &[org.as_str(), a.as_str()])
}

/// The blind index of a person by code, per org.
fn code_idx(dk: &DataKey, org: &OrgId, c: &OrgCode) -> String {
    dk.blind_index_of("code", &[org.as_str(), c.as_str()])
}

/// Runs a multi-row `insert` (written without `RETURNING`) and says which of `ids` it wrote. A
/// single row (SQLite) is a plain execute whose count says it all, measurably cheaper there than
/// `RETURNING`.
fn inserted_ids<'a>(
    tx: &mut dyn Tx,
    insert: &str,
    values: &[crate::db::Value],
    mut ids: impl ExactSizeIterator<Item = &'a String>,
) -> Result<std::collections::HashSet<String>> {
    if ids.len() == 1 {
        let id = ids.next().cloned();
        return Ok(if tx.execute(insert, values)? == 1 { id.into_iter().collect() } else { Default::default() });
    }
    tx.query(&format!("{insert} RETURNING id"), values)?.iter().map(|r| r.get(0)).collect()
}

/// What one line of a bulk load did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// A new person, or a provision copy version written (new or replaced).
    Stored,
    /// The person was registered with the same code before this load.
    AlreadyRegistered,
    /// The same key appeared earlier in this load.
    Duplicate,
    /// The line contradicts a stored person (the reason names no values).
    Conflict(&'static str),
}

/// A provision copy line ready to be written: its keys computed and its fields encrypted.
pub struct PreparedCopy {
    line: u64,
    id: String,
    a_idx: String,
    item: String,
    valid_from: String,
    enc: Vec<u8>,
}

/// Prepares provision copy lines of one org for [`Bulk::copy`] outside the load's transaction,
/// so that a load can hash and encrypt on one thread while the database writes on another.
#[derive(Clone)]
pub struct CopyPreparer {
    org: OrgId,
    dk: Arc<DataKey>,
}

impl CopyPreparer {
    pub fn prepare(
        &self,
        line: u64,
        addressee: &AddresseeNo,
        item: &ItemCode,
        valid_from: Date,
        fields: &Map<String, Value>,
    ) -> Result<PreparedCopy> {
        let vf = valid_from.to_string();
        let a_idx = addressee_idx(&self.dk, &self.org, addressee);
        // The row id is the version's natural key (the addressee by its blind index), so a
        // re-load finds the same row, and ids sort as the natural key does: a load written in
        // key order appends to the primary key as it does to the natural key's index.
        let id = copy_id(&a_idx, item.as_str(), &vf);
        let enc = self.dk.encrypt("provision_copies.fields", &id, &serde_json::to_vec(fields)?)?;
        Ok(PreparedCopy { line, id, a_idx, item: item.to_string(), valid_from: vf, enc })
    }
}

/// One transaction of bulk loading (一括登録) for one org; nothing is visible to others until the
/// load commits.
///
/// Provision copies are written differently per backend:
/// - PostgreSQL: in multi-row statements as they come (see `db::rows_per_statement`), results
///   back when a batch is written.
/// - SQLite: staged in a temporary table (appended, outside the WAL), then written in one
///   statement in natural-key order by [`Bulk::flush`]. Blind indexes are random, so rows in
///   file order land on random pages: past the page cache each page was spilled to the WAL
///   again and again, and a 10 M-row load crawled (docs/benchmarks.md). In key order each page
///   is written once. Duplicates within the file are found at the end and reported then.
pub struct Bulk<'t> {
    tx: &'t mut dyn Tx,
    tenant: String,
    org: OrgId,
    dk: Arc<DataKey>,
    /// Marks the rows this load wrote, so a key repeated within the load is told apart from one
    /// an earlier load wrote.
    import_id: String,
    /// Copies waiting for their batch: (line, row id, the row's values).
    copies: Vec<(u64, String, Vec<crate::db::Value>)>,
    copy_ids: std::collections::HashSet<String>,
    /// The insert statement for a batch of n copies, by n: built once, not per row.
    copy_sql: HashMap<usize, String>,
    /// SQLite: lines in the staging table, waiting for [`Bulk::flush`].
    staged: u64,
}

/// A line's result: (line, what happened).
pub type LineResult = (u64, Loaded);

/// What writing some provision copy lines did. Stored lines are only counted: a load of
/// millions would otherwise hold a result per line.
#[derive(Debug, Default)]
pub struct Written {
    pub stored: u64,
    /// Lines not stored (duplicates), with the reason.
    pub others: Vec<LineResult>,
}

impl Written {
    fn of(results: Vec<LineResult>) -> Self {
        let mut w = Written::default();
        for (line, loaded) in results {
            match loaded {
                Loaded::Stored => w.stored += 1,
                other => w.others.push((line, other)),
            }
        }
        w
    }
}

/// SQLite: where a load's copies wait, in file order, until they are written in key order.
const STAGE_COPIES: &str = "CREATE TEMP TABLE bulk_copies (line INTEGER NOT NULL, addressee_idx TEXT NOT NULL,
    item TEXT NOT NULL, valid_from TEXT NOT NULL, fields_enc BLOB NOT NULL)";

impl Bulk<'_> {
    /// Registers persons (`addressee ↔ code`), like [`TenantStore::register_person`], in
    /// multi-row statements; only lines that collide with a stored row are looked at one by one.
    pub fn persons(&mut self, batch: Vec<(u64, AddresseeNo, OrgCode)>) -> Result<Vec<LineResult>> {
        let org = self.org.to_string();
        let mut out = Vec::with_capacity(batch.len());
        let mut rows = Vec::with_capacity(batch.len());
        let mut ids = std::collections::HashSet::with_capacity(batch.len());
        for (line, addressee, code) in batch {
            // The row id is derived from the key, so the ciphertext's associated data is known
            // before the row is written.
            let id = self.dk.blind_index("person-id", &format!("{org}\0{addressee}"));
            if !ids.insert(id.clone()) {
                out.push((line, Loaded::Duplicate));
                continue;
            }
            let (a_idx, c_idx) = (addressee_idx(&self.dk, &self.org, &addressee), code_idx(&self.dk, &self.org, &code));
            let a_enc = self.dk.encrypt("persons.addressee", &id, addressee.as_str().as_bytes())?;
            let c_enc = self.dk.encrypt("persons.code", &id, code.as_str().as_bytes())?;
            let values = args![self.tenant, org, id, a_idx, a_enc, c_idx, c_enc, now_unix(), self.import_id].to_vec();
            rows.push((line, id, a_idx, c_idx, values));
        }
        for chunk in rows.chunks(crate::db::rows_per_statement(self.tx)) {
            let values: Vec<crate::db::Value> = chunk.iter().flat_map(|r| r.4.iter().cloned()).collect();
            let sql = format!(
                "INSERT INTO persons (tenant_id, org_id, id, addressee_idx, addressee_enc, code_idx, code_enc, created_at, import_id)
                 VALUES {} ON CONFLICT DO NOTHING",
                crate::db::value_rows(1, chunk.len(), 9)
            );
            let inserted = inserted_ids(self.tx, &sql, &values, chunk.iter().map(|r| &r.1))?;
            let collided: Vec<(&str, &str)> =
                chunk.iter().filter(|r| !inserted.contains(&r.1)).map(|r| (r.2.as_str(), r.3.as_str())).collect();
            let mut why = self.collided_persons(&collided)?;
            for (line, id, a_idx, _, _) in chunk {
                let loaded = if inserted.contains(id) { Loaded::Stored } else { why.remove(a_idx.as_str()).unwrap_or(Loaded::Duplicate) };
                out.push((*line, loaded));
            }
        }
        Ok(out)
    }

    /// Why person rows (addressee index, code index) were not inserted: registered before (with
    /// the same or another number), earlier in this load, or their number belongs to another
    /// addressee. Two statements for the whole batch.
    fn collided_persons(&mut self, rows: &[(&str, &str)]) -> Result<HashMap<String, Loaded>> {
        let mut out = HashMap::with_capacity(rows.len());
        if rows.is_empty() {
            return Ok(out);
        }
        let org = self.org.to_string();
        let mut args = vec![self.tenant.to_value(), org.to_value()];
        args.extend(rows.iter().map(|(a, _)| a.to_value()));
        let sql = format!(
            "SELECT addressee_idx, code_idx, import_id FROM persons WHERE tenant_id = ?1 AND org_id = ?2 AND addressee_idx IN ({})",
            crate::db::placeholders(3, rows.len())
        );
        let mut stored: HashMap<String, (String, Option<String>)> = HashMap::with_capacity(rows.len());
        for r in self.tx.query(&sql, &args)? {
            stored.insert(r.get(0)?, (r.get(1)?, r.get(2)?));
        }
        let mut unchanged = Vec::new();
        for (a_idx, c_idx) in rows {
            let loaded = match stored.get(*a_idx) {
                None => Loaded::Conflict("this Individual Number is registered under another addressee number"),
                Some((_, Some(import))) if *import == self.import_id => Loaded::Duplicate,
                Some((code, _)) if code != c_idx => Loaded::Conflict("the addressee number is registered with another Individual Number"),
                Some(_) => {
                    unchanged.push(*a_idx);
                    Loaded::AlreadyRegistered
                }
            };
            out.insert((*a_idx).to_owned(), loaded);
        }
        if !unchanged.is_empty() {
            // Marked as seen by this load, so a later line with the same addressee is a duplicate.
            let mut args = vec![self.tenant.to_value(), org.to_value(), self.import_id.to_value()];
            args.extend(unchanged.iter().map(|a| a.to_value()));
            let sql = format!(
                "UPDATE persons SET import_id = ?3 WHERE tenant_id = ?1 AND org_id = ?2 AND addressee_idx IN ({})",
                crate::db::placeholders(4, unchanged.len())
            );
            self.tx.execute(&sql, &args)?;
        }
        Ok(out)
    }

    /// Queues one provision copy version made by a [`CopyPreparer`], like
    /// [`TenantStore::upsert_copy`]; returns what a batch did when one is written.
    pub fn copy(&mut self, c: PreparedCopy) -> Result<Written> {
        if self.tx.backend() == Backend::Sqlite {
            if self.staged == 0 {
                self.tx.execute("DROP TABLE IF EXISTS temp.bulk_copies", args![])?;
                self.tx.execute(STAGE_COPIES, args![])?;
            }
            self.staged += 1;
            self.tx.execute(
                "INSERT INTO temp.bulk_copies (line, addressee_idx, item, valid_from, fields_enc) VALUES (?1, ?2, ?3, ?4, ?5)",
                args![c.line as i64, c.a_idx, c.item, c.valid_from, c.enc],
            )?;
            return Ok(Written::default());
        }
        if !self.copy_ids.insert(c.id.clone()) {
            return Ok(Written { stored: 0, others: vec![(c.line, Loaded::Duplicate)] });
        }
        let values = args![self.tenant, self.org.as_str(), c.id, c.a_idx, c.item, c.valid_from, c.enc, now_unix(), self.import_id].to_vec();
        self.copies.push((c.line, c.id, values));
        if self.copies.len() >= crate::db::rows_per_statement(self.tx) { self.write_queued() } else { Ok(Written::default()) }
    }

    /// Writes what is queued or staged; call once after the last line. Returns how many lines
    /// were stored; `others` hears each line that was not (in line order on SQLite).
    pub fn flush(&mut self, others: &mut dyn FnMut(LineResult)) -> Result<u64> {
        if self.staged > 0 {
            return self.write_staged(others);
        }
        let written = self.write_queued()?;
        written.others.into_iter().for_each(others);
        Ok(written.stored)
    }

    /// Writes the copies queued for a multi-row statement.
    fn write_queued(&mut self) -> Result<Written> {
        if self.copies.is_empty() {
            return Ok(Written::default());
        }
        let batch = std::mem::take(&mut self.copies);
        self.copy_ids.clear();
        let mut values = Vec::with_capacity(batch.len() * 9);
        let mut lines = Vec::with_capacity(batch.len());
        for (line, id, row) in batch {
            values.extend(row);
            lines.push((line, id));
        }
        // A version written earlier by this same load is a duplicate line: left as it is, and
        // not returned.
        let sql = self.copy_sql.entry(lines.len()).or_insert_with_key(|&n| {
            format!(
                "INSERT INTO provision_copies (tenant_id, org_id, id, addressee_idx, item, valid_from, fields_enc, updated_at, import_id)
                 VALUES {}
                 ON CONFLICT (tenant_id, org_id, addressee_idx, item, valid_from) DO UPDATE
                 SET id = excluded.id, fields_enc = excluded.fields_enc, updated_at = excluded.updated_at, import_id = excluded.import_id
                 WHERE provision_copies.import_id IS DISTINCT FROM excluded.import_id",
                crate::db::value_rows(1, n, 9)
            )
        });
        let written = inserted_ids(self.tx, sql, &values, lines.iter().map(|c| &c.1))?;
        Ok(Written::of(
            lines.into_iter().map(|(line, id)| (line, if written.contains(&id) { Loaded::Stored } else { Loaded::Duplicate })).collect(),
        ))
    }

    /// SQLite: writes the staged copies in natural-key order, the first line of each key only;
    /// later lines with the same key are reported as duplicates.
    fn write_staged(&mut self, others: &mut dyn FnMut(LineResult)) -> Result<u64> {
        let staged = std::mem::take(&mut self.staged);
        // The statement reads the stage through SQLite's sorter (bounded in memory, it spills to
        // temporary files), whole rows at a time: through an index, each row was a random seek
        // into the stage. The sorter may use as much memory as the page cache, and rows written in
        // key order need little cache, so the load's large cache is let go first.
        self.tx.execute(&format!("PRAGMA cache_size = -{BULK_SORT_CACHE_KIB}"), args![])?;
        // The sorter may merge on helper threads: nothing else of the load runs meanwhile.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        self.tx.query(&format!("PRAGMA threads = {cores}"), args![])?;
        // In (key, line) order the first line of a key writes it; a later line with the same key
        // finds this load's row and leaves it, uncounted: a duplicate. No id is stored: the row's
        // id is its natural key (`copy_id`). `WHERE true` before `ON CONFLICT` is what SQLite's
        // grammar needs for an upsert from a SELECT.
        let written = self.tx.execute(
            "INSERT INTO provision_copies (tenant_id, org_id, id, addressee_idx, item, valid_from, fields_enc, updated_at, import_id)
             SELECT ?1, ?2, NULL, s.addressee_idx, s.item, s.valid_from, s.fields_enc, ?3, ?4 FROM temp.bulk_copies s
             WHERE true ORDER BY s.addressee_idx, s.item, s.valid_from, s.line
             ON CONFLICT (tenant_id, org_id, addressee_idx, item, valid_from) DO UPDATE
             SET id = excluded.id, fields_enc = excluded.fields_enc, updated_at = excluded.updated_at, import_id = excluded.import_id
             WHERE provision_copies.import_id IS DISTINCT FROM excluded.import_id",
            args![self.tenant, self.org.as_str(), now_unix(), self.import_id],
        );
        // The helper threads are let go whether or not the write succeeded: the connection
        // outlives this load.
        let reset = self.tx.query("PRAGMA threads = 0", args![]);
        let written = written?;
        reset?;
        // Only a load with duplicates pays for finding their lines (a second pass over the stage).
        let duplicates = if written < staged { self.report_staged_duplicates(others)? } else { 0 };
        self.tx.execute("DROP TABLE temp.bulk_copies", args![])?;
        // Every staged line is either written or a duplicate; anything else is a bug, and the
        // load is refused rather than committed.
        if written + duplicates != staged {
            return Err(StoreError::Task(format!("a bulk load staged {staged} lines but accounted for {}", written + duplicates)));
        }
        Ok(written)
    }

    /// SQLite: hands on the staged lines whose key an earlier line of the load has, in line order,
    /// and returns how many there are. They go to a table of their own and are handed on a page
    /// at a time, so a file of nothing but repeated lines does not end up in memory.
    fn report_staged_duplicates(&mut self, others: &mut dyn FnMut(LineResult)) -> Result<u64> {
        self.tx.execute("DROP TABLE IF EXISTS temp.bulk_duplicates", args![])?;
        self.tx.execute("CREATE TEMP TABLE bulk_duplicates (line INTEGER PRIMARY KEY)", args![])?;
        let duplicates = self.tx.execute(
            "INSERT INTO temp.bulk_duplicates (line) SELECT line FROM (SELECT line,
                row_number() OVER (PARTITION BY addressee_idx, item, valid_from ORDER BY line) AS nth FROM temp.bulk_copies)
             WHERE nth > 1",
            args![],
        )?;
        let mut after = 0i64;
        loop {
            let page = self
                .tx
                .query("SELECT line FROM temp.bulk_duplicates WHERE line > ?1 ORDER BY line LIMIT ?2", args![after, DUPLICATES_PAGE])?;
            let Some(last) = page.last() else { break };
            after = last.get(0)?;
            for r in &page {
                others((r.get::<i64>(0)? as u64, Loaded::Duplicate));
            }
        }
        self.tx.execute("DROP TABLE temp.bulk_duplicates", args![])?;
        Ok(duplicates)
    }
}

/// The store of one tenant.
#[derive(Clone)]
pub struct TenantStore {
    tenant: TenantId,
    db: Db,
    dk: Arc<DataKey>,
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// The fields of one linkage record, as written by either side.
struct NewRecord<'a> {
    tenant: &'a str,
    org: &'a str,
    role: Role,
    request_id: &'a str,
    counterpart: &'a str,
    duty: &'a str,
    items_json: &'a str,
    outcome: &'a str,
}

fn insert_record(tx: &mut dyn Tx, r: NewRecord<'_>) -> Result<()> {
    if tx.backend() == Backend::Postgres {
        // Several processes write records of one tenant: take turns so seq stays gapless.
        tx.execute("SELECT pg_advisory_xact_lock(hashtext('renkei-records:' || ?1))", args![r.tenant])?;
    }
    let seq: i64 = tx.value("SELECT COALESCE(MAX(seq), 0) + 1 FROM linkage_records WHERE tenant_id = ?1", args![r.tenant])?;
    // A second attempt to record the same (org, role, request) is a retry: nothing happens.
    tx.execute(
        "INSERT INTO linkage_records (tenant_id, org_id, seq, role, request_id, counterpart_org, duty, items, outcome, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (tenant_id, org_id, role, request_id) DO NOTHING",
        args![r.tenant, r.org, seq, r.role.code(), r.request_id, r.counterpart, r.duty, r.items_json, r.outcome, now_unix()],
    )?;
    Ok(())
}

impl TenantStore {
    pub(crate) fn new(db: Db, tenant: TenantId, dk: DataKey) -> Result<Self> {
        if dk.tenant() != tenant.as_str() {
            return Err(StoreError::Conflict("data key belongs to another tenant".into()));
        }
        Ok(Self { tenant, db, dk: Arc::new(dk) })
    }

    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The tenant's data key (to open the org keys the platform database keeps for it).
    pub fn data_key(&self) -> &DataKey {
        &self.dk
    }

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

    /// Runs `f` in a transaction that sees this tenant's rows only.
    async fn tx<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T> + Send + 'static,
    {
        self.db.tx(Scope::Tenant(self.tenant.to_string()), f).await
    }

    /// Runs `f` in a read-only transaction that sees this tenant's rows only; on SQLite it runs
    /// beside the writer, so a bulk load never holds it up.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T> + Send + 'static,
    {
        self.db.read(Scope::Tenant(self.tenant.to_string()), f).await
    }

    fn addressee_idx(&self, org: &OrgId, a: &AddresseeNo) -> String {
        addressee_idx(&self.dk, org, a)
    }

    fn code_idx(&self, org: &OrgId, c: &OrgCode) -> String {
        code_idx(&self.dk, org, c)
    }

    /// Registers `addressee ↔ code` for `org`. Idempotent: registering the same pair again is
    /// `AlreadyRegistered`; the same addressee with another code is a conflict.
    pub async fn register_person(&self, org: &OrgId, addressee: &AddresseeNo, code: &OrgCode) -> Result<Registration> {
        let a_idx = self.addressee_idx(org, addressee);
        let c_idx = self.code_idx(org, code);
        let id = new_id();
        let a_enc = self.dk.encrypt("persons.addressee", &id, addressee.as_str().as_bytes())?;
        let c_enc = self.dk.encrypt("persons.code", &id, code.as_str().as_bytes())?;
        let (tenant, org) = (self.tenant.to_string(), org.to_string());
        self.tx(move |tx| {
            let existing = tx.query_opt(
                "SELECT code_idx FROM persons WHERE tenant_id = ?1 AND org_id = ?2 AND addressee_idx = ?3",
                args![tenant, org, a_idx],
            )?;
            match existing.map(|r| r.get::<String>(0)).transpose()? {
                Some(c) if c == c_idx => Ok(Registration::AlreadyRegistered),
                Some(_) => Err(StoreError::Conflict("the addressee number is registered with another code".into())),
                None => {
                    tx.execute(
                        "INSERT INTO persons (tenant_id, org_id, id, addressee_idx, addressee_enc, code_idx, code_enc, created_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                        args![tenant, org, id, a_idx, a_enc, c_idx, c_enc, now_unix()],
                    )
                    .map_err(|e| match e {
                        StoreError::Duplicate(_) => StoreError::Conflict("the code is registered to another addressee number".into()),
                        e => e,
                    })?;
                    Ok(Registration::Created)
                }
            }
        })
        .await
    }

    /// Prepares `org`'s provision copy lines for a bulk load, on any thread.
    pub fn copy_preparer(&self, org: &OrgId) -> CopyPreparer {
        CopyPreparer { org: org.clone(), dk: self.dk.clone() }
    }

    /// Runs a bulk load for `org` in one transaction; `f` decides whether it is kept.
    pub async fn bulk<T, F>(&self, org: &OrgId, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Bulk<'_>) -> Result<(T, Finish)> + Send + 'static,
    {
        let (tenant, org, dk) = (self.tenant.to_string(), org.clone(), self.dk.clone());
        let scope = Scope::Tenant(tenant.clone());
        self.db
            .tx_then(scope, move |tx| {
                // A persons load writes index entries in random (blind-index) order: on SQLite a
                // bigger page cache for its duration keeps the indexes' pages from being spilled
                // and re-read. (Copies are written in key order; see `Bulk`.)
                let sqlite = tx.backend() == Backend::Sqlite;
                crate::db::plan_for_growing_tables(tx)?;
                if sqlite {
                    tx.execute(&format!("PRAGMA cache_size = -{}", BULK_CACHE_KIB), args![])?;
                }
                let out = f(&mut Bulk {
                    tx: &mut *tx,
                    tenant,
                    org,
                    dk,
                    // Only ever compared with the ids of earlier loads: 64 random bits, written on
                    // every row, in less than half a UUID's bytes.
                    import_id: format!("{:016x}", rand::random::<u64>()),
                    copies: Vec::new(),
                    copy_ids: std::collections::HashSet::new(),
                    copy_sql: HashMap::new(),
                    staged: 0,
                });
                if sqlite {
                    tx.execute("PRAGMA cache_size = -2000", args![])?;
                }
                out
            })
            .await
    }

    /// The code `org` holds for `addressee`, if registered.
    pub async fn person_code(&self, org: &OrgId, addressee: &AddresseeNo) -> Result<Option<OrgCode>> {
        let plain = self.person_column(org, CODE_BY_ADDRESSEE, self.addressee_idx(org, addressee)).await?;
        plain.map(|p| OrgCode::parse(&p).map_err(corrupt)).transpose()
    }

    /// The addressee number `org` registered under `code`, if any (used to answer a query).
    pub async fn person_by_code(&self, org: &OrgId, code: &OrgCode) -> Result<Option<AddresseeNo>> {
        let plain = self.person_column(org, ADDRESSEE_BY_CODE, self.code_idx(org, code)).await?;
        plain.map(|p| AddresseeNo::parse(&p).map_err(corrupt)).transpose()
    }

    /// [`read_person_column`] in a transaction of its own.
    async fn person_column(&self, org: &OrgId, column: PersonColumn, index: String) -> Result<Option<String>> {
        let (tenant, org, dk) = (self.tenant.to_string(), org.to_string(), self.dk.clone());
        self.read(move |tx| read_person_column(tx, &dk, &tenant, &org, column, &index)).await
    }

    /// Inserts or replaces the version of a provision copy valid from `valid_from`; other
    /// versions stay as history.
    pub async fn upsert_copy(
        &self,
        org: &OrgId,
        addressee: &AddresseeNo,
        item: &ItemCode,
        valid_from: Date,
        fields: &Map<String, Value>,
    ) -> Result<()> {
        let a_idx = self.addressee_idx(org, addressee);
        let fields = serde_json::to_vec(fields)?;
        let (tenant, org, item, vf) = (self.tenant.to_string(), org.to_string(), item.to_string(), valid_from.to_string());
        let dk = self.dk.clone();
        self.tx(move |tx| {
            let existing = tx.query_opt(
                "SELECT id FROM provision_copies WHERE tenant_id = ?1 AND org_id = ?2 AND addressee_idx = ?3 AND item = ?4 AND valid_from = ?5",
                args![tenant, org, a_idx, item, vf],
            )?;
            let id = match existing {
                Some(r) => r.get::<Option<String>>(0)?.unwrap_or_else(|| copy_id(&a_idx, &item, &vf)),
                None => new_id(),
            };
            let enc = dk.encrypt("provision_copies.fields", &id, &fields)?;
            tx.execute(
                "INSERT INTO provision_copies (tenant_id, org_id, id, addressee_idx, item, valid_from, fields_enc, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (tenant_id, org_id, addressee_idx, item, valid_from)
                 DO UPDATE SET fields_enc = excluded.fields_enc, updated_at = excluded.updated_at",
                args![tenant, org, id, a_idx, item, vf, enc, now_unix()],
            )?;
            Ok(())
        })
        .await
    }

    /// For each item, the version valid on `date` (latest `valid_from` ≤ date), if any.
    pub async fn copies_valid_on(&self, org: &OrgId, addressee: &AddresseeNo, items: &[ItemCode], date: Date) -> Result<Vec<CopyVersion>> {
        let a_idx = self.addressee_idx(org, addressee);
        let (tenant, org) = (self.tenant.to_string(), org.to_string());
        let items: Vec<String> = items.iter().map(|i| i.to_string()).collect();
        let d = date.to_string();
        let rows = self.read(move |tx| copy_rows(tx, &tenant, &org, &a_idx, &items, &d)).await?;
        self.open_copies(rows)
    }

    /// What a provider needs to answer a forwarded query (情報提供), read in one transaction:
    /// the answer already given for `request_id`, or else the person registered under `code`
    /// and their copies of `items` valid on `date`.
    pub async fn answer_basis(
        &self,
        org: &OrgId,
        request_id: &RequestId,
        code: &OrgCode,
        items: &[ItemCode],
        date: Date,
    ) -> Result<AnswerBasis> {
        let c_idx = self.code_idx(org, code);
        let (tenant, org, rid) = (self.tenant.to_string(), org.to_string(), request_id.to_string());
        let items: Vec<String> = items.iter().map(|i| i.to_string()).collect();
        let d = date.to_string();
        let found = self
            .read(move |tx| {
                if let Some(r) = tx.query_opt(PROVIDED_ANSWER, args![tenant, rid])? {
                    return Ok(Err(r.get::<String>(0)?));
                }
                let person = tx.query_opt(
                    "SELECT addressee_idx FROM persons WHERE tenant_id = ?1 AND org_id = ?2 AND code_idx = ?3",
                    args![tenant, org, c_idx],
                )?;
                let Some(person) = person else { return Ok(Ok(None)) };
                let a_idx: String = person.get(0)?;
                Ok(Ok(Some(copy_rows(tx, &tenant, &org, &a_idx, &items, &d)?)))
            })
            .await?;
        Ok(match found {
            Err(envelope) => AnswerBasis::Answered(envelope),
            Ok(None) => AnswerBasis::NotRegistered,
            Ok(Some(rows)) => AnswerBasis::Copies(self.open_copies(rows)?),
        })
    }

    fn open_copies(&self, rows: Vec<CopyRow>) -> Result<Vec<CopyVersion>> {
        rows.into_iter()
            .map(|(id, item, vf, enc)| {
                let plain = self.dk.decrypt("provision_copies.fields", &id, &enc)?;
                Ok(CopyVersion {
                    item: ItemCode::parse(&item).map_err(corrupt)?,
                    valid_from: vf.parse().map_err(corrupt)?,
                    fields: serde_json::from_slice(&plain)?,
                })
            })
            .collect()
    }

    /// Files a query into the outbox (state 送信待ち). Filing again with the same idempotency key
    /// returns the first query; with the same key but different content, a conflict. The
    /// person's code is read in the same transaction as the query is written.
    pub async fn file_query(&self, q: NewQuery) -> Result<Filing> {
        let id = new_id();
        let items_json = serde_json::to_string(&q.items)?;
        let fingerprint = {
            let basis = (q.provider.as_str(), q.duty.as_str(), &items_json, q.addressee.as_str(), q.reference_date.to_string());
            self.dk.blind_index("query-fingerprint", &serde_json::to_string(&basis)?)
        };
        let a_idx = self.addressee_idx(&q.org, &q.addressee);
        let state = QueryState::Created.move_to(QueryState::Queued).map_err(corrupt)?;
        let (tenant, dk) = (self.tenant.to_string(), self.dk.clone());
        // The request as the hub will see it, once the person's code is read.
        let request = {
            let q = q.clone();
            move |requester_code| QueryRequest {
                request_id: q.request_id,
                requester: q.org,
                provider: q.provider,
                duty: q.duty,
                items: q.items,
                requester_code,
                reference_date: q.reference_date,
                issued_at: now_unix(),
            }
        };
        let (org, key) = (q.org.to_string(), q.idempotency_key.clone());
        let (request_id, duty, provider, date) =
            (q.request_id.to_string(), q.duty.to_string(), q.provider.to_string(), q.reference_date.to_string());
        let deadline = q.deadline_at;
        /// What the transaction found.
        enum Filed {
            Existing(String),
            NoPerson,
            Created(String, i64),
        }
        let filed = self
            .tx(move |tx| {
                let existing = tx.query_opt(
                    "SELECT id, fingerprint FROM queries WHERE tenant_id = ?1 AND org_id = ?2 AND idempotency_key = ?3",
                    args![tenant, org, key],
                )?;
                if let Some(row) = existing {
                    if row.get::<String>(1)? != fingerprint {
                        return Err(StoreError::Conflict("the idempotency key was used for a different query".into()));
                    }
                    return Ok(Filed::Existing(row.get::<String>(0)?));
                }
                let Some(code) = read_person_column(tx, &dk, &tenant, &org, CODE_BY_ADDRESSEE, &a_idx)? else {
                    return Ok(Filed::NoPerson);
                };
                let code = OrgCode::parse(&code).map_err(corrupt)?;
                let request_enc = dk.encrypt("queries.request", &id, &serde_json::to_vec(&request(code))?)?;
                let now = now_millis();
                tx.execute(
                    "INSERT INTO queries (tenant_id, org_id, id, request_id, idempotency_key, fingerprint, duty, provider_org, items,
                        addressee_idx, request_enc, reference_date, state, attempts, next_attempt_at, deadline_at, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 0, ?14, ?15, ?14, ?14)",
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
                        deadline
                    ],
                )?;
                Ok(Filed::Created(id, now))
            })
            .await?;
        let (id, now) = match filed {
            Filed::NoPerson => return Ok(Filing::PersonNotRegistered),
            // Filed before with this key: the query as it is now.
            Filed::Existing(id) => return Ok(Filing::Existing(self.query(&q.org, &id).await?.ok_or(StoreError::NotFound("query"))?)),
            Filed::Created(id, now) => (id, now),
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
        }))
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

    /// `org`'s queries that `filter` lets through, newest first, `limit` after the query `after`
    /// (a page; ids are time-ordered, so the order is the filing order).
    pub async fn queries(&self, org: &OrgId, filter: &QueryFilter, after: Option<String>, limit: usize) -> Result<Vec<QueryView>> {
        let (tenant, org_s) = (self.tenant.to_string(), org.to_string());
        let (state, since, duty) =
            (filter.state.map(|s| s.code().to_owned()), filter.filed_since_ms, filter.duty.as_ref().map(DutyCode::to_string));
        let rows = self
            .read(move |tx| {
                tx.query(
                    &format!(
                        "{QUERY_VIEW} WHERE q.tenant_id = ?1 AND q.org_id = ?2 AND (CAST(?3 AS TEXT) IS NULL OR q.id < ?3)
                         AND (CAST(?4 AS TEXT) IS NULL OR q.state = ?4) AND (CAST(?5 AS BIGINT) IS NULL OR q.created_at >= ?5)
                         AND (CAST(?6 AS TEXT) IS NULL OR q.duty = ?6)
                         ORDER BY q.id DESC LIMIT ?7"
                    ),
                    args![tenant, org_s, after, state, since, duty, limit as i64],
                )
            })
            .await?;
        rows.iter().map(|row| self.query_view(org, row)).collect()
    }

    /// A row of [`QUERY_VIEW`], opened.
    fn query_view(&self, org: &OrgId, row: &Row) -> Result<QueryView> {
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
    async fn transition(&self, id: &str, to: QueryState, error: Option<String>, extra: Option<(Outcome, Vec<u8>)>) -> Result<bool> {
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

    /// Queries past their deadline that are not final.
    pub async fn overdue(&self) -> Result<Vec<String>> {
        let tenant = self.tenant.to_string();
        self.read(move |tx| {
            tx.query(
                "SELECT id FROM queries WHERE tenant_id = ?1 AND state IN ('queued', 'in_flight') AND deadline_at <= ?2 LIMIT 500",
                args![tenant, now_millis()],
            )?
            .iter()
            .map(|r| r.get(0))
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

    /// The answer this tenant already gave for `request_id`, if any (signed, sealed envelope JSON).
    pub async fn provided_answer(&self, request_id: &RequestId) -> Result<Option<String>> {
        let (tenant, rid) = (self.tenant.to_string(), request_id.to_string());
        self.read(move |tx| tx.query_opt(PROVIDED_ANSWER, args![tenant, rid])?.map(|r| r.get(0)).transpose()).await
    }

    /// Keeps the answer given for `request_id` and the provider's linkage record, once. If an
    /// answer was already stored (a concurrent retry), that one is returned and kept.
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
    ) -> Result<String> {
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
            insert_record(
                tx,
                NewRecord {
                    tenant: &tenant,
                    org: &org,
                    role: Role::Provider,
                    request_id: &rid,
                    counterpart: &requester,
                    duty: &duty,
                    items_json: &items_json,
                    outcome: outcome.code(),
                },
            )?;
            Ok(envelope)
        })
        .await
    }

    /// The linkage records of `org`, oldest first.
    /// `org`'s linkage records in the order they were written, `limit` after the record
    /// numbered `after` (a page; see `renkei_domain::page`).
    pub async fn records(&self, org: &OrgId, after: Option<i64>, limit: usize) -> Result<Vec<LinkageRecord>> {
        let (tenant, org) = (self.tenant.to_string(), org.to_string());
        self.read(move |tx| {
            tx.query(
                "SELECT seq, org_id, role, request_id, counterpart_org, duty, items, outcome, at FROM linkage_records
                 WHERE tenant_id = ?1 AND org_id = ?2 AND seq > ?3 ORDER BY seq LIMIT ?4",
                args![tenant, org, after.unwrap_or(0), limit as i64],
            )?
            .iter()
            .map(|r| {
                Ok(LinkageRecord {
                    seq: r.get(0)?,
                    org: r.get(1)?,
                    role: r.get(2)?,
                    request_id: r.get(3)?,
                    counterpart_org: r.get(4)?,
                    duty: r.get(5)?,
                    items: serde_json::from_str(&r.get::<String>(6)?)?,
                    outcome: r.get(7)?,
                    at: r.get(8)?,
                })
            })
            .collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use renkei_crypto::datakey::MasterKey;
    use serde_json::json;

    /// The tenant schema as the previous release left it (versions 1–2).
    static BEFORE_V3: Migrations = Migrations { sqlite: SQLITE.split_at(2).0, ..SQLITE_MIGRATIONS };

    fn copy_fields(tax: &str) -> Map<String, Value> {
        json!({"resident_tax": tax}).as_object().cloned().unwrap_or_default()
    }

    #[tokio::test]
    async fn copies_written_before_version_3_are_read_and_replaced_after_it_and_old_files_keep_their_page_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite");
        let (master, t) = (MasterKey::generate(), TenantId::parse("t").unwrap());
        let wrapped = master.wrap(&DataKey::generate("t")).unwrap();
        let org = OrgId::parse("org").unwrap();
        let (one, loaded) = (AddresseeNo::parse("A-1").unwrap(), AddresseeNo::parse("A-2").unwrap());
        let item = ItemCode::parse("TAX").unwrap();
        let (april, july) = (Date::from_ymd(2026, 4, 1).unwrap(), Date::from_ymd(2026, 7, 1).unwrap());

        // Made by an earlier release: 4 KiB pages, which stay.
        let made = rusqlite::Connection::open(&path).unwrap();
        made.execute_batch("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE made_before (x)").unwrap();
        drop(made);
        // Version 2: one copy written on its own (a random id), one by a bulk load (a natural-key id).
        let old = TenantStore::new(Db::open_sqlite(&path, &BEFORE_V3).unwrap(), t.clone(), master.unwrap("t", &wrapped).unwrap()).unwrap();
        old.upsert_copy(&org, &one, &item, april, &copy_fields("100")).await.unwrap();
        // As a bulk load of the previous release wrote it: the natural key as the row's id.
        let c = old.copy_preparer(&org).prepare(2, &loaded, &item, april, &copy_fields("200")).unwrap();
        old.tx(move |tx| {
            tx.execute(
                "INSERT INTO provision_copies (tenant_id, org_id, id, addressee_idx, item, valid_from, fields_enc, updated_at, import_id)
                 VALUES ('t', 'org', ?1, ?2, ?3, ?4, ?5, 0, 'load-1')",
                args![c.id, c.a_idx, c.item, c.valid_from, c.enc],
            )
        })
        .await
        .unwrap();
        drop(old);

        let store =
            TenantStore::new(Db::open_sqlite(&path, &SQLITE_MIGRATIONS).unwrap(), t, master.unwrap("t", &wrapped).unwrap()).unwrap();
        let tax = |v: &[CopyVersion]| v.iter().map(|c| c.fields["resident_tax"].clone()).collect::<Vec<_>>();
        assert_eq!(tax(&store.copies_valid_on(&org, &one, std::slice::from_ref(&item), july).await.unwrap()), [json!("100")]);
        assert_eq!(tax(&store.copies_valid_on(&org, &loaded, std::slice::from_ref(&item), july).await.unwrap()), [json!("200")]);
        // The migrated rows are keyed by the natural key: a write replaces the version in place
        // and a new valid-from date adds history.
        store.upsert_copy(&org, &one, &item, april, &copy_fields("110")).await.unwrap();
        store.upsert_copy(&org, &one, &item, july, &copy_fields("120")).await.unwrap();
        assert_eq!(tax(&store.copies_valid_on(&org, &one, std::slice::from_ref(&item), july).await.unwrap()), [json!("120")]);
        assert_eq!(tax(&store.copies_valid_on(&org, &one, std::slice::from_ref(&item), april).await.unwrap()), [json!("110")]);
        // A bulk load replaces a migrated row; the row keeps no id of its own and still opens.
        let c = store.copy_preparer(&org).prepare(2, &loaded, &item, april, &copy_fields("210")).unwrap();
        store.bulk(&org, move |b| Ok((b.copy(c).and_then(|_| b.flush(&mut |_| {}))?, Finish::Commit))).await.unwrap();
        assert_eq!(tax(&store.copies_valid_on(&org, &loaded, std::slice::from_ref(&item), july).await.unwrap()), [json!("210")]);
        let count = |sql: &'static str| store.db.tx(Scope::Tenant("t".into()), move |tx| tx.value::<i64>(sql, args![]));
        assert_eq!(count("SELECT COUNT(*) FROM provision_copies").await.unwrap(), 3);
        assert_eq!(count("SELECT COUNT(*) FROM provision_copies WHERE id IS NULL").await.unwrap(), 1);
        assert_eq!(count("PRAGMA page_size").await.unwrap(), 4096);
        // A file made now has the larger pages.
        let new = Db::open_sqlite(&dir.path().join("new.sqlite"), &SQLITE_MIGRATIONS).unwrap();
        let page = new.tx(Scope::Tenant("t".into()), |tx| tx.value::<i64>("PRAGMA page_size", args![])).await.unwrap();
        assert_eq!(page, crate::migrate::BULK_PAGE_SIZE);
    }

    /// Tenant files take bulk loads (large pages); the platform's and the hub's take small
    /// transactions only (small pages). Every store's connection syncs each commit
    /// (`synchronous = FULL`, 2), so an acknowledged write survives a power cut.
    #[tokio::test]
    async fn each_stores_new_file_has_the_page_size_of_its_writes_and_every_commit_is_synced() {
        let dir = tempfile::tempdir().unwrap();
        let location = crate::Location::Dir(dir.path().to_path_buf());
        let platform = crate::platform::PlatformStore::open(&location).await.unwrap();
        let tenant = platform.tenant_store(TenantId::parse("t").unwrap(), DataKey::generate("t")).await.unwrap();
        let hub = crate::hub::HubStore::open(&location).await.unwrap();
        let page_size = |path: std::path::PathBuf| {
            rusqlite::Connection::open(path).unwrap().query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0)).unwrap()
        };
        assert_eq!(page_size(crate::layout::platform_db(dir.path())), crate::migrate::SMALL_PAGE_SIZE);
        assert_eq!(page_size(crate::layout::hub_db(dir.path())), crate::migrate::SMALL_PAGE_SIZE);
        for db in [&platform.db, &tenant.db, &hub.db] {
            let synchronous = db.tx(Scope::Global, |tx| tx.value::<i64>("PRAGMA synchronous", args![])).await.unwrap();
            assert_eq!(synchronous, 2, "synchronous = FULL");
            let synchronous = db.read(Scope::Global, |tx| tx.value::<i64>("PRAGMA synchronous", args![])).await.unwrap();
            assert_eq!(synchronous, 2, "synchronous = FULL on reader connections too");
        }
        // A tenant's file is made on its first transaction.
        assert_eq!(page_size(crate::layout::tenant_db(dir.path(), &TenantId::parse("t").unwrap())), crate::migrate::BULK_PAGE_SIZE);
        drop((platform, tenant, hub));
    }
}
