//! One database handle over two backends, so every store method is written once.
//!
//! - **SQLite** (the embedded default): one connection per file, owned by a thread that runs
//!   waiting transactions together under one commit ([`crate::sqlite`]). Tenants have a file
//!   each, so they never wait on each other.
//! - **PostgreSQL** (scale-out): a small pool of connections shared by all tenants. Each
//!   transaction first declares its [`Scope`] with `set_config(…, true)` (transaction-local), and
//!   row-level security policies compare it with each row's `tenant_id`: a statement that forgot
//!   its tenant sees nothing. Pooled connections switch to the application role, which neither
//!   owns the tables nor bypasses RLS; only migrations run as the connecting (owner) role.
//!
//! SQL is written once with `?N` placeholders (rewritten to `$N` for PostgreSQL) and in the
//! dialect both accept. Where they differ the store asks [`Tx::backend`].

use crate::migrate::Migrations;
use crate::sqlite::SqliteFile;
use crate::{Result, StoreError};
use renkei_domain::QueryState;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Deletes everything a store keeps at `loc` when it is a PostgreSQL schema (`DROP SCHEMA …
/// CASCADE`); SQLite files are left to their directory. For the demo and tests only.
pub async fn reset(loc: &Location) -> Result<()> {
    if let Location::Postgres { url, schema, .. } = loc {
        let pool = crate::pg::Pool::new(url, schema, "")?;
        let sql = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
        tokio::task::spawn_blocking(move || pool.admin(&sql)).await.map_err(|e| StoreError::Task(e.to_string()))??;
    }
    Ok(())
}

/// Where a store keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// SQLite files under this data directory.
    Dir(PathBuf),
    /// A PostgreSQL database and the schema inside it; `keys`, where the platform's key store
    /// is when it is not the schema `<schema>_keys` beside it (see [`Location::with_key_store`]).
    Postgres { url: String, schema: String, keys: Option<Box<Location>> },
}

impl Location {
    /// `database` is a `postgres://` URL or absent (SQLite under `data_dir`). `schema` names the
    /// PostgreSQL schema; it comes from code or an operator flag and must be a plain identifier.
    pub fn new(database: Option<&str>, data_dir: &Path, schema: &str) -> Result<Self> {
        match database {
            None | Some("") => Ok(Location::Dir(data_dir.to_path_buf())),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                if !is_identifier(schema) {
                    return Err(StoreError::Open {
                        path: schema.into(),
                        reason: "a schema name is lower-case letters, digits and _".into(),
                    });
                }
                Ok(Location::Postgres { url: url.to_owned(), schema: schema.to_owned(), keys: None })
            }
            Some(other) => Err(StoreError::Open {
                path: redact(other),
                reason: "the database must be a postgres:// URL (leave it out for the embedded SQLite store)".into(),
            }),
        }
    }

    /// A platform on PostgreSQL with its key store elsewhere: in another database (a
    /// `postgres://` URL, the schema `<schema>_keys` there) or a directory (`keys.sqlite` in it).
    /// A cluster backed up with pgBackRest needs this: a key store inside it would be in every
    /// data backup, and destroying a key could not make those backups unreadable. `None` keeps
    /// the key store beside the data. A platform on SQLite keeps its key store in its directory.
    pub fn with_key_store(self, place: Option<&str>) -> Result<Self> {
        let (Location::Postgres { url, schema, .. }, Some(place)) = (&self, place.filter(|p| !p.is_empty())) else {
            return match place.filter(|p| !p.is_empty()) {
                Some(_) => Err(StoreError::Open {
                    path: "the key store".into(),
                    reason: "a platform on SQLite keeps its key store in its data directory (keys.sqlite)".into(),
                }),
                None => Ok(self),
            };
        };
        let keys = match place {
            p if p.contains("://") => Location::new(Some(p), Path::new(""), schema)?,
            dir => Location::Dir(PathBuf::from(dir)),
        };
        Ok(Location::Postgres { url: url.clone(), schema: schema.clone(), keys: Some(Box::new(keys)) })
    }
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 48
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A URL without its password, for messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.chars().take(60).collect() };
    let (auth, host) = rest.rsplit_once('@').map_or((None, rest), |(a, h)| (Some(a), h));
    match auth {
        Some(a) => {
            let user = a.split(':').next().unwrap_or("");
            format!("{scheme}://{user}@{host}")
        }
        None => format!("{scheme}://{host}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Which rows a PostgreSQL transaction may see under row-level security.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// No setting: tables without RLS only (the hub). Tenant tables show nothing.
    Global,
    /// One tenant's rows (`renkei.tenant_id`).
    Tenant(String),
    /// The operator's own work on the platform tables (creating tenants, loading at start).
    Operator,
    /// Exactly the API key whose hash is given (`renkei.key_hash`), to authenticate a caller
    /// before its tenant is known.
    ApiKey(String),
    /// Exactly the account named or the session whose token hash is given
    /// (`renkei.presented`), to sign a person in or find their session before their tenant is
    /// known.
    Presented(String),
}

/// A value bound to, or read from, a statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

/// Turns a Rust value into a statement argument (see [`args!`](crate::args)).
pub trait ToValue {
    fn to_value(&self) -> Value;
}

impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_owned())
    }
}
impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}
impl ToValue for i64 {
    fn to_value(&self) -> Value {
        Value::Int(*self)
    }
}
impl ToValue for [u8] {
    fn to_value(&self) -> Value {
        Value::Blob(self.to_vec())
    }
}
impl ToValue for Vec<u8> {
    fn to_value(&self) -> Value {
        Value::Blob(self.clone())
    }
}
impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}
impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}

