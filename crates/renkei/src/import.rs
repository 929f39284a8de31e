//! `renkei import persons|copies FILE`: bulk loading from CSV on the server itself (go-live and
//! nightly loads). The work is `renkei_server::import`; this module shows progress (a bar on a
//! terminal, plain lines otherwise) and writes the error report. `renkei import tenant DIR`
//! takes a whole tenant exported by another platform (`renkei_server::export`).

use crate::PlatformArgs;
use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use renkei_domain::OrgId;
use renkei_domain::bulk::{Encoding, FileKind};
use renkei_server::import::{BadLine, ImportError, ImportOptions, Observer};
use renkei_store::StoreError;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Exit status when `--skip-bad` applied the good lines and some lines were refused.
pub const EXIT_SKIPPED: u8 = 2;

#[derive(Args)]
pub struct ImportArgs {
    /// What the file holds: persons or copies of one org, or a whole tenant's export.
    kind: Kind,
    /// The CSV file (layouts: docs/csv-layouts.md; `-` reads standard input), or for `tenant`
    /// the export's directory (docs/export-layout.md).
    file: PathBuf,
    /// The org whose persons or provision copies these are.
    #[arg(long, required_unless_present = "verifier_key")]
    org: Option<String>,
    /// For `tenant`: the exporting platform's audit key (renkei-audit+…), which must have signed
    /// the export's manifest.
    #[arg(long, conflicts_with = "org")]
    verifier_key: Option<String>,
    /// `auto` (a UTF-8 BOM or valid UTF-8 means UTF-8, else CP932), `utf-8` or `cp932`.
    #[arg(long, default_value = "auto")]
    encoding: String,
    /// Apply the good lines and report the bad ones (default: any bad line applies nothing).
    #[arg(long)]
    skip_bad: bool,
    /// Where to write the error report [default: FILE.errors.csv].
    #[arg(long)]
    report: Option<PathBuf>,
    #[command(flatten)]
    platform: PlatformArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Persons,
    Copies,
    Tenant,
}

pub async fn run(a: ImportArgs) -> Result<ExitCode> {
    let (kind, org) = match (a.kind, &a.org, &a.verifier_key) {
        (Kind::Tenant, None, Some(key)) => return tenant(&a, key).await,
        (Kind::Tenant, _, _) => bail!("import tenant takes --verifier-key (the exporting platform's `renkei audit key`), not --org"),
        (Kind::Persons, Some(org), None) => (FileKind::Persons, org),
        (Kind::Copies, Some(org), None) => (FileKind::Copies, org),
        _ => bail!("import persons|copies takes --org, not --verifier-key"),
    };
    let org = OrgId::parse(org).context("--org")?;
    let encoding = match a.encoding.as_str() {
        "auto" => None,
        e => Some(Encoding::parse(e).with_context(|| format!("--encoding {e}: use auto, utf-8 or cp932"))?),
    };
    let stdin = a.file == Path::new("-");
    let report_path = match (&a.report, stdin) {
        (Some(r), _) => r.clone(),
        (None, false) => PathBuf::from(format!("{}.errors.csv", a.file.display())),
        (None, true) => PathBuf::from("import.errors.csv"),
    };
    let (input, total): (Box<dyn std::io::Read + Send>, Option<u64>) = if stdin {
        (Box::new(std::io::stdin()), None)
    } else {
        let f = std::fs::File::open(&a.file).with_context(|| format!("cannot open {}", a.file.display()))?;
        let len = f.metadata().ok().map(|m| m.len());
        (Box::new(f), len)
    };
    // A report left by an earlier run must not be mistaken for this one's.
    match std::fs::remove_file(&report_path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("cannot replace {}", report_path.display()));
        }
        _ => {}
    }
    let tls = a.platform.tls.load()?;
    let setup = a.platform.setup(Duration::from_secs(86_400))?;
    let p = crate::run::load_platform(&setup, &tls).await?;
    let observer = Progress::new(total, report_path.clone());
    let actor = std::env::var("RENKEI_ACTOR").unwrap_or_else(|_| "operator".into());
    let opts = ImportOptions { kind, encoding, skip_bad: a.skip_bad, actor };
    let (summary, observer) = renkei_server::import::import(p, &org, input, opts, observer).await.map_err(|e| match e {
        // The load's one transaction was rolled back, except perhaps when PostgreSQL went away
        // while it committed: then whether it was applied is not known here.
        ImportError::Store(StoreError::Unavailable(_)) | ImportError::NotAudited { .. } => anyhow::Error::new(e),
        e => anyhow::anyhow!("{e}; nothing was applied"),
    })?;
    observer.finish()?;
    let what = format!("{} lines read ({}), {} stored, {} unchanged", summary.lines, summary.encoding, summary.stored, summary.unchanged);
    match (summary.bad, summary.applied) {
        (0, _) => {
            println!("import {}: {what}", kind.name());
            Ok(ExitCode::SUCCESS)
        }
        (bad, true) => {
            println!("import {}: {what}; {bad} bad lines skipped (report: {})", kind.name(), report_path.display());
            Ok(ExitCode::from(EXIT_SKIPPED))
        }
        (bad, false) => bail!("{bad} bad lines; nothing was applied (report: {})", report_path.display()),
    }
}

