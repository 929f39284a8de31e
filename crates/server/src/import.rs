//! Bulk loading (一括登録) of persons and provision copies (副本) from CSV, shared by
//! `renkei import` and `POST /api/v1/imports/{kind}`. Layouts: `docs/csv-layouts.md`.
//!
//! - **One transaction per file.** The default mode keeps it only if every line was good; with
//!   `skip_bad` the good lines are kept and the bad ones reported. A crash mid-load applies
//!   nothing either way.
//! - **Streamed.** Memory holds [`READ_AHEAD`] chunks of lines on their way from the reading
//!   thread to the transaction (each at most [`CHUNK`] lines or a little over [`CHUNK_BYTES`])
//!   and two batches of persons, whatever the file size.
//! - **Threads.** One reads, decodes and checks lines; one per core hashes and encrypts copies;
//!   the load's transaction writes them, in file order.
//! - **Codes in batches.** Persons' codes are asked of the hub [`MAX_CODES_PER_REQUEST`] at a time,
//!   the next batch's while the one before is written; each request asks the codes of every org
//!   of the tenant, and each person is registered in all of them or, if one refuses the line, in
//!   none (団体内統合宛名番号).
//! - **Reports name lines and columns, never values**, so they can be handed to anyone.

use crate::Platform;
use renkei_domain::Matrix;
use renkei_domain::bulk::{self, Encoding, FileKind, Layout, LineError, MAX_LINE_BYTES};
use renkei_domain::wire::{CodeResponse, MAX_CODES_PER_REQUEST};
use renkei_domain::{AddresseeNo, IndividualNumber, OrgId};
use renkei_store::tenant::{Bulk, CopyPreparer, Loaded, PreparedCopy, TenantStore, Written};
use renkei_store::{Finish, StoreError};
use serde::Serialize;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::rc::Rc;
use std::sync::{Arc, mpsc};
use utoipa::ToSchema;

/// How to read a file.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub kind: FileKind,
    /// `None`: detect from the first 64 KiB (a UTF-8 BOM or valid UTF-8 means UTF-8, else CP932).
    pub encoding: Option<Encoding>,
    /// Apply the good lines even if some are bad.
    pub skip_bad: bool,
    /// Who loads, for the audit log (an operator, or `client:<org>`).
    pub actor: String,
}

/// What a load did.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct ImportSummary {
    /// `persons` or `copies`.
    pub kind: String,
    /// The encoding the file was read in.
    pub encoding: String,
    /// Data lines read (the header not counted).
    pub lines: u64,
    /// Persons registered or provision copy versions written.
    pub stored: u64,
    /// Persons that were already registered with the same number.
    pub unchanged: u64,
    /// Lines refused.
    pub bad: u64,
    /// Whether the load was kept (always, with `skip_bad`; only without bad lines otherwise).
    pub applied: bool,
}

/// One refused line: 1-based line number (of the file, header = 1), column and reason.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BadLine {
    pub line: u64,
    /// 1-based column number, if one column is at fault.
    pub column: Option<usize>,
    pub column_name: Option<String>,
    pub reason: String,
}

impl BadLine {
    pub fn new(line: u64, e: LineError) -> Self {
        let (column, column_name) = e.column.map_or((None, None), |(c, n)| (Some(c), Some(n)));
        Self { line, column, column_name, reason: e.reason }
    }
}

/// Receives bad lines and progress while a load runs (on the store's thread, not the runtime's).
pub trait Observer: Send + 'static {
    fn bad_line(&mut self, bad: BadLine);
    /// Called every few thousand lines with the bytes read so far and the data lines.
    fn progress(&mut self, _bytes: u64, _lines: u64) {}
}

/// A load that could not run; nothing was applied, except as [`ImportError::NotAudited`] says.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file as a whole is unusable (empty, bad header, unknown encoding).
    #[error("{0}")]
    Input(String),
    #[error("cannot read the input: {0}")]
    Read(#[from] std::io::Error),
    #[error("the hub did not give codes: {0}")]
    Hub(String),
    #[error("org {0} is not hosted on this platform")]
    UnknownOrg(OrgId),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The load ended (applied, or refused for bad lines) but the audit log could not take its
    /// entry: the operator must know, and must not be told that nothing happened.
    #[error("{}, but its audit entry could not be written", load_outcome(.applied, .stored))]
    NotAudited { applied: bool, stored: u64, source: StoreError },
}

fn load_outcome(applied: &bool, stored: &u64) -> String {
    if *applied { format!("the load was applied ({stored} stored)") } else { "the load was refused for its bad lines".into() }
}

