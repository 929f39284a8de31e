//! A throw-away PostgreSQL database per test, so tests on the PostgreSQL backend run in parallel
//! without seeing each other. The server comes from `RENKEI_TEST_DATABASE` (default
//! `postgres://postgres@127.0.0.1:5432/test`, which `.ci/run` makes sure is running); the role
//! must be allowed to create databases.

use crate::{Result, StoreError};

/// Where the test databases are created.
pub fn server_url() -> String {
    std::env::var("RENKEI_TEST_DATABASE").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A database created for one test and dropped when this value is.
pub struct TestDatabase {
    /// The new database's URL, as the owner.
    pub url: String,
    name: String,
    server: String,
}

fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let (scheme, rest) = base.split_once("://").unwrap_or(("postgres", base));
    let host = rest.split_once('/').map_or(rest, |(h, _)| h);
    match query {
        Some(q) => format!("{scheme}://{host}/{db}?{q}"),
        None => format!("{scheme}://{host}/{db}"),
    }
}

fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    // The synchronous client must not run on an async worker thread.
    std::thread::spawn(f).join().map_err(|_| StoreError::Task("test database thread panicked".into()))?
}

impl TestDatabase {
    pub fn create() -> Result<Self> {
        let server = server_url();
        let name = format!("renkei_t_{}", uuid::Uuid::new_v4().simple());
        let (s, n) = (server.clone(), name.clone());
        blocking(move || {
            let mut c = postgres::Client::connect(&s, postgres::NoTls)
                .map_err(|e| StoreError::Unavailable(format!("test PostgreSQL at {} is not reachable: {e}", crate::db::redact(&s))))?;
            c.batch_execute(&format!("CREATE DATABASE {n}"))?;
            Ok(())
        })?;
        Ok(Self { url: with_database(&server, &name), name, server })
    }

    /// Runs statements as the owner (superuser) on the test database.
    pub fn execute(&self, sql: &str) -> Result<()> {
        let (url, sql) = (self.url.clone(), sql.to_owned());
        blocking(move || Ok(postgres::Client::connect(&url, postgres::NoTls)?.batch_execute(&sql)?))
    }

    /// The first column of the first row of `sql`, as text, run as the owner.
    pub fn text(&self, sql: &str) -> Result<String> {
        let (url, sql) = (self.url.clone(), sql.to_owned());
        blocking(move || Ok(postgres::Client::connect(&url, postgres::NoTls)?.query_one(&sql, &[])?.get::<_, String>(0)))
    }

    /// Refuses (or again allows) new connections to the test database, and ends the open ones:
    /// the database "goes away" as far as the processes using it can tell.
    pub fn set_reachable(&self, reachable: bool) -> Result<()> {
        self.on_server(&format!("ALTER DATABASE {} ALLOW_CONNECTIONS {reachable}", self.name))?;
        if !reachable {
            self.terminate_connections()?;
        }
        Ok(())
    }

    /// Ends every open connection to the test database (as a restart of PostgreSQL would).
    pub fn terminate_connections(&self) -> Result<()> {
        self.on_server(&format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'", self.name))
    }

    /// The test database's URL, logging in as `user` instead.
    pub fn url_as(&self, user: &str) -> String {
        let (scheme, rest) = self.url.split_once("://").unwrap_or(("postgres", &self.url));
        let host_and_db = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        format!("{scheme}://{user}@{host_and_db}")
    }

    /// Runs `sql` on the server's own database (for statements about the test database).
    fn on_server(&self, sql: &str) -> Result<()> {
        let (server, sql) = (self.server.clone(), sql.to_owned());
        blocking(move || Ok(postgres::Client::connect(&server, postgres::NoTls)?.batch_execute(&sql)?))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = self.on_server(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
    }
}

/// A fresh platform store on SQLite (in a new temporary directory) or on a new PostgreSQL test
/// database: (the directory, the database if any, where the store is, the store).
pub async fn platform_store(postgres: bool) -> (tempfile::TempDir, Option<TestDatabase>, crate::Location, crate::platform::PlatformStore) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let pg = postgres.then(|| TestDatabase::create().expect("a PostgreSQL server for tests (see .ci/run)"));
    let location = crate::Location::new(pg.as_ref().map(|d| d.url.as_str()), dir.path(), "renkei").expect("a location");
    let platform = crate::platform::PlatformStore::open(&location).await.expect("the platform store opens");
    (dir, pg, location, platform)
}

/// Declares each named `async fn name(f: Fixture)` of a test file as two tests, `sqlite::name`
/// and `postgres::name`, each given `Fixture::new(postgres).await` of that file.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::Fixture::new(false).await).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::Fixture::new(true).await).await
            })*
        }
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_database_name_replaces_the_path_only() {
        assert_eq!(super::with_database("postgres://u@h:5432/test", "x"), "postgres://u@h:5432/x");
        assert_eq!(super::with_database("postgres://u@h/test?sslmode=disable", "x"), "postgres://u@h/x?sslmode=disable");
        assert_eq!(super::with_database("postgres://h", "x"), "postgres://h/x");
    }
}
