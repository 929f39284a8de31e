//! What renkei asks of the PostgreSQL cluster a platform is in, to back it up with pgBackRest:
//! where its files and socket are, whether it archives its write-ahead log and with what
//! command, whether the key store is in another cluster, and, for a drill, when a recovered
//! copy of it has finished recovering. Run as the connecting role, which must be allowed to
//! read the server's settings and change `archive_command` (a superuser, or granted
//! `pg_read_all_settings` and `ALTER SYSTEM` on it).

use crate::db::Db;
use crate::platform::PlatformStore;
use crate::{Result, StoreError};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The running cluster, as it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterFacts {
    pub data_directory: PathBuf,
    /// The first of `unix_socket_directories`.
    pub socket_directory: PathBuf,
    pub port: u16,
    /// The major version (15 for 15.x).
    pub major_version: u32,
    pub archive_mode: String,
    pub archive_command: String,
    pub system_identifier: i64,
}

fn pool(db: &Db) -> Result<std::sync::Arc<crate::pg::Pool>> {
    match db {
        Db::Postgres(pool) => Ok(pool.clone()),
        Db::Sqlite(_) => Err(StoreError::Conflict("the store is on SQLite, not in a PostgreSQL cluster".into())),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| StoreError::Task(e.to_string()))?
}

fn system_identifier(client: &mut postgres::Client) -> Result<i64> {
    Ok(client.query_one("SELECT system_identifier FROM pg_control_system()", &[])?.get(0))
}

impl PlatformStore {
    /// The cluster the platform's data is in.
    pub async fn cluster_facts(&self) -> Result<ClusterFacts> {
        let pool = pool(&self.db)?;
        blocking(move || {
            let mut c = pool.owner_session()?;
            let setting = |c: &mut postgres::Client, name: &str| -> Result<String> {
                Ok(c.query_one("SELECT setting FROM pg_settings WHERE name = $1", &[&name])?.get(0))
            };
            let sockets = setting(&mut c, "unix_socket_directories")?;
            Ok(ClusterFacts {
                data_directory: setting(&mut c, "data_directory")?.into(),
                socket_directory: sockets.split(',').next().unwrap_or("").trim().into(),
                port: setting(&mut c, "port")?.parse().map_err(|_| StoreError::Corrupt("the server's port is not a number".into()))?,
                major_version: setting(&mut c, "server_version_num")?.parse::<u32>().map(|v| v / 10000).unwrap_or(0),
                archive_mode: setting(&mut c, "archive_mode")?,
                archive_command: setting(&mut c, "archive_command")?,
                system_identifier: system_identifier(&mut c)?,
            })
        })
        .await
    }

    /// Sets the cluster's `archive_command` and has the server read it again.
    pub async fn set_archive_command(&self, command: &str) -> Result<()> {
        let pool = pool(&self.db)?;
        let sql = format!("ALTER SYSTEM SET archive_command = '{}'", command.replace('\'', "''"));
        blocking(move || {
            let mut c = pool.owner_session()?;
            c.batch_execute(&sql)?;
            c.batch_execute("SELECT pg_reload_conf()")?;
            Ok(())
        })
        .await
    }

    /// Whether the key store is in the same PostgreSQL cluster as the data (a key store in a
    /// directory never is).
    pub async fn key_store_shares_the_cluster(&self) -> Result<bool> {
        let Db::Postgres(keys) = &self.keys.db else { return Ok(false) };
        let (data, keys) = (pool(&self.db)?, keys.clone());
        blocking(move || Ok(system_identifier(&mut data.owner_session()?)? == system_identifier(&mut keys.owner_session()?)?)).await
    }
}

