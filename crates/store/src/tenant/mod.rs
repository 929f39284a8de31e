//! One tenant's (団体) database: persons (AddresseeNo ↔ OrgCode), provision copies (副本) with
//! history, queries with their durable outbox, answers this tenant provided, and linkage records
//! (情報提供等記録). Every personal-data value is encrypted here with the tenant's data key;
//! look-ups go through keyed blind indexes, never plaintext.
//!
//! One room per job: [`schema`] (migrations), [`persons`], [`copies`], [`queries`] (and the
//! outbox), [`in_house`] (庁内連携: answered inside one transaction), [`marks`] (manual and withheld items, queries held for review), [`approvals`] (電子決裁 policies and decisions), [`answers`] (given as a provider), [`records`] (linkage records), [`bulk`] (loads), [`registry`] (one person registry made from per-org registrations), [`export`] (every table opened, for the tenant's export), [`usage`] (計量, for the cost statement) and [`import`] (such an export written back under this store's key).

mod answers;
mod approvals;
mod bulk;
mod copies;
pub(crate) mod export;
mod gaiji;
pub(crate) mod import;
mod in_house;
mod marks;
mod persons;
mod queries;
mod records;
mod registry;
mod schema;
mod usage;

pub use answers::AnswerBasis;
pub use approvals::{ApprovalPolicy, Decided};
pub use bulk::{Bulk, CopyPreparer, LineResult, Loaded, PersonLine, PreparedCopy, Written};
pub use copies::CopyVersion;
pub use export::{ExportedRows, TenantExport, rows_of};
pub use in_house::InHouse;
pub use marks::{HeldQuery, MarkView};
pub use persons::Registration;
pub use queries::{Acceptance, Filing, NewQuery, OUTBOX_LEASE_MS, OutboxItem, OutboxSchedule, QueryFilter, QueryView, StateChange};
pub use records::Purged;
pub use records::{LinkageRecord, RecordFilter};
pub use registry::{Adoption, RegisteredPerson};
pub(crate) use schema::SQLITE_MIGRATIONS;
pub use usage::Usage;

// What the rooms share, for each to `use super::*`.
use approvals::approval_window_minutes;
use copies::{copy_id, copy_rows};
use marks::{marks_of, review_pending};
use persons::{ADDRESSEE_BY_CODE, CODE_BY_ADDRESSEE, read_person_column};
use records::{NewRecord, insert_record};

use crate::db::{Backend, Finish, Row, Scope, ToValue, Tx};
use crate::migrate::{Migration, Migrations};
use crate::{Db, Result, StoreError, args, now_millis, now_unix};
use renkei_crypto::datakey::DataKey;
use renkei_domain::Date;
use renkei_domain::wire::QueryRequest;
use renkei_domain::{
    AddresseeNo, DutyCode, IdError, ItemCode, OrgCode, OrgId, Outcome, QueryState, RecordOutcome, RequestId, Side, TenantId,
};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// The store of one tenant.
#[derive(Clone)]
pub struct TenantStore {
    tenant: TenantId,
    db: Db,
    dk: Arc<DataKey>,
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// The blind index of a person by addressee number. It is per org: one org's index reveals nothing
/// about another's persons.
fn addressee_idx(dk: &DataKey, org: &OrgId, a: &AddresseeNo) -> String {
    dk.blind_index_of("addressee", &[org.as_str(), a.as_str()])
}

/// The blind index of a person by code, per org.
fn code_idx(dk: &DataKey, org: &OrgId, c: &OrgCode) -> String {
    dk.blind_index_of("code", &[org.as_str(), c.as_str()])
}

impl TenantStore {
    pub(crate) fn new(db: Db, tenant: TenantId, dk: DataKey) -> Result<Self> {
        if dk.tenant() != tenant.as_str() {
            return Err(StoreError::Conflict("data key belongs to another tenant".into()));
        }
        Ok(Self { tenant, db, dk: Arc::new(dk) })
    }

    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    /// The tenant's data key (to open the org keys the platform database keeps for it).
    pub fn data_key(&self) -> &DataKey {
        &self.dk
    }

    /// Runs `f` in a transaction that sees this tenant's rows only.
    async fn tx<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T> + Send + 'static,
    {
        self.db.tx(Scope::Tenant(self.tenant.to_string()), f).await
    }

