//! Signed checkpoints of every tenant's audit chain, written by each serving process every so
//! often (`serve --audit-checkpoint-secs`), so that what a tenant's log held is fixed under the
//! platform's signature within that time. Processes that write the same checkpoint keep one: a
//! checkpoint is its chain and size, and Ed25519 signs the same text the same way.

use crate::Platform;
use renkei_crypto::auditlog::CheckpointSigner;
use renkei_domain::policy::Action;
use renkei_net::Problem;
use renkei_store::audit::{AuditChain, ChainCheck};
use std::sync::Arc;
use std::time::Duration;

impl Platform {
    /// Verifies the audit chain of `person`'s tenant (those who may read it) against its signed
    /// checkpoints, as `renkei audit verify` does: sound, or the first bad entry.
    pub async fn verify_tenant_audit(&self, person: &crate::sessions::SignedInPerson) -> Result<ChainCheck, Problem> {
        let chain = AuditChain::Tenant(person.tenant_for(Action::ReadAuditLog)?);
        let signer = CheckpointSigner::from_master(&self.master).map_err(|e| {
            tracing::error!(error = %e, "cannot derive the audit checkpoint key");
            Problem::internal()
        })?;
        Ok(self.platform.verify_audit(signer.verifier(), &chain, &[]).await?)
    }
}

/// How often a serving process checkpoints every chain that grew, unless told otherwise.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(600);

/// Every `every`, a checkpoint of each tenant's chain that grew since its last one, until
/// `shutdown`.
pub async fn checkpoints(p: Arc<Platform>, every: Duration, shutdown: impl std::future::Future<Output = ()>) {
    let signer = match CheckpointSigner::from_master(&p.master) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot derive the audit checkpoint key; no checkpoints are written");
            return;
        }
    };
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            _ = tick.tick() => {}
        }
        let chains = match p.platform.audit_chains().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the audit chains; checkpoints are written at the next round");
                continue;
            }
        };
        for chain in chains {
            if let Err(e) = p.platform.write_audit_checkpoint(&signer, &chain).await {
                tracing::warn!(%chain, error = %e, "cannot write an audit checkpoint; it is written at the next round");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use renkei_store::audit::AuditChain;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_grown_chain_gets_a_checkpoint_within_the_interval_and_an_unchanged_one_none() {
        let (_dir, p, _store, org) = crate::test_support::platform().await;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(checkpoints(p.clone(), Duration::from_millis(50), async move {
            let _ = stopped.await;
        }));
        let mut notes = Vec::new();
        for _ in 0..100 {
            notes = p.platform.audit_checkpoints(&AuditChain::Tenant(org.tenant.clone())).await.unwrap();
            if !notes.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(notes.len(), 1, "tenant.create and org.create are checkpointed");
        assert!(notes[0].starts_with("renkei/audit/t\n2\n"), "{}", notes[0]);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            p.platform.audit_checkpoints(&AuditChain::Tenant(org.tenant.clone())).await.unwrap().len(),
            1,
            "nothing new, no new checkpoint"
        );
        p.platform.audit(&org.tenant, "test", "import", "").await.unwrap();
        for _ in 0..100 {
            notes = p.platform.audit_checkpoints(&AuditChain::Tenant(org.tenant.clone())).await.unwrap();
            if notes.len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(notes[1].starts_with("renkei/audit/t\n3\n"), "{notes:?}");
        let _ = stop.send(());
        task.await.unwrap();
    }
}
