//! Storage of renkei. Embedded default: SQLite, one file for the platform, one per tenant, one
//! for the hub (DESIGN §6). Each store is a struct whose async methods run one transaction each;
//! a PostgreSQL backend slots in behind the same methods.
//!
//! Invariants kept here, not in handlers:
//! - every personal-data value is encrypted with the tenant's data key before it is written,
//!   with associated data naming its table and row ([`tenant::TenantStore`]);
//! - every tenant table carries `tenant_id` and its keys lead with it;
//! - a query's state only moves along `QueryState::can_move_to`;
//! - each side keeps exactly one linkage record per (org, role, request id).

pub mod db;
pub mod hub;
pub mod migrate;
pub mod platform;
pub mod tenant;

pub use db::Db;

/// A storage failure. The messages never contain personal data.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database file {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("the database schema is version {found}, newer than this binary knows ({known}); upgrade renkei")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("stored data cannot be decrypted or decoded: {0}")]
    Corrupt(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("background task failed: {0}")]
    Task(String),
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
}