/// Statement arguments: `args![tenant, id, 42i64]`.
#[macro_export]
macro_rules! args {
    ($($x:expr),* $(,)?) => {
        &[$($crate::db::ToValue::to_value(&$x)),*] as &[$crate::db::Value]
    };
}

/// Reads a [`Value`] back into a Rust type.
pub trait FromValue: Sized {
    fn from_value(v: Value) -> Result<Self>;
}

impl Value {
    /// What kind of value this is, for messages (never the value itself).
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Int(_) => "an integer",
            Value::Text(_) => "text",
            Value::Blob(_) => "bytes",
        }
    }
}

fn mismatch(want: &str, got: &Value) -> StoreError {
    StoreError::Corrupt(format!("expected {want}, found {}", got.kind()))
}

impl FromValue for i64 {
    fn from_value(v: Value) -> Result<Self> {
        match v {
            Value::Int(i) => Ok(i),
            other => Err(mismatch("an integer", &other)),
        }
    }
}
impl FromValue for bool {
    fn from_value(v: Value) -> Result<Self> {
        match v {
            Value::Int(i) => Ok(i != 0),
            other => Err(mismatch("a boolean", &other)),
        }
    }
}
impl FromValue for String {
    fn from_value(v: Value) -> Result<Self> {
        match v {
            Value::Text(s) => Ok(s),
            other => Err(mismatch("text", &other)),
        }
    }
}
impl FromValue for Vec<u8> {
    fn from_value(v: Value) -> Result<Self> {
        match v {
            Value::Blob(b) => Ok(b),
            other => Err(mismatch("bytes", &other)),
        }
    }
}
impl<T: FromValue> FromValue for Option<T> {
    fn from_value(v: Value) -> Result<Self> {
        match v {
            Value::Null => Ok(None),
            v => T::from_value(v).map(Some),
        }
    }
}

/// One result row.
#[derive(Debug, Clone)]
pub struct Row(pub(crate) Vec<Value>);

impl Row {
    /// Column `i` as `T`.
    pub fn get<T: FromValue>(&self, i: usize) -> Result<T> {
        let v = self.0.get(i).cloned().ok_or_else(|| StoreError::Corrupt(format!("no column {i}")))?;
        T::from_value(v)
    }
}

