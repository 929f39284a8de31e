//! The two backends' schemas say the same thing: every table and column of a fresh SQLite store
//! (the platform file, a tenant file, the hub file) is in a fresh PostgreSQL store with the same
//! kind of type and the same nullability, and the other way round, except for the differences
//! written down in `INTENDED`. A migration added to one backend only fails here.

use renkei_crypto::datakey::MasterKey;
use renkei_domain::{AddresseeNo, OrgCode, OrgId, OrgType, TenantId};
use renkei_store::Location;
use renkei_store::hub::HubStore;
use renkei_store::platform::{Org, PlatformStore};
use renkei_store::testing::TestDatabase;
use std::collections::BTreeSet;
use std::path::Path;

/// Where the backends differ on purpose: (store, `table.column`s, SQLite, PostgreSQL, why).
const INTENDED: &[(&str, &[&str], &str, &str, &str)] = &[
    (
        "platform",
        &["provision_copies.valid_from", "queries.reference_date"],
        "text not null",
        "date not null",
        "PostgreSQL compares dates as dates; SQLite compares YYYY-MM-DD text, which orders the same for years 0001–9999",
    ),
    (
        "platform",
        &["provision_copies.id"],
        "text null",
        "text not null",
        "on SQLite a bulk-loaded copy stores no row id: its id is its natural key (tenant migration 3)",
    ),
    (
        "platform",
        &["tenants.id", "api_keys.key_hash"],
        "text null",
        "text not null",
        "SQLite lets a one-column TEXT PRIMARY KEY hold NULL unless it says NOT NULL (a quirk it keeps for old files); \
         renkei never writes NULL there, and changing it would rebuild the table",
    ),
    ("hub", &["orgs.id", "queries.request_id", "resident_tokens.token_hash"], "text null", "text not null", "as tenants.id"),
];

/// Kinds of type that mean the same on both backends.
fn kind(sql_type: &str) -> &'static str {
    match sql_type.to_ascii_lowercase().as_str() {
        "integer" | "bigint" => "int",
        "text" => "text",
        "blob" | "bytea" => "bytes",
        "date" => "date",
        _ => "other",
    }
}

/// `table.column` → "kind null|not null" for every table of the SQLite files in `dir`.
fn sqlite_columns(files: &[&Path]) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for f in files {
        let conn = rusqlite::Connection::open(f).unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT m.name, p.name, p.type, p.\"notnull\", p.pk FROM sqlite_master m JOIN pragma_table_info(m.name) p
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
            )
            .unwrap();
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?, r.get::<_, i64>(4)?))
            })
            .unwrap();
        for row in rows {
            let (table, column, ty, not_null, pk) = row.unwrap();
            // An INTEGER PRIMARY KEY is the rowid, never NULL, though SQLite does not say NOT NULL.
            let not_null = not_null == 1 || (pk > 0 && ty.eq_ignore_ascii_case("integer"));
            out.insert((format!("{table}.{column}"), format!("{} {}", kind(&ty), if not_null { "not null" } else { "null" })));
        }
    }
    out
}

fn postgres_columns(db: &TestDatabase, schema: &str) -> BTreeSet<(String, String)> {
    let text = db
        .text(&format!(
            "SELECT string_agg(table_name || '.' || column_name || '=' || data_type || '=' || is_nullable, ',')
             FROM information_schema.columns WHERE table_schema = '{schema}'"
        ))
        .unwrap();
    text.split(',')
        .map(|c| {
            let parts: Vec<&str> = c.split('=').collect();
            (parts[0].to_owned(), format!("{} {}", kind(parts[1]), if parts[2] == "NO" { "not null" } else { "null" }))
        })
        .collect()
}

/// The differences between the two sets, as `INTENDED` writes them.
fn differences(
    store: &str,
    sqlite: &BTreeSet<(String, String)>,
    pg: &BTreeSet<(String, String)>,
) -> BTreeSet<(String, String, String, String)> {
    let columns: BTreeSet<&String> = sqlite.iter().chain(pg).map(|(c, _)| c).collect();
    let of =
        |set: &BTreeSet<(String, String)>, c: &String| set.iter().find(|(k, _)| k == c).map_or("absent".to_owned(), |(_, v)| v.clone());
    columns.into_iter().map(|c| (store.to_owned(), c.clone(), of(sqlite, c), of(pg, c))).filter(|(_, _, s, p)| s != p).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_have_the_same_tables_and_columns_but_for_the_written_differences() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDatabase::create().unwrap();
    let master = MasterKey::generate();
    for location in [Location::new(None, dir.path(), "renkei").unwrap(), Location::new(Some(&db.url), dir.path(), "renkei").unwrap()] {
        let platform = PlatformStore::open(&location).await.unwrap();
        let tenant = TenantId::parse("t").unwrap();
        platform.create_tenant(&master, &tenant, "t", "test").await.unwrap();
        let dk = platform.data_key(&master, &tenant).await.unwrap();
        let org =
            Org { tenant: tenant.clone(), id: OrgId::parse("t-org").unwrap(), org_type: OrgType::parse("MUNI").unwrap(), name: "t".into() };
        platform.create_org(&dk, &org, "test").await.unwrap();
        // A tenant's SQLite file is made on its first write.
        let store = platform.tenant_store(tenant, dk).await.unwrap();
        store.register_person(&org.id, &AddresseeNo::parse("A1").unwrap(), &OrgCode::parse("c").unwrap()).await.unwrap();
        let hub_location = match &location {
            Location::Postgres { .. } => Location::new(Some(&db.url), dir.path(), "renkei_hub").unwrap(),
            _ => location.clone(),
        };
        HubStore::open(&hub_location).await.unwrap();
    }
    let files: Vec<std::path::PathBuf> = walk(dir.path());
    let named = |part: &str| files.iter().filter(|f| f.display().to_string().contains(part)).map(|f| f.as_path()).collect::<Vec<_>>();
    let (hub_files, rest): (Vec<&Path>, Vec<&Path>) = files.iter().map(|f| f.as_path()).partition(|f| named("hub").contains(f));
    let (key_files, platform_files): (Vec<&Path>, Vec<&Path>) = rest.into_iter().partition(|f| named("keys").contains(f));
    assert!(
        !hub_files.is_empty() && !key_files.is_empty() && platform_files.len() >= 2,
        "the hub's, the key store's, the platform's and a tenant's file: {files:?}"
    );

    let mut found = differences("platform", &sqlite_columns(&platform_files), &postgres_columns(&db, "renkei"));
    found.extend(differences("keys", &sqlite_columns(&key_files), &postgres_columns(&db, "renkei_keys")));
    found.extend(differences("hub", &sqlite_columns(&hub_files), &postgres_columns(&db, "renkei_hub")));
    let intended: BTreeSet<(String, String, String, String)> = INTENDED
        .iter()
        .flat_map(|(s, columns, l, p, _)| columns.iter().map(|c| (s.to_string(), c.to_string(), l.to_string(), p.to_string())))
        .collect();
    assert_eq!(found, intended, "the schemas differ other than as written in INTENDED (store, column, SQLite, PostgreSQL)");
}

/// The SQLite database files under `dir` (not their WAL or shared-memory files).
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if std::fs::read(&p).is_ok_and(|b| b.starts_with(b"SQLite format 3\0")) {
            out.push(p);
        }
    }
    out
}
