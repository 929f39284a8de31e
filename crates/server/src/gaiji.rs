//! 外字 of a tenant: its mapping table loaded all or none, and a report of every 外字 its
//! provision copies hold, with how often, mapped or not (`renkei gaiji`).

use crate::Platform;
use renkei_domain::TenantId;
use renkei_domain::gaiji::{self, GaijiTable, TableError};
use renkei_store::StoreError;
use serde_json::Value;
use std::collections::BTreeMap;

/// Why a table or a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum GaijiError {
    #[error("tenant {0} is not hosted on this platform")]
    UnknownTenant(TenantId),
    #[error(transparent)]
    Table(#[from] TableError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Every 外字 the copies hold, and the table they were checked against.
#[derive(Debug, Clone, Default)]
pub struct GaijiReport {
    pub table: GaijiTable,
    pub copies: u64,
    /// Code point → occurrences, for those the table maps.
    pub mapped: BTreeMap<char, u64>,
    /// Code point → occurrences, for those it does not.
    pub unmapped: BTreeMap<char, u64>,
}

fn count_value(v: &Value, counts: &mut BTreeMap<char, u64>) {
    match v {
        Value::String(s) => gaiji::count(s, counts),
        Value::Array(a) => a.iter().for_each(|v| count_value(v, counts)),
        Value::Object(o) => o.values().for_each(|v| count_value(v, counts)),
        _ => {}
    }
}

impl Platform {
    async fn store_of(&self, tenant: &TenantId) -> Result<renkei_store::tenant::TenantStore, GaijiError> {
        self.tenant_store(tenant).await?.ok_or_else(|| GaijiError::UnknownTenant(tenant.clone()))
    }

    /// Replaces `tenant`'s mapping table with the CSV `bytes` (docs/gaiji.md), all or none;
    /// audited as `actor`. Returns how many 外字 it maps.
    pub async fn load_gaiji(&self, tenant: &TenantId, bytes: &[u8], actor: &str) -> Result<usize, GaijiError> {
        let table = gaiji::read_table(bytes)?;
        self.store_of(tenant).await?.set_gaiji(&table).await?;
        self.platform.audit(tenant, actor, "gaiji.load", &format!("mapped={}", table.len())).await?;
        Ok(table.len())
    }

    /// Every 外字 in `tenant`'s provision copies, mapped or not, with its count.
    pub async fn gaiji_report(&self, tenant: &TenantId) -> Result<GaijiReport, GaijiError> {
        let store = self.store_of(tenant).await?;
        let table = store.gaiji().await?;
        let mut counts = BTreeMap::new();
        let copies = store.scan_copies(|fields| fields.values().for_each(|v| count_value(v, &mut counts))).await?;
        let (mapped, unmapped) = counts.into_iter().partition(|(c, _)| table.contains_key(c));
        Ok(GaijiReport { table, copies, mapped, unmapped })
    }
}