impl ImportError {
    /// What kind of failure, for the audit log (never the message, which may quote the input).
    fn class(&self) -> &'static str {
        match self {
            ImportError::Input(_) => "unreadable-file",
            ImportError::Read(e) if e.kind() == std::io::ErrorKind::FileTooLarge => "too-large",
            ImportError::Read(_) => "read",
            ImportError::Hub(_) => "hub",
            ImportError::UnknownOrg(_) => "unknown-org",
            ImportError::Store(StoreError::Full(_)) => "storage-full",
            ImportError::Store(_) => "storage",
            ImportError::NotAudited { .. } => "not-audited",
        }
    }
}

/// [`import`] in a task of its own, for an upload that has arrived whole: its load runs to its
/// end and is audited even if the client goes away meanwhile (its request, and the request's
/// future, dropped). In the request's future, the load would still have run to its end on the
/// database worker, and its audit entry would never have been written.
pub async fn import_detached<R, O>(
    p: Arc<Platform>,
    org: OrgId,
    input: R,
    opts: ImportOptions,
    observer: O,
) -> Result<(ImportSummary, O), ImportError>
where
    R: Read + Send + 'static,
    O: Observer,
{
    tokio::spawn(async move { import(p, &org, input, opts, observer).await })
        .await
        .map_err(|e| ImportError::Store(StoreError::Task(e.to_string())))?
}

/// Loads `input` for `org` and returns what happened, with the observer back. Every attempt on
/// a hosted org is audited: what it did, or what kind of failure stopped it.
pub async fn import<R, O>(
    p: Arc<Platform>,
    org: &OrgId,
    input: R,
    opts: ImportOptions,
    observer: O,
) -> Result<(ImportSummary, O), ImportError>
where
    R: Read + Send + 'static,
    O: Observer,
{
    let ctx = p.org(org).await?.ok_or_else(|| ImportError::UnknownOrg(org.clone()))?;
    let store = p.tenant_store(&ctx.tenant).await?.ok_or_else(|| ImportError::UnknownOrg(org.clone()))?;
    let (kind, actor) = (opts.kind.name(), opts.actor.clone());
    // The tenant's other orgs: each person is registered in all of them (団体内統合宛名番号).
    let siblings = p.platform.orgs(Some(&ctx.tenant)).await?.into_iter().map(|o| o.id).filter(|id| id != org).collect();
    match load(&p, store, org, siblings, input, opts, observer).await {
        Ok((summary, observer)) => {
            let detail = format!(
                "org={org} kind={} lines={} stored={} unchanged={} bad={} applied={}",
                summary.kind, summary.lines, summary.stored, summary.unchanged, summary.bad, summary.applied
            );
            if let Err(source) = p.platform.audit(&ctx.tenant, &actor, "import", &detail).await {
                return Err(ImportError::NotAudited { applied: summary.applied, stored: summary.stored, source });
            }
            tracing::info!(%org, kind = %summary.kind, lines = summary.lines, bad = summary.bad, applied = summary.applied, "bulk load finished");
            Ok((summary, observer))
        }
        Err(e) => {
            let detail = format!("org={org} kind={kind} applied=false failed={}", e.class());
            if let Err(source) = p.platform.audit(&ctx.tenant, &actor, "import", &detail).await {
                // Two failures, one error to return: this one goes to the log.
                tracing::error!(%org, error = %source, "a failed bulk load could not be audited");
            }
            tracing::info!(%org, %kind, failed = e.class(), "bulk load failed; nothing was applied");
            Err(e)
        }
    }
}

/// The load itself, in one transaction of the org's tenant store.
async fn load<R, O>(
    p: &Arc<Platform>,
    store: TenantStore,
    org: &OrgId,
    siblings: Vec<OrgId>,
    input: R,
    opts: ImportOptions,
    observer: O,
) -> Result<(ImportSummary, O), ImportError>
where
    R: Read + Send + 'static,
    O: Observer,
{
    let rt = tokio::runtime::Handle::current();
    let events = start_reading(input, opts.clone(), p.matrix.clone(), store.copy_preparer(org))?;
    let (p2, org2) = (p.clone(), org.clone());
    store
        .bulk(org, move |bulk| {
            let mut observer = observer;
            let mut load = Load {
                p: &p2,
                org: &org2,
                siblings: &siblings,
                rt,
                bulk,
                observer: &mut observer,
                summary: ImportSummary::default(),
                pending: Vec::new(),
                asked: None,
            };
            match load.run(events, &opts) {
                Ok(summary) => {
                    let finish = if summary.applied { Finish::Commit } else { Finish::Rollback };
                    Ok((Ok((summary, observer)), finish))
                }
                Err(ImportError::Store(e)) => Err(e),
                Err(e) => Ok((Err(e), Finish::Rollback)),
            }
        })
        .await?
}

