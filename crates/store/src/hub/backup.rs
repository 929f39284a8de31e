//! What a backup of the hub's store needs of it: a consistent copy of its file, a content hash
//! of everything it holds (independent of pages and files, as a tenant's is on the platform),
//! and the record of backup runs, restore drills and the operator's actions on them.

use super::*;
use crate::backups::{BackupRun, Drill, drill_entry, insert_drill, insert_run, run_entry, select_drills, select_runs};
use crate::db::Value;
use crate::snapshot::CopiedFile;
use sha2::{Digest, Sha256};
use std::path::Path;

/// The hub's tables as its content hash reads them: each with its columns, the key columns
/// first (the order rows are read in), and how many of them make the key.
const CONTENT: &[(&str, &str, usize)] = &[
    ("orgs", "id, org_type, name, endpoint, verify_key, seal_key, registered_at, group_id", 1),
    ("codes", "org_id, person_key, code, created_at", 2),
    (
        "queries",
        "request_id, requester, provider, fingerprint, forwarded, state, answer, attempts, next_attempt_at, error, accepted_at, updated_at",
        1,
    ),
    ("records", "seq, request_id, person_key, requester, provider, duty, items, outcome, at, updated_at", 1),
    ("resident_tokens", "token_hash, person_key, expires_at", 1),
    ("record_purges", "through_seq, purged_at, count, first_at, last_at", 1),
];

/// Rows read at a time: the codes table alone may hold millions.
const PAGE: i64 = 10_000;

impl HubStore {
    /// The content hash (hex SHA-256) of the hub's data: every row of every table above, in key
    /// order, every value length-prefixed and tagged with its kind, read in one transaction.
    /// The records of backups and drills are left out: they are about the store, not in it.
    pub async fn content_hash(&self) -> Result<String> {
        self.content_hash_by(PAGE).await
    }

    async fn content_hash_by(&self, page: i64) -> Result<String> {
        self.read(move |tx| {
            let mut h = Sha256::new();
            let mut part = |tag: u8, bytes: &[u8]| {
                h.update([tag]);
                h.update((bytes.len() as u64).to_le_bytes());
                h.update(bytes);
            };
            for (table, columns, key) in CONTENT {
                part(b'T', table.as_bytes());
                let key_columns: Vec<&str> = columns.split(", ").take(*key).collect();
                let order = key_columns.join(", ");
                let mut after: Option<Vec<Value>> = None;
                loop {
                    let rows = match &after {
                        None => tx.query(&format!("SELECT {columns} FROM {table} ORDER BY {order} LIMIT ?1"), args![page])?,
                        Some(last) => {
                            let mut args = last.clone();
                            args.push(Value::Int(page));
                            let sql = format!(
                                "SELECT {columns} FROM {table} WHERE ({order}) > ({}) ORDER BY {order} LIMIT ?{}",
                                placeholders(1, *key),
                                key + 1
                            );
                            tx.query(&sql, &args)?
                        }
                    };
                    for row in &rows {
                        part(b'R', &(row.0.len() as u64).to_le_bytes());
                        for v in &row.0 {
                            match v {
                                Value::Null => part(b'N', &[]),
                                Value::Int(i) => part(b'I', &i.to_le_bytes()),
                                Value::Text(t) => part(b'S', t.as_bytes()),
                                Value::Blob(b) => part(b'B', b),
                            }
                        }
                    }
                    match rows.last() {
                        Some(last) if rows.len() as i64 == page => after = Some(last.0[..*key].to_vec()),
                        _ => break,
                    }
                }
            }
            Ok(hex::encode(h.finalize()))
        })
        .await
    }

    /// Copies the hub's file, as one transaction sees it, into `out` as `hub.sqlite`. On
    /// PostgreSQL the cluster is backed up with pgBackRest instead.
    pub async fn copy_data(&self, out: &Path) -> Result<CopiedFile> {
        let Some(dir) = self.dir.clone() else {
            return Err(StoreError::Conflict("the hub's store is on PostgreSQL, whose backups are pgBackRest's".into()));
        };
        let dest = layout::hub_db(out);
        let bytes = tokio::task::spawn_blocking(move || crate::snapshot::copy_file(&layout::hub_db(&dir), &dest))
            .await
            .map_err(|e| StoreError::Database(format!("the copy stopped: {e}")))??;
        Ok(CopiedFile { path: "hub.sqlite".into(), bytes })
    }

