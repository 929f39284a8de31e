//! Backups and drills on a schedule, inside `serve` and `hub`: each is due once the last one
//! recorded in the store's database (successful or not) is older than its interval, so a restart neither
//! skips one nor runs one twice. A failure is recorded, audited and logged, and tried again at
//! the next interval; it never stops the service.

use super::{BackupConfig, BackupSubject, drill, forget, run};
use std::time::Duration;

/// How often the schedule looks whether something is due.
const LOOK_EVERY: Duration = Duration::from_secs(60);

/// The intervals of the schedule.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub backup_every: Duration,
    /// `None`: no scheduled drills.
    pub drill_every: Option<Duration>,
}

fn due(last: Option<i64>, every: Duration, now: i64) -> bool {
    last.is_none_or(|at| now - at >= i64::try_from(every.as_secs()).unwrap_or(i64::MAX))
}

/// Runs the schedule until `stop` resolves.
pub async fn run_scheduled<S: BackupSubject>(
    subject: S,
    config: BackupConfig,
    schedule: Schedule,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        if let Err(e) = once(&subject, &config, schedule).await
            && !matches!(e, super::BackupError::Busy)
        {
            tracing::error!(error = %e, "a scheduled backup or drill failed; it is recorded and tried again at its next interval");
        }
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(LOOK_EVERY) => {}
        }
    }
}

async fn once<S: BackupSubject>(subject: &S, config: &BackupConfig, schedule: Schedule) -> Result<(), super::BackupError> {
    let now = renkei_store::now_unix();
    let (mut last_backup, last_drill) = subject.last_run_and_drill().await?;
    if due(last_backup, schedule.backup_every, now) {
        let r = run(subject, config, chrono::Utc::now(), "backup-schedule").await?;
        tracing::info!(run = %r.run, data = %r.data.id, keys = %r.keys.id, "backup done");
        last_backup = Some(now);
        forget(subject, config, chrono::Utc::now(), "backup-schedule").await?;
    }
    if let Some(every) = schedule.drill_every
        && due(last_drill, every, now)
        && last_backup.is_some()
    {
        let r = drill(subject, config, None, "backup-schedule").await?;
        if r.ok() {
            tracing::info!(snapshot = %r.data_snapshot, tenants = r.tenants.len(), "restore drill passed");
        } else {
            let failing: Vec<String> = r
                .tenants
                .iter()
                .filter(|t| !t.finding.passes())
                .map(|t| t.tenant.clone())
                .chain(r.hub.iter().filter(|h| !h.passes()).map(|_| "hub".to_owned()))
                .chain(r.files_wrong.iter().cloned())
                .collect();
            tracing::error!(snapshot = %r.data_snapshot, failing = %failing.join(","), "restore drill FAILED; drill it again by hand (`renkei backup drill` or `renkei hub backup drill`) to see why");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_is_due_when_none_was_made_or_the_last_is_an_interval_old() {
        let day = Duration::from_secs(86_400);
        assert!(due(None, day, 1_000_000));
        assert!(!due(Some(1_000_000 - 3_600), day, 1_000_000));
        assert!(due(Some(1_000_000 - 86_400), day, 1_000_000));
    }
}