/// [`spool_body`] for a load of `opts.kind` by `org`; an upload that does not arrive whole (too
/// large, cut short) is audited like a load that failed, and nothing was applied.
pub async fn receive(
    p: &Platform,
    org: &OrgId,
    opts: &ImportOptions,
    body: axum::body::Body,
    limit: usize,
) -> Result<impl Read + Send + 'static, ImportError> {
    match spool_body(body, limit).await {
        Ok(spooled) => Ok(spooled),
        Err(e) => {
            let e = ImportError::Read(e);
            let failed = e.class();
            if let Some(ctx) = p.org(org).await.ok().flatten() {
                let detail = format!("org={org} kind={} applied=false failed={failed}", opts.kind.name());
                if let Err(source) = p.platform.audit(&ctx.tenant, &opts.actor, "import", &detail).await {
                    tracing::error!(%org, error = %source, "a failed upload could not be audited");
                }
            }
            tracing::info!(%org, kind = opts.kind.name(), failed, "upload not received whole; nothing was applied");
            Err(e)
        }
    }
}

/// Receives an HTTP request body whole before a load may start, refusing more than `limit`
/// bytes (`FileTooLarge`). The body goes to an unnamed scratch file in the temporary directory,
/// encrypted under a key held in memory only (`renkei_crypto::spool`: persons files carry
/// Individual Numbers). Why: a load holds its tenant's writer for as long as it reads, and a
/// client trickling its file in would hold it for as long as it takes, every answer of that
/// tenant waiting behind it.
pub async fn spool_body(mut body: axum::body::Body, limit: usize) -> std::io::Result<impl Read + Send + 'static> {
    use http_body_util::BodyExt;
    let mut upload = Upload::new(limit)?;
    while let Some(frame) = body.frame().await {
        // Writes of at most a few tens of KiB to the page cache: not worth a thread hop. The
        // upload refuses what goes past the limit.
        if let Ok(data) = frame.map_err(|e| std::io::Error::other(e.to_string()))?.into_data() {
            upload.write(&data)?;
        }
    }
    upload.finish()
}

fn too_large(limit: usize) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::FileTooLarge, format!("the body exceeds {limit} bytes"))
}

/// A file on its way in, spooled as [`spool_body`] says, refusing more than its limit
/// (`FileTooLarge`): for an upload that arrives in pieces of a form (`multipart/form-data`).
pub struct Upload {
    spool: renkei_crypto::spool::SpoolWriter<std::fs::File>,
    limit: usize,
}

impl Upload {
    pub fn new(limit: usize) -> std::io::Result<Self> {
        Ok(Self { spool: renkei_crypto::spool::SpoolWriter::new(tempfile::tempfile()?), limit })
    }

    pub fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        if self.spool.len().saturating_add(data.len() as u64) > self.limit as u64 {
            return Err(too_large(self.limit));
        }
        self.spool.write(data)
    }

    /// Bytes received so far.
    pub fn len(&self) -> u64 {
        self.spool.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spool.is_empty()
    }

    pub fn finish(self) -> std::io::Result<impl Read + Send + 'static> {
        self.spool.finish()
    }
}

/// A person waiting for its code: (line, addressee, number).
type PendingPerson = (u64, AddresseeNo, IndividualNumber);

/// Persons whose codes have been asked of the hub, and the answer on its way.
type AskedBatch = (Vec<PendingPerson>, tokio::task::JoinHandle<Result<CodeResponse, String>>);

struct Load<'a, 'b, O> {
    p: &'a Arc<Platform>,
    org: &'a OrgId,
    /// The tenant's other orgs, whose codes each batch asks too.
    siblings: &'a [OrgId],
    rt: tokio::runtime::Handle,
    bulk: &'a mut Bulk<'b>,
    observer: &'a mut O,
    summary: ImportSummary,
    pending: Vec<PendingPerson>,
    /// The batch before `pending`: the hub mints its codes while this load writes the batch
    /// before it, so the two sides work at the same time.
    asked: Option<AskedBatch>,
}

