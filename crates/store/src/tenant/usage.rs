//! 計量 (metering): what a tenant used, for the cost statement (費用按分): queries it sent and
//! answered within a span, and what it keeps now — persons, provision copies, and the bytes
//! they take (its file on SQLite; on PostgreSQL the size of its rows). The SLA monitor's probe
//! person and queries count in none of them (only in the bytes); `probe_queries` says how many
//! were left out.

use super::*;
use crate::db::Value as Arg;

/// A tenant's use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    pub queries_sent: i64,
    pub queries_answered: i64,
    pub persons: i64,
    pub copies: i64,
    pub bytes: i64,
    /// The monitor's probe queries sent within the span: left out of every count above.
    pub probe_queries: i64,
}

/// The tables whose rows a tenant's bytes count on PostgreSQL.
const SIZED: &[&str] = &["persons", "provision_copies", "queries", "provided_answers", "linkage_records", "query_states"];

impl TenantStore {
    /// What this tenant sent and answered within `span` (Unix seconds), and keeps now.
    pub async fn usage(&self, span: (i64, i64)) -> Result<Usage> {
        let tenant = self.tenant.to_string();
        self.read(move |tx| {
            let count = |tx: &mut dyn Tx, sql: &str, extra: &[Arg]| -> Result<i64> {
                let mut a = vec![Arg::Text(tenant.clone())];
                a.extend_from_slice(extra);
                tx.value(sql, &a)
            };
            let within = [Arg::Int(span.0), Arg::Int(span.1)];
            // A query's created_at is in milliseconds.
            let within_ms = [Arg::Int(span.0 * 1000), Arg::Int(span.1 * 1000)];
            let bytes = match tx.backend() {
                Backend::Sqlite => tx.value("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()", args![])?,
                Backend::Postgres => {
                    let sums: Vec<String> = SIZED
                        .iter()
                        .map(|t| format!("(SELECT COALESCE(SUM(pg_column_size(r.*)), 0) FROM {t} r WHERE tenant_id = ?1)"))
                        .collect();
                    tx.value(&format!("SELECT CAST({} AS BIGINT)", sums.join(" + ")), args![tenant])?
                }
            };
            Ok(Usage {
                queries_sent: count(
                    tx,
                    "SELECT COUNT(*) FROM queries WHERE tenant_id = ?1 AND created_at >= ?2 AND created_at < ?3 AND probe = 0",
                    &within_ms,
                )?,
                queries_answered: count(
                    tx,
                    "SELECT COUNT(*) FROM provided_answers WHERE tenant_id = ?1 AND created_at >= ?2 AND created_at < ?3
                       AND request_id NOT IN (SELECT request_id FROM queries WHERE tenant_id = ?1 AND probe = 1)",
                    &within,
                )?,
                persons: count(tx, "SELECT COUNT(*) FROM persons WHERE tenant_id = ?1 AND probe = 0", &[])?,
                copies: count(tx, "SELECT COUNT(*) FROM provision_copies WHERE tenant_id = ?1 AND probe = 0", &[])?,
                bytes,
                probe_queries: count(
                    tx,
                    "SELECT COUNT(*) FROM queries WHERE tenant_id = ?1 AND created_at >= ?2 AND created_at < ?3 AND probe = 1",
                    &within_ms,
                )?,
            })
        })
        .await
    }
}
