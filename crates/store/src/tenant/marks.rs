//! A provider's marks on (person, item) — manual (自動応答不可) and withheld (不開示) — and the
//! forwarded queries held for its staff's review. Marks are versioned (a new row per change,
//! the latest holds) and encrypted: that a person's item is withheld is itself personal. What an
//! answer holds given the marks is `domain::marks`'.

use super::*;
use renkei_domain::marks::{ItemMark, MarkLine};

/// A person's current mark on an item, as the provider lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkView {
    pub addressee: AddresseeNo,
    pub item: ItemCode,
    pub mark: ItemMark,
    pub version: i64,
    pub set_by: String,
    /// Milliseconds since the epoch.
    pub set_at: i64,
}

/// A forwarded query held for the provider's staff.
#[derive(Debug, Clone)]
pub struct HeldQuery {
    pub request_id: RequestId,
    /// The forward as the hub sent it (JSON of `wire::ForwardedQuery`), opened.
    pub forwarded: String,
    /// Milliseconds since the epoch.
    pub received_at: i64,
    /// Who decided it, once decided.
    pub decided_by: Option<String>,
}

/// The latest marks of `items` of the person `a_idx` of `org`, opened (items without a mark, or
/// cleared, are left out).
pub(super) fn marks_of(tx: &mut dyn Tx, dk: &DataKey, tenant: &str, org: &str, a_idx: &str) -> Result<HashMap<ItemCode, ItemMark>> {
    let rows = tx.query(
        "SELECT item, id, mark_enc FROM item_marks WHERE tenant_id = ?1 AND org_id = ?2 AND addressee_idx = ?3 ORDER BY item, version",
        args![tenant, org, a_idx],
    )?;
    let mut marks = HashMap::new();
    for r in rows {
        let (item, id, enc): (String, String, Vec<u8>) = (r.get(0)?, r.get(1)?, r.get(2)?);
        let mark = open_mark(dk, &id, &enc)?;
        let item = ItemCode::parse(&item).map_err(corrupt)?;
        // Ordered by version: the last one read holds.
        if mark == ItemMark::None {
            marks.remove(&item)
        } else {
            marks.insert(item, mark)
        };
    }
    Ok(marks)
}

fn open_mark(dk: &DataKey, id: &str, enc: &[u8]) -> Result<ItemMark> {
    let code = String::from_utf8(dk.decrypt("item_marks.mark", id, enc)?).map_err(corrupt)?;
    ItemMark::from_code(&code).ok_or_else(|| corrupt("an unknown item mark"))
}

/// Whether a review of `request_id` is held and not decided yet.
pub(super) fn review_pending(tx: &mut dyn Tx, tenant: &str, request_id: &str) -> Result<bool> {
    Ok(tx
        .query_opt("SELECT decided_at FROM manual_reviews WHERE tenant_id = ?1 AND request_id = ?2", args![tenant, request_id])?
        .map(|r| r.get::<Option<i64>>(0))
        .transpose()?
        .is_some_and(|decided| decided.is_none()))
}

impl TenantStore {
    /// Marks `item` of the person registered as `addressee` in `org` (a new version), as
    /// `actor`. The person must be registered in the org. Returns the version.
    pub async fn set_mark(&self, org: &OrgId, addressee: &AddresseeNo, item: &ItemCode, mark: ItemMark, actor: &str) -> Result<i64> {
        let line = MarkLine { addressee: addressee.clone(), item: item.clone(), mark };
        match self.set_marks(org, &[line], actor).await? {
            Ok(versions) => versions.first().copied().ok_or_else(|| corrupt("a mark set no version")),
            Err(_) => Err(StoreError::NotFound("person")),
        }
    }

    /// Sets every mark of `lines` in `org` in one transaction, as `actor`: their versions, or,
    /// if some line's person is not registered in the org, those lines' indexes and nothing set.
    pub async fn set_marks(&self, org: &OrgId, lines: &[MarkLine], actor: &str) -> Result<std::result::Result<Vec<i64>, Vec<usize>>> {
        let mut rows = Vec::with_capacity(lines.len());
        for l in lines {
            let id = new_id();
            let enc = self.dk.encrypt("item_marks.mark", &id, l.mark.code().as_bytes())?;
            rows.push((id, self.addressee_idx(org, &l.addressee), l.item.to_string(), enc));
        }
        let (tenant, org, actor) = (self.tenant.to_string(), org.to_string(), actor.to_owned());
        self.tx(move |tx| {
            let mut missing = Vec::new();
            for (i, (_, a_idx, _, _)) in rows.iter().enumerate() {
                if !super::persons::person_known(tx, &tenant, &org, a_idx)? {
                    missing.push(i);
                }
            }
            if !missing.is_empty() {
                return Ok(Err(missing));
            }
            let now = now_millis();
            let mut versions = Vec::with_capacity(rows.len());
            for (id, a_idx, item, enc) in rows {
                let version: i64 = tx.value(
                    "SELECT COALESCE(MAX(version), 0) + 1 FROM item_marks WHERE tenant_id = ?1 AND org_id = ?2 AND addressee_idx = ?3 AND item = ?4",
                    args![tenant, org, a_idx, item],
                )?;
                tx.execute(
                    "INSERT INTO item_marks (tenant_id, org_id, id, addressee_idx, item, version, mark_enc, set_by, set_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    args![tenant, org, id, a_idx, item, version, enc, actor, now],
                )?;
                versions.push(version);
            }
            Ok(Ok(versions))
        })
        .await
    }