impl<O: Observer> Load<'_, '_, O> {
    /// Writes what the reading thread hands over, in file order.
    fn run(&mut self, events: Events, opts: &ImportOptions) -> Result<ImportSummary, ImportError> {
        self.summary.kind = opts.kind.name().into();
        let mut end = None;
        for prepared in events {
            let chunk = prepared.recv().map_err(|_| ImportError::Read(std::io::Error::other("a preparing thread stopped")))?;
            for event in chunk? {
                match event {
                    Event::Start { encoding } => self.summary.encoding = encoding.name().into(),
                    Event::Copy(c) => {
                        let written = self.bulk.copy(c)?;
                        self.written(written);
                    }
                    Event::Person(person) => {
                        self.pending.push(person);
                        if self.pending.len() >= MAX_CODES_PER_REQUEST {
                            self.flush_persons()?;
                        }
                    }
                    Event::Bad(bad) => self.bad(bad),
                    Event::Progress { bytes, lines } => self.observer.progress(bytes, lines),
                    Event::End { bytes, lines } => end = Some((bytes, lines)),
                }
            }
        }
        // The reader ends every file with `End` or an error; without either it died.
        let (bytes, lines) = end.ok_or_else(|| ImportError::Read(std::io::Error::other("the file reader stopped")))?;
        self.flush_persons()?;
        self.register_asked()?;
        let (summary, observer) = (&mut self.summary, &mut *self.observer);
        let stored = self.bulk.flush(&mut |(line, loaded)| tally(summary, observer, line, loaded))?;
        self.summary.stored += stored;
        self.observer.progress(bytes, lines);
        let mut summary = std::mem::take(&mut self.summary);
        summary.lines = lines;
        summary.applied = opts.skip_bad || summary.bad == 0;
        Ok(summary)
    }

    fn bad(&mut self, bad: BadLine) {
        self.summary.bad += 1;
        self.observer.bad_line(bad);
    }

    fn written(&mut self, written: Written) {
        self.summary.stored += written.stored;
        for (line, loaded) in written.others {
            self.loaded(line, loaded);
        }
    }

    fn loaded(&mut self, line: u64, loaded: Loaded) {
        tally(&mut self.summary, &mut *self.observer, line, loaded);
    }

    /// Asks the hub for the waiting persons' codes in one request, then registers the batch
    /// asked before it (whose codes have had the time this batch took to arrive).
    fn flush_persons(&mut self) -> Result<(), ImportError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.pending);
        let numbers = batch.iter().map(|(_, _, n)| n.expose()).collect();
        let (p, org, siblings) = (self.p.clone(), self.org.clone(), self.siblings.to_vec());
        let asking = self.rt.spawn(async move {
            let ctx = p.org(&org).await.map_err(|e| e.to_string())?.ok_or_else(|| format!("org {org} is not hosted on this platform"))?;
            p.request_codes_with(&ctx, siblings, numbers).await
        });
        self.register_asked()?;
        self.asked = Some((batch, asking));
        Ok(())
    }

    /// Waits for the codes of the batch asked last and registers its persons.
    fn register_asked(&mut self) -> Result<(), ImportError> {
        let Some((batch, asking)) = self.asked.take() else { return Ok(()) };
        let codes = self.rt.block_on(asking).map_err(|e| ImportError::Hub(e.to_string()))?.map_err(ImportError::Hub)?;
        // `request_codes_with` checked that each org has a code per number.
        let mut each: Vec<_> = std::iter::once(codes.codes).chain(codes.siblings).map(Vec::into_iter).collect();
        let orgs: Vec<&OrgId> = std::iter::once(self.org).chain(self.siblings).collect();
        let mut lines = Vec::with_capacity(batch.len());
        for (line, addressee, _) in batch {
            let mut codes = Vec::with_capacity(orgs.len());
            for (org, of_org) in orgs.iter().zip(each.iter_mut()) {
                let code = of_org.next().ok_or_else(|| ImportError::Hub("the hub's answer lacks codes".into()))?;
                codes.push(((*org).clone(), code));
            }
            lines.push((line, addressee, codes));
        }
        for (line, loaded) in self.bulk.persons(lines)? {
            self.loaded(line, loaded);
        }
        Ok(())
    }
}

/// Counts what a line did, and reports it if it was refused.
fn tally<O: Observer + ?Sized>(summary: &mut ImportSummary, observer: &mut O, line: u64, loaded: Loaded) {
    let why = match loaded {
        Loaded::Stored => return summary.stored += 1,
        Loaded::AlreadyRegistered => return summary.unchanged += 1,
        Loaded::Duplicate => "the same key appears on an earlier line of this file",
        Loaded::Conflict(why) => why,
    };
    summary.bad += 1;
    observer.bad_line(BadLine::new(line, LineError::line(why)));
}

/// What the reading thread hands the load's transaction, in file order. A copy line (`C`) is
/// handed on as read ([`ReadCopy`]) and reaches the transaction hashed and encrypted.
enum Event<C = PreparedCopy> {
    Start {
        encoding: Encoding,
    },
    Person(PendingPerson),
    Copy(C),
    Bad(BadLine),
    Progress {
        bytes: u64,
        lines: u64,
    },
    /// The end of the file: bytes and data lines read.
    End {
        bytes: u64,
        lines: u64,
    },
}