/// The URL of the database `live` names, reached instead over the Unix socket in `socket` with
/// `port`, as the same user: a recovered copy of the cluster, listening on no network.
pub fn socket_url(live: &str, socket: &Path, port: u16) -> Result<String> {
    let target = crate::db::redact(live);
    let (url, _) = crate::pg_tls::from_url(live, &target)?;
    let config: postgres::Config = url
        .parse()
        .map_err(|e: postgres::Error| StoreError::Open { path: target.clone(), reason: format!("not a valid PostgreSQL URL: {e}") })?;
    let user = config.get_user().unwrap_or("postgres");
    let db = config.get_dbname().unwrap_or(user);
    let host: String = socket
        .display()
        .to_string()
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    Ok(format!("postgres://{user}@{host}:{port}/{db}"))
}

/// Waits until the server at `url` accepts connections and has finished recovering (promoted),
/// at most `timeout`.
pub async fn wait_until_recovered(url: &str, timeout: Duration) -> Result<()> {
    let pool = crate::pg::Pool::new(url, "public", "")?;
    blocking(move || {
        let started = Instant::now();
        loop {
            let recovering = pool.owner_session().and_then(|mut c| Ok(c.query_one("SELECT pg_is_in_recovery()", &[])?.get::<_, bool>(0)));
            match recovering {
                Ok(false) => return Ok(()),
                Ok(true) | Err(StoreError::Unavailable(_)) if started.elapsed() < timeout => std::thread::sleep(Duration::from_millis(200)),
                Ok(true) => {
                    return Err(StoreError::Unavailable(format!(
                        "the recovered cluster was still recovering after {} s",
                        timeout.as_secs()
                    )));
                }
                Err(e) => return Err(e),
            }
        }
    })
    .await
}

/// A PostgreSQL connection kept open on a thread of its own until this is dropped: what holds
/// a session's snapshot (`restore_point`) or advisory lock while async code goes on.
pub struct HeldSession {
    _release: std::sync::mpsc::Sender<()>,
}

/// Runs `open` on a thread of its own and keeps the client it returns open there, until the
/// [`HeldSession`] is dropped; what `open` found besides.
pub(crate) async fn hold_session<T: Send + 'static>(
    open: impl FnOnce() -> Result<(postgres::Client, T)> + Send + 'static,
) -> Result<(T, HeldSession)> {
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<T>>();
    let (release, released) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || match open() {
        Ok((client, found)) => {
            if ready_tx.send(Ok(found)).is_ok() {
                // Returns once the sender is dropped.
                let _ = released.recv();
            }
            // Closing the session ends its transaction and lets its locks go.
            drop(client);
        }
        Err(e) => {
            let _ = ready_tx.send(Err(e));
        }
    });
    let found = ready_rx.await.map_err(|_| StoreError::Task("the held session's thread stopped".into()))??;
    Ok((found, HeldSession { _release: release }))
}

/// A PostgreSQL session-level advisory lock, held until dropped (or the process dies): one
/// holder across every host serving the platform.
pub type SessionLock = HeldSession;

impl PlatformStore {
    /// Takes the advisory lock `name` of the platform's schema if no session holds it; `None`
    /// if one does. PostgreSQL only.
    pub async fn try_session_lock(&self, name: &str) -> Result<Option<SessionLock>> {
        let pool = pool(&self.db)?;
        let key = format!("{name}:{}", pool.schema());
        let (taken, held) = hold_session(move || {
            let mut c = pool.owner_session()?;
            let taken: bool = c.query_one("SELECT pg_try_advisory_lock(hashtext($1))", &[&key])?.get(0);
            Ok((c, taken))
        })
        .await?;
        // Not taken: dropping `held` closes the session.
        Ok(taken.then_some(held))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recovered_copy_is_reached_on_its_socket_as_the_same_user_without_the_password() {
        let url = socket_url("postgres://app:s3cret@db.example:6543/renkei?sslmode=disable", Path::new("/tmp/drill x"), 5432).unwrap();
        assert_eq!(url, "postgres://app@%2Ftmp%2Fdrill%20x:5432/renkei");
        let parsed: postgres::Config = url.parse().unwrap();
        assert_eq!(parsed.get_hosts(), [postgres::config::Host::Unix("/tmp/drill x".into())]);
    }
}
