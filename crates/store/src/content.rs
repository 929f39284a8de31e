//! A tenant's content hash (内容ハッシュ): SHA-256 over every row of its export
//! (`domain::export`), every value opened with its data key. It names the data, not the files:
//! two stores holding the same rows give the same hash whatever their pages, files or backend,
//! and computing it proves the data can be opened with the keys at hand. A backup records it;
//! a restore drill recomputes it on what it restored.

use crate::Result;
use crate::platform::PlatformStore;
use crate::tenant::ExportedRows;
use renkei_crypto::datakey::MasterKey;
use renkei_domain::TenantId;
use sha2::{Digest, Sha256};

/// The audit key an export names where a checkpoint names none: fixed, so that the hash does
/// not depend on which platform's key signed them.
const NO_KEY: &str = "";

impl PlatformStore {
    /// The content hash (hex) of `tenant`'s data. Fails with `KeyDestroyed` once its key is
    /// destroyed.
    pub async fn content_hash(&self, master: &MasterKey, tenant: &TenantId) -> Result<String> {
        let dk = self.data_key(master, tenant).await?;
        let mut tables = self.export_tenant(tenant, NO_KEY).await?;
        let store = self.tenant_store(tenant.clone(), dk).await?;
        tables.extend(store.export().await?.tables);
        Ok(hash_tables(&tables))
    }
}

/// Each table's name and row count, then each row's cells, every part length-prefixed so no two
/// different tables hash alike.
fn hash_tables(tables: &[ExportedRows]) -> String {
    let mut h = Sha256::new();
    let mut part = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    for t in tables {
        part(t.table.file.as_bytes());
        part(&(t.rows.len() as u64).to_le_bytes());
        for row in &t.rows {
            part(&(row.len() as u64).to_le_bytes());
            for cell in row {
                part(cell.as_bytes());
            }
        }
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use renkei_domain::export;

    fn rows(cells: &[&[&str]]) -> Vec<Vec<String>> {
        cells.iter().map(|r| r.iter().map(|c| (*c).to_owned()).collect()).collect()
    }

    #[test]
    fn the_hash_tells_apart_cells_split_differently_and_rows_moved_between_tables() {
        let a = hash_tables(&[ExportedRows { table: &export::TENANT, rows: rows(&[&["ab", "c"]]) }]);
        let b = hash_tables(&[ExportedRows { table: &export::TENANT, rows: rows(&[&["a", "bc"]]) }]);
        let c = hash_tables(&[ExportedRows { table: &export::ORGS, rows: rows(&[&["ab", "c"]]) }]);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a, hash_tables(&[ExportedRows { table: &export::TENANT, rows: rows(&[&["ab", "c"]]) }]));
    }
}