    /// Records a backup run, and who ran it (`backup.run` or `backup.failed`), in one
    /// transaction.
    pub async fn record_backup(&self, run: &BackupRun, actor: &str) -> Result<()> {
        let (r, actor) = (run.clone(), actor.to_owned());
        self.tx(move |tx| {
            insert_run(tx, &r)?;
            let (action, detail) = run_entry(&r);
            log(tx, &actor, action, &detail)
        })
        .await
    }

    /// Backup runs, newest first, at most `limit`.
    pub async fn backup_runs(&self, limit: i64) -> Result<Vec<BackupRun>> {
        self.read(move |tx| select_runs(tx, limit)).await
    }

    /// Records a restore drill, and who ran it (`backup.drill`), in one transaction.
    pub async fn record_drill(&self, drill: &Drill, actor: &str) -> Result<()> {
        let (d, actor) = (drill.clone(), actor.to_owned());
        self.tx(move |tx| {
            insert_drill(tx, &d)?;
            log(tx, &actor, "backup.drill", &drill_entry(&d))
        })
        .await
    }

    /// Restore drills, newest first, at most `limit`.
    pub async fn drills(&self, limit: i64) -> Result<Vec<Drill>> {
        self.read(move |tx| select_drills(tx, limit)).await
    }

    /// Notes an operator's action on the hub (e.g. `backup.forget`).
    pub async fn log_operator(&self, actor: &str, action: &str, detail: &str) -> Result<()> {
        let (actor, action, detail) = (actor.to_owned(), action.to_owned(), detail.to_owned());
        self.tx(move |tx| log(tx, &actor, &action, &detail)).await
    }

    /// The operator's actions, newest first, at most `limit`: (at, actor, action, detail).
    pub async fn operator_log(&self, limit: i64) -> Result<Vec<(i64, String, String, String)>> {
        let rows = self
            .read(move |tx| tx.query("SELECT at, actor, action, detail FROM operator_log ORDER BY at DESC LIMIT ?1", args![limit]))
            .await?;
        rows.iter().map(|r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).collect()
    }
}

fn log(tx: &mut dyn Tx, actor: &str, action: &str, detail: &str) -> Result<()> {
    tx.execute("INSERT INTO operator_log (at, actor, action, detail) VALUES (?1, ?2, ?3, ?4)", args![now_unix(), actor, action, detail])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use renkei_domain::{OrgId, OrgType};

    #[tokio::test]
    async fn the_hash_is_the_same_read_in_pages_of_any_size_and_changes_with_any_row() {
        let dir = tempfile::tempdir().expect("dir");
        let store = HubStore::open(&Location::Dir(dir.path().to_path_buf())).await.expect("store");
        let empty = store.content_hash().await.expect("hash");
        for id in ["city", "town"] {
            let entry = DirectoryEntry {
                id: OrgId::parse(id).expect("org"),
                org_type: OrgType::parse("MUNI").expect("type"),
                name: id.into(),
                endpoint: "https://127.0.0.1:1".into(),
                verify_key: "unused".into(),
                seal_key: "unused".into(),
                group: String::new(),
            };
            store.register_org(&entry).await.expect("org");
            let keys = (0..7).map(|i| format!("{i:064x}")).collect();
            store.codes_for(&entry.id, keys).await.expect("codes");
        }
        let whole = store.content_hash().await.expect("hash");
        assert_ne!(whole, empty);
        // 14 codes in pages of 1, 2 and 3: every page boundary, on a two-column key too.
        for page in [1, 2, 3] {
            assert_eq!(store.content_hash_by(page).await.expect("hash"), whole, "pages of {page}");
        }
        store.codes_for(&OrgId::parse("town").expect("org"), vec![format!("{:064x}", 99)]).await.expect("code");
        assert_ne!(store.content_hash().await.expect("hash"), whole);
    }
}
