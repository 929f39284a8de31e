//! Storage of renkei. Embedded default: SQLite, one file for the platform, one per tenant, one
//! for the hub (DESIGN §6). Scale-out: PostgreSQL, one schema for the platform (all tenants,
//! isolated by row-level security) and one for the hub. Each store is a struct whose async
//! methods run one transaction each, written once for both backends ([`db`]).
//!
//! Invariants kept here, not in handlers:
//! - every personal-data value is encrypted with the tenant's data key before it is written,
//!   with associated data naming its table and row ([`tenant::TenantStore`]);
//! - every tenant table carries `tenant_id` and its keys lead with it;
//! - a query's state only moves along `QueryState::can_move_to`;
//! - each side keeps exactly one linkage record per (org, role, request id).

pub mod accounts;
pub mod audit;
pub mod backups;
pub mod cluster;
pub mod consortia;
pub mod content;
pub mod db;
pub mod deletion;
pub mod export;
pub mod hub;
pub mod keys;
pub mod metrics;
pub mod migrate;
pub mod monitor;
pub mod notices;
mod pg;
mod pg_tls;
pub mod platform;
pub mod restore_point;
pub mod rollup;
pub mod session_limits;
pub mod snapshot;
pub mod sqlite;
pub mod tenant;
pub mod testing;

pub use db::{Backend, Db, Finish, Location, Scope};

/// A storage failure. The messages never contain personal data.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(String),
    /// The database cannot be reached right now; the operation did not happen and may be retried.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A unique constraint refused the row (named by the constraint, never by its values).
    #[error("duplicate row ({0})")]
    Duplicate(String),
    #[error("database {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("the database schema is version {found}, newer than this binary knows ({known}); upgrade renkei")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("stored data cannot be decrypted or decoded: {0}")]
    Corrupt(String),
    /// The disk under the database is full. The transaction was rolled back; the operator must
    /// make room (the message says where) before it can succeed.
    #[error("the disk is full: {0}")]
    Full(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The tenant's data key was destroyed (its data deleted): whatever is left of its data, in
    /// a restored backup say, cannot be read.
    #[error("the data key of tenant {tenant} was destroyed (fingerprint {fingerprint}, at {at}): its data cannot be read")]
    KeyDestroyed { tenant: String, fingerprint: String, at: String },
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("background task failed: {0}")]
    Task(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            rusqlite::Error::SqliteFailure(f, _)
                if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                StoreError::Duplicate("unique".into())
            }
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull => StoreError::Full(
                "no room for the data directory's files or for SQLite's temporary files (in SQLITE_TMPDIR, else /var/tmp or /tmp)".into(),
            ),
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::DatabaseBusy || f.code == rusqlite::ErrorCode::DatabaseLocked =>
            {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Database(e.to_string()),
        }
    }
}

impl From<renkei_crypto::CryptoError> for StoreError {
    fn from(e: renkei_crypto::CryptoError) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Seconds since the Unix epoch.
pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Milliseconds since the Unix epoch (for ordering within one second).
pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Where each database lives under a data directory.
pub mod layout {
    use renkei_domain::TenantId;
    use std::path::{Path, PathBuf};

    pub fn platform_db(dir: &Path) -> PathBuf {
        dir.join("platform.sqlite")
    }
    pub fn tenant_db(dir: &Path, tenant: &TenantId) -> PathBuf {
        dir.join("tenants").join(format!("{tenant}.sqlite"))
    }
    pub fn hub_db(dir: &Path) -> PathBuf {
        dir.join("hub.sqlite")
    }
    /// The key store, apart from the data: backed up apart, destroyed for good.
    pub fn keys_db(dir: &Path) -> PathBuf {
        dir.join("keys.sqlite")
    }
}
