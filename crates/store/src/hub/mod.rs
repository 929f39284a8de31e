//! The hub's database: the organization directory, codes (機関別符号) keyed by a keyed hash of
//! the Individual Number, routed queries with their forwarding/relay queue, the hub's linkage
//! records, and resident tokens for disclosure. No Individual Number and no answer plaintext
//! is ever stored here.
//!
//! One room per job: [`schema`] (migrations), [`directory`], [`codes`], [`routing`] (admission
//! and the forward/relay queue), [`records`], [`residents`] (disclosure tokens), [`backup`] (its
//! copy, content hash and backup records).

mod backup;
mod codes;
mod directory;
mod records;
mod residents;
mod routing;
mod schema;

pub use directory::DirectoryEntry;
pub use records::HubRecord;
pub use routing::{Admission, HubQuery, RouteOutcome, RouteState};
use schema::MIGRATIONS;

// What the rooms share, for each to `use super::*`.
use codes::codes_in;

use crate::db::{Backend, Location, Row, Scope, ToValue, Tx, placeholders, value_rows};
use crate::migrate::{Migration, Migrations};
use crate::{Db, Result, StoreError, args, layout, now_millis, now_unix};
use renkei_crypto::hubkey::mint_code;
use renkei_domain::{OrgCode, OrgId, OrgType, RequestId};
use serde::{Deserialize, Serialize};

/// The role hub requests run as on PostgreSQL (owns nothing).
pub const APP_ROLE: &str = "renkei_hub_app";

/// How long a claimed forward or relay is left to its worker before it may be retried (ms), unless
/// the operator sets another lease.
pub const WORK_LEASE_MS: i64 = 30_000;

/// SQLite page cache of the hub's file (KiB).
const HUB_CACHE_KIB: u32 = 65_536;

#[derive(Clone)]
pub struct HubStore {
    pub(crate) db: Db,
    /// The data directory holding `hub.sqlite`; `None` on PostgreSQL.
    dir: Option<std::path::PathBuf>,
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl HubStore {
    /// Opens the hub's database at `location` (`hub.sqlite` in a data directory, or a schema).
    pub async fn open(location: &Location) -> Result<Self> {
        let (file, dir) = match location {
            Location::Dir(d) => (layout::hub_db(d), Some(d.clone())),
            Location::Postgres { .. } => (Default::default(), None),
        };
        let db = Db::open(location, &file, APP_ROLE, &MIGRATIONS).await?;
        if matches!(location, Location::Dir(_)) {
            // The hub is one file for every org's codes, written at random (keyed-hash) places:
            // with SQLite's default 2 MB cache, minting a million codes read and wrote a page
            // per code. The cache is only taken as pages are used.
            db.tx(Scope::Global, |tx| {
                tx.execute(&format!("PRAGMA cache_size = -{HUB_CACHE_KIB}"), crate::args![])?;
                Ok(())
            })
            .await?;
        }
        Ok(Self { db, dir })
    }

    async fn tx<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T> + Send + 'static,
    {
        // The hub is one organization's system: no tenants, no row-level scope.
        self.db.tx(Scope::Global, f).await
    }

    /// Like [`HubStore::tx`], for transactions that only read (beside the writer on SQLite).
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T> + Send + 'static,
    {
        self.db.read(Scope::Global, f).await
    }
}