impl Event<ReadCopy> {
    /// Hashes and encrypts a copy line; passes anything else on.
    fn prepare(self, preparer: &CopyPreparer) -> Result<Event, ImportError> {
        Ok(match self {
            Event::Copy((line, c)) => Event::Copy(preparer.prepare(line, &c.addressee, &c.item, c.valid_from, &c.fields)?),
            Event::Start { encoding } => Event::Start { encoding },
            Event::Person(p) => Event::Person(p),
            Event::Bad(b) => Event::Bad(b),
            Event::Progress { bytes, lines } => Event::Progress { bytes, lines },
            Event::End { bytes, lines } => Event::End { bytes, lines },
        })
    }
}

/// A copy line as read and checked: (line, the line).
type ReadCopy = (u64, bulk::CopyLine);

/// Some events in file order, or the error that ended the file.
type Chunk<C = PreparedCopy> = Result<Vec<Event<C>>, ImportError>;

/// Chunks on their way to the load's transaction, in file order; each arrives on its own channel
/// once it is prepared.
type Events = mpsc::Receiver<mpsc::Receiver<Chunk>>;

/// Chunks on their way from the reader to the database at once (queued, being prepared, filled
/// or written): enough to keep every thread busy (16 measured 8 % faster than 4), and, with
/// [`CHUNK_BYTES`], at most about 17 MiB of lines however long each is.
const READ_AHEAD: usize = 16;

/// Lines handed over at once. One hand-over per line cost both threads a wake-up each
/// (futex calls were 10 % of a load's profile); one per chunk costs that per 128 lines.
const CHUNK: usize = 128;

/// A chunk is handed over once its lines reach this many bytes, however few they are (a line
/// is at most [`MAX_LINE_BYTES`]).
const CHUNK_BYTES: u64 = 1 << 20;

/// Reads, decodes and checks the file on a thread of its own, and hashes and encrypts copy lines
/// on one preparing thread per core (a third of a load's CPU, and more than the reading): the
/// database's thread then waits on neither. Chunks reach the load in file order whichever
/// preparer finishes first. The threads stop when the file ends, when reading fails (the error
/// is the last chunk), or when the load stops listening.
fn start_reading<R: Read + Send + 'static>(
    input: R,
    opts: ImportOptions,
    matrix: Arc<Matrix>,
    preparer: CopyPreparer,
) -> Result<Events, ImportError> {
    // The order queue bounds the chunks in flight, as a chunk enters it before it is prepared;
    // one more is being filled and one written.
    let (order, events) = mpsc::sync_channel::<mpsc::Receiver<Chunk>>(READ_AHEAD - 2);
    let (work, jobs) = mpsc::sync_channel::<(Vec<Event<ReadCopy>>, mpsc::SyncSender<Chunk>)>(1);
    let jobs = Arc::new(std::sync::Mutex::new(jobs));
    let preparers = std::thread::available_parallelism().map_or(1, |n| n.get());
    for _ in 0..preparers {
        let (jobs, preparer) = (jobs.clone(), preparer.clone());
        std::thread::Builder::new().name("import prepare".into()).spawn(move || {
            // Ends when the reader is done (the queue closes) or a preparer died holding the lock.
            while let Ok(Ok((chunk, done))) = jobs.lock().map(|j| j.recv()) {
                let prepared = chunk.into_iter().map(|e| e.prepare(&preparer)).collect();
                // Fails, unseen, when the load stopped listening.
                let _ = done.send(prepared);
            }
        })?;
    }
    std::thread::Builder::new().name("import reader".into()).spawn(move || {
        let stopped = || ImportError::Input("the load stopped".into());
        // The chunk being filled, and the file's bytes read when it began.
        let filling = RefCell::new((Vec::with_capacity(CHUNK), 0u64));
        let hand_over = |chunk: Vec<Event<ReadCopy>>| {
            let (done, prepared) = mpsc::sync_channel(1);
            order.send(prepared).map_err(|_| stopped())?;
            work.send((chunk, done)).map_err(|_| stopped())
        };
        let send = |e: Event<ReadCopy>, bytes: u64| {
            let mut filling = filling.borrow_mut();
            let (chunk, began) = &mut *filling;
            chunk.push(e);
            if chunk.len() < CHUNK && bytes - *began < CHUNK_BYTES {
                return Ok(());
            }
            *began = bytes;
            hand_over(std::mem::replace(chunk, Vec::with_capacity(CHUNK)))
        };
        let read = read_file(input, &opts, &matrix, send);
        // What was read before the end (or before an error) goes first, in order.
        let rest = filling.take().0;
        let handed = if rest.is_empty() { Ok(()) } else { hand_over(rest) };
        if let Err(e) = read.and(handed) {
            let (done, failed) = mpsc::sync_channel(1);
            let _ = done.send(Err(e));
            // Fails, unseen, when the error was that the load stopped listening.
            let _ = order.send(failed);
        }
    })?;
    Ok(events)
}

