//! The key store (鍵の保管庫): each tenant's data key, wrapped by the master key, kept apart from
//! the tenant's data (SQLite: `keys.sqlite` beside `platform.sqlite`; PostgreSQL: the schema
//! `<platform schema>_keys`), so that it can be backed up apart and destroyed for good: without
//! it no copy of the tenant's data — live, restored or in a backup — can be read
//! (crypto-shredding). A destroyed key leaves its fingerprint, when and by whom.

use crate::db::{Location, Scope};
use crate::migrate::{Migration, Migrations, RowSecurity, Rows};
use crate::{Db, Result, StoreError, args, now_unix};
use renkei_domain::TenantId;

const SQLITE: &[Migration] = &[Migration { version: 1, sql: include_str!("../migrations/sqlite/keys/001_keys.sql") }];
const POSTGRES: &[Migration] = &[Migration { version: 1, sql: include_str!("../migrations/postgres/keys/001_keys.sql") }];
const ROW_SECURITY: &[RowSecurity] = &[
    RowSecurity { version: 1, table: "schema_migrations", rows: Rows::All },
    RowSecurity { version: 1, table: "tenant_keys", rows: Rows::TenantOrOperator("tenant_id") },
    RowSecurity { version: 1, table: "destroyed_keys", rows: Rows::TenantOrOperator("tenant_id") },
];

pub(crate) const MIGRATIONS: Migrations = Migrations {
    sqlite: SQLITE,
    postgres: POSTGRES,
    postgres_row_security: ROW_SECURITY,
    // What was destroyed is kept: the application may not change or remove it.
    postgres_grants: "REVOKE UPDATE, DELETE ON destroyed_keys FROM renkei_app;",
    sqlite_page_size: crate::migrate::SMALL_PAGE_SIZE,
};

/// What the key store holds for a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyEntry {
    /// The wrapped data key.
    Held(Vec<u8>),
    /// The key was destroyed: its fingerprint and when (Unix seconds).
    Destroyed {
        fingerprint: String,
        at: i64,
    },
    Absent,
}

/// The key store of a platform.
#[derive(Clone)]
pub struct KeyStore {
    pub(crate) db: Db,
    file: Option<std::path::PathBuf>,
}

/// Where the key store of the platform at `location` is.
fn keys_location(location: &Location) -> (Location, Option<std::path::PathBuf>) {
    match location {
        Location::Dir(d) => (location.clone(), Some(crate::layout::keys_db(d))),
        Location::Postgres { keys: Some(elsewhere), .. } => keys_location(elsewhere),
        Location::Postgres { url, schema, keys: None } => {
            (Location::Postgres { url: url.clone(), schema: format!("{schema}_keys"), keys: None }, None)
        }
    }
}

impl KeyStore {
    /// Opens the key store of the platform at `location`, bringing its schema up to date.
    pub async fn open(location: &Location) -> Result<Self> {
        let (loc, file) = keys_location(location);
        let db = Db::open(&loc, file.as_deref().unwrap_or(std::path::Path::new("")), crate::platform::APP_ROLE, &MIGRATIONS).await?;
        Ok(Self { db, file })
    }

    /// Keeps `tenant`'s wrapped key, replacing one kept before: callers put a key only for a
    /// tenant not hosted yet, whose earlier key (of a failed import) protects nothing.
    pub async fn put(&self, tenant: &TenantId, wrapped: &[u8], fingerprint: &str) -> Result<()> {
        let (t, w, f) = (tenant.to_string(), wrapped.to_vec(), fingerprint.to_owned());
        self.db
            .tx(Scope::Operator, move |tx| {
                tx.execute(
                    "INSERT INTO tenant_keys (tenant_id, wrapped_key, fingerprint, created_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (tenant_id) DO UPDATE SET wrapped_key = excluded.wrapped_key,
                        fingerprint = excluded.fingerprint, created_at = excluded.created_at",
                    args![t, w, f, now_unix()],
                )?;
                Ok(())
            })
            .await
    }

    /// What the store holds for `tenant`.
    pub async fn get(&self, tenant: &TenantId) -> Result<KeyEntry> {
        let t = tenant.to_string();
        self.db
            .read(Scope::Tenant(t.clone()), move |tx| {
                if let Some(r) = tx.query_opt("SELECT wrapped_key FROM tenant_keys WHERE tenant_id = ?1", args![t])? {
                    return Ok(KeyEntry::Held(r.get(0)?));
                }
                Ok(
                    match tx.query_opt(
                        "SELECT fingerprint, destroyed_at FROM destroyed_keys WHERE tenant_id = ?1 ORDER BY destroyed_at DESC LIMIT 1",
                        args![t],
                    )? {
                        Some(r) => KeyEntry::Destroyed { fingerprint: r.get(0)?, at: r.get(1)? },
                        None => KeyEntry::Absent,
                    },
                )
            })
            .await
    }

