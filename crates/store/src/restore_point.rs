//! A restore point (リストアポイント) in a PostgreSQL platform's write-ahead log, and the data
//! exactly as recovery to it will find it: what a backup on PostgreSQL hashes each tenant's
//! data on, so that a drill restoring the cluster to the point can compare.
//!
//! A snapshot and a point in the log do not match by themselves: a transaction can be in the
//! log before the point yet not visible to a snapshot taken a moment earlier. So writes to the
//! platform's tables are held off for an instant: every table is locked `SHARE` (which waits
//! for the transactions writing to them to end, and makes new ones wait), the snapshot is
//! exported and the point created inside that lock, a second transaction takes the snapshot
//! over, and the lock is let go. The data is then read, read-only, in that snapshot for as long
//! as the [`PinnedPoint`] lives, while the service writes on.

use crate::db::{Db, Location};
use crate::platform::PlatformStore;
use crate::{Result, StoreError};

/// A restore point and the platform as of it.
pub struct PinnedPoint {
    /// The restore point's name, as `recovery_target_name` takes it.
    pub name: String,
    /// Where it is in the log.
    pub lsn: String,
    /// The platform read as of the point (its transactions only read).
    pub store: PlatformStore,
    /// Dropped: the transaction holding the snapshot ends.
    _held: crate::cluster::HeldSession,
}

/// How long the tables' lock is waited for before the backup gives up: a bulk load holding them
/// longer fails the backup rather than the service's writes waiting behind it.
const LOCK_TIMEOUT: &str = "20s";

impl PlatformStore {
    /// Creates the restore point `name` and pins the data as of it; PostgreSQL only.
    pub async fn pin_restore_point(&self, name: &str) -> Result<PinnedPoint> {
        let (Db::Postgres(pool), Location::Postgres { schema, .. }) = (&self.db, self.location()) else {
            return Err(StoreError::Conflict("a restore point is PostgreSQL's; a platform on SQLite is copied file by file".into()));
        };
        let (base, pool, schema, name) = (pool.clone(), pool.clone(), schema.clone(), name.to_owned());
        let point = name.clone();
        let ((snapshot, lsn), held) = crate::cluster::hold_session(move || {
            let mut locker = pool.owner_session()?;
            let mut holder = pool.owner_session()?;
            let mut lock = locker.transaction()?;
            lock.batch_execute(&format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))?;
            let tables: Option<String> = lock
                .query_one(
                    "SELECT string_agg(format('%I.%I', schemaname, tablename), ', ') FROM pg_tables WHERE schemaname = $1",
                    &[&schema],
                )?
                .get(0);
            let tables = tables.ok_or_else(|| StoreError::Conflict(format!("the schema {schema} has no tables")))?;
            lock.batch_execute(&format!("LOCK TABLE {tables} IN SHARE MODE")).map_err(|e| match StoreError::from(e) {
                StoreError::Database(m) if m.contains("55P03") => StoreError::Unavailable(format!(
                    "the platform's tables stayed locked by a writer for {LOCK_TIMEOUT}: a restore point needs a moment without one"
                )),
                other => other,
            })?;
            let snapshot: String = lock.query_one("SELECT pg_export_snapshot()", &[])?.get(0);
            let lsn: String = lock.query_one("SELECT pg_create_restore_point($1)::text", &[&point])?.get(0);
            holder.batch_execute(&format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '{}'",
                snapshot.replace('\'', "''")
            ))?;
            let held: String = holder.query_one("SELECT pg_export_snapshot()", &[])?.get(0);
            lock.commit()?;
            // The holder keeps the snapshot; the lock is let go with the locker's transaction.
            Ok((holder, (held, lsn)))
        })
        .await?;
        let store = PlatformStore {
            db: Db::Postgres(std::sync::Arc::new(base.pinned(snapshot))),
            keys: self.keys.clone(),
            location: self.location().clone(),
        };
        Ok(PinnedPoint { name, lsn, store, _held: held })
    }
}