fn read_file<R: Read>(
    input: R,
    opts: &ImportOptions,
    matrix: &Matrix,
    send: impl Fn(Event<ReadCopy>, u64) -> Result<(), ImportError>,
) -> Result<(), ImportError> {
    let (encoding, input) = sniff(input, opts.encoding)?;
    let state = Rc::new(RefCell::new(LineState::default()));
    // Each event goes with the bytes read so far, so that chunks are bounded in bytes too.
    let send = |e: Event<ReadCopy>| send(e, state.borrow().bytes);
    send(Event::Start { encoding })?;
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(LineLimit::new(input, state.clone()));
    let mut record = csv::ByteRecord::new();
    if !reader.read_byte_record(&mut record).map_err(csv_error)? {
        return Err(ImportError::Input("the file is empty: its first line must be the header".into()));
    }
    if state.borrow_mut().overlong.pop_front().is_some() {
        return Err(ImportError::Input(format!("line 1: the header is longer than {MAX_LINE_BYTES} bytes")));
    }
    let header = record
        .iter()
        .enumerate()
        .map(|(i, c)| encoding.decode(if i == 0 { bulk::strip_bom(c) } else { c }).map(|s| s.into_owned()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ImportError::Input(format!("line 1: {e}")))?;
    let layout = Layout::from_header(opts.kind, &header).map_err(|e| ImportError::Input(format!("line 1: {e}")))?;
    let mut lines = 0u64;
    // Overlong lines reach the CSV reader as empty lines (skipped); report them in order.
    let overlong_before = |line: u64, lines: &mut u64| -> Result<(), ImportError> {
        loop {
            let next = {
                let mut s = state.borrow_mut();
                match s.overlong.front() {
                    Some(&l) if l < line => s.overlong.pop_front(),
                    _ => None,
                }
            };
            let Some(l) = next else { return Ok(()) };
            *lines += 1;
            send(Event::Bad(BadLine::new(l, LineError::line(format!("the line is longer than {MAX_LINE_BYTES} bytes")))))?;
        }
    };
    while reader.read_byte_record(&mut record).map_err(csv_error)? {
        let line = record.position().map_or(0, |p| state.borrow_mut().line_at(p.byte()));
        overlong_before(line, &mut lines)?;
        lines += 1;
        let truncated = state.borrow().unterminated.is_some_and(|l| l >= line);
        let checked = if truncated {
            Err(LineError::line("the file ends inside this line (no line break at the end): it may be truncated"))
        } else {
            decode(encoding, &record, &layout.columns)
        };
        let event = match checked {
            Err(e) => Event::Bad(BadLine::new(line, e)),
            Ok(cells) => match layout.kind {
                FileKind::Persons => match layout.person(&cells) {
                    Ok(p) => Event::Person((line, p.addressee, p.number)),
                    Err(e) => Event::Bad(BadLine::new(line, e)),
                },
                FileKind::Copies => match layout.copy(&cells, |i| matrix.knows_item(i)) {
                    Ok(c) => Event::Copy((line, c)),
                    Err(e) => Event::Bad(BadLine::new(line, e)),
                },
            },
        };
        send(event)?;
        if lines.is_multiple_of(4096) {
            send(Event::Progress { bytes: state.borrow().bytes, lines })?;
        }
    }
    overlong_before(u64::MAX, &mut lines)?;
    send(Event::End { bytes: state.borrow().bytes, lines })?;
    Ok(())
}

/// A line's cells as text, borrowed from the record where the encoding allows (UTF-8).
fn decode<'r>(encoding: Encoding, record: &'r csv::ByteRecord, columns: &[String]) -> Result<Vec<std::borrow::Cow<'r, str>>, LineError> {
    record
        .iter()
        .enumerate()
        .map(|(i, cell)| {
            let name = columns.get(i).map_or("", String::as_str);
            encoding.decode(cell).map_err(|reason| LineError::at(i, name, reason))
        })
        .collect()
}

fn csv_error(e: csv::Error) -> ImportError {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => ImportError::Read(e),
        other => ImportError::Input(format!("unreadable CSV: {other:?}")),
    }
}

/// Reads up to 64 KiB to tell the encoding, then gives the whole input back.
fn sniff<R: Read>(mut input: R, given: Option<Encoding>) -> Result<(Encoding, impl Read), ImportError> {
    const SAMPLE: usize = 64 << 10;
    let mut prefix = Vec::with_capacity(SAMPLE);
    (&mut input).take(SAMPLE as u64).read_to_end(&mut prefix)?;
    let whole = prefix.len() < SAMPLE;
    let encoding = match given {
        Some(Encoding::Cp932) if prefix.starts_with(b"\xEF\xBB\xBF") => {
            return Err(ImportError::Input("the file starts with a UTF-8 byte-order mark, but CP932 was given".into()));
        }
        Some(e) => e,
        None => bulk::detect(&prefix, whole).map_err(ImportError::Input)?,
    };
    Ok((encoding, std::io::Cursor::new(prefix).chain(input)))
}

