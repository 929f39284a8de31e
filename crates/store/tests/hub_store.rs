//! The hub store's rules, on both backends (`sqlite::…` and `postgres::…`).

use renkei_domain::{OrgId, OrgType};
use renkei_store::Location;
use renkei_store::hub::{DirectoryEntry, HubStore};
use renkei_store::testing::TestDatabase;
use std::collections::HashMap;

struct Fixture {
    store: HubStore,
    org: OrgId,
    _dir: tempfile::TempDir,
    _pg: Option<TestDatabase>,
}

async fn fixture(postgres: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let pg = postgres.then(|| TestDatabase::create().expect("a PostgreSQL server for tests (see .ci/run)"));
    let location = Location::new(pg.as_ref().map(|d| d.url.as_str()), dir.path(), "hub").unwrap();
    let store = HubStore::open(&location).await.unwrap();
    let org = OrgId::parse("city").unwrap();
    let entry = DirectoryEntry {
        id: org.clone(),
        org_type: OrgType::parse("MUNI").unwrap(),
        name: "City".into(),
        endpoint: "https://127.0.0.1:1".into(),
        verify_key: "unused".into(),
        seal_key: "unused".into(),
        group: String::new(),
    };
    store.register_org(&entry).await.unwrap();
    Fixture { store, org, _dir: dir, _pg: pg }
}

fn keys(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{i:064x}")).collect()
}

/// Batches that overlap, asked at the same time, agree on every person's one code: whichever
/// request mints a code first, the others return that one.
async fn each_person_gets_one_code_whoever_asks_first(f: Fixture) {
    let mut set = tokio::task::JoinSet::new();
    for start in [0, 300, 600, 0, 300, 600] {
        let (store, org, ks) = (f.store.clone(), f.org.clone(), keys(start..start + 700));
        set.spawn(async move { (ks.clone(), store.codes_for(&org, ks).await.unwrap()) });
    }
    let mut seen: HashMap<String, String> = HashMap::new();
    while let Some(done) = set.join_next().await {
        let (ks, codes) = done.unwrap();
        assert_eq!(ks.len(), codes.len());
        for (k, c) in ks.into_iter().zip(codes) {
            let prior = seen.entry(k.clone()).or_insert_with(|| c.to_string());
            assert_eq!(*prior, c.to_string(), "person {k} got two codes");
        }
    }
    assert_eq!(seen.len(), 1300);
    let distinct: std::collections::HashSet<_> = seen.values().collect();
    assert_eq!(distinct.len(), 1300, "no two persons share a code");
    let again = f.store.codes_for(&f.org, keys(0..1300)).await.unwrap();
    for (k, c) in keys(0..1300).iter().zip(again) {
        assert_eq!(seen[k], c.to_string(), "asking again returns the code minted before");
    }
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_person_gets_one_code_whoever_asks_first() {
        super::each_person_gets_one_code_whoever_asks_first(super::fixture(false).await).await
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_person_gets_one_code_whoever_asks_first() {
        super::each_person_gets_one_code_whoever_asks_first(super::fixture(true).await).await
    }
}