/// The statements a store runs inside one transaction.
pub trait Tx {
    fn backend(&self) -> Backend;
    /// Runs a statement; the number of rows it changed.
    fn execute(&mut self, sql: &str, args: &[Value]) -> Result<u64>;
    /// Runs a query; all its rows.
    fn query(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Row>>;

    /// The first row, if any.
    fn query_opt(&mut self, sql: &str, args: &[Value]) -> Result<Option<Row>> {
        Ok(self.query(sql, args)?.into_iter().next())
    }
}

impl dyn Tx + '_ {
    /// The first column of the only row (aggregates, `EXISTS`).
    pub fn value<T: FromValue>(&mut self, sql: &str, args: &[Value]) -> Result<T> {
        self.query_opt(sql, args)?.ok_or_else(|| StoreError::Corrupt("a scalar query returned no row".into()))?.get(0)
    }
}

/// For a transaction that writes many rows and then looks them up by key (bulk loads, code
/// batches): on PostgreSQL the table's statistics still describe it as it was before (often
/// empty), and a plan made from them scans the whole table for each look-up. Prefer the indexes.
/// (Sessions already plan each execution afresh: `plan_cache_mode` in `pg::Pool::session`.)
pub fn plan_for_growing_tables(tx: &mut dyn Tx) -> crate::Result<()> {
    if tx.backend() == Backend::Postgres {
        tx.execute("SELECT set_config('enable_seqscan', 'off', true)", &[])?;
    }
    Ok(())
}

/// Rows per multi-row statement. PostgreSQL pays a round trip per statement, so a few hundred
/// rows go in one; SQLite runs in-process, and there single-row statements measured faster
/// (docs/benchmarks.md).
pub fn rows_per_statement(tx: &dyn Tx) -> usize {
    match tx.backend() {
        Backend::Postgres => 500,
        Backend::Sqlite => 1,
    }
}

/// Placeholders `?first, ?first+1, …` for `n` values (an `IN (…)` list).
pub fn placeholders(first: usize, n: usize) -> String {
    (first..first + n).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ")
}

/// `(?first, …), (…), …`: placeholders for `rows` rows of `cols` values (a multi-row `VALUES`).
pub fn value_rows(first: usize, rows: usize, cols: usize) -> String {
    (0..rows).map(|r| format!("({})", placeholders(first + r * cols, cols))).collect::<Vec<_>>().join(", ")
}

/// How a transaction ends when its closure succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    Commit,
    Rollback,
}

/// A database handle: cheap to clone, shared by the stores that use the same database.
#[derive(Clone)]
pub enum Db {
    Sqlite(SqliteFile),
    Postgres(Arc<crate::pg::Pool>),
}

impl Db {
    /// Opens (creating if needed) the SQLite file at `path` and brings its schema up to date.
    pub fn open_sqlite(path: &Path, migrations: &Migrations) -> Result<Self> {
        Ok(Db::Sqlite(SqliteFile::open(path, migrations.sqlite_page_size, migrations.sqlite)?))
    }

    /// A handle on the SQLite file at `path` that opens (creating and migrating it if needed) on
    /// its first transaction: what a platform of many tenant files uses.
    pub fn lazy_sqlite(path: &Path, migrations: &Migrations) -> Self {
        Db::Sqlite(SqliteFile::lazy(path, migrations.sqlite_page_size, migrations.sqlite))
    }

    /// Connects to PostgreSQL, migrates `schema` as the connecting role, and returns a pool whose
    /// connections act as `app_role`.
    pub async fn open_postgres(url: &str, schema: &str, app_role: &str, migrations: &'static Migrations) -> Result<Self> {
        let pool = crate::pg::Pool::new(url, schema, app_role)?;
        let pool = Arc::new(pool);
        let (p, m) = (pool.clone(), migrations);
        tokio::task::spawn_blocking(move || p.migrate(m)).await.map_err(|e| StoreError::Task(e.to_string()))??;
        Ok(Db::Postgres(pool))
    }

    /// Opens the store at `loc`: `file` under a data directory, or `schema` in PostgreSQL.
    pub async fn open(loc: &Location, file: &Path, app_role: &str, migrations: &'static Migrations) -> Result<Self> {
        match loc {
            Location::Dir(_) => Self::open_sqlite(file, migrations),
            Location::Postgres { url, schema, .. } => Self::open_postgres(url, schema, app_role, migrations).await,
        }
    }

