//! The embedded SQLite backend: a bounded pool of threads ([`WORKERS`]) runs the transactions
//! of every database file of the process, each file's writes several at a time (group commit),
//! its reads on connections of their own.
//!
//! Why workers and batches: a file has a single writer anyway. With a mutex shared by blocking
//! tasks, every transaction paid a thread hand-off, a contended lock, its own `BEGIN` and its own
//! `COMMIT` (WAL frames, file locks), and those were most of the e2e bench's time
//! (docs/benchmarks.md). A worker takes whatever transactions of one file are waiting (up to
//! [`MAX_BATCH`]), runs each inside a savepoint of one transaction, and commits once. Why a pool:
//! a platform hosts every municipality of Japan (1,788 tenant files), and a thread and open
//! connections per file cost more threads, memory and file descriptors than a node has.
//!
//! Invariants:
//! - One worker at a time writes a file (`FileState::scheduled`), so a file's transactions
//!   commit in the order they were queued.
//! - A caller's result is delivered only after the batch's `COMMIT` returned, so an answer
//!   seen by a client is durable exactly as before.
//! - Each transaction's work is kept or undone on its own: an error, a panic or
//!   [`Finish::Rollback`] rolls back to its savepoint and leaves its neighbours' work alone.
//! - If the batch itself fails (its `BEGIN` or `COMMIT`), every transaction in it that wanted
//!   its work kept gets that error, so none is told "done" for work that was lost.
//! - A transaction marked `alone` (bulk loads, which may take minutes) runs in a transaction of
//!   its own; reads ([`SqliteFile::read`]) run beside it on reader connections (WAL), so a load
//!   never makes its tenant's reads wait.
//! - A file's connections are opened on first use and closed when it is idle for
//!   [`IDLE_CLOSE`] or when more than [`MAX_OPEN_FILES`] are open (least recently used first);
//!   a file with work queued or running is never closed.
//!
//! One more thread checkpoints the WAL of open files (copies it into the database file and
//! syncs it): of a file written to [`CHECKPOINT_COMMITS`] times since its last checkpoint, or
//! written to and then left alone for [`CHECKPOINT_IDLE`]; it looks every [`CHECKPOINT_EVERY`].
//! Done by the writer, as SQLite does by default, each checkpoint's `fsync` stalled every
//! transaction of the file queued behind it; done after every burst of commits, as it first was,
//! a platform of many busy tenants paid two more syncs a commit. `PASSIVE` checkpoints neither
//! wait for nor block the writer; should they fall behind, the writer still checkpoints itself at
//! [`WRITER_CHECKPOINT_PAGES`]. Idle files (most tenants, most of the time) cost nothing. A
//! closed file keeps its WAL for the next opening (`SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE`).
//!
//! Savepoints keep a statement journal: the prior content of each page a transaction of the
//! batch changes, so that it alone can be undone. With temporary files on disk SQLite writes it
//! to one past 64 KiB, four pages of a tenant file: the connection keeps its temporary data in
//! memory (e2e +10 % on 16 KiB pages, docs/benchmarks.md), except while a transaction marked
//! `alone` runs, whose temporary tables and sorts (a bulk load's stage) must stay on disk.

use crate::db::{Backend, Finish, Row, Tx, Value};
use crate::migrate::Migration;
use crate::{Result, StoreError};
use rusqlite::Connection;
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{Duration, Instant};

/// Transactions run under one `COMMIT` at most.
pub const MAX_BATCH: usize = 64;

/// Prepared statements kept per connection. The stores use more distinct statements than
/// rusqlite's default cache of 16 holds.
const STATEMENT_CACHE: usize = 256;

/// How often the checkpointer copies the WAL into the database file.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// Commits after which a file's WAL is checkpointed even while it is busy.
pub const CHECKPOINT_COMMITS: u64 = 256;

/// How long a file written to stays unused before its WAL is checkpointed.
pub const CHECKPOINT_IDLE: Duration = Duration::from_secs(1);

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
    // Closing a file's last connection would checkpoint and sync it, and delete the WAL that the
    // next opening makes again: with files opened and closed as tenants come and go, most of a
    // query's time. The upkeep thread checkpoints instead; the WAL stays for the next opening.
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
    Ok(conn)
}

