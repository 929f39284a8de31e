//! バックアップ (backups): what a backup of a platform (or of the hub) holds besides its files, how long its
//! generations are kept, and what a restore drill (リストア訓練) concludes.
//!
//! A backup's data snapshot carries [`MANIFEST`]: each file with its size, and each tenant with
//! the content hash (内容ハッシュ) of its data — the SHA-256 of every row of its export, opened —
//! which does not depend on how the files lay the rows out, so a drill that restores the files,
//! opens them with their keys and finds the same hashes has shown the data came back whole.

use chrono::{DateTime, Datelike, Duration, Months, Utc};
use serde::{Deserialize, Serialize};

/// The manifest's name inside a data snapshot.
pub const MANIFEST: &str = "renkei-backup.json";
/// The manifest's `format`.
pub const FORMAT: &str = "renkei-backup";
/// The manifest's `version`: raised when its meaning changes.
pub const VERSION: u32 = 1;

/// What a data snapshot holds, written into it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    /// The backup run that took it; its key snapshot carries the same run.
    pub run: String,
    /// RFC 3339, UTC: when the files were copied.
    pub taken_at: String,
    /// The backend the data comes from: `sqlite` (its files are in the snapshot) or `postgres`
    /// (the cluster is in pgBackRest's repository, recovered to [`ClusterPoint`]).
    pub backend: String,
    pub files: Vec<FileEntry>,
    pub tenants: Vec<TenantEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<ClusterPoint>,
    /// For a backup of the hub's store (which has no tenants): its content hash and its keys'.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub: Option<HubEntry>,
}

/// Where a PostgreSQL platform's backup is: a pgBackRest backup and the restore point, after
/// it, that the tenants' content hashes were taken at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterPoint {
    /// pgBackRest's stanza.
    pub stanza: String,
    /// The backup's label in pgBackRest's repository (e.g. `20261203-160759F`).
    pub backup: String,
    /// Its label in the second site's repository, if one is set up and the backup there was
    /// taken (taken before the restore point, as the first site's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_backup: Option<String>,
    /// The restore point's name (`recovery_target_name`) and where it is in the log.
    pub restore_point: String,
    pub lsn: String,
}

/// One file of a data snapshot, by its path inside the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub path: String,
    pub bytes: u64,
}

/// One tenant of a data snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantEntry {
    pub tenant: String,
    /// The content hash (hex SHA-256) of the tenant's data as the snapshot holds it; empty if
    /// its key had been destroyed when the snapshot was taken.
    pub content_hash: String,
}

/// The hub's store in a data snapshot of the hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubEntry {
    /// The content hash (hex SHA-256) of every row of the hub's store.
    pub content_hash: String,
    /// The SHA-256 (hex) of the hub's secret and signing key as backed up in the key snapshot:
    /// a drill proves the run's keys came back, not merely some keys.
    pub keys: String,
}

/// A generations policy (世代管理): how many daily, weekly and monthly snapshots are kept. A
/// snapshot is kept while one of the rules keeps it, as restic's `forget --keep-*` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeepPolicy {
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
}

impl Default for KeepPolicy {
    /// 7 daily, 4 weekly and 12 monthly generations.
    fn default() -> Self {
        KeepPolicy { daily: 7, weekly: 4, monthly: 12 }
    }
}

impl KeepPolicy {
    /// How many days back a point-in-time recovery must reach to keep what this policy keeps
    /// (a month counted as 31 days): what pgBackRest is told to keep.
    pub fn recoverable_days(&self) -> u32 {
        self.daily.max(self.weekly.saturating_mul(7)).max(self.monthly.saturating_mul(31)).max(1)
    }

    /// The latest a snapshot taken at `taken` can be kept, if one is taken every day: the
    /// monthly rule keeps the last of a month for `monthly` months after it, the weekly rule
    /// the last of a week for `weekly` weeks, the daily rule a day for `daily` days. (A policy
    /// that keeps none still keeps the newest snapshot until the next.)
    pub fn expires_at_latest(&self, taken: DateTime<Utc>) -> DateTime<Utc> {
        let by_day = taken + Duration::days(i64::from(self.daily.max(1)));
        let by_week = taken + Duration::weeks(i64::from(self.weekly) + 1);
        let by_month = if self.monthly == 0 {
            taken
        } else {
            // The month after its own, `monthly` times on: the end of the month holding it.
            let first = taken.with_day(1).unwrap_or(taken);
            first.checked_add_months(Months::new(self.monthly + 1)).unwrap_or(taken)
        };
        let weekly = if self.weekly == 0 { taken } else { by_week };
        by_day.max(weekly).max(by_month)
    }
}