    /// `org`'s current marks (cleared ones left out), by person and item.
    pub async fn marks(&self, org: &OrgId) -> Result<Vec<MarkView>> {
        let (tenant, org_s) = (self.tenant.to_string(), org.to_string());
        let rows = self
            .read(move |tx| {
                tx.query(
                    "SELECT m.item, m.id, m.mark_enc, m.version, m.set_by, m.set_at, p.id, p.addressee_enc FROM item_marks m
                     JOIN persons p ON p.tenant_id = m.tenant_id AND p.org_id = m.org_id AND p.addressee_idx = m.addressee_idx
                     WHERE m.tenant_id = ?1 AND m.org_id = ?2 AND m.version = (SELECT MAX(version) FROM item_marks l
                        WHERE l.tenant_id = m.tenant_id AND l.org_id = m.org_id AND l.addressee_idx = m.addressee_idx AND l.item = m.item)
                     ORDER BY m.set_at, m.id",
                    args![tenant, org_s],
                )
            })
            .await?;
        let mut out = Vec::new();
        for r in rows {
            let mark = open_mark(&self.dk, &r.get::<String>(1)?, &r.get::<Vec<u8>>(2)?)?;
            if mark == ItemMark::None {
                continue;
            }
            let addressee =
                String::from_utf8(self.dk.decrypt("persons.addressee", &r.get::<String>(6)?, &r.get::<Vec<u8>>(7)?)?).map_err(corrupt)?;
            out.push(MarkView {
                addressee: AddresseeNo::parse(&addressee).map_err(corrupt)?,
                item: ItemCode::parse(&r.get::<String>(0)?).map_err(corrupt)?,
                mark,
                version: r.get(3)?,
                set_by: r.get(4)?,
                set_at: r.get(5)?,
            });
        }
        Ok(out)
    }

    /// Holds the forwarded query `request_id` (its JSON) for `org`'s staff; holding it again
    /// changes nothing.
    pub async fn hold_for_review(&self, org: &OrgId, request_id: &RequestId, forwarded: &str) -> Result<()> {
        let enc = self.dk.encrypt("manual_reviews.forwarded", request_id.as_str(), forwarded.as_bytes())?;
        let (tenant, org, rid) = (self.tenant.to_string(), org.to_string(), request_id.to_string());
        self.tx(move |tx| {
            tx.execute(
                "INSERT INTO manual_reviews (tenant_id, org_id, request_id, forwarded_enc, received_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (tenant_id, request_id) DO NOTHING",
                args![tenant, org, rid, enc, now_millis()],
            )?;
            Ok(())
        })
        .await
    }

    /// `org`'s held queries not yet decided, oldest first.
    pub async fn pending_reviews(&self, org: &OrgId) -> Result<Vec<HeldQuery>> {
        self.held(org, None).await
    }

    /// `org`'s held query `request_id`, decided or not.
    pub async fn held_query(&self, org: &OrgId, request_id: &str) -> Result<Option<HeldQuery>> {
        Ok(self.held(org, Some(request_id.to_owned())).await?.pop())
    }

    async fn held(&self, org: &OrgId, request_id: Option<String>) -> Result<Vec<HeldQuery>> {
        let (tenant, org) = (self.tenant.to_string(), org.to_string());
        let rows = self
            .read(move |tx| {
                tx.query(
                    "SELECT request_id, forwarded_enc, received_at, decided_by FROM manual_reviews WHERE tenant_id = ?1 AND org_id = ?2
                     AND (CAST(?3 AS TEXT) IS NULL AND decided_at IS NULL OR request_id = ?3) ORDER BY received_at LIMIT 1000",
                    args![tenant, org, request_id],
                )
            })
            .await?;
        rows.iter()
            .map(|r| {
                let rid: String = r.get(0)?;
                let forwarded =
                    String::from_utf8(self.dk.decrypt("manual_reviews.forwarded", &rid, &r.get::<Vec<u8>>(1)?)?).map_err(corrupt)?;
                Ok(HeldQuery {
                    request_id: RequestId::parse(&rid).map_err(corrupt)?,
                    forwarded,
                    received_at: r.get(2)?,
                    decided_by: r.get(3)?,
                })
            })
            .collect()
    }
}
