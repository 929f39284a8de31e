//! The audit log's chain, checkpoints and verification against tampering done directly in the
//! database, on both backends (`sqlite::…`, `postgres::…`): as the owner of the PostgreSQL
//! database, or with a connection of its own to the SQLite file.

use renkei_crypto::auditlog::{CheckpointSigner, Tamper};
use renkei_crypto::datakey::MasterKey;
use renkei_domain::{OrgId, OrgType, TenantId};
use renkei_store::audit::{AuditChain, ChainCheck};
use renkei_store::platform::{Org, PlatformStore};
use renkei_store::testing::TestDatabase;
use renkei_store::{Location, Scope};

/// A platform with tenant `t` (its chain: tenant.create, org.create, then three imports) and a
/// checkpoint of the chain at entry 5.
struct Fixture {
    platform: PlatformStore,
    signer: CheckpointSigner,
    dir: tempfile::TempDir,
    pg: Option<TestDatabase>,
}

fn t() -> TenantId {
    TenantId::parse("t").unwrap()
}

fn chain() -> AuditChain {
    AuditChain::Tenant(t())
}

impl Fixture {
    async fn new(postgres: bool) -> Fixture {
        let (dir, pg, _, platform) = renkei_store::testing::platform_store(postgres).await;
        let master = MasterKey::generate();
        platform.create_tenant(&master, &t(), "T", "operator").await.unwrap();
        let dk = platform.data_key(&master, &t()).await.unwrap();
        let org = Org { tenant: t(), id: OrgId::parse("org").unwrap(), org_type: OrgType::parse("MUNI").unwrap(), name: "org".into() };
        platform.create_org(&dk, &org, "operator").await.unwrap();
        for n in 0..3 {
            platform.audit(&t(), "client system", "import", &format!("load {n}")).await.unwrap();
        }
        let signer = CheckpointSigner::from_master(&master).unwrap();
        assert_eq!(platform.write_audit_checkpoint(&signer, &chain()).await.unwrap(), Some(5));
        Fixture { platform, signer, dir, pg }
    }

    /// Runs `sql` on the platform database behind the store's back.
    fn tamper(&self, sql: &str) {
        match &self.pg {
            Some(db) => db.execute(&format!("SET search_path TO renkei; {sql}")).unwrap(),
            None => rusqlite::Connection::open(renkei_store::layout::platform_db(self.dir.path())).unwrap().execute_batch(sql).unwrap(),
        }
    }

    async fn verify(&self) -> ChainCheck {
        self.platform.verify_audit(self.signer.verifier(), &chain(), &[]).await.unwrap()
    }
}

renkei_store::on_both_backends!(
    every_act_takes_the_next_place_of_its_tenants_chain_and_verifies,
    an_edited_entry_is_named,
    a_deleted_entry_is_named,
    reordered_entries_are_named,
    entries_cut_from_the_end_are_caught_by_the_checkpoint,
    entries_cut_from_the_end_are_caught_by_the_head,
    a_forged_checkpoint_is_refused,
    an_entry_slipped_in_outside_the_chain_is_named,
    a_checkpoint_kept_elsewhere_catches_a_rewritten_log,
);

async fn every_act_takes_the_next_place_of_its_tenants_chain_and_verifies(f: Fixture) {
    let ChainCheck::Sound { verified, unchained } = f.verify().await else { panic!("{}", f.verify().await) };
    assert_eq!((verified.entries, verified.checkpoints, unchained), (5, 1, 0));
    assert_eq!(f.platform.write_audit_checkpoint(&f.signer, &chain()).await.unwrap(), None, "nothing new to checkpoint");
    f.platform.audit(&t(), "operator", "api_key.revoke", "id=1").await.unwrap();
    assert_eq!(f.platform.write_audit_checkpoint(&f.signer, &chain()).await.unwrap(), Some(6));
    let ChainCheck::Sound { verified, .. } = f.verify().await else { panic!("{}", f.verify().await) };
    assert_eq!((verified.entries, verified.checkpoints), (6, 2));
    assert_eq!(f.platform.audit_chains().await.unwrap(), vec![chain()]);
    assert_eq!(f.platform.audit_checkpoints(&chain()).await.unwrap().len(), 2);
}

async fn an_edited_entry_is_named(f: Fixture) {
    f.tamper("UPDATE audit_log SET detail = 'load 9' WHERE chain_seq = 4");
    assert_eq!(f.verify().await, ChainCheck::Tampered(Tamper::Changed { chain: "t".into(), seq: 4 }));
}

async fn a_deleted_entry_is_named(f: Fixture) {
    f.tamper("DELETE FROM audit_log WHERE chain_seq = 2");
    assert_eq!(f.verify().await, ChainCheck::Tampered(Tamper::Missing { chain: "t".into(), expected: 2, found: 3 }));
}