/// A drill's finding for one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantFinding {
    /// Restored and opened: the content hash is the recorded one.
    Same,
    /// Restored and opened, but the content hash differs from the recorded one.
    Differs,
    /// Its data key is destroyed (the tenant was deleted): its rows cannot be read, as intended.
    Shredded,
    /// Its data could not be opened: why.
    Unreadable(String),
}

impl TenantFinding {
    /// Whether the drill passes for this tenant: a shredded tenant passes, since a deleted
    /// tenant's data must stay unreadable.
    pub fn passes(&self) -> bool {
        matches!(self, TenantFinding::Same | TenantFinding::Shredded)
    }

    /// Compares a recomputed content hash with the recorded one.
    pub fn compare(recorded: &str, recomputed: &str) -> TenantFinding {
        if recorded == recomputed { TenantFinding::Same } else { TenantFinding::Differs }
    }

    /// The finding in a few words, for reports.
    pub fn describe(&self) -> String {
        match self {
            TenantFinding::Same => "content hash as recorded".into(),
            TenantFinding::Differs => "content hash differs from the recorded one".into(),
            TenantFinding::Shredded => "data key destroyed: unreadable, as a deleted tenant must be".into(),
            TenantFinding::Unreadable(why) => format!("cannot be read: {why}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 3, 0, 0).single().expect("a valid date")
    }

    #[test]
    fn the_default_policy_keeps_a_snapshot_at_most_into_the_thirteenth_month() {
        let p = KeepPolicy::default();
        assert_eq!(p.expires_at_latest(at(2026, 12, 3)), Utc.with_ymd_and_hms(2028, 1, 1, 3, 0, 0).single().expect("date"));
    }

    #[test]
    fn without_monthly_generations_the_weekly_rule_sets_the_end() {
        let p = KeepPolicy { daily: 7, weekly: 4, monthly: 0 };
        assert_eq!(p.expires_at_latest(at(2026, 12, 3)), at(2026, 12, 3) + Duration::weeks(5));
        let daily_only = KeepPolicy { daily: 7, weekly: 0, monthly: 0 };
        assert_eq!(daily_only.expires_at_latest(at(2026, 12, 3)), at(2026, 12, 10));
    }

    #[test]
    fn a_drill_passes_for_the_same_hash_and_a_shredded_tenant_only() {
        assert_eq!(TenantFinding::compare("ab", "ab"), TenantFinding::Same);
        assert!(TenantFinding::compare("ab", "ab").passes());
        assert!(!TenantFinding::compare("ab", "cd").passes());
        assert!(TenantFinding::Shredded.passes());
        assert!(!TenantFinding::Unreadable("no file".into()).passes());
    }

    #[test]
    fn a_manifest_reads_back_as_written_and_refuses_unknown_fields() {
        let m = Manifest {
            format: FORMAT.into(),
            version: VERSION,
            run: "r".into(),
            taken_at: "2026-12-03T00:00:00Z".into(),
            backend: "sqlite".into(),
            files: vec![FileEntry { path: "platform.sqlite".into(), bytes: 4096 }],
            tenants: vec![TenantEntry { tenant: "t".into(), content_hash: "00".into() }],
            postgres: None,
            hub: None,
        };
        let json = serde_json::to_string(&m).expect("json");
        assert_eq!(serde_json::from_str::<Manifest>(&json).expect("reads"), m);
        assert!(!json.contains("\"hub\""), "a platform's manifest is as it was before the hub's backups: {json}");
        let hub = Manifest { hub: Some(HubEntry { content_hash: "11".into(), keys: "22".into() }), tenants: vec![], ..m };
        let json = serde_json::to_string(&hub).expect("json");
        assert_eq!(serde_json::from_str::<Manifest>(&json).expect("reads"), hub);
        assert!(serde_json::from_str::<Manifest>(&json.replace("\"run\"", "\"extra\":1,\"run\"")).is_err());
    }
}