/// `renkei import tenant DIR --verifier-key K`.
async fn tenant(a: &ImportArgs, key: &str) -> Result<ExitCode> {
    let pinned = renkei_crypto::auditlog::CheckpointVerifier::parse(key).context("--verifier-key")?;
    let tls = a.platform.tls.load()?;
    let p = crate::run::load_platform(&a.platform.setup(Duration::from_secs(86_400))?, &tls).await?;
    let actor = std::env::var("RENKEI_ACTOR").unwrap_or_else(|_| "operator".into());
    let s = p.import_tenant(&a.file, &pinned, &actor).await?;
    println!(
        "import tenant {}: {} files, {} rows; its orgs have new keys: publish their entries to the hub (renkei admin org-entry)",
        s.tenant, s.files, s.rows
    );
    Ok(ExitCode::SUCCESS)
}

/// Shows progress and writes bad lines to the report as they are found.
struct Progress {
    bar: Option<ProgressBar>,
    total: Option<u64>,
    started: Instant,
    last_line: Instant,
    report_path: PathBuf,
    report: Option<csv::Writer<std::fs::File>>,
    error: Option<std::io::Error>,
}

impl Progress {
    fn new(total: Option<u64>, report_path: PathBuf) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes}  {msg}  ETA {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        let now = Instant::now();
        Self { bar, total, started: now, last_line: now, report_path, report: None, error: None }
    }

    fn finish(mut self) -> Result<()> {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if let Some(e) = self.error.take() {
            return Err(e).with_context(|| format!("cannot write the report {}", self.report_path.display()));
        }
        if let Some(mut w) = self.report.take() {
            w.flush().with_context(|| format!("cannot write the report {}", self.report_path.display()))?;
        }
        Ok(())
    }

    fn write(&mut self, bad: &BadLine) -> std::io::Result<()> {
        if self.report.is_none() {
            let mut w = csv::Writer::from_path(&self.report_path)?;
            w.write_record(["line", "column", "column_name", "reason"])?;
            self.report = Some(w);
        }
        if let Some(w) = self.report.as_mut() {
            let column = bad.column.map(|c| c.to_string()).unwrap_or_default();
            w.write_record([bad.line.to_string().as_str(), &column, bad.column_name.as_deref().unwrap_or(""), &bad.reason])?;
        }
        Ok(())
    }
}

impl Observer for Progress {
    fn bad_line(&mut self, bad: BadLine) {
        if self.error.is_none()
            && let Err(e) = self.write(&bad)
        {
            self.error = Some(e);
        }
    }

    fn progress(&mut self, bytes: u64, lines: u64) {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = lines as f64 / secs;
        if let Some(bar) = &self.bar {
            bar.set_position(bytes);
            bar.set_message(format!("{lines} lines  {rate:.0} lines/s"));
            return;
        }
        // Not a terminal (a log, a pipe): one plain line every few seconds.
        if self.last_line.elapsed() >= Duration::from_secs(5) {
            self.last_line = Instant::now();
            let share = self.total.filter(|t| *t > 0).map(|t| format!(" ({:.0}%)", bytes as f64 * 100.0 / t as f64)).unwrap_or_default();
            eprintln!("import: {lines} lines, {bytes} bytes{share}, {rate:.0} lines/s");
        }
    }
}
