//! The embedded SQLite backend: one thread per database file owns its connection and runs the
//! transactions callers send it, several at a time (group commit).
//!
//! Why a thread and batches: a file has a single writer anyway. With a mutex shared by blocking
//! tasks, every transaction paid a thread hand-off, a contended lock, its own `BEGIN` and its own
//! `COMMIT` (WAL frames, file locks), and those were most of the e2e bench's time
//! (docs/benchmarks.md). The thread takes whatever transactions are waiting (up to
//! [`MAX_BATCH`]), runs each inside a savepoint of one transaction, and commits once.
//!
//! Invariants:
//! - A caller's result is delivered only after the batch's `COMMIT` returned, so an answer
//!   seen by a client is durable exactly as before.
//! - Each transaction's work is kept or undone on its own: an error, a panic or
//!   [`Finish::Rollback`] rolls back to its savepoint and leaves its neighbours' work alone.
//! - If the batch itself fails (its `BEGIN` or `COMMIT`), every transaction in it that wanted
//!   its work kept gets that error, so none is told "done" for work that was lost.
//! - A transaction marked `alone` (bulk loads, which may take minutes) runs in a transaction of
//!   its own, so others' commits never wait for it to finish.
//!
//! One more thread, shared by all files, checkpoints the WAL of each file written to since its
//! last visit (copies the WAL into the database file and syncs it), every [`CHECKPOINT_EVERY`].
//! Done by the writer, as SQLite does by default, each checkpoint's `fsync` stalled every
//! transaction of the file queued behind it. `PASSIVE` checkpoints neither wait for nor block
//! the writer; should they fall behind, the writer still checkpoints itself at
//! [`WRITER_CHECKPOINT_PAGES`]. Idle files (most tenants, most of the time) cost nothing.
//!
//! Savepoints keep a statement journal: the prior content of each page a transaction of the
//! batch changes, so that it alone can be undone. With temporary files on disk SQLite writes it
//! to one past 64 KiB, four pages of a tenant file: the connection keeps its temporary data in
//! memory (e2e +10 % on 16 KiB pages, docs/benchmarks.md), except while a transaction marked
//! `alone` runs, whose temporary tables and sorts (a bulk load's stage) must stay on disk.

use crate::db::{Backend, Finish, Row, Tx, Value};
use crate::{Result, StoreError};
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak, mpsc};
use std::time::Duration;

/// Transactions run under one `COMMIT` at most.
pub const MAX_BATCH: usize = 64;

/// Prepared statements kept per connection. The stores use more distinct statements than
/// rusqlite's default cache of 16 holds.
const STATEMENT_CACHE: usize = 256;

/// How often the checkpointer copies the WAL into the database file.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// WAL size (pages: 64 MiB of 4 KiB pages, 256 MiB of 16 KiB) at which the writer checkpoints
/// itself: a backstop only.
pub const WRITER_CHECKPOINT_PAGES: i64 = 16_384;

