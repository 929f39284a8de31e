//! A tenant's 外字 mapping table, and a walk over every provision copy to find the 外字 in use.

use super::*;
use renkei_domain::gaiji::{GaijiTable, Mapping};

/// Copies opened per read of [`TenantStore::scan_copies`].
const SCAN_PAGE: i64 = 1000;

/// The mapping table of rows `(code_point, mj_name, fallback)`.
pub(super) fn gaiji_table(rows: &[Row]) -> Result<GaijiTable> {
    rows.iter()
        .map(|r| {
            let c = u32::try_from(r.get::<i64>(0)?).ok().and_then(char::from_u32).ok_or_else(|| corrupt("a 外字 code point"))?;
            let fallback = r.get::<String>(2)?.chars().next().ok_or_else(|| corrupt("a 外字 fallback"))?;
            Ok((c, Mapping { mj_name: r.get(1)?, fallback }))
        })
        .collect()
}

impl TenantStore {
    /// Replaces the tenant's mapping table with `table`, in one transaction.
    pub async fn set_gaiji(&self, table: &GaijiTable) -> Result<()> {
        let tenant = self.tenant.to_string();
        let rows: Vec<(i64, String, String)> = table.iter().map(|(c, m)| (*c as i64, m.mj_name.clone(), m.fallback.to_string())).collect();
        self.tx(move |tx| {
            tx.execute("DELETE FROM gaiji WHERE tenant_id = ?1", args![tenant])?;
            for (c, mj, fb) in &rows {
                tx.execute(
                    "INSERT INTO gaiji (tenant_id, code_point, mj_name, fallback) VALUES (?1, ?2, ?3, ?4)",
                    args![tenant, c, mj, fb],
                )?;
            }
            Ok(())
        })
        .await
    }

    /// The tenant's mapping table (empty if it has none).
    pub async fn gaiji(&self) -> Result<GaijiTable> {
        let tenant = self.tenant.to_string();
        let rows =
            self.read(move |tx| tx.query("SELECT code_point, mj_name, fallback FROM gaiji WHERE tenant_id = ?1", args![tenant])).await?;
        gaiji_table(&rows)
    }

    /// Opens every provision copy of the tenant, a page at a time, and hands each one's fields
    /// to `each`; returns how many it opened.
    pub async fn scan_copies(&self, mut each: impl FnMut(&Map<String, Value>)) -> Result<u64> {
        let tenant = self.tenant.to_string();
        let mut after: Option<(String, String, String, String)> = None;
        let mut n = 0u64;
        loop {
            let (t, a) = (tenant.clone(), after.clone());
            let rows = self
                .read(move |tx| match &a {
                    None => tx.query(
                        "SELECT org_id, addressee_idx, item, valid_from, id, fields_enc FROM provision_copies WHERE tenant_id = ?1
                         ORDER BY org_id, addressee_idx, item, valid_from LIMIT ?2",
                        args![t, SCAN_PAGE],
                    ),
                    Some((o, ai, i, v)) => tx.query(
                        "SELECT org_id, addressee_idx, item, valid_from, id, fields_enc FROM provision_copies WHERE tenant_id = ?1
                         AND (org_id, addressee_idx, item, valid_from) > (?2, ?3, ?4, ?5)
                         ORDER BY org_id, addressee_idx, item, valid_from LIMIT ?6",
                        args![t, o, ai, i, v, SCAN_PAGE],
                    ),
                })
                .await?;
            if rows.is_empty() {
                return Ok(n);
            }
            for r in rows.iter() {
                let key: (String, String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
                let id = r.get::<Option<String>>(4)?.unwrap_or_else(|| copies::copy_id(&key.1, &key.2, &key.3));
                let plain = self.dk.decrypt("provision_copies.fields", &id, &r.get::<Vec<u8>>(5)?)?;
                let fields: Map<String, Value> = serde_json::from_slice(&plain)?;
                each(&fields);
                n += 1;
                after = Some(key);
            }
        }
    }
}
