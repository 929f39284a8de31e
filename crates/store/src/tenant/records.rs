//! Linkage records (情報提供等記録): one per (org, role, request id), numbered without gaps.

use super::*;

/// Which records a list shows; `None` lets all through.
#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    pub duty: Option<DutyCode>,
    /// The other org of the linkage.
    pub counterpart: Option<OrgId>,
}

/// 情報提供等記録 — who asked whom for what, when, why, with what outcome. Never the content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkageRecord {
    pub seq: i64,
    pub org: OrgId,
    pub side: Side,
    pub request_id: RequestId,
    pub counterpart_org: OrgId,
    pub duty: DutyCode,
    pub items: Vec<ItemCode>,
    pub outcome: RecordOutcome,
    /// Seconds since the Unix epoch.
    pub at: i64,
    /// Answered inside the platform between orgs of the tenant (庁内連携), without the hub.
    pub in_house: bool,
}

/// The fields of one linkage record, as written by either side.
pub(super) struct NewRecord<'a> {
    pub(super) tenant: &'a str,
    pub(super) org: &'a str,
    pub(super) side: Side,
    pub(super) request_id: &'a str,
    pub(super) counterpart: &'a str,
    pub(super) duty: &'a str,
    pub(super) items_json: &'a str,
    pub(super) outcome: RecordOutcome,
    pub(super) in_house: bool,
}

pub(super) fn insert_record(tx: &mut dyn Tx, r: NewRecord<'_>) -> Result<()> {
    if tx.backend() == Backend::Postgres {
        // Several processes write records of one tenant: take turns so seq stays gapless.
        tx.execute("SELECT pg_advisory_xact_lock(hashtext('renkei-records:' || ?1))", args![r.tenant])?;
    }
    // After a purge, numbers go on from the last one purged, even if it took every record.
    let seq: i64 = tx.value(
        "SELECT MAX(n) + 1 FROM (SELECT MAX(seq) AS n FROM linkage_records WHERE tenant_id = ?1
                                UNION ALL SELECT MAX(through_seq) FROM record_purges WHERE tenant_id = ?1
                                UNION ALL SELECT 0) AS t",
        args![r.tenant],
    )?;
    // A second attempt to record the same (org, role, request) is a retry: nothing happens.
    tx.execute(
        "INSERT INTO linkage_records (tenant_id, org_id, seq, role, request_id, counterpart_org, duty, items, outcome, at, in_house)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) ON CONFLICT (tenant_id, org_id, role, request_id) DO NOTHING",
        args![
            r.tenant,
            r.org,
            seq,
            r.side.code(),
            r.request_id,
            r.counterpart,
            r.duty,
            r.items_json,
            r.outcome.code(),
            now_unix(),
            i64::from(r.in_house)
        ],
    )?;
    Ok(())
}

/// What a purge of expired linkage records took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purged {
    pub count: i64,
    /// The last record number purged.
    pub through_seq: i64,
    /// Unix seconds of the oldest and newest record purged.
    pub first_at: i64,
    pub last_at: i64,
}

impl TenantStore {
    /// Deletes the tenant's linkage records written before `before` (Unix seconds), on both
    /// sides, and notes the purge (`record_purges`) in the same transaction; `None` if none were
    /// that old.
    pub async fn purge_records_before(&self, before: i64) -> Result<Option<Purged>> {
        let tenant = self.tenant.to_string();
        self.tx(move |tx| {
            let row = tx
                .query_opt(
                    "SELECT COUNT(*), MAX(seq), MIN(at), MAX(at) FROM linkage_records WHERE tenant_id = ?1 AND at < ?2",
                    args![tenant, before],
                )?
                .ok_or(crate::StoreError::NotFound("records"))?;
            let count: i64 = row.get(0)?;
            if count == 0 {
                return Ok(None);
            }
            let p = Purged { count, through_seq: row.get(1)?, first_at: row.get(2)?, last_at: row.get(3)? };
            tx.execute("DELETE FROM linkage_records WHERE tenant_id = ?1 AND at < ?2", args![tenant, before])?;
            tx.execute(
                "INSERT INTO record_purges (tenant_id, purged_at, through_seq, count, first_at, last_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (tenant_id, through_seq) DO NOTHING",
                args![tenant, now_unix(), p.through_seq, p.count, p.first_at, p.last_at],
            )?;
            Ok(Some(p))
        })
        .await
    }

    /// `org`'s linkage records (every org's if `None`; never those of the monitor's probes,
    /// which ask their own org) in the order they were written, `limit`
    /// after the record numbered `after` (a page; see `renkei_domain::page`).
    pub async fn records(
        &self,
        org: Option<&OrgId>,
        filter: &RecordFilter,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<LinkageRecord>> {
        let (tenant, org) = (self.tenant.to_string(), org.map(OrgId::to_string));
        let (duty, counterpart) = (filter.duty.as_ref().map(DutyCode::to_string), filter.counterpart.as_ref().map(OrgId::to_string));
        self.read(move |tx| {
            tx.query(
                "SELECT seq, org_id, role, request_id, counterpart_org, duty, items, outcome, at, in_house FROM linkage_records
                 WHERE tenant_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR org_id = ?2) AND seq > ?3
                   AND (CAST(?5 AS TEXT) IS NULL OR duty = ?5) AND (CAST(?6 AS TEXT) IS NULL OR counterpart_org = ?6)
                   AND request_id NOT IN (SELECT request_id FROM queries WHERE tenant_id = ?1 AND probe = 1)
                 ORDER BY seq LIMIT ?4",
                args![tenant, org, after.unwrap_or(0), limit as i64, duty, counterpart],
            )?
            .iter()
            .map(|r| {
                let code = |what: &'static str, e: IdError| corrupt(format!("a linkage record's {what}: {e}"));
                Ok(LinkageRecord {
                    seq: r.get(0)?,
                    org: OrgId::parse(&r.get::<String>(1)?).map_err(|e| code("org", e))?,
                    side: Side::from_code(&r.get::<String>(2)?).ok_or_else(|| corrupt("a linkage record's role"))?,
                    request_id: RequestId::parse(&r.get::<String>(3)?).map_err(|e| code("request id", e))?,
                    counterpart_org: OrgId::parse(&r.get::<String>(4)?).map_err(|e| code("counterpart org", e))?,
                    duty: DutyCode::parse(&r.get::<String>(5)?).map_err(|e| code("duty", e))?,
                    items: serde_json::from_str(&r.get::<String>(6)?)?,
                    outcome: RecordOutcome::from_code(&r.get::<String>(7)?).ok_or_else(|| corrupt("a linkage record's outcome"))?,
                    at: r.get(8)?,
                    in_house: r.get::<i64>(9)? != 0,
                })
            })
            .collect()
        })
        .await
    }
}