    /// Runs `f` in a read-only transaction that sees this tenant's rows only; on SQLite it runs
    /// beside the writer, so a bulk load never holds it up.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T> + Send + 'static,
    {
        self.db.read(Scope::Tenant(self.tenant.to_string()), f).await
    }

    /// Deletes every row of the tenant, table by table, in one transaction: how many each.
    pub(crate) async fn delete_all(&self) -> Result<Vec<(&'static str, u64)>> {
        let t = self.tenant.to_string();
        self.tx(move |tx| {
            import::TABLES
                .iter()
                .map(|table| Ok((*table, tx.execute(&format!("DELETE FROM {table} WHERE tenant_id = ?1"), args![t])?)))
                .collect()
        })
        .await
    }

    fn addressee_idx(&self, org: &OrgId, a: &AddresseeNo) -> String {
        addressee_idx(&self.dk, org, a)
    }

    fn code_idx(&self, org: &OrgId, c: &OrgCode) -> String {
        code_idx(&self.dk, org, c)
    }
}

#[cfg(test)]
mod tests {
    use super::schema::SQLITE;
    use super::*;
    use renkei_crypto::datakey::MasterKey;
    use serde_json::json;

    /// The tenant schema as the previous release left it (versions 1–2).
    static BEFORE_V3: Migrations = Migrations { sqlite: SQLITE.split_at(2).0, ..SQLITE_MIGRATIONS };

    fn copy_fields(tax: &str) -> Map<String, Value> {
        json!({"resident_tax": tax}).as_object().cloned().unwrap_or_default()
    }

    #[tokio::test]
    async fn copies_written_before_version_3_are_read_and_replaced_after_it_and_old_files_keep_their_page_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite");
        let (master, t) = (MasterKey::generate(), TenantId::parse("t").unwrap());
        let wrapped = master.wrap(&DataKey::generate("t")).unwrap();
        let org = OrgId::parse("org").unwrap();
        let (one, loaded) = (AddresseeNo::parse("A-1").unwrap(), AddresseeNo::parse("A-2").unwrap());
        let item = ItemCode::parse("TAX").unwrap();
        let (april, july) = (Date::from_ymd(2026, 4, 1).unwrap(), Date::from_ymd(2026, 7, 1).unwrap());

        // Made by an earlier release: 4 KiB pages, which stay.
        let made = rusqlite::Connection::open(&path).unwrap();
        made.execute_batch("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE made_before (x)").unwrap();
        drop(made);
        // Version 2: one copy written on its own (a random id), one by a bulk load (a natural-key id).
        let old = TenantStore::new(Db::open_sqlite(&path, &BEFORE_V3).unwrap(), t.clone(), master.unwrap("t", &wrapped).unwrap()).unwrap();
        // (Written as that release wrote it: today's upsert writes columns of later versions.)
        let (id, one_idx) = (new_id(), old.addressee_idx(&org, &one));
        let enc = old.dk.encrypt("provision_copies.fields", &id, &serde_json::to_vec(&copy_fields("100")).unwrap()).unwrap();
        old.tx(move |tx| {
            tx.execute(
                "INSERT INTO provision_copies (tenant_id, org_id, id, addressee_idx, item, valid_from, fields_enc, updated_at)
                 VALUES ('t', 'org', ?1, ?2, 'TAX', '2026-04-01', ?3, 0)",
                args![id, one_idx, enc],
            )
        })
        .await
        .unwrap();
        // As a bulk load of the previous release wrote it: the natural key as the row's id.
        let c = old.copy_preparer(&org).prepare(2, &loaded, &item, april, &copy_fields("200")).unwrap();
        old.tx(move |tx| {
            tx.execute(
                "INSERT INTO provision_copies (tenant_id, org_id, id, addressee_idx, item, valid_from, fields_enc, updated_at, import_id)
                 VALUES ('t', 'org', ?1, ?2, ?3, ?4, ?5, 0, 'load-1')",
                args![c.id, c.a_idx, c.item, c.valid_from, c.enc],
            )
        })
        .await
        .unwrap();
        drop(old);

