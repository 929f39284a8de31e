//! The hub's linkage records, read by person for the disclosure page.

use super::*;
use renkei_domain::{DutyCode, ItemCode};

/// One of the hub's linkage records, as disclosed to the resident.
#[derive(Debug, Clone, Serialize)]
pub struct HubRecord {
    pub seq: i64,
    pub request_id: RequestId,
    pub requester: OrgId,
    pub provider: OrgId,
    pub duty: DutyCode,
    pub items: Vec<ItemCode>,
    pub outcome: RouteOutcome,
    pub at: i64,
}

impl HubStore {
    /// Deletes the hub's linkage records written before `before` (Unix seconds) and notes the
    /// purge in the same transaction; `None` if none were that old.
    pub async fn purge_records_before(&self, before: i64) -> Result<Option<crate::tenant::Purged>> {
        self.tx(move |tx| {
            let row = tx
                .query_opt("SELECT COUNT(*), MAX(seq), MIN(at), MAX(at) FROM records WHERE at < ?1", args![before])?
                .ok_or(StoreError::NotFound("records"))?;
            let count: i64 = row.get(0)?;
            if count == 0 {
                return Ok(None);
            }
            let p = crate::tenant::Purged { count, through_seq: row.get(1)?, first_at: row.get(2)?, last_at: row.get(3)? };
            tx.execute("DELETE FROM records WHERE at < ?1", args![before])?;
            tx.execute(
                "INSERT INTO record_purges (purged_at, through_seq, count, first_at, last_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (through_seq) DO NOTHING",
                args![crate::now_unix(), p.through_seq, p.count, p.first_at, p.last_at],
            )?;
            Ok(Some(p))
        })
        .await
    }

    /// Every hub record about one person, oldest first.
    pub async fn records_of_person(&self, person_key: &str) -> Result<Vec<HubRecord>> {
        let pk = person_key.to_owned();
        self.read(move |tx| {
            tx.query(
                "SELECT seq, request_id, requester, provider, duty, items, outcome, at FROM records WHERE person_key = ?1 ORDER BY seq",
                args![pk],
            )?
            .iter()
            .map(|r| {
                Ok(HubRecord {
                    seq: r.get(0)?,
                    request_id: RequestId::parse(&r.get::<String>(1)?).map_err(corrupt)?,
                    requester: OrgId::parse(&r.get::<String>(2)?).map_err(corrupt)?,
                    provider: OrgId::parse(&r.get::<String>(3)?).map_err(corrupt)?,
                    duty: DutyCode::parse(&r.get::<String>(4)?).map_err(corrupt)?,
                    items: serde_json::from_str(&r.get::<String>(5)?)?,
                    outcome: RouteOutcome::from_code(&r.get::<String>(6)?).ok_or_else(|| corrupt("a hub record's outcome"))?,
                    at: r.get(7)?,
                })
            })
            .collect()
        })
        .await
    }

    /// Number of hub records (for the demo's summary and tests).
    pub async fn record_count(&self) -> Result<i64> {
        self.read(|tx| tx.value("SELECT COUNT(*) FROM records", &[])).await
    }
}