/// Threads that run the transactions of every SQLite file of this process.
pub const WORKERS: usize = 8;

/// SQLite files with connections open at once. Beyond it the least recently used file that is
/// idle is closed; it opens again on its next transaction.
pub const MAX_OPEN_FILES: usize = 150;

static OPEN_FILES: OnceLock<usize> = OnceLock::new();

/// Sets how many SQLite files this process keeps open (`serve --sqlite-open-files`). Takes
/// effect only before the first file opens; returns whether it did.
pub fn set_max_open_files(n: usize) -> bool {
    OPEN_FILES.set(n.max(1)).is_ok()
}

/// [`MAX_OPEN_FILES`], unless [`set_max_open_files`] said otherwise.
fn max_open_files() -> usize {
    *OPEN_FILES.get_or_init(|| MAX_OPEN_FILES)
}

/// A file without a transaction for this long is closed.
pub const IDLE_CLOSE: Duration = Duration::from_secs(60);

/// Reader connections a file keeps open between reads. Each connection costs two descriptors
/// (database and WAL) and a file one more (shared memory): three for most files, which have
/// their writer only; five for one being loaded or written to without pause.
const IDLE_READERS: usize = 1;

/// A handle on one SQLite file; cheap to clone. Its transactions run on the process's
/// [`WORKERS`]; its connections are opened on first use and closed when it has been idle for
/// [`IDLE_CLOSE`] or more than [`MAX_OPEN_FILES`] files are open.
#[derive(Clone)]
pub struct SqliteFile {
    file: Arc<File>,
}

/// One database file and what this process holds of it.
struct File {
    name: String,
    path: PathBuf,
    page_size: i64,
    migrations: &'static [Migration],
    state: Mutex<FileState>,
}

#[derive(Default)]
struct FileState {
    /// Write transactions waiting for a worker.
    jobs: VecDeque<Box<dyn Job>>,
    /// A worker has this file's writes queued or running; the writer connection is then its.
    scheduled: bool,
    /// The writer connection, while open and not in a worker's hands.
    writer: Option<Connection>,
    /// Idle reader connections (`query_only`).
    readers: Vec<Connection>,
    /// Reader connections in a worker's hands.
    readers_out: usize,
    /// Transactions committed since the last checkpoint (reads, never kept, are not counted).
    commits: u64,
    /// The schema was brought up to date by this process.
    migrated: bool,
    /// The writer is running a transaction marked `alone`.
    alone_running: bool,
    /// Counted among the pool's open files.
    open: bool,
    last_used: Option<Instant>,
}

impl FileState {
    fn idle(&self) -> bool {
        !self.scheduled && self.readers_out == 0 && self.jobs.is_empty()
    }

    /// Takes every connection of an idle file to be closed outside the lock; its writes queue
    /// meanwhile (`scheduled`), until [`Pool::close_file`] is done.
    fn close(&mut self) -> Closing {
        self.open = false;
        self.scheduled = true;
        let mut conns: Vec<Connection> = self.readers.drain(..).collect();
        conns.extend(self.writer.take());
        Closing { conns, written: std::mem::take(&mut self.commits) > 0 }
    }
}

/// A file's connections on their way to being closed.
struct Closing {
    conns: Vec<Connection>,
    /// Committed to since its last checkpoint.
    written: bool,
}

