//! `renkei bench rollup`: the monitor's results of N tenants over D days (four probes per tenant
//! every `every` seconds, about 10 M rows a day for 1,788 tenants at 60 s) rolled up as `serve`
//! does once a day (`PlatformStore::roll_up_probes`, a transaction per tenant and day), with
//! rows per second and the process's peak memory. Baseline: the same rows written again and
//! deleted, a tenant's day per transaction — what dropping them without keeping anything costs.

use super::{Report, backend_name, memory_mib};
use crate::run;
use anyhow::Result;
use renkei_store::db::{Value, value_rows};
use renkei_store::platform::PlatformStore;
use renkei_store::{Scope, args};
use serde_json::json;
use std::time::Instant;

pub(super) struct Sizes {
    pub tenants: usize,
    pub days: u32,
    pub every_secs: u32,
}

const KINDS: [&str; 4] = ["sign_in", "search", "update", "round_trip"];

/// Rows written per statement (6 values each, under SQLite's and PostgreSQL's limits).
const ROWS_PER_STATEMENT: usize = 1000;

/// Midnight JST of 2026-01-01, in ms: the first day filled.
const FIRST_DAY_MS: i64 = 1_767_193_200 * 1000;

/// Writes every result of `s` into `platform`: a day per transaction. Latencies vary over a
/// realistic range; one result in 500 fails.
async fn fill(platform: &PlatformStore, s: &Sizes) -> Result<u64> {
    let per_day = (86_400 / s.every_secs.max(1)) as i64;
    let mut written = 0;
    for day in 0..i64::from(s.days) {
        let (tenants, every) = (s.tenants, i64::from(s.every_secs.max(1)));
        written += platform
            .raw(Scope::Operator, move |tx| {
                let mut rows: Vec<Value> = Vec::with_capacity(ROWS_PER_STATEMENT * 6);
                let mut n = 0u64;
                let flush = |tx: &mut dyn renkei_store::db::Tx, rows: &mut Vec<Value>| -> renkei_store::Result<()> {
                    if rows.is_empty() {
                        return Ok(());
                    }
                    let sql = format!(
                        "INSERT INTO probe_results (tenant_id, kind, at_ms, ok, latency_ms, detail) VALUES {}",
                        value_rows(1, rows.len() / 6, 6)
                    );
                    tx.execute(&sql, rows)?;
                    rows.clear();
                    Ok(())
                };
                for tick in 0..per_day {
                    let at_ms = FIRST_DAY_MS + day * 86_400_000 + tick * every * 1000;
                    for t in 0..tenants {
                        for (k, kind) in KINDS.iter().enumerate() {
                            let seed = (tick as u64).wrapping_mul(2_654_435_761) ^ (t as u64 * 40_503) ^ k as u64;
                            let ok = !seed.is_multiple_of(500);
                            rows.extend([
                                Value::Text(format!("bench-{t:04}")),
                                Value::Text((*kind).into()),
                                Value::Int(at_ms + t as i64 % 1000),
                                Value::Int(i64::from(ok)),
                                Value::Int(if ok { 20 + (seed % 2000) as i64 } else { 0 }),
                                Value::Text(String::new()),
                            ]);
                            n += 1;
                            if rows.len() >= ROWS_PER_STATEMENT * 6 {
                                flush(tx, &mut rows)?;
                            }
                        }
                    }
                }
                flush(tx, &mut rows)?;
                Ok(n)
            })
            .await?;
    }
    Ok(written)
}

pub(super) async fn rollup(db: Option<&str>, s: Sizes) -> Result<Report> {
    let dir = tempfile::Builder::new().prefix("renkei-bench-rollup").tempdir()?;
    let location = run::DbArgs::in_japan(db.map(str::to_owned)).location(&dir.path().join("platform"), "bench_rollup")?;
    renkei_store::db::reset(&location).await?;
    let platform = PlatformStore::open(&location).await?;
    let before = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).and_then(|d| d.checked_add_days(chrono::Days::new(u64::from(s.days))));
    let before = before.ok_or_else(|| anyhow::anyhow!("--days is too many"))?;

    let started = Instant::now();
    let rows = fill(&platform, &s).await?;
    let fill_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let days = platform.roll_up_probes(before).await?;
    let rollup_secs = started.elapsed().as_secs_f64();
    let kept: i64 = platform.raw(Scope::Operator, |tx| tx.value("SELECT COUNT(*) FROM probe_days", args![])).await?;
    let (peak, _) = memory_mib();

    // Baseline: the same rows again, deleted a tenant's day per transaction.
    fill(&platform, &s).await?;
    let started = Instant::now();
    for day in 0..i64::from(s.days) {
        let from = FIRST_DAY_MS + day * 86_400_000;
        for t in 0..s.tenants {
            let tenant = format!("bench-{t:04}");
            platform
                .raw(Scope::Operator, move |tx| {
                    tx.execute(
                        "DELETE FROM probe_results WHERE tenant_id = ?1 AND at_ms >= ?2 AND at_ms < ?3",
                        args![tenant, from, from + 86_400_000],
                    )
                })
                .await?;
        }
    }
    let delete_secs = started.elapsed().as_secs_f64();
    let per_s = |secs: f64| rows as f64 / secs.max(1e-9);
    let human = format!(
        "probe roll-up on {}: {} tenants × {} days, a probe of each of 4 kinds every {} s = {rows} rows (written in {fill_secs:.1} s)\n\
         roll-up: {days} days in {rollup_secs:.2} s = {:.0} rows/s → {kept} roll-up rows; peak memory {peak:.0} MiB\n\
         baseline, the same rows deleted a tenant's day per transaction: {delete_secs:.2} s = {:.0} rows/s\n\
         ratio roll-up / delete: {:.2}",
        backend_name(db),
        s.tenants,
        s.days,
        s.every_secs,
        per_s(rollup_secs),
        per_s(delete_secs),
        rollup_secs / delete_secs.max(1e-9),
    );
    let json = json!({
        "bench": "rollup", "backend": backend_name(db), "tenants": s.tenants, "days": s.days, "every_secs": s.every_secs,
        "rows": rows, "fill_secs": fill_secs, "rollup_secs": rollup_secs, "rollup_rows_per_s": per_s(rollup_secs),
        "days_rolled": days, "rollup_rows": kept, "peak_mib": peak, "delete_secs": delete_secs,
        "ratio": rollup_secs / delete_secs.max(1e-9),
    });
    Ok(Report { human, json })
}