/// How long a connection waits for another's lock on its file before it says the file is busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a connection to the SQLite file at `path` the way every connection of renkei is
/// configured. `page_size` takes effect only on a new, empty file (0 leaves it to SQLite); an
/// existing file keeps its own (a VACUUM would convert it).
///
/// - WAL: readers never block the writer.
/// - `synchronous = FULL`: a commit returns only once its WAL frames are on disk, so what was
///   acknowledged to a client or a peer survives a power cut or a kernel crash, not only a
///   killed process (`NORMAL` syncs at checkpoints only). Group commit pays one sync per batch.
pub fn connect(path: &Path, page_size: i64) -> Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    if page_size > 0 {
        conn.pragma_update(None, "page_size", page_size)?;
    }
    // Switching a new file to WAL takes an exclusive lock that SQLite does not wait for (no busy
    // handler): a second process opening the same new file at that moment is told it is locked.
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    while let Err(e) = conn.pragma_update(None, "journal_mode", "WAL") {
        let busy = matches!(&e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DatabaseBusy);
        if !busy || std::time::Instant::now() >= deadline {
            return Err(e.into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// A handle on one SQLite file's thread; cheap to clone. The thread stops (and closes the
/// connection) when the last handle is dropped; the checkpointer then lets go of the file.
#[derive(Clone)]
pub struct SqliteFile {
    jobs: mpsc::Sender<Box<dyn Job>>,
}

/// What the writer tells the checkpointer.
#[derive(Default)]
struct WalState {
    /// Commits since the checkpointer's last visit.
    written: AtomicBool,
}

impl SqliteFile {
    /// Hands `conn` (opened in WAL mode, configured and migrated) to a new thread named after
    /// `name`, and gives the checkpointer a second connection to the same file.
    pub fn start(conn: rusqlite::Connection, name: &str) -> Result<Self> {
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        temp_store(&conn, false)?;
        let wal = Arc::new(WalState::default());
        if let Some(path) = conn.path().filter(|p| !p.is_empty()) {
            let checkpointer = connect(Path::new(path), 0)?;
            conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
            checkpoint_later(checkpointer, Arc::downgrade(&wal))?;
        }
        let (jobs, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name(format!("sqlite {name}"))
            .spawn(move || run(conn, rx, wal))
            .map_err(|e| StoreError::Task(format!("cannot start the database thread: {e}")))?;
        Ok(Self { jobs })
    }

    /// Runs `f` in the file's thread, batched with whatever else is waiting unless `alone`.
    pub async fn tx<T, F>(&self, alone: bool, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<(T, Finish)> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Box::new(TxJob { f: Some(f), out: None, reply: Some(reply), alone });
        self.jobs.send(job).map_err(|_| StoreError::Task("the database thread has stopped".into()))?;
        answer.await.map_err(|_| StoreError::Task("the database thread dropped a transaction".into()))?
    }
}

/// One caller's transaction as the thread sees it.
trait Job: Send {
    fn alone(&self) -> bool;
    /// Runs the caller's closure; whether its work is to be kept.
    fn run(&mut self, tx: &mut dyn Tx) -> Finish;
    /// Delivers the caller's result once the batch has committed, or failed to.
    fn finish(self: Box<Self>, batch: std::result::Result<(), &StoreError>);
}

struct TxJob<T, F> {
    f: Option<F>,
    out: Option<Result<(T, Finish)>>,
    reply: Option<tokio::sync::oneshot::Sender<Result<T>>>,
    alone: bool,
}

impl<T, F> Job for TxJob<T, F>
where
    T: Send,
    F: FnOnce(&mut dyn Tx) -> Result<(T, Finish)> + Send,
{
    fn alone(&self) -> bool {
        self.alone
    }

    fn run(&mut self, tx: &mut dyn Tx) -> Finish {
        let Some(f) = self.f.take() else { return Finish::Rollback };
        let out = std::panic::catch_unwind(AssertUnwindSafe(|| f(tx)))
            .unwrap_or_else(|_| Err(StoreError::Task("a database transaction panicked".into())));
        let finish = match &out {
            Ok((_, finish)) => *finish,
            Err(_) => Finish::Rollback,
        };
        self.out = Some(out);
        finish
    }

    fn finish(mut self: Box<Self>, batch: std::result::Result<(), &StoreError>) {
        let result = match (self.out.take(), batch) {
            (Some(Err(e)), _) => Err(e),
            // Nothing of it was to be kept, so the batch's fate does not change its answer.
            (Some(Ok((v, Finish::Rollback))), _) => Ok(v),
            (Some(Ok((v, Finish::Commit))), Ok(())) => Ok(v),
            (Some(Ok(_)) | None, Err(e)) => Err(e.clone()),
            (None, Ok(())) => Err(StoreError::Task("a transaction was not run".into())),
        };
        if let Some(reply) = self.reply.take() {
            // The caller may have gone (its request was cancelled); its work stands regardless.
            let _ = reply.send(result);
        }
    }
}

/// The file's thread: waits for a transaction, gathers the ones waiting behind it, runs them.
fn run(mut conn: rusqlite::Connection, jobs: mpsc::Receiver<Box<dyn Job>>, wal: Arc<WalState>) {
    let mut carried: Option<Box<dyn Job>> = None;
    loop {
        let first = match carried.take() {
            Some(job) => job,
            None => match jobs.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        let mut batch = vec![first];
        if !batch[0].alone() {
            while batch.len() < MAX_BATCH {
                match jobs.try_recv() {
                    Ok(job) if job.alone() => {
                        carried = Some(job);
                        break;
                    }
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
        }
        let outcome = if batch[0].alone() { run_alone(&mut conn, &mut batch) } else { run_batch(&mut conn, &mut batch) };
        wal.written.store(true, Ordering::Relaxed);
        for job in batch {
            job.finish(outcome.as_ref().map(|_| ()));
        }
    }
}

/// Registers a file with the checkpointer, starting it on first use.
fn checkpoint_later(conn: rusqlite::Connection, wal: Weak<WalState>) -> Result<()> {
    static CHECKPOINTER: OnceLock<std::result::Result<mpsc::Sender<Watched>, String>> = OnceLock::new();
    let checkpointer = CHECKPOINTER.get_or_init(|| {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new().name("sqlite checkpoints".into()).spawn(move || checkpoints(rx)).map(|_| tx).map_err(|e| e.to_string())
    });
    let sent = match checkpointer {
        Ok(tx) => tx.send((conn, wal)).map_err(|e| e.to_string()),
        Err(e) => Err(e.clone()),
    };
    sent.map_err(|e| StoreError::Task(format!("the WAL checkpointer is not running: {e}")))
}

/// A file the checkpointer looks after, while its writer lives.
type Watched = (rusqlite::Connection, Weak<WalState>);

/// The checkpointer: every [`CHECKPOINT_EVERY`], a `PASSIVE` checkpoint of each file written to
/// since the last one.
fn checkpoints(new: mpsc::Receiver<Watched>) {
    let mut files: Vec<Watched> = Vec::new();
    loop {
        std::thread::sleep(CHECKPOINT_EVERY);
        files.extend(new.try_iter());
        files.retain(|(_, wal)| wal.strong_count() > 0);
        for (conn, wal) in &files {
            if wal.upgrade().is_some_and(|w| w.written.swap(false, Ordering::Relaxed))
                && let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            {
                tracing::warn!(error = %e, "WAL checkpoint failed; the writer will checkpoint itself");
            }
        }
    }
}

/// Where the connection keeps temporary tables, sorts and statement journals. Changing it drops
/// the temporary tables, so it is changed only between transactions.
fn temp_store(conn: &rusqlite::Connection, on_disk: bool) -> Result<()> {
    Ok(conn.pragma_update(None, "temp_store", if on_disk { "FILE" } else { "MEMORY" })?)
}

/// Runs a transaction marked `alone` with its temporary data on disk, so that memory stays flat
/// whatever a bulk load stages.
fn run_alone(conn: &mut rusqlite::Connection, batch: &mut [Box<dyn Job>]) -> Result<()> {
    temp_store(conn, true)?;
    let outcome = run_batch(conn, batch);
    if let Err(e) = temp_store(conn, false) {
        tracing::warn!(error = %e, "the SQLite connection keeps its temporary data on disk");
    }
    outcome
}

/// Runs `batch` in one transaction. A single transaction needs no savepoint.
fn run_batch(conn: &mut rusqlite::Connection, batch: &mut [Box<dyn Job>]) -> Result<()> {
    let mut tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    if let [job] = batch {
        return match job.run(&mut SqliteTx(&tx)) {
            Finish::Commit => Ok(tx.commit()?),
            Finish::Rollback => Ok(tx.rollback()?),
        };
    }
    for job in batch.iter_mut() {
        let mut sp = tx.savepoint()?;
        match job.run(&mut SqliteTx(&sp)) {
            Finish::Commit => sp.commit()?,
            Finish::Rollback => {
                sp.rollback()?;
                sp.commit()?;
            }
        }
    }
    Ok(tx.commit()?)
}

/// Statements of one transaction (or savepoint) on the file's connection.
struct SqliteTx<'a>(&'a rusqlite::Connection);

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

impl Tx for SqliteTx<'_> {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }
    fn execute(&mut self, sql: &str, args: &[Value]) -> Result<u64> {
        let mut st = self.0.prepare_cached(sql)?;
        Ok(st.execute(rusqlite::params_from_iter(args.iter()))? as u64)
    }
    fn query(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Row>> {
        use rusqlite::types::ValueRef;
        let mut st = self.0.prepare_cached(sql)?;
        let n = st.column_count();
        let mut rows = st.query(rusqlite::params_from_iter(args.iter()))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let mut vals = Vec::with_capacity(n);
            for i in 0..n {
                vals.push(match r.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Real(f) => Value::Text(f.to_string()),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                });
            }
            out.push(Row(vals));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args;

    #[tokio::test]
    async fn committed_work_reaches_the_database_file_without_the_writer_checkpointing() {
        let (dir, f) = file();
        put(&f, "a", Finish::Commit).await.unwrap();
        // `immutable=1` reads the database file alone, ignoring the WAL.
        let file_alone = || {
            let uri = format!("file:{}?immutable=1", dir.path().join("t.db").display());
            let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI;
            let conn = rusqlite::Connection::open_with_flags(uri, flags).unwrap();
            conn.query_row("SELECT count(*) FROM t", [], |r| r.get::<_, i64>(0)).unwrap()
        };
        assert_eq!(file_alone(), 0, "one commit is far below the writer's own checkpoint");
        let mut seen = 0;
        for _ in 0..50 {
            tokio::time::sleep(CHECKPOINT_EVERY).await;
            seen = file_alone();
            if seen == 1 {
                break;
            }
        }
        assert_eq!(seen, 1, "the checkpointer copied the commit into the database file");
    }

    /// Temporary files SQLite has open in this process (opened, then unlinked: `etilqs_…`).
    #[cfg(target_os = "linux")]
    fn open_temporary_files() -> usize {
        let Ok(fds) = std::fs::read_dir("/proc/self/fd") else { return 0 };
        fds.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok()).filter(|p| p.to_string_lossy().contains("etilqs")).count()
    }

    /// Each transaction of a batch runs in a savepoint, whose statement journal keeps the prior
    /// content of the pages it changes. With temporary data on disk SQLite writes that journal
    /// to a file past 64 KiB, a few pages of 16 KiB: opening, writing and closing those files
    /// was most of what 16 KiB pages cost the e2e bench (docs/benchmarks.md). A transaction
    /// marked `alone` (a bulk load) keeps its temporary tables on disk, so its memory stays flat.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn journals_stay_in_memory_and_a_bulk_loads_temporary_tables_go_to_disk() {
        let (_dir, f) = file();
        let open = f
            .tx(false, |tx| {
                // A megabyte of pages changed in the batch, then changed again in a savepoint.
                tx.execute("CREATE TABLE big (x BLOB NOT NULL)", args![])?;
                for _ in 0..64 {
                    tx.execute("INSERT INTO big VALUES (zeroblob(16384))", args![])?;
                }
                tx.execute("SAVEPOINT inner", args![])?;
                tx.execute("UPDATE big SET x = randomblob(16000)", args![])?;
                let open = open_temporary_files();
                tx.execute("RELEASE inner", args![])?;
                Ok((open, Finish::Commit))
            })
            .await
            .unwrap();
        assert_eq!(open, 0, "a journal of a megabyte in memory");
        assert!(temporary_files_of_a_16_mib_temp_table(&f, true).await > 0, "a bulk load's stage on disk");
        // Back in memory for the next batch.
        let open = temporary_files_of_a_16_mib_temp_table(&f, false).await;
        assert_eq!(open, 0, "temporary data in memory again after the bulk load");
    }

    /// Fills a temporary table with more than the temporary database's page cache holds, in a
    /// transaction run `alone` or batched, and says how many temporary files were open then.
    #[cfg(target_os = "linux")]
    async fn temporary_files_of_a_16_mib_temp_table(f: &SqliteFile, alone: bool) -> usize {
        f.tx(alone, |tx| {
            tx.execute("CREATE TEMP TABLE stage (x BLOB NOT NULL)", args![])?;
            for _ in 0..1024 {
                tx.execute("INSERT INTO temp.stage VALUES (randomblob(16384))", args![])?;
            }
            Ok((open_temporary_files(), Finish::Rollback))
        })
        .await
        .unwrap()
    }

    #[test]
    fn every_connection_is_in_wal_mode_and_syncs_each_commit() {
        let dir = tempfile::tempdir().unwrap();
        let conn = connect(&dir.path().join("c.db"), 4096).unwrap();
        let pragma = |name: &str| conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, rusqlite::types::Value>(0)).unwrap();
        assert_eq!(pragma("journal_mode"), rusqlite::types::Value::Text("wal".into()));
        assert_eq!(pragma("synchronous"), rusqlite::types::Value::Integer(2), "FULL");
        assert_eq!(pragma("foreign_keys"), rusqlite::types::Value::Integer(1));
    }

    fn file() -> (tempfile::TempDir, SqliteFile) {
        let dir = tempfile::tempdir().unwrap();
        let conn = rusqlite::Connection::open(dir.path().join("t.db")).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)").unwrap();
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
        (dir, SqliteFile::start(conn, "test").unwrap())
    }

    async fn put(f: &SqliteFile, k: &str, finish: Finish) -> Result<()> {
        let k = k.to_owned();
        f.tx(false, move |tx| {
            tx.execute("INSERT INTO t (k, v) VALUES (?1, 1)", args![k])?;
            Ok(((), finish))
        })
        .await
    }

    async fn keys(f: &SqliteFile) -> Vec<String> {
        f.tx(false, |tx| {
            let rows = tx.query("SELECT k FROM t ORDER BY k", &[])?;
            Ok((rows.iter().map(|r| r.get::<String>(0)).collect::<Result<Vec<_>>>()?, Finish::Commit))
        })
        .await
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_transactions_each_commit_or_fail_on_their_own() {
        let (_dir, f) = file();
        for j in 0..40 {
            put(&f, &format!("taken{j:02}"), Finish::Commit).await.unwrap();
        }
        // Many at once, so the thread batches them: every tenth collides with a key already
        // there, every seventh asks for its work to be dropped, one panics.
        let mut set = tokio::task::JoinSet::new();
        // Holds the thread so that what follows queues up behind it and goes in batches.
        let held = f.clone();
        set.spawn(async move {
            let r = held
                .tx(false, |_| {
                    std::thread::sleep(std::time::Duration::from_millis(200));
                    Ok(((), Finish::Commit))
                })
                .await;
            (1000, String::new(), Finish::Commit, r)
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        for i in 0..400 {
            let f = f.clone();
            set.spawn(async move {
                let key = if i % 10 == 9 { format!("taken{:02}", i / 10) } else { format!("k{i:03}") };
                let finish = if i % 7 == 0 { Finish::Rollback } else { Finish::Commit };
                let r = if i == 200 {
                    f.tx(false, |tx| -> Result<((), Finish)> {
                        tx.execute("INSERT INTO t (k, v) VALUES ('panic', 1)", &[])?;
                        panic!("a bug in a store method")
                    })
                    .await
                } else {
                    put(&f, &key, finish).await
                };
                (i, key, finish, r)
            });
        }
        let mut want: Vec<String> = (0..40).map(|j| format!("taken{j:02}")).collect();
        while let Some(done) = set.join_next().await {
            let (i, key, finish, r) = done.unwrap();
            if i == 1000 {
                assert!(r.is_ok());
            } else if i == 200 {
                assert!(matches!(r, Err(StoreError::Task(_))), "a panic is an error: {r:?}");
            } else if i % 10 == 9 {
                assert!(matches!(r, Err(StoreError::Duplicate(_))), "key {key} was taken: {r:?}");
            } else {
                assert!(r.is_ok(), "{key}: {r:?}");
                if finish == Finish::Commit {
                    want.push(key);
                }
            }
        }
        want.sort();
        assert_eq!(keys(&f).await, want);
    }

    #[tokio::test]
    async fn a_transaction_alone_is_kept_or_undone_whole() {
        let (_dir, f) = file();
        put(&f, "a", Finish::Commit).await.unwrap();
        let undone = f
            .tx(true, |tx| {
                tx.execute("INSERT INTO t (k, v) VALUES ('b', 1)", &[])?;
                Ok(("report", Finish::Rollback))
            })
            .await
            .unwrap();
        assert_eq!(undone, "report");
        let failed = f
            .tx(true, |tx| -> Result<((), Finish)> {
                tx.execute("INSERT INTO t (k, v) VALUES ('c', 1)", &[])?;
                tx.execute("INSERT INTO t (k, v) VALUES ('a', 1)", &[])?;
                Ok(((), Finish::Commit))
            })
            .await;
        assert!(matches!(failed, Err(StoreError::Duplicate(_))));
        assert_eq!(keys(&f).await, vec!["a".to_owned()]);
    }
}
