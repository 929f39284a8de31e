//! The SLA monitor's results rolled up by day (`domain::rollup`): a JST day's raw results, once
//! older than the monitor keeps them, become one row per tenant and probe — how many ran and
//! failed, and the passing ones' latencies in buckets — and are deleted, in one transaction per
//! tenant and day. The monthly figures then read both: the raw results and the roll-ups of the days within
//! a span (`PlatformStore::probe_counts`, `probe_latencies`).
//!
//! Invariant: a result is counted once, raw or rolled up. A tenant's day is rolled up in the
//! transaction that deletes its raw results, by the one process that claimed the day's roll-up
//! (`claim_monitor_tick` of [`rollup_tick`]); a result written for a day already rolled up (a
//! clock behind) is merged into its row when that day is rolled up again.

use crate::db::{Scope, Tx};
use crate::platform::PlatformStore;
use crate::{Result, StoreError, args};
use chrono::NaiveDate;
use renkei_domain::incident::ProbeKind;
use renkei_domain::rollup::{BUCKETS, DayRollup, upper_bound};
use renkei_domain::sla::{Span, days_span, jst_day};
use std::collections::BTreeMap;

/// The monitor-tick number of `day`'s roll-up: negative, apart from the probes' ticks.
pub fn rollup_tick(day: NaiveDate) -> i64 {
    -(day.signed_duration_since(NaiveDate::default()).num_days().max(0) + 1)
}

/// `CASE … END` giving the latency bucket of a passing result's `latency_ms`.
fn bucket_sql() -> String {
    let mut sql = String::from("CAST(CASE");
    for i in 0..BUCKETS - 1 {
        sql.push_str(&format!(" WHEN latency_ms <= {} THEN {i}", upper_bound(i)));
    }
    sql.push_str(&format!(" ELSE {} END AS BIGINT)", BUCKETS - 1));
    sql
}

/// The days (`YYYY-MM-DD`, JST) whose roll-ups lie within `span`: from the day it starts on to
/// the day it ends before.
fn days_of(span: Span) -> (String, String) {
    (jst_day(span.0).to_string(), jst_day(span.1).to_string())
}

/// `tenant`'s rolled-up probes within `span`: how many ran, how many failed.
pub(crate) fn counts_in(tx: &mut dyn Tx, tenant: &str, span: Span) -> Result<(i64, i64)> {
    let (from, to) = days_of(span);
    let r = tx
        .query_opt(
            "SELECT CAST(COALESCE(SUM(probes), 0) AS BIGINT), CAST(COALESCE(SUM(failed), 0) AS BIGINT) FROM probe_days WHERE tenant_id = ?1 AND day >= ?2 AND day < ?3",
            args![tenant, from, to],
        )?
        .ok_or(StoreError::NotFound("probe roll-ups"))?;
    Ok((r.get(0)?, r.get(1)?))
}

/// The latencies of `tenant`'s rolled-up passing `kind` probes within `span`, as they read back.
pub(crate) fn latencies_in(tx: &mut dyn Tx, tenant: &str, kind: ProbeKind, span: Span) -> Result<Vec<u64>> {
    let (from, to) = days_of(span);
    let mut out = Vec::new();
    for r in tx.query(
        "SELECT buckets FROM probe_days WHERE tenant_id = ?1 AND kind = ?2 AND day >= ?3 AND day < ?4",
        args![tenant, kind.as_str(), from, to],
    )? {
        let buckets = DayRollup::decode_buckets(&r.get::<String>(0)?).ok_or(StoreError::Corrupt("a probe roll-up's buckets".into()))?;
        out.extend(DayRollup { buckets, ..DayRollup::default() }.latencies());
    }
    Ok(out)
}

impl PlatformStore {
    /// Rolls up the monitor's results of every JST day before `before`, oldest first, a tenant's
    /// day per transaction (a few thousand rows: the platform's other writers wait for none of
    /// it); returns how many days were rolled up. Call it as the one process that claimed the
    /// roll-up ([`rollup_tick`]).
    pub async fn roll_up_probes(&self, before: NaiveDate) -> Result<usize> {
        let mut days = 0;
        loop {
            let oldest: Option<i64> = self.db.read(Scope::Operator, |tx| tx.value("SELECT MIN(at_ms) FROM probe_results", args![])).await?;
            let Some(day) = oldest.map(|ms| jst_day(ms.div_euclid(1000))).filter(|d| *d < before) else { return Ok(days) };
            let (from_ms, to_ms) = ms_of(day);
            let tenants: Vec<String> = self
                .db
                .read(Scope::Operator, move |tx| {
                    tx.query("SELECT DISTINCT tenant_id FROM probe_results WHERE at_ms >= ?1 AND at_ms < ?2", args![from_ms, to_ms])?
                        .iter()
                        .map(|r| r.get(0))
                        .collect()
                })
                .await?;
            for tenant in tenants {
                self.db.tx(Scope::Operator, move |tx| roll_up_tenant_day(tx, &tenant, day)).await?;
            }
            days += 1;
        }
    }
}

/// The day's span in milliseconds.
fn ms_of(day: NaiveDate) -> (i64, i64) {
    let span = days_span(day, day);
    (span.0 * 1000, span.1.saturating_mul(1000))
}

fn roll_up_tenant_day(tx: &mut dyn Tx, tenant: &str, day: NaiveDate) -> Result<()> {
    let (from_ms, to_ms) = ms_of(day);
    let rows = tx.query(
        &format!(
            "SELECT kind, ok, {}, COUNT(*) FROM probe_results WHERE tenant_id = ?1 AND at_ms >= ?2 AND at_ms < ?3 GROUP BY 1, 2, 3",
            bucket_sql()
        ),
        args![tenant, from_ms, to_ms],
    )?;
    let mut rolled: BTreeMap<String, DayRollup> = BTreeMap::new();
    for r in &rows {
        let (kind, ok, bucket, n): (String, i64, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?);
        rolled.entry(kind).or_default().add(ok == 1, usize::try_from(bucket).unwrap_or(0), u64::try_from(n).unwrap_or(0));
    }
    let day_text = day.to_string();
    for (kind, mut day_rollup) in rolled {
        if let Some(r) = tx.query_opt(
            "SELECT probes, failed, buckets FROM probe_days WHERE tenant_id = ?1 AND day = ?2 AND kind = ?3",
            args![tenant, day_text, kind],
        )? {
            let buckets = DayRollup::decode_buckets(&r.get::<String>(2)?).ok_or(StoreError::Corrupt("a probe roll-up's buckets".into()))?;
            day_rollup.merge(&DayRollup { probes: r.get(0)?, failed: r.get(1)?, buckets });
        }
        tx.execute(
            "INSERT INTO probe_days (tenant_id, day, kind, probes, failed, buckets) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (tenant_id, day, kind) DO UPDATE SET probes = excluded.probes, failed = excluded.failed, buckets = excluded.buckets",
            args![tenant, day_text, kind, day_rollup.probes, day_rollup.failed, day_rollup.encode_buckets()],
        )?;
    }
    tx.execute("DELETE FROM probe_results WHERE tenant_id = ?1 AND at_ms >= ?2 AND at_ms < ?3", args![tenant, from_ms, to_ms])?;
    Ok(())
}
