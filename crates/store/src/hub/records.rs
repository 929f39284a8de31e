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