/// What [`LineLimit`] learned about physical lines so far.
#[derive(Default)]
struct LineState {
    /// Lines passed on so far.
    lines: u64,
    /// Bytes read from the input.
    bytes: u64,
    /// Lines longer than the limit, replaced by empty lines.
    overlong: VecDeque<u64>,
    /// The last line, if the input ended without a line break.
    unterminated: Option<u64>,
    /// Bytes passed on to the CSV reader (an overlong line passes on as one byte).
    passed: u64,
    /// The lines passed on but not yet found by [`LineState::line_at`]: the offset (in passed
    /// bytes) of each one's final line break, its number, and whether it is blank.
    ends: VecDeque<(u64, u64, bool)>,
}

impl LineState {
    /// The line a record the CSV reader found at `offset` (in passed bytes) starts on. Why not
    /// the reader's own count: after a CRLF line break it stops on the CR and counts the line
    /// only when the next record starts, so every line of a CRLF file would be named one too
    /// early (BurntSushi/rust-csv#395); its offset then points at that LF, and blank lines it
    /// skips may follow.
    fn line_at(&mut self, offset: u64) -> u64 {
        while self.ends.front().is_some_and(|&(end, _, _)| end < offset) {
            self.ends.pop_front();
        }
        // The LF of a CRLF the reader left behind: the record starts after it.
        if self.ends.front().is_some_and(|&(end, _, _)| end == offset) {
            self.ends.pop_front();
        }
        while self.ends.front().is_some_and(|&(_, _, blank)| blank) {
            self.ends.pop_front();
        }
        self.ends.front().map_or(self.lines + 1, |&(_, line, _)| line)
    }
}

/// Passes the input on one physical line at a time, so no line over [`MAX_LINE_BYTES`] is ever
/// held: such a line is dropped (noted in [`LineState::overlong`]) and an empty line passed on.
struct LineLimit<R> {
    inner: BufReader<R>,
    line: Vec<u8>,
    pos: usize,
    state: Rc<RefCell<LineState>>,
}

impl<R: Read> LineLimit<R> {
    fn new(inner: R, state: Rc<RefCell<LineState>>) -> Self {
        Self { inner: BufReader::with_capacity(64 << 10, inner), line: Vec::with_capacity(1024), pos: 0, state }
    }

    /// Counts the line just read. An overlong one is passed on as an empty line; the last line
    /// of an input without a final line break gets one.
    fn finish_line(&mut self, overlong: bool, unterminated: bool) {
        let mut s = self.state.borrow_mut();
        s.lines += 1;
        let n = s.lines;
        if unterminated {
            s.unterminated = Some(n);
        }
        if overlong {
            s.overlong.push_back(n);
            self.line.clear();
        }
        if overlong || unterminated {
            self.line.push(b'\n');
        }
        s.passed += self.line.len() as u64;
        let end = s.passed - 1;
        let blank = matches!(self.line.as_slice(), b"\n" | b"\r\n");
        s.ends.push_back((end, n, blank));
    }

    /// Loads the next physical line; `false` at the end of the input.
    fn next_line(&mut self) -> std::io::Result<bool> {
        self.line.clear();
        self.pos = 0;
        let mut overlong = false;
        let mut seen = 0u64;
        loop {
            let avail = self.inner.fill_buf()?;
            if avail.is_empty() {
                if seen == 0 {
                    return Ok(false);
                }
                self.finish_line(overlong, true);
                return Ok(true);
            }
            let (take, end) = match avail.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (avail.len(), false),
            };
            if !overlong {
                if self.line.len() + take > MAX_LINE_BYTES {
                    overlong = true;
                    self.line.clear();
                } else {
                    self.line.extend_from_slice(&avail[..take]);
                }
            }
            self.inner.consume(take);
            seen += take as u64;
            self.state.borrow_mut().bytes += take as u64;
            if end {
                self.finish_line(overlong, false);
                return Ok(true);
            }
        }
    }
}