async fn reordered_entries_are_named(f: Fixture) {
    f.tamper(
        "UPDATE audit_log SET chain_seq = 100 WHERE chain_seq = 3;
         UPDATE audit_log SET chain_seq = 3 WHERE chain_seq = 4;
         UPDATE audit_log SET chain_seq = 4 WHERE chain_seq = 100;",
    );
    assert_eq!(f.verify().await, ChainCheck::Tampered(Tamper::Changed { chain: "t".into(), seq: 3 }));
}

async fn entries_cut_from_the_end_are_caught_by_the_checkpoint(f: Fixture) {
    // The head is set back to match: only the signed checkpoint still knows.
    f.tamper(
        "DELETE FROM audit_log WHERE chain_seq = 5;
         UPDATE audit_heads SET size = 4, head = (SELECT hash FROM audit_log WHERE chain_seq = 4);",
    );
    assert_eq!(f.verify().await, ChainCheck::Tampered(Tamper::Truncated { chain: "t".into(), entries: 4, size: 5 }));
}

async fn entries_cut_from_the_end_are_caught_by_the_head(f: Fixture) {
    f.platform.audit(&t(), "operator", "api_key.revoke", "id=1").await.unwrap();
    f.tamper("DELETE FROM audit_log WHERE chain_seq = 6");
    assert_eq!(f.verify().await, ChainCheck::Tampered(Tamper::HeadMismatch { chain: "t".into(), size: 6 }));
}

async fn a_forged_checkpoint_is_refused(f: Fixture) {
    f.tamper("UPDATE audit_checkpoints SET note = replace(note, 'renkei/audit/t\n5\n', 'renkei/audit/t\n4\n')");
    assert_eq!(f.verify().await, ChainCheck::Tampered(Tamper::BadCheckpoint { chain: "t".into() }));
}

async fn an_entry_slipped_in_outside_the_chain_is_named(f: Fixture) {
    f.tamper("INSERT INTO audit_log (tenant_id, actor, action, detail, at) VALUES ('t', 'operator', 'tenant.create', '', 0)");
    assert_eq!(f.verify().await, ChainCheck::OutsideTheChain { chain: "t".into() });
}

async fn a_checkpoint_kept_elsewhere_catches_a_rewritten_log(f: Fixture) {
    // The municipality keeps its checkpoint; then the log is cut and every checkpoint with it.
    let kept = f.platform.audit_checkpoints(&chain()).await.unwrap();
    f.tamper(
        "DELETE FROM audit_log WHERE chain_seq = 5;
         DELETE FROM audit_checkpoints;
         UPDATE audit_heads SET size = 4, head = (SELECT hash FROM audit_log WHERE chain_seq = 4);",
    );
    assert!(matches!(f.verify().await, ChainCheck::Sound { .. }), "the database alone no longer shows it");
    let check = f.platform.verify_audit(f.signer.verifier(), &chain(), &kept).await.unwrap();
    assert_eq!(check, ChainCheck::Tampered(Tamper::Truncated { chain: "t".into(), entries: 4, size: 5 }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_the_application_role_can_neither_change_nor_delete_entries_or_checkpoints() {
    let f = Fixture::new(true).await;
    for sql in [
        "UPDATE audit_log SET detail = ''",
        "DELETE FROM audit_log",
        "UPDATE audit_checkpoints SET note = ''",
        "DELETE FROM audit_checkpoints",
    ] {
        let r = f.platform.raw(Scope::Tenant("t".into()), move |tx| tx.execute(sql, &[])).await;
        assert!(r.is_err(), "{sql} was allowed: {r:?}");
    }
    assert!(matches!(f.verify().await, ChainCheck::Sound { .. }));
}

/// A platform upgraded from before the chain: its older entries have no place and are counted
/// apart, and the chain verifies from the first act after the upgrade.
async fn entries_from_before_the_chain_are_counted_apart(postgres: bool) {
    let dir = tempfile::tempdir().unwrap();
    let pg = postgres.then(|| TestDatabase::create().unwrap());
    let location = Location::new(pg.as_ref().map(|d| d.url.as_str()), dir.path(), "renkei").unwrap();
    let platform = PlatformStore::open(&location).await.unwrap();
    let master = MasterKey::generate();
    platform.create_tenant(&master, &t(), "T", "operator").await.unwrap();
    let legacy = "INSERT INTO audit_log (tenant_id, actor, action, detail, at) VALUES ('t', 'operator', 'import', 'old', 0)";
    let f = Fixture { platform, signer: CheckpointSigner::from_master(&master).unwrap(), dir, pg };
    // Written as the migration leaves an older entry: before the first chained one.
    f.tamper(&format!("DELETE FROM audit_log; DELETE FROM audit_heads; {legacy};"));
    f.platform.audit(&t(), "operator", "api_key.revoke", "id=1").await.unwrap();
    let ChainCheck::Sound { verified, unchained } = f.verify().await else { panic!("{}", f.verify().await) };
    assert_eq!((verified.entries, unchained), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_entries_from_before_the_chain_are_counted_apart() {
    entries_from_before_the_chain_are_counted_apart(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_entries_from_before_the_chain_are_counted_apart() {
    entries_from_before_the_chain_are_counted_apart(true).await
}
