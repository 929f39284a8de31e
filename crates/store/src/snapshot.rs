//! Consistent copies of a platform's SQLite files, for a backup. Each file is copied with
//! `VACUUM INTO` on a connection of its own, which writes out one read transaction's view of
//! the file while the service goes on writing: never a copy of a live file, whose pages could
//! come from two moments. Files are copied one after another, so each is whole and, across
//! files, they are as a crash at each file's moment would have left them, which the stores
//! recover from (a tenant's file first, the platform's row that makes it exist after).
//!
//! The data (platform and tenants' files) is copied before the key store, so the key store's
//! copy holds the key of every tenant the data copy holds, unless it was destroyed meanwhile.

use crate::db::Location;
use crate::platform::PlatformStore;
use crate::{Result, StoreError, layout};
use rusqlite::OpenFlags;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A file copied, by its path relative to the directory copied into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopiedFile {
    pub path: String,
    pub bytes: u64,
}

/// How long a copy waits for a writer's lock before it fails.
const BUSY: Duration = Duration::from_secs(60);

/// Copies the SQLite file `src` into the new file `dest` as one transaction sees it; its size.
pub fn copy_file(src: &Path, dest: &Path) -> Result<u64> {
    let open = |e: &dyn std::fmt::Display| StoreError::Open { path: src.display().to_string(), reason: e.to_string() };
    let conn = rusqlite::Connection::open_with_flags(src, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| open(&e))?;
    conn.busy_timeout(BUSY).map_err(|e| open(&e))?;
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|e| open(&e))?;
    }
    let target = dest.to_str().ok_or_else(|| open(&"the copy's path is not UTF-8"))?;
    conn.execute("VACUUM INTO ?1", [target]).map_err(|e| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => StoreError::Full(dest.display().to_string()),
        _ => StoreError::Open { path: dest.display().to_string(), reason: e.to_string() },
    })?;
    std::fs::metadata(dest).map(|m| m.len()).map_err(|e| open(&e))
}

/// The data directory of a store on SQLite; PostgreSQL's are pgBackRest's to copy.
fn data_dir(platform: &PlatformStore) -> Result<&Path> {
    match platform.location() {
        Location::Dir(d) => Ok(d),
        Location::Postgres { .. } => Err(StoreError::Conflict("the store is on PostgreSQL, whose backups are pgBackRest's".into())),
    }
}

fn relative(dir: &Path, path: &Path) -> String {
    path.strip_prefix(dir).unwrap_or(path).display().to_string()
}

impl PlatformStore {
    /// Copies the platform's database, then every tenant's file, into `out` with the data
    /// directory's layout. A tenant deleted meanwhile has no file to copy and is left out.
    pub async fn copy_data(&self, out: &Path) -> Result<Vec<CopiedFile>> {
        let dir = data_dir(self)?.to_path_buf();
        let tenants = self.tenants().await?;
        let out = out.to_path_buf();
        tokio::task::spawn_blocking(move || {
            let mut files = Vec::new();
            let platform = layout::platform_db(&dir);
            let bytes = copy_file(&platform, &layout::platform_db(&out))?;
            files.push(CopiedFile { path: relative(&dir, &platform), bytes });
            for t in tenants {
                let src = layout::tenant_db(&dir, &t.id);
                if !src.exists() {
                    continue;
                }
                let bytes = copy_file(&src, &layout::tenant_db(&out, &t.id))?;
                files.push(CopiedFile { path: relative(&dir, &src), bytes });
            }
            Ok(files)
        })
        .await
        .map_err(|e| StoreError::Database(format!("the copy stopped: {e}")))?
    }

    /// Copies the key store, wherever it is, into `out` as `keys.sqlite`.
    pub async fn copy_keys(&self, out: &Path) -> Result<CopiedFile> {
        let dest: PathBuf = layout::keys_db(out);
        Ok(CopiedFile { path: "keys.sqlite".into(), bytes: self.keys.copy_into(&dest).await? })
    }
}