impl<R: Read> Read for LineLimit<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.line.len() && !self.next_line()? {
            return Ok(0);
        }
        let n = out.len().min(self.line.len() - self.pos);
        out[..n].copy_from_slice(&self.line[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Ignore;
    impl Observer for Ignore {
        fn bad_line(&mut self, _bad: BadLine) {}
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_load_whose_caller_goes_away_is_applied_and_audited() {
        let (_dir, p, store, org) = crate::test_support::platform().await;
        let mut csv = String::from("addressee_no,item,valid_from,income\n");
        for i in 0..2_000 {
            csv.push_str(&format!("G{i},TAX,2026-06-01,{i}\n"));
        }
        let opts = ImportOptions { kind: FileKind::Copies, encoding: None, skip_bad: false, actor: "client:t-org".into() };
        // The client goes away at once: the load's future is polled once, then dropped (had the
        // load run in it, it would still be reading the file then).
        let load = import_detached(p.clone(), org.id.clone(), std::io::Cursor::new(csv.into_bytes()), opts, Ignore);
        let _ended_at_once = tokio::time::timeout(std::time::Duration::ZERO, load).await.is_ok();
        let tenant = store.tenant().clone();
        let mut entries = Vec::new();
        for _ in 0..200 {
            entries = p.platform.audit_log(Some(&tenant)).await.unwrap();
            if entries.iter().any(|e| e.action == "import") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        let import = entries.iter().find(|e| e.action == "import").map(|e| e.detail.as_str()).unwrap_or("no import entry");
        assert_eq!(import, "org=t-org kind=copies lines=2000 stored=2000 unchanged=0 bad=0 applied=true");
        let (g1999, tax) = (AddresseeNo::parse("G1999").unwrap(), renkei_domain::ItemCode::parse("TAX").unwrap());
        let copies = store.copies_valid_on(&org.id, &g1999, &[tax], "2026-07-01".parse().unwrap()).await.unwrap();
        assert_eq!(copies.len(), 1, "the last line's copy is stored");
    }

    fn lines_of(input: &[u8]) -> (Vec<Vec<u8>>, LineState) {
        let state = Rc::new(RefCell::new(LineState::default()));
        let mut r = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(LineLimit::new(input, state.clone()));
        let mut out = Vec::new();
        let mut rec = csv::ByteRecord::new();
        while r.read_byte_record(&mut rec).unwrap() {
            out.push(rec.as_slice().to_vec());
        }
        drop(r);
        let s = Rc::try_unwrap(state).ok().unwrap().into_inner();
        (out, s)
    }

    #[test]
    fn an_overlong_line_is_dropped_and_noted_and_the_next_line_is_read_whole() {
        let mut input = b"a,b\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 10));
        input.extend(b"\nc,d\n");
        let (records, state) = lines_of(&input);
        assert_eq!(records, vec![b"ab".to_vec(), b"cd".to_vec()]);
        assert_eq!(state.overlong, VecDeque::from([2]));
        assert_eq!(state.unterminated, None);
        assert_eq!(state.bytes, input.len() as u64);
    }

    #[test]
    fn a_last_line_without_a_line_break_is_noted() {
        let (records, state) = lines_of(b"a,b\nc,d");
        assert_eq!(records.len(), 2);
        assert_eq!(state.unterminated, Some(2));
    }

    #[test]
    fn a_quoted_line_break_stays_inside_its_cell() {
        let (records, state) = lines_of(b"a,\"x\ny\"\nc,d\n");
        assert_eq!(records, vec![b"ax\ny".to_vec(), b"cd".to_vec()]);
        assert_eq!(state.lines, 3);
    }

    /// The line each record starts on, as `read_file` names it in a report.
    fn record_lines(input: &[u8]) -> Vec<u64> {
        let state = Rc::new(RefCell::new(LineState::default()));
        let mut r = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(LineLimit::new(input, state.clone()));
        let mut rec = csv::ByteRecord::new();
        let mut out = Vec::new();
        while r.read_byte_record(&mut rec).unwrap() {
            out.push(rec.position().map_or(0, |p| state.borrow_mut().line_at(p.byte())));
        }
        out
    }

    #[test]
    fn records_are_named_by_the_line_they_start_on_with_lf_crlf_or_both() {
        assert_eq!(record_lines(b"h,h\na,b\nc,d\n"), [1, 2, 3]);
        assert_eq!(record_lines(b"h,h\r\na,b\r\nc,d\r\n"), [1, 2, 3]);
        assert_eq!(record_lines(b"h,h\r\na,b\nc,d\r\ne,f"), [1, 2, 3, 4]);
        // A blank line is skipped; a quoted line break keeps its record on its first line.
        assert_eq!(record_lines(b"h,h\r\n\r\na,\"x\r\ny\"\r\nc,d\r\n"), [1, 3, 5]);
        let mut overlong = b"h,h\r\n".to_vec();
        overlong.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 10));
        overlong.extend(b"\r\nc,d\r\n");
        assert_eq!(record_lines(&overlong), [1, 3]);
    }
}