    /// Destroys `tenant`'s key, whose fingerprint is `fingerprint`: its bytes are overwritten,
    /// the row deleted (on SQLite with `secure_delete`, and the write-ahead log emptied after),
    /// and the destruction recorded. Whether a key was held.
    pub async fn destroy(&self, tenant: &TenantId, fingerprint: &str, actor: &str) -> Result<bool> {
        let (t, fingerprint, actor) = (tenant.to_string(), fingerprint.to_owned(), actor.to_owned());
        let destroyed = self
            .db
            .tx(Scope::Operator, move |tx| {
                let Some(r) = tx.query_opt("SELECT length(wrapped_key) FROM tenant_keys WHERE tenant_id = ?1", args![t])? else {
                    return Ok(false);
                };
                let len: i64 = r.get(0)?;
                if tx.backend() == crate::db::Backend::Sqlite {
                    tx.query("PRAGMA secure_delete = ON", args![])?;
                }
                tx.execute("UPDATE tenant_keys SET wrapped_key = ?2 WHERE tenant_id = ?1", args![t, vec![0u8; len.max(0) as usize]])?;
                tx.execute("DELETE FROM tenant_keys WHERE tenant_id = ?1", args![t])?;
                tx.execute(
                    "INSERT INTO destroyed_keys (tenant_id, fingerprint, destroyed_at, destroyed_by) VALUES (?1, ?2, ?3, ?4)",
                    args![t, fingerprint, now_unix(), actor],
                )?;
                Ok(true)
            })
            .await?;
        if let Some(file) = &self.file {
            // Frames of the log may still hold the key's page as it was: move the log into the
            // file (where secure_delete zeroed it) and empty it.
            let file = file.clone();
            tokio::task::spawn_blocking(move || -> Result<()> {
                let conn = crate::sqlite::connect(&file, 0)?;
                conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                    .map_err(|e| StoreError::Task(format!("emptying the key store's log: {e}")))
            })
            .await
            .map_err(|e| StoreError::Task(e.to_string()))??;
        }
        Ok(destroyed)
    }

    /// Copies the key store into the new SQLite file `dest`, as one transaction sees it: a
    /// key store on SQLite with `VACUUM INTO`, one on PostgreSQL row by row (its key backups are
    /// renkei's, apart from the cluster's). Its size.
    pub async fn copy_into(&self, dest: &std::path::Path) -> Result<u64> {
        if let Some(src) = self.file.clone() {
            let dest = dest.to_path_buf();
            return tokio::task::spawn_blocking(move || crate::snapshot::copy_file(&src, &dest))
                .await
                .map_err(|e| StoreError::Task(format!("the copy stopped: {e}")))?;
        }
        type Held = (String, Vec<u8>, String, i64);
        type Gone = (String, String, i64, String);
        let (held, gone): (Vec<Held>, Vec<Gone>) = self
            .db
            .read(Scope::Operator, |tx| {
                let held =
                    tx.query("SELECT tenant_id, wrapped_key, fingerprint, created_at FROM tenant_keys ORDER BY tenant_id", args![])?;
                let gone = tx.query(
                    "SELECT tenant_id, fingerprint, destroyed_at, destroyed_by FROM destroyed_keys ORDER BY tenant_id, fingerprint",
                    args![],
                )?;
                let held = held.iter().map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).collect::<Result<_>>()?;
                let gone = gone.iter().map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).collect::<Result<_>>()?;
                Ok((held, gone))
            })
            .await?;
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Open { path: parent.display().to_string(), reason: e.to_string() })?;
        }
        // Written into a file of its own, then copied whole: what is left at `dest` is one file.
        let building = dest.with_extension("building");
        let copy = Db::open_sqlite(&building, &MIGRATIONS)?;
        copy.tx(Scope::Operator, move |tx| {
            for (t, w, f, at) in held {
                tx.execute(
                    "INSERT INTO tenant_keys (tenant_id, wrapped_key, fingerprint, created_at) VALUES (?1, ?2, ?3, ?4)",
                    args![t, w, f, at],
                )?;
            }
            for (t, f, at, by) in gone {
                tx.execute(
                    "INSERT INTO destroyed_keys (tenant_id, fingerprint, destroyed_at, destroyed_by) VALUES (?1, ?2, ?3, ?4)",
                    args![t, f, at, by],
                )?;
            }
            Ok(())
        })
        .await?;
        drop(copy);
        let dest = dest.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let bytes = crate::snapshot::copy_file(&building, &dest);
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", building.display()));
            }
            bytes
        })
        .await
        .map_err(|e| StoreError::Task(format!("the copy stopped: {e}")))?
    }
}
