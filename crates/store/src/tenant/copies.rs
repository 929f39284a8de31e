//! Provision copies (副本) with history: the version valid on a date.

use super::*;

/// A provision copy row as read, still encrypted: (id, item, valid_from, fields_enc).
pub(super) type CopyRow = (String, String, String, Vec<u8>);

/// The row id of a provision copy version that is its natural key (the addressee by its blind
/// index): what a bulk load binds each ciphertext to. A SQLite bulk load does not store it; a
/// row without a stored id has this one.
pub(super) fn copy_id(a_idx: &str, item: &str, valid_from: &str) -> String {
    format!("{a_idx}/{item}/{valid_from}")
}

/// For each item, the copy row valid on `date` (latest `valid_from` ≤ date).
pub(super) fn copy_rows(tx: &mut dyn Tx, tenant: &str, org: &str, a_idx: &str, items: &[String], date: &str) -> Result<Vec<CopyRow>> {
    let mut out = Vec::new();
    for item in items {
        if let Some(r) = tx.query_opt(
            "SELECT id, item, valid_from, fields_enc FROM provision_copies
             WHERE tenant_id = ?1 AND org_id = ?2 AND addressee_idx = ?3 AND item = ?4 AND valid_from <= ?5
             ORDER BY valid_from DESC LIMIT 1",
            args![tenant, org, a_idx, item, date],
        )? {
            let (item, valid_from): (String, String) = (r.get(1)?, r.get(2)?);
            let id = r.get::<Option<String>>(0)?.unwrap_or_else(|| copy_id(a_idx, &item, &valid_from));
            out.push((id, item, valid_from, r.get(3)?));
        }
    }
    Ok(out)
}

/// A provision copy valid on some date.
#[derive(Debug, Clone)]
pub struct CopyVersion {
    pub item: ItemCode,
    pub valid_from: Date,
    pub fields: Map<String, Value>,
}

impl CopyVersion {
    /// The answer for `item` from the copy among `copies` that has it, if one does.
    pub fn found_in(copies: &[CopyVersion], item: &ItemCode) -> Option<renkei_domain::ItemStatus> {
        let c = copies.iter().find(|c| &c.item == item)?;
        Some(renkei_domain::ItemStatus::Found { valid_from: c.valid_from.to_string(), fields: c.fields.clone() })
    }
}

impl TenantStore {
    /// Inserts or replaces the version of a provision copy valid from `valid_from`; other
    /// versions stay as history.
    pub async fn upsert_copy(
        &self,
        org: &OrgId,
        addressee: &AddresseeNo,
        item: &ItemCode,
        valid_from: Date,
        fields: &Map<String, Value>,
    ) -> Result<()> {
        let a_idx = self.addressee_idx(org, addressee);
        let probe = i64::from(addressee.is_probe());
        let fields = serde_json::to_vec(fields)?;
        let (tenant, org, item, vf) = (self.tenant.to_string(), org.to_string(), item.to_string(), valid_from.to_string());
        let dk = self.dk.clone();
        self.tx(move |tx| {
            let existing = tx.query_opt(
                "SELECT id FROM provision_copies WHERE tenant_id = ?1 AND org_id = ?2 AND addressee_idx = ?3 AND item = ?4 AND valid_from = ?5",
                args![tenant, org, a_idx, item, vf],
            )?;
            let id = match existing {
                Some(r) => r.get::<Option<String>>(0)?.unwrap_or_else(|| copy_id(&a_idx, &item, &vf)),
                None => new_id(),
            };
            let enc = dk.encrypt("provision_copies.fields", &id, &fields)?;
            tx.execute(
                "INSERT INTO provision_copies (tenant_id, org_id, id, addressee_idx, item, valid_from, fields_enc, updated_at, probe)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (tenant_id, org_id, addressee_idx, item, valid_from)
                 DO UPDATE SET fields_enc = excluded.fields_enc, updated_at = excluded.updated_at",
                args![tenant, org, id, a_idx, item, vf, enc, now_unix(), probe],
            )?;
            Ok(())
        })
        .await
    }

    /// For each item, the version valid on `date` (latest `valid_from` ≤ date), if any.
    pub async fn copies_valid_on(&self, org: &OrgId, addressee: &AddresseeNo, items: &[ItemCode], date: Date) -> Result<Vec<CopyVersion>> {
        let a_idx = self.addressee_idx(org, addressee);
        let (tenant, org) = (self.tenant.to_string(), org.to_string());
        let items: Vec<String> = items.iter().map(|i| i.to_string()).collect();
        let d = date.to_string();
        let rows = self.read(move |tx| copy_rows(tx, &tenant, &org, &a_idx, &items, &d)).await?;
        self.open_copies(rows)
    }

    pub(super) fn open_copies(&self, rows: Vec<CopyRow>) -> Result<Vec<CopyVersion>> {
        rows.into_iter()
            .map(|(id, item, vf, enc)| {
                let plain = self.dk.decrypt("provision_copies.fields", &id, &enc)?;
                Ok(CopyVersion {
                    item: ItemCode::parse(&item).map_err(corrupt)?,
                    valid_from: vf.parse().map_err(corrupt)?,
                    fields: serde_json::from_slice(&plain)?,
                })
            })
            .collect()
    }
}