        let store =
            TenantStore::new(Db::open_sqlite(&path, &SQLITE_MIGRATIONS).unwrap(), t, master.unwrap("t", &wrapped).unwrap()).unwrap();
        let tax = |v: &[CopyVersion]| v.iter().map(|c| c.fields["resident_tax"].clone()).collect::<Vec<_>>();
        assert_eq!(tax(&store.copies_valid_on(&org, &one, std::slice::from_ref(&item), july).await.unwrap()), [json!("100")]);
        assert_eq!(tax(&store.copies_valid_on(&org, &loaded, std::slice::from_ref(&item), july).await.unwrap()), [json!("200")]);
        // The migrated rows are keyed by the natural key: a write replaces the version in place
        // and a new valid-from date adds history.
        store.upsert_copy(&org, &one, &item, april, &copy_fields("110")).await.unwrap();
        store.upsert_copy(&org, &one, &item, july, &copy_fields("120")).await.unwrap();
        assert_eq!(tax(&store.copies_valid_on(&org, &one, std::slice::from_ref(&item), july).await.unwrap()), [json!("120")]);
        assert_eq!(tax(&store.copies_valid_on(&org, &one, std::slice::from_ref(&item), april).await.unwrap()), [json!("110")]);
        // A bulk load replaces a migrated row; the row keeps no id of its own and still opens.
        let c = store.copy_preparer(&org).prepare(2, &loaded, &item, april, &copy_fields("210")).unwrap();
        store.bulk(&org, move |b| Ok((b.copy(c).and_then(|_| b.flush(&mut |_| {}))?, Finish::Commit))).await.unwrap();
        assert_eq!(tax(&store.copies_valid_on(&org, &loaded, std::slice::from_ref(&item), july).await.unwrap()), [json!("210")]);
        let count = |sql: &'static str| store.db.tx(Scope::Tenant("t".into()), move |tx| tx.value::<i64>(sql, args![]));
        assert_eq!(count("SELECT COUNT(*) FROM provision_copies").await.unwrap(), 3);
        assert_eq!(count("SELECT COUNT(*) FROM provision_copies WHERE id IS NULL").await.unwrap(), 1);
        assert_eq!(count("PRAGMA page_size").await.unwrap(), 4096);
        // A file made now has the larger pages.
        let new = Db::open_sqlite(&dir.path().join("new.sqlite"), &SQLITE_MIGRATIONS).unwrap();
        let page = new.tx(Scope::Tenant("t".into()), |tx| tx.value::<i64>("PRAGMA page_size", args![])).await.unwrap();
        assert_eq!(page, crate::migrate::BULK_PAGE_SIZE);
    }

    /// Tenant files take bulk loads (large pages); the platform's and the hub's take small
    /// transactions only (small pages). Every store's connection syncs each commit
    /// (`synchronous = FULL`, 2), so an acknowledged write survives a power cut.
    #[tokio::test]
    async fn each_stores_new_file_has_the_page_size_of_its_writes_and_every_commit_is_synced() {
        let dir = tempfile::tempdir().unwrap();
        let location = crate::Location::Dir(dir.path().to_path_buf());
        let platform = crate::platform::PlatformStore::open(&location).await.unwrap();
        let tenant = platform.tenant_store(TenantId::parse("t").unwrap(), DataKey::generate("t")).await.unwrap();
        let hub = crate::hub::HubStore::open(&location).await.unwrap();
        let page_size = |path: std::path::PathBuf| {
            rusqlite::Connection::open(path).unwrap().query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0)).unwrap()
        };
        assert_eq!(page_size(crate::layout::platform_db(dir.path())), crate::migrate::SMALL_PAGE_SIZE);
        assert_eq!(page_size(crate::layout::hub_db(dir.path())), crate::migrate::SMALL_PAGE_SIZE);
        for db in [&platform.db, &tenant.db, &hub.db] {
            let synchronous = db.tx(Scope::Global, |tx| tx.value::<i64>("PRAGMA synchronous", args![])).await.unwrap();
            assert_eq!(synchronous, 2, "synchronous = FULL");
            let synchronous = db.read(Scope::Global, |tx| tx.value::<i64>("PRAGMA synchronous", args![])).await.unwrap();
            assert_eq!(synchronous, 2, "synchronous = FULL on reader connections too");
        }
        // A tenant's file is made on its first transaction.
        assert_eq!(page_size(crate::layout::tenant_db(dir.path(), &TenantId::parse("t").unwrap())), crate::migrate::BULK_PAGE_SIZE);
        drop((platform, tenant, hub));
    }
}