    /// Runs `f` in one transaction; commits if it returns `Ok`. On SQLite it may share a
    /// commit with other transactions of the same file, each kept or undone on its own.
    /// `scope` says which rows PostgreSQL's row-level security lets the transaction see.
    pub async fn tx<T, F>(&self, scope: Scope, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T> + Send + 'static,
    {
        let started = std::time::Instant::now();
        let f = move |tx: &mut dyn Tx| {
            crate::metrics::take_moves();
            f(tx).map(|v| ((v, crate::metrics::take_moves()), Finish::Commit))
        };
        let done = match self {
            Db::Sqlite(file) => file.tx(false, f).await,
            Db::Postgres(pool) => pool.tx(scope, f).await,
        };
        self.counted("write", started, done)
    }

    /// Which backend this is.
    fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Times a transaction, and counts the query moves it committed (`crate::metrics`).
    fn counted<T>(&self, kind: &'static str, started: std::time::Instant, done: Result<(T, Vec<QueryState>)>) -> Result<T> {
        crate::metrics::transaction(self.backend(), kind, started.elapsed().as_secs_f64());
        done.map(|(v, moves)| {
            crate::metrics::committed(moves);
            v
        })
    }

    /// Whether the database exists yet: a lazy SQLite file is made on its first transaction.
    pub fn exists(&self) -> bool {
        match self {
            Db::Sqlite(file) => file.exists(),
            Db::Postgres(_) => true,
        }
    }

    /// Runs `f` in a transaction that only reads; whatever it writes is not kept. On SQLite it
    /// never waits for a bulk load (see `SqliteFile::read`).
    pub async fn read<T, F>(&self, scope: Scope, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T> + Send + 'static,
    {
        let started = std::time::Instant::now();
        let done = match self {
            Db::Sqlite(file) => file.read(f).await,
            Db::Postgres(pool) => pool.tx(scope, move |tx: &mut dyn Tx| f(tx).map(|v| (v, Finish::Commit))).await,
        };
        self.counted("read", started, done.map(|v| (v, Vec::new())))
    }

    /// Like [`Db::tx`], but `f` decides whether its work is kept: a bulk load that found bad lines
    /// returns its report together with [`Finish::Rollback`]. Meant for long transactions: on
    /// SQLite it runs in a transaction of its own, so others' commits do not wait for it.
    pub async fn tx_then<T, F>(&self, scope: Scope, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<(T, Finish)> + Send + 'static,
    {
        let started = std::time::Instant::now();
        let f = move |tx: &mut dyn Tx| {
            crate::metrics::take_moves();
            f(tx).map(|(v, finish)| {
                let moves = crate::metrics::take_moves();
                ((v, if finish == Finish::Commit { moves } else { Vec::new() }), finish)
            })
        };
        let done = match self {
            Db::Sqlite(file) => file.tx(true, f).await,
            Db::Postgres(pool) => pool.tx(scope, f).await,
        };
        self.counted("write", started, done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_rewritten_outside_literals_only() {
        assert_eq!(
            crate::pg::to_pg_placeholders("SELECT '?1', x FROM t WHERE a = ?1 AND b = ?12"),
            "SELECT '?1', x FROM t WHERE a = $1 AND b = $12"
        );
    }

    #[test]
    fn placeholder_lists_number_their_values() {
        assert_eq!(placeholders(2, 3), "?2, ?3, ?4");
        assert_eq!(value_rows(1, 2, 2), "(?1, ?2), (?3, ?4)");
    }

    #[test]
    fn redaction_drops_the_password() {
        assert_eq!(redact("postgres://app:s3cret@db.example:5432/renkei"), "postgres://app@db.example:5432/renkei");
        assert_eq!(redact("postgres://127.0.0.1/test"), "postgres://127.0.0.1/test");
    }

    #[test]
    fn a_location_is_sqlite_unless_a_postgres_url_is_given() {
        let dir = Path::new("/data");
        assert_eq!(Location::new(None, dir, "renkei").unwrap(), Location::Dir(dir.into()));
        assert!(matches!(Location::new(Some("postgres://h/db"), dir, "renkei").unwrap(), Location::Postgres { .. }));
        assert!(Location::new(Some("mysql://h/db"), dir, "renkei").is_err());
        assert!(Location::new(Some("postgres://h/db"), dir, "Bad;Schema").is_err());
    }
}