impl Closing {
    /// Closes the connections, first moving the WAL of a file written to into the database and
    /// emptying it (`TRUNCATE`): closing checkpoints nothing (see [`connect`]), and a WAL left
    /// behind would grow with each opening and be read again by the next.
    fn close(self, name: &str) {
        if self.written
            && let Some(conn) = self.conns.first()
            && let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        {
            tracing::warn!(error = %e, file = %name, "WAL checkpoint at closing failed; the next opening reads the WAL");
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock never leaves the state half-changed here (each critical
    // section only moves values in and out), so a poisoned lock is still sound.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SqliteFile {
    /// A handle on the file at `path` with the schema `migrations`, which a new file gets with
    /// `page_size`-byte pages. Nothing is opened until the first transaction.
    pub fn lazy(path: &Path, page_size: i64, migrations: &'static [Migration]) -> Self {
        let name = path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let file = File { name, path: path.to_owned(), page_size, migrations, state: Mutex::new(FileState::default()) };
        Self { file: Arc::new(file) }
    }

    /// Like [`SqliteFile::lazy`], but opens and migrates the file now, so that a file that cannot
    /// be opened is reported at once.
    pub fn open(path: &Path, page_size: i64, migrations: &'static [Migration]) -> Result<Self> {
        let f = Self::lazy(path, page_size, migrations);
        let conn = f.file.open_writer()?;
        let mut s = lock(&f.file.state);
        s.writer = Some(conn);
        drop(s);
        pool()?.opened(&f.file);
        Ok(f)
    }

    /// Whether the file is there (open here, or on disk).
    pub fn exists(&self) -> bool {
        lock(&self.file.state).open || self.file.path.exists()
    }

    /// Runs `f` on the file's writer, batched with whatever else is waiting unless `alone`.
    pub async fn tx<T, F>(&self, alone: bool, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<(T, Finish)> + Send + 'static,
    {
        let pool = pool()?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Box::new(TxJob { f: Some(f), out: None, reply: Some(reply), alone });
        let schedule = {
            let mut s = lock(&self.file.state);
            s.jobs.push_back(job);
            !std::mem::replace(&mut s.scheduled, true)
        };
        if schedule {
            pool.push(Task::Write(self.file.clone()));
        }
        answer.await.map_err(|_| StoreError::Task("the database worker dropped a transaction".into()))?
    }

    /// Runs `f` in a transaction whose work is never kept. It sees every commit acknowledged
    /// before it began. Usually it runs in the writer's next batch, on the writer's connection
    /// (no connection of its own to open, its statements prepared already); while a transaction
    /// marked `alone` holds the writer or waits for it (a bulk load, for minutes), it runs beside
    /// it on a reader connection instead, so a load never makes reads wait.
    pub async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<T> + Send + 'static,
    {
        let beside = {
            let s = lock(&self.file.state);
            s.alone_running || s.jobs.iter().any(|j| j.alone())
        };
        if !beside {
            return self.tx(false, move |tx| f(tx).map(|v| (v, Finish::Rollback))).await;
        }
        let pool = pool()?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: ReadJob = Box::new(move |conn: &mut Connection| {
            let out = std::panic::catch_unwind(AssertUnwindSafe(|| -> Result<T> {
                let tx = conn.transaction()?;
                let out = f(&mut SqliteTx(&tx));
                tx.rollback()?;
                out
            }))
            .unwrap_or_else(|_| Err(StoreError::Task("a database read panicked".into())));
            // The caller may have gone (its request was cancelled).
            let _ = reply.send(out);
        });
        pool.push(Task::Read(self.file.clone(), job));
        answer.await.map_err(|_| StoreError::Task("the database worker dropped a read".into()))?
    }
}

impl File {
    /// Opens a connection configured the way every connection of renkei is, migrating the file
    /// the first time this process opens it.
    fn connect(&self) -> Result<Connection> {
        let open_err = |e: &dyn std::fmt::Display| StoreError::Open { path: self.path.display().to_string(), reason: e.to_string() };
        if let Some(parent) = self.path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| open_err(&e))?;
        }
        let mut conn = connect(&self.path, self.page_size).map_err(|e| open_err(&e))?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        if !lock(&self.state).migrated {
            crate::migrate::sqlite(&mut conn, self.migrations)?;
            lock(&self.state).migrated = true;
        }
        Ok(conn)
    }

    fn open_writer(&self) -> Result<Connection> {
        let conn = self.connect()?;
        temp_store(&conn, false)?;
        conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
        Ok(conn)
    }

    fn open_reader(&self) -> Result<Connection> {
        let conn = self.connect()?;
        temp_store(&conn, false)?;
        conn.pragma_update(None, "query_only", true)?;
        Ok(conn)
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

/// A read transaction, with its reply.
type ReadJob = Box<dyn FnOnce(&mut Connection) + Send>;

/// Work for the pool's workers.
enum Task {
    /// Run the file's waiting write transactions, up to [`MAX_BATCH`] under one `COMMIT`.
    Write(Arc<File>),
    Read(Arc<File>, ReadJob),
}

/// The workers shared by every file of the process, and the files they hold open.
struct Pool {
    tasks: Mutex<VecDeque<Task>>,
    ready: Condvar,
    /// Files with a connection open, for closing the least recently used.
    open: Mutex<Vec<Weak<File>>>,
}

/// The process's pool, started on first use.
fn pool() -> Result<&'static Pool> {
    static POOL: OnceLock<std::result::Result<&'static Pool, String>> = OnceLock::new();
    let started = POOL.get_or_init(|| {
        let pool: &'static Pool =
            Box::leak(Box::new(Pool { tasks: Mutex::new(VecDeque::new()), ready: Condvar::new(), open: Mutex::new(Vec::new()) }));
        for i in 0..WORKERS {
            std::thread::Builder::new().name(format!("sqlite {i}")).spawn(move || pool.work()).map_err(|e| e.to_string())?;
        }
        std::thread::Builder::new().name("sqlite upkeep".into()).spawn(move || pool.upkeep()).map_err(|e| e.to_string())?;
        Ok(pool)
    });
    started.clone().map_err(|e| StoreError::Task(format!("cannot start the database workers: {e}")))
}

impl Pool {
    fn push(&self, task: Task) {
        lock(&self.tasks).push_back(task);
        self.ready.notify_one();
    }

    fn work(&self) {
        loop {
            let task = {
                let mut tasks = lock(&self.tasks);
                loop {
                    match tasks.pop_front() {
                        Some(t) => break t,
                        None => tasks = self.ready.wait(tasks).unwrap_or_else(|e| e.into_inner()),
                    }
                }
            };
            match task {
                Task::Write(file) => self.write(&file),
                Task::Read(file, job) => self.read(&file, job),
            }
        }
    }

    /// Runs one batch of `file`'s writes, and queues the file again if more are waiting (behind
    /// other files' work, so that a busy file does not starve the rest).
    fn write(&self, file: &Arc<File>) {
        let (conn, mut batch) = {
            let mut s = lock(&file.state);
            s.last_used = Some(Instant::now());
            let batch = take_batch(&mut s.jobs);
            s.alone_running = batch.first().is_some_and(|j| j.alone());
            (s.writer.take(), batch)
        };
        let opened = conn.is_none();
        let outcome = match conn.map_or_else(|| file.open_writer(), Ok) {
            Ok(mut conn) => {
                let outcome = match batch.first() {
                    Some(job) if job.alone() => run_alone(&mut conn, &mut batch),
                    Some(_) => run_batch(&mut conn, &mut batch),
                    None => Ok(0),
                };
                lock(&file.state).writer = Some(conn);
                outcome
            }
            Err(e) => Err(e),
        };
        let kept = *outcome.as_ref().unwrap_or(&0);
        for job in batch {
            job.finish(outcome.as_ref().map(|_| ()));
        }
        let again = {
            let mut s = lock(&file.state);
            s.commits += kept;
            s.alone_running = false;
            s.scheduled = !s.jobs.is_empty();
            s.scheduled
        };
        if opened {
            self.opened(file);
        }
        if again {
            self.push(Task::Write(file.clone()));
        }
    }

    fn read(&self, file: &Arc<File>, job: ReadJob) {
        let (conn, opened) = {
            let mut s = lock(&file.state);
            s.last_used = Some(Instant::now());
            s.readers_out += 1;
            (s.readers.pop(), !s.open)
        };
        match conn.map_or_else(|| file.open_reader(), Ok) {
            Ok(mut conn) => {
                job(&mut conn);
                let mut s = lock(&file.state);
                if s.readers.len() < IDLE_READERS {
                    s.readers.push(conn);
                }
                s.readers_out -= 1;
            }
            Err(e) => {
                lock(&file.state).readers_out -= 1;
                // The job's reply is dropped with it: the caller hears that the read was
                // dropped; the reason goes to the log.
                tracing::error!(error = %e, file = %file.name, "cannot open a reader connection");
                drop(job);
            }
        }
        if opened {
            self.opened(file);
        }
    }

    /// Counts `file` among the open files, closing the least recently used idle ones beyond
    /// [`MAX_OPEN_FILES`].
    fn opened(&self, file: &Arc<File>) {
        let closed = {
            let mut open = lock(&self.open);
            {
                let mut s = lock(&file.state);
                if !s.open {
                    s.open = true;
                    open.push(Arc::downgrade(file));
                }
            }
            open.retain(|f| f.strong_count() > 0);
            let mut closed = Vec::new();
            let max = max_open_files();
            if open.len() > max {
                let mut by_age: Vec<(Option<Instant>, Arc<File>)> = open
                    .iter()
                    .filter_map(Weak::upgrade)
                    .map(|f| {
                        let used = lock(&f.state).last_used;
                        (used, f)
                    })
                    .collect();
                by_age.sort_by_key(|(used, _)| *used);
                let excess = open.len() - max;
                for (_, f) in by_age.iter().filter(|(_, f)| !Arc::ptr_eq(f, file)) {
                    if closed.len() >= excess {
                        break;
                    }
                    let mut s = lock(&f.state);
                    if s.idle() {
                        closed.push((f.clone(), s.close()));
                        drop(s);
                        open.retain(|o| !std::ptr::eq(o.as_ptr(), Arc::as_ptr(f)));
                    }
                }
            }
            closed
        };
        for (f, closing) in closed {
            self.close_file(&f, closing);
        }
    }

    /// Closes what [`FileState::close`] took, then lets the file's queued writes (if any) go on,
    /// opening it again.
    fn close_file(&self, file: &Arc<File>, closing: Closing) {
        closing.close(&file.name);
        let again = {
            let mut s = lock(&file.state);
            s.scheduled = !s.jobs.is_empty();
            s.scheduled
        };
        if again {
            self.push(Task::Write(file.clone()));
        }
    }

    /// Every [`CHECKPOINT_EVERY`]: a `PASSIVE` checkpoint of each file due one (see the module's
    /// doc), and closing files idle for [`IDLE_CLOSE`].
    fn upkeep(&self) {
        loop {
            std::thread::sleep(CHECKPOINT_EVERY);
            let files: Vec<Arc<File>> = {
                let mut open = lock(&self.open);
                open.retain(|f| f.strong_count() > 0);
                open.iter().filter_map(Weak::upgrade).collect()
            };
            for file in files {
                self.look_after(&file);
            }
        }
    }

    /// Closes `file` if it has been idle for [`IDLE_CLOSE`], else checkpoints it if it is due:
    /// on its idle reader if it has one (a checkpoint writes the database file, not
    /// the database: `query_only` allows it), else on its writer if no batch is running, else
    /// (a file written to without pause) on a reader opened for it and kept.
    fn look_after(&self, file: &Arc<File>) {
        enum On {
            Reader(Option<Connection>),
            Writer(Connection),
        }
        let on = {
            let mut s = lock(&file.state);
            if !s.open {
                return;
            }
            if s.idle() && s.last_used.is_some_and(|t| t.elapsed() >= IDLE_CLOSE) {
                let closing = s.close();
                drop(s);
                lock(&self.open).retain(|o| !std::ptr::eq(o.as_ptr(), Arc::as_ptr(file)));
                self.close_file(file, closing);
                return;
            }
            let idle_for = s.last_used.map_or(Duration::ZERO, |t| t.elapsed());
            if s.commits == 0 || (s.commits < CHECKPOINT_COMMITS && idle_for < CHECKPOINT_IDLE) {
                return;
            }
            s.commits = 0;
            match s.readers.pop() {
                Some(reader) => {
                    s.readers_out += 1;
                    On::Reader(Some(reader))
                }
                None if !s.scheduled && s.writer.is_some() => {
                    // The writer is the checkpoint's until it is done: writes queue meanwhile.
                    s.scheduled = true;
                    match s.writer.take() {
                        Some(writer) => On::Writer(writer),
                        None => return,
                    }
                }
                None => {
                    s.readers_out += 1;
                    On::Reader(None)
                }
            }
        };
        let checkpoint = |conn: &Connection| {
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::warn!(error = %e, file = %file.name, "WAL checkpoint failed; the writer will checkpoint itself");
            }
        };
        match on {
            On::Writer(writer) => {
                checkpoint(&writer);
                let again = {
                    let mut s = lock(&file.state);
                    s.writer = Some(writer);
                    s.scheduled = !s.jobs.is_empty();
                    s.scheduled
                };
                if again {
                    self.push(Task::Write(file.clone()));
                }
            }
            On::Reader(reader) => {
                let reader = match reader.map_or_else(|| file.open_reader(), Ok) {
                    Ok(conn) => {
                        checkpoint(&conn);
                        Some(conn)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, file = %file.name, "cannot open a connection to checkpoint; the writer will checkpoint itself");
                        None
                    }
                };
                let mut s = lock(&file.state);
                s.readers_out -= 1;
                if let Some(conn) = reader
                    && s.readers.len() < IDLE_READERS
                {
                    s.readers.push(conn);
                }
            }
        }
    }
}

/// The next batch of a file's writes: one transaction marked `alone`, or up to [`MAX_BATCH`]
/// others (stopping before the next `alone` one).
fn take_batch(jobs: &mut VecDeque<Box<dyn Job>>) -> Vec<Box<dyn Job>> {
    let mut batch = Vec::new();
    while batch.len() < MAX_BATCH {
        match jobs.front() {
            Some(job) if job.alone() && !batch.is_empty() => break,
            Some(_) => {}
            None => break,
        }
        let Some(job) = jobs.pop_front() else { break };
        let alone = job.alone();
        batch.push(job);
        if alone {
            break;
        }
    }
    batch
}

/// Where the connection keeps temporary tables, sorts and statement journals. Changing it drops
/// the temporary tables, so it is changed only between transactions.
fn temp_store(conn: &rusqlite::Connection, on_disk: bool) -> Result<()> {
    Ok(conn.pragma_update(None, "temp_store", if on_disk { "FILE" } else { "MEMORY" })?)
}

/// Runs a transaction marked `alone` with its temporary data on disk, so that memory stays flat
/// whatever a bulk load stages.
fn run_alone(conn: &mut rusqlite::Connection, batch: &mut [Box<dyn Job>]) -> Result<u64> {
    temp_store(conn, true)?;
    let outcome = run_batch(conn, batch);
    if let Err(e) = temp_store(conn, false) {
        tracing::warn!(error = %e, "the SQLite connection keeps its temporary data on disk");
    }
    outcome
}

/// Runs `batch` in one transaction; how many of its transactions were kept. A single
/// transaction needs no savepoint.
fn run_batch(conn: &mut rusqlite::Connection, batch: &mut [Box<dyn Job>]) -> Result<u64> {
    let mut tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    if let [job] = batch {
        return match job.run(&mut SqliteTx(&tx)) {
            Finish::Commit => tx.commit().map(|()| 1).map_err(Into::into),
            Finish::Rollback => tx.rollback().map(|()| 0).map_err(Into::into),
        };
    }
    let mut kept = 0;
    for job in batch.iter_mut() {
        let mut sp = tx.savepoint()?;
        match job.run(&mut SqliteTx(&sp)) {
            Finish::Commit => {
                sp.commit()?;
                kept += 1;
            }
            Finish::Rollback => {
                sp.rollback()?;
                sp.commit()?;
            }
        }
    }
    tx.commit()?;
    Ok(kept)
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

    const TABLE_T: &[Migration] = &[Migration { version: 1, sql: "CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)" }];

    fn file() -> (tempfile::TempDir, SqliteFile) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let f = SqliteFile::open(&path, 4096, TABLE_T).unwrap();
        rusqlite::Connection::open(&path).unwrap().query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
        (dir, f)
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

    /// Descriptors this process has open on files under `dir`.
    #[cfg(target_os = "linux")]
    fn descriptors_under(dir: &Path) -> usize {
        let Ok(fds) = std::fs::read_dir("/proc/self/fd") else { return 0 };
        fds.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok()).filter(|p| p.starts_with(dir)).count()
    }

