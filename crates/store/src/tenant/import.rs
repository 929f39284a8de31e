//! The reverse of [`super::export`]: a tenant's exported tables made into the statements that
//! write them into this store under its (new) data key, every value encrypted again and every
//! blind index computed again; `store::export` runs them with the platform's part. Rows a failed
//! earlier import left under the tenant's id (the tenant itself is not hosted here yet) are
//! removed first, so an import can be run again.

use super::*;
use crate::db::Value as Cell;
use renkei_domain::export::{self, Table};

/// Every table of the tenant store, cleared before an import.
pub(crate) const TABLES: [&str; 12] = [
    "persons",
    "provision_copies",
    "queries",
    "query_states",
    "provided_answers",
    "linkage_records",
    "record_purges",
    "item_marks",
    "manual_reviews",
    "approval_policies",
    "in_house_uses",
    "gaiji",
];

/// One statement of an import and its arguments.
pub(crate) type Statement = (&'static str, Vec<Cell>);

pub(crate) fn bad(table: &Table, line: usize, why: impl std::fmt::Display) -> StoreError {
    // Line 1 is the header.
    StoreError::Conflict(format!("{} line {}: {why}", table.file, line + 2))
}

/// A unique key broken by an import: an org or account name of the tenant is taken here.
pub(crate) fn taken(tenant: &str) -> impl Fn(StoreError) -> StoreError + '_ {
    move |e| match e {
        StoreError::Duplicate(_) => StoreError::Conflict(format!("an org or an account name of tenant {tenant} is taken on this platform")),
        e => e,
    }
}

/// A cell that must be a JSON document, as the bytes to encrypt.
fn json_bytes<'a>(t: &Table, line: usize, c: &'a str) -> Result<&'a [u8]> {
    serde_json::from_str::<Value>(c).map(|_| c.as_bytes()).map_err(|_| bad(t, line, "a JSON value was expected"))
}

/// A cell that must be a date (`YYYY-MM-DD`), as text.
fn date(t: &Table, line: usize, c: &str) -> Result<Cell> {
    Date::parse(c).map(|_| text(c)).map_err(|_| bad(t, line, "a date YYYY-MM-DD was expected"))
}

/// A cell as text; empty stays empty.
fn text(c: &str) -> Cell {
    Cell::Text(c.to_owned())
}

/// An empty cell as NULL, else text.
pub(crate) fn opt_text(c: &str) -> Cell {
    if c.is_empty() { Cell::Null } else { text(c) }
}

/// A cell as an integer; an empty one as NULL when `nullable`.
pub(crate) fn int(t: &Table, line: usize, c: &str, nullable: bool) -> Result<Cell> {
    if c.is_empty() && nullable {
        return Ok(Cell::Null);
    }
    c.parse::<i64>().map(Cell::Int).map_err(|_| bad(t, line, "a number was expected"))
}

impl TenantStore {
    /// The statements that write the tenant store's part of an export (`tables`) into this
    /// store.
    pub(crate) fn import_statements(&self, tables: &[ExportedRows]) -> Result<Vec<Statement>> {
        let rows_of = |t: &'static Table| super::export::rows_of(tables, t);
        let mut statements: Vec<Statement> = Vec::new();
        let tenant = text(self.tenant.as_str());
        let org = |t: &Table, line: usize, c: &str| OrgId::parse(c).map_err(|e| bad(t, line, e));
        let addressee = |t: &Table, line: usize, c: &str| AddresseeNo::parse(c).map_err(|e| bad(t, line, e));

        let t = &export::PERSONS;
        for (i, r) in rows_of(t).iter().enumerate() {
            let (o, a) = (org(t, i, &r[0])?, addressee(t, i, &r[1])?);
            let code = OrgCode::parse(&r[2]).map_err(|e| bad(t, i, e))?;
            let id = new_id();
            statements.push((
                "INSERT INTO persons (tenant_id, org_id, id, addressee_idx, addressee_enc, code_idx, code_enc, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                vec![
                    tenant.clone(),
                    text(o.as_str()),
                    text(&id),
                    text(&self.addressee_idx(&o, &a)),
                    Cell::Blob(self.dk.encrypt("persons.addressee", &id, a.as_str().as_bytes())?),
                    text(&self.code_idx(&o, &code)),
                    Cell::Blob(self.dk.encrypt("persons.code", &id, code.as_str().as_bytes())?),
                    int(t, i, &r[3], false)?,
                ],
            ));
        }

