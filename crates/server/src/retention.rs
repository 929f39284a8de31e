//! 保存期間: linkage records older than their tenant's retention (default 7 years) are purged,
//! each purge noted in the tenant's store (`record_purges`: count, span, last number) and in its
//! audit log. Record numbers go on after a purge. The audit log itself is never purged, so its
//! chain and checkpoints stand.

use crate::Platform;
use renkei_domain::TenantId;
use renkei_store::StoreError;
use renkei_store::tenant::Purged;
use std::collections::HashMap;
use std::time::Duration;

/// The retention when a tenant has none of its own.
pub const DEFAULT_YEARS: u32 = renkei_domain::retention::DEFAULT_YEARS;
/// How often a serving process looks for expired records.
pub const EVERY: Duration = Duration::from_secs(24 * 3600);

/// How long each tenant's linkage records are kept, in years.
#[derive(Debug, Clone)]
pub struct Retention {
    pub years: u32,
    pub per_tenant: HashMap<TenantId, u32>,
}

impl Default for Retention {
    fn default() -> Self {
        Self { years: DEFAULT_YEARS, per_tenant: HashMap::new() }
    }
}

impl Retention {
    /// `tenant`'s retention in years.
    pub fn years_of(&self, tenant: &TenantId) -> u32 {
        self.per_tenant.get(tenant).copied().unwrap_or(self.years)
    }

    /// The time before which `tenant`'s records are expired at `now` (Unix seconds).
    pub fn cutoff(&self, tenant: &TenantId, now: i64) -> i64 {
        renkei_domain::retention::cutoff(now, self.years_of(tenant))
    }
}

/// A tenant's purge, for the report.
#[derive(Debug, Clone)]
pub struct TenantPurge {
    pub tenant: TenantId,
    pub years: u32,
    pub purged: Option<Purged>,
}

impl Platform {
    /// Purges, in every tenant, the linkage records expired at `now` (Unix seconds), each purge
    /// audited in its tenant's log as `actor`. A tenant whose purge fails is skipped and
    /// reported; the others go on.
    pub async fn purge_expired_records(&self, retention: &Retention, now: i64, actor: &str) -> Result<Vec<TenantPurge>, StoreError> {
        let mut out = Vec::new();
        for t in self.platform.tenants().await? {
            let Some(store) = self.tenant_store(&t.id).await? else { continue };
            let purged = store.purge_records_before(retention.cutoff(&t.id, now)).await?;
            if let Some(p) = &purged {
                let detail = format!(
                    "count={} through_seq={} first_at={} last_at={} retention_years={}",
                    p.count,
                    p.through_seq,
                    p.first_at,
                    p.last_at,
                    retention.years_of(&t.id)
                );
                self.platform.audit(&t.id, actor, "records.purge", &detail).await?;
                tracing::info!(tenant = %t.id, count = p.count, "expired linkage records purged");
            }
            let years = retention.years_of(&t.id);
            out.push(TenantPurge { tenant: t.id, years, purged });
        }
        Ok(out)
    }
}

/// Every `EVERY`, purges expired records until `stop` resolves; a failure is logged and tried
/// again next time.
pub async fn run(p: std::sync::Arc<Platform>, retention: Retention, stop: impl std::future::Future<Output = ()>) {
    tokio::pin!(stop);
    loop {
        if let Err(e) = p.purge_expired_records(&retention, renkei_store::now_unix(), "retention").await {
            tracing::error!(error = %e, "purging expired linkage records failed; trying again later");
        }
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_may_keep_its_records_longer_than_the_rest() {
        let (kou, otsu) = (TenantId::parse("kou").unwrap(), TenantId::parse("otsu").unwrap());
        let mut r = Retention::default();
        r.per_tenant.insert(kou.clone(), 10);
        assert_eq!((r.years_of(&kou), r.years_of(&otsu)), (10, 7));
        assert!(r.cutoff(&kou, 1_796_256_000) < r.cutoff(&otsu, 1_796_256_000));
    }
}