    /// Threads of this process whose name starts with `prefix`.
    #[cfg(target_os = "linux")]
    fn threads_named(prefix: &str) -> usize {
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0 };
        tasks.filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok()).filter(|n| n.starts_with(prefix)).count()
    }

    /// A platform of every municipality has far more files than threads or descriptors to
    /// spare: the files share the pool's workers, and only the most recently used stay open.
    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_files_share_the_workers_and_only_the_recently_used_stay_open() {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<SqliteFile> =
            (0..3 * MAX_OPEN_FILES).map(|i| SqliteFile::lazy(&dir.path().join(format!("{i}.db")), 4096, TABLE_T)).collect();
        assert_eq!(descriptors_under(dir.path()), 0, "nothing is opened before its first use");
        for (i, f) in files.iter().enumerate() {
            put(f, &format!("k{i}"), Finish::Commit).await.unwrap();
        }
        // Each open file holds its database, WAL and shared-memory files, twice at most.
        let open = descriptors_under(dir.path());
        assert!(open <= MAX_OPEN_FILES * 6, "{open} descriptors for {} files", files.len());
        assert!(open > 0);
        assert_eq!(threads_named("sqlite "), WORKERS + 1, "one pool of workers and the upkeep thread, whatever the number of files");
        // Every file, closed or not, still has what was committed to it, and reads see it.
        for (i, f) in files.iter().enumerate() {
            assert_eq!(keys(f).await, vec![format!("k{i}")]);
            let read = f.read(|tx| tx.value::<i64>("SELECT COUNT(*) FROM t", args![])).await.unwrap();
            assert_eq!(read, 1);
        }
    }

    /// A bulk load holds its file's writer for as long as it runs; reads of the same file go on
    /// beside it, and see what was committed before they began.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_read_completes_while_a_long_write_holds_the_file() {
        let (_dir, f) = file();
        put(&f, "before", Finish::Commit).await.unwrap();
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started, has_started) = tokio::sync::oneshot::channel();
        let load = f.clone();
        let load = tokio::spawn(async move {
            load.tx(true, move |tx| {
                tx.execute("INSERT INTO t (k, v) VALUES ('loading', 1)", args![])?;
                let _ = started.send(());
                held.recv_timeout(Duration::from_secs(30)).ok();
                Ok(((), Finish::Commit))
            })
            .await
        });
        has_started.await.unwrap();
        let seen = tokio::time::timeout(
            Duration::from_secs(10),
            f.read(|tx| tx.query("SELECT k FROM t ORDER BY k", args![])?.iter().map(|r| r.get::<String>(0)).collect::<Result<Vec<_>>>()),
        )
        .await
        .expect("the read did not wait for the load")
        .unwrap();
        assert_eq!(seen, vec!["before".to_owned()], "the load's rows are not visible before it commits");
        let write = f.read(|tx| tx.execute("INSERT INTO t (k, v) VALUES ('x', 1)", args![])).await;
        assert!(write.is_err(), "a read beside the writer cannot write");
        release.send(()).unwrap();
        load.await.unwrap().unwrap();
        assert_eq!(keys(&f).await, vec!["before".to_owned(), "loading".to_owned()]);
        f.read(|tx| tx.execute("INSERT INTO t (k, v) VALUES ('x', 1)", args![])).await.unwrap();
        assert_eq!(keys(&f).await, vec!["before".to_owned(), "loading".to_owned()], "a read's work is never kept");
    }
}