        let t = &export::COPIES;
        for (i, r) in rows_of(t).iter().enumerate() {
            if r[1].is_empty() {
                return Err(bad(t, i, "a copy of no registered person (no addressee_no) cannot be imported"));
            }
            let (o, a) = (org(t, i, &r[0])?, addressee(t, i, &r[1])?);
            let id = new_id();
            statements.push((
                "INSERT INTO provision_copies (tenant_id, org_id, id, addressee_idx, item, valid_from, fields_enc, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                vec![
                    tenant.clone(),
                    text(o.as_str()),
                    text(&id),
                    text(&self.addressee_idx(&o, &a)),
                    text(&r[2]),
                    date(t, i, &r[3])?,
                    Cell::Blob(self.dk.encrypt("provision_copies.fields", &id, json_bytes(t, i, &r[4])?)?),
                    int(t, i, &r[6], false)?,
                ],
            ));
        }

        let t = &export::QUERIES;
        for (i, r) in rows_of(t).iter().enumerate() {
            let (o, a) = (org(t, i, &r[0])?, addressee(t, i, &r[8])?);
            let id = &r[1];
            let answer =
                if r[17].is_empty() { Cell::Null } else { Cell::Blob(self.dk.encrypt("queries.answer", id, json_bytes(t, i, &r[17])?)?) };
            statements.push((
                "INSERT INTO queries (tenant_id, org_id, id, request_id, idempotency_key, fingerprint, duty, provider_org, items,
                    addressee_idx, request_enc, reference_date, state, attempts, next_attempt_at, deadline_at, error, outcome,
                    answer_enc, created_at, updated_at, filed_by, decided_by, in_house)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)",
                vec![
                    tenant.clone(),
                    text(o.as_str()),
                    text(id),
                    text(&r[2]),
                    text(&r[3]),
                    text(&r[4]),
                    text(&r[5]),
                    text(&r[6]),
                    text(&r[7]),
                    text(&self.addressee_idx(&o, &a)),
                    Cell::Blob(self.dk.encrypt("queries.request", id, json_bytes(t, i, &r[9])?)?),
                    date(t, i, &r[10])?,
                    text(&r[11]),
                    int(t, i, &r[12], false)?,
                    int(t, i, &r[13], false)?,
                    int(t, i, &r[14], false)?,
                    opt_text(&r[15]),
                    opt_text(&r[16]),
                    answer,
                    int(t, i, &r[18], false)?,
                    int(t, i, &r[19], false)?,
                    text(&r[20]),
                    opt_text(&r[21]),
                    int(t, i, &r[22], false)?,
                ],
            ));
        }

        let t = &export::QUERY_STATES;
        for (i, r) in rows_of(t).iter().enumerate() {
            statements.push((
                "INSERT INTO query_states (tenant_id, query_id, seq, state, at) VALUES (?1, ?2, ?3, ?4, ?5)",
                vec![tenant.clone(), text(&r[0]), int(t, i, &r[1], false)?, text(&r[2]), int(t, i, &r[3], false)?],
            ));
        }

        let t = &export::PROVIDED_ANSWERS;
        for (i, r) in rows_of(t).iter().enumerate() {
            statements.push((
                "INSERT INTO provided_answers (tenant_id, org_id, request_id, envelope, outcome, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                vec![tenant.clone(), text(org(t, i, &r[0])?.as_str()), text(&r[1]), text(&r[2]), text(&r[3]), int(t, i, &r[4], false)?],
            ));
        }

        let t = &export::RECORDS;
        for (i, r) in rows_of(t).iter().enumerate() {
            statements.push((
                "INSERT INTO linkage_records (tenant_id, org_id, seq, role, request_id, counterpart_org, duty, items, outcome, at, in_house)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                vec![
                    tenant.clone(),
                    text(org(t, i, &r[0])?.as_str()),
                    int(t, i, &r[1], false)?,
                    text(&r[2]),
                    text(&r[3]),
                    text(&r[4]),
                    text(&r[5]),
                    text(&r[6]),
                    text(&r[7]),
                    int(t, i, &r[8], false)?,
                    int(t, i, &r[9], false)?,
                ],
            ));
        }

        let t = &export::RECORD_PURGES;
        for (i, r) in rows_of(t).iter().enumerate() {
            let n = |c: usize| int(t, i, &r[c], false);
            statements.push((
                "INSERT INTO record_purges (tenant_id, purged_at, through_seq, count, first_at, last_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                vec![tenant.clone(), n(0)?, n(1)?, n(2)?, n(3)?, n(4)?],
            ));
        }

        let t = &export::MARKS;
        for (i, r) in rows_of(t).iter().enumerate() {
            let (o, a) = (org(t, i, &r[0])?, addressee(t, i, &r[1])?);
            let id = new_id();
            statements.push((
                "INSERT INTO item_marks (tenant_id, org_id, id, addressee_idx, item, version, mark_enc, set_by, set_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                vec![
                    tenant.clone(),
                    text(o.as_str()),
                    text(&id),
                    text(&self.addressee_idx(&o, &a)),
                    text(&r[2]),
                    int(t, i, &r[3], false)?,
                    Cell::Blob(self.dk.encrypt("item_marks.mark", &id, r[4].as_bytes())?),
                    text(&r[5]),
                    int(t, i, &r[6], false)?,
                ],
            ));
        }

        let t = &export::REVIEWS;
        for (i, r) in rows_of(t).iter().enumerate() {
            statements.push((
                "INSERT INTO manual_reviews (tenant_id, org_id, request_id, forwarded_enc, received_at, decided_by, decided_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                vec![
                    tenant.clone(),
                    text(org(t, i, &r[0])?.as_str()),
                    text(&r[1]),
                    Cell::Blob(self.dk.encrypt("manual_reviews.forwarded", &r[1], r[2].as_bytes())?),
                    int(t, i, &r[3], false)?,
                    opt_text(&r[4]),
                    int(t, i, &r[5], true)?,
                ],
            ));
        }

        let t = &export::APPROVAL_POLICIES;
        for (i, r) in rows_of(t).iter().enumerate() {
            statements.push((
                "INSERT INTO approval_policies (tenant_id, org_id, duty, window_minutes, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                vec![tenant.clone(), text(org(t, i, &r[0])?.as_str()), text(&r[1]), int(t, i, &r[2], false)?, int(t, i, &r[3], false)?],
            ));
        }

        let t = &export::IN_HOUSE_USES;
        for (i, r) in rows_of(t).iter().enumerate() {
            statements.push((
                "INSERT INTO in_house_uses (tenant_id, csv, updated_by, updated_at) VALUES (?1, ?2, ?3, ?4)",
                vec![tenant.clone(), text(&r[0]), text(&r[1]), int(t, i, &r[2], false)?],
            ));
        }

        let t = &export::GAIJI;
        for (i, r) in rows_of(t).iter().enumerate() {
            let cp = r[0]
                .strip_prefix("U+")
                .and_then(|h| i64::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad(t, i, "code_point is U+ and hexadecimal digits"))?;
            statements.push((
                "INSERT INTO gaiji (tenant_id, code_point, mj_name, fallback) VALUES (?1, ?2, ?3, ?4)",
                vec![tenant.clone(), Cell::Int(cp), text(&r[1]), text(&r[2])],
            ));
        }

        Ok(statements)
    }

    /// In one transaction of this tenant: removes the rows a failed earlier import left, then
    /// runs `first` (the platform's rows, where they share the database: PostgreSQL) and
    /// `statements`. With `first`, a tenant hosted already is refused inside the transaction.
    pub(crate) async fn write_import(&self, first: Vec<Statement>, statements: Vec<Statement>) -> Result<()> {
        let t = self.tenant.to_string();
        self.tx(move |tx| {
            if !first.is_empty() && tx.value::<bool>("SELECT EXISTS(SELECT 1 FROM tenants WHERE id = ?1)", args![t])? {
                return Err(StoreError::Conflict(format!("tenant {t} is hosted on this platform already")));
            }
            for table in TABLES {
                tx.execute(&format!("DELETE FROM {table} WHERE tenant_id = ?1"), args![t])?;
            }
            for (sql, args) in first.iter().chain(&statements) {
                tx.execute(sql, args).map_err(taken(&t))?;
            }
            Ok(())
        })
        .await
    }
}
