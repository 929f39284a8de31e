//! Bulk loads (一括登録) started from a page: the upload is received whole, then loaded by
//! `import::import_detached` in a task of its own while the page polls its progress, and the
//! outcome with its bad lines stays readable by the person who started it for [`KEPT_FOR`], so
//! they can download the error report (エラー一覧) after the load.
//!
//! Loads are kept in memory only: a restart forgets them (the load itself is one transaction,
//! applied whole or not at all, and its audit entry says which).

use crate::Platform;
use crate::import::{BadLine, ImportError, ImportOptions, ImportSummary, Observer};
use renkei_domain::bulk::Encoding;
use renkei_domain::{OrgId, TenantId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a finished load's outcome stays to be read.
pub const KEPT_FOR: Duration = Duration::from_secs(3600);
/// Loads kept at once across the platform; the oldest finished ones go first.
const MAX_KEPT: usize = 200;
/// Bad lines kept per load for its report (a report names lines and columns, never values).
pub const MAX_REPORTED: usize = 100_000;

/// A load started from a page.
pub struct LoadJob {
    /// Opaque, random: the page's URL carries it, never anything of the file.
    pub id: String,
    pub tenant: TenantId,
    pub org: OrgId,
    /// The account that started it; only they see it.
    pub owner: String,
    pub kind: &'static str,
    /// The file's size, for the progress bar.
    pub total_bytes: u64,
    /// Unix seconds.
    pub started_at: i64,
    state: Mutex<LoadState>,
}

/// Where a load is.
#[derive(Clone)]
pub enum LoadState {
    Running {
        bytes: u64,
        lines: u64,
    },
    Done {
        summary: ImportSummary,
        bad_lines: Arc<Vec<BadLine>>,
        truncated: bool,
        finished: Instant,
    },
    /// The load could not run: nothing was applied (except as `detail` says for a load whose
    /// audit entry failed).
    Failed {
        detail: String,
        finished: Instant,
    },
}

impl LoadJob {
    pub fn state(&self) -> LoadState {
        self.state.lock().map(|s| s.clone()).unwrap_or(LoadState::Failed { detail: "internal error".into(), finished: Instant::now() })
    }

    fn set(&self, state: LoadState) {
        if let Ok(mut s) = self.state.lock() {
            *s = state;
        }
    }

    fn finished(&self) -> Option<Instant> {
        match self.state() {
            LoadState::Running { .. } => None,
            LoadState::Done { finished, .. } | LoadState::Failed { finished, .. } => Some(finished),
        }
    }
}

/// The loads started from pages.
#[derive(Default)]
pub struct Loads {
    jobs: Mutex<HashMap<String, Arc<LoadJob>>>,
}

impl Loads {
    /// The load `id`, if `owner` of `tenant` started it and it is still kept.
    pub fn get(&self, id: &str, tenant: &TenantId, owner: &str) -> Option<Arc<LoadJob>> {
        let jobs = self.jobs.lock().ok()?;
        jobs.get(id).filter(|j| &j.tenant == tenant && j.owner == owner).cloned()
    }

    /// The loads `owner` of `tenant` started that are still kept, newest first.
    pub fn of(&self, tenant: &TenantId, owner: &str) -> Vec<Arc<LoadJob>> {
        let Ok(jobs) = self.jobs.lock() else { return Vec::new() };
        let mut mine: Vec<_> = jobs.values().filter(|j| &j.tenant == tenant && j.owner == owner).cloned().collect();
        mine.sort_by(|a, b| b.started_at.cmp(&a.started_at).then_with(|| b.id.cmp(&a.id)));
        mine
    }

    fn keep(&self, job: Arc<LoadJob>) {
        let Ok(mut jobs) = self.jobs.lock() else { return };
        jobs.retain(|_, j| j.finished().is_none_or(|f| f.elapsed() < KEPT_FOR));
        while jobs.len() >= MAX_KEPT {
            let oldest = jobs.values().filter_map(|j| j.finished().map(|f| (f, j.id.clone()))).min();
            match oldest {
                Some((_, id)) => jobs.remove(&id),
                None => break,
            };
        }
        jobs.insert(job.id.clone(), job);
    }
}

/// Collects a page's load's progress and bad lines into its job.
struct JobObserver {
    job: Arc<LoadJob>,
    bad: Vec<BadLine>,
    truncated: bool,
}

impl Observer for JobObserver {
    fn bad_line(&mut self, bad: BadLine) {
        if self.bad.len() < MAX_REPORTED { self.bad.push(bad) } else { self.truncated = true }
    }

    fn progress(&mut self, bytes: u64, lines: u64) {
        self.job.set(LoadState::Running { bytes, lines });
    }
}

impl Platform {
    /// Starts loading `input` (received whole, `total_bytes` long) for `org` of `tenant` on
    /// behalf of `owner`, and returns the job to follow. The caller has checked the act
    /// (`Action::BulkLoad`) and that the org is the tenant's.
    pub fn start_load<R>(
        self: &Arc<Self>,
        tenant: TenantId,
        org: OrgId,
        owner: &str,
        input: R,
        total_bytes: u64,
        opts: ImportOptions,
    ) -> Arc<LoadJob>
    where
        R: std::io::Read + Send + 'static,
    {
        let job = Arc::new(LoadJob {
            id: renkei_crypto::random_id(),
            tenant,
            org: org.clone(),
            owner: owner.to_owned(),
            kind: opts.kind.name(),
            total_bytes,
            started_at: renkei_store::now_unix(),
            state: Mutex::new(LoadState::Running { bytes: 0, lines: 0 }),
        });
        self.loads.keep(job.clone());
        let observer = JobObserver { job: job.clone(), bad: Vec::new(), truncated: false };
        let (p, followed) = (self.clone(), job.clone());
        tokio::spawn(async move {
            let outcome = crate::import::import_detached(p, org, input, opts, observer).await;
            let finished = Instant::now();
            followed.set(match outcome {
                Ok((summary, o)) => LoadState::Done { summary, bad_lines: Arc::new(o.bad), truncated: o.truncated, finished },
                Err(e) => LoadState::Failed { detail: failure_detail(&e), finished },
            });
        });
        job
    }
}

/// Why a load could not run, in Japanese for the page (never a value of the file).
fn failure_detail(e: &ImportError) -> String {
    match e {
        ImportError::Input(why) => format!("ファイルを読めませんでした（{why}）。何も登録していません。"),
        ImportError::Read(_) => "ファイルを読めませんでした。何も登録していません。".into(),
        ImportError::Hub(_) => {
            "ネットワーク中継の符号の払い出しが受けられませんでした。何も登録していません。時間をおいてやり直してください。".into()
        }
        ImportError::UnknownOrg(_) => "機関がこの基盤にありません。何も登録していません。".into(),
        ImportError::Store(renkei_store::StoreError::Full(_)) => {
            "基盤の記憶領域が一杯です。何も登録していません。運用者に連絡してください。".into()
        }
        ImportError::Store(_) => "保存に失敗しました。何も登録していません。".into(),
        ImportError::NotAudited { applied: true, .. } => {
            "登録しましたが、監査ログに記録できませんでした。運用者に連絡してください。".into()
        }
        ImportError::NotAudited { applied: false, .. } => {
            "不正な行があり登録しませんでしたが、監査ログに記録できませんでした。運用者に連絡してください。".into()
        }
    }
}

/// The error report (エラー一覧) as a CSV file Excel opens: UTF-8 with a byte-order mark, or
/// CP932. It names lines and columns and says why, never a value of the file.
pub fn report_csv(bad: &[BadLine], encoding: Encoding) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    let _ = w.write_record(["行番号", "列番号", "列名", "理由"]);
    for b in bad {
        let column = b.column.map(|c| c.to_string()).unwrap_or_default();
        let _ = w.write_record([b.line.to_string().as_str(), &column, b.column_name.as_deref().unwrap_or(""), &b.reason]);
    }
    let text = String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default();
    match encoding {
        Encoding::Utf8 => [renkei_domain::bulk::UTF8_BOM, text.as_bytes()].concat(),
        Encoding::Cp932 => encoding_rs::SHIFT_JIS.encode(&text).0.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bad() -> Vec<BadLine> {
        vec![
            BadLine { line: 3, column: Some(2), column_name: Some("individual_number".into()), reason: "check digit, \"wrong\"".into() },
            BadLine { line: 7, column: None, column_name: None, reason: "列が足りません".into() },
        ]
    }

    #[test]
    fn the_utf8_report_starts_with_a_bom_and_quotes_what_needs_it() {
        let bytes = report_csv(&bad(), Encoding::Utf8);
        assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]));
        let text = std::str::from_utf8(&bytes[3..]).expect("utf-8");
        assert_eq!(text, "行番号,列番号,列名,理由\r\n3,2,individual_number,\"check digit, \"\"wrong\"\"\"\r\n7,,,列が足りません\r\n");
    }

    #[test]
    fn the_cp932_report_reads_back_as_the_same_text() {
        let bytes = report_csv(&bad(), Encoding::Cp932);
        assert!(!bytes.starts_with(&[0xEF, 0xBB, 0xBF]));
        let (text, _, errors) = encoding_rs::SHIFT_JIS.decode(&bytes);
        assert!(!errors);
        assert!(text.starts_with("行番号,列番号,列名,理由\r\n3,2,"), "{text}");
        assert!(text.ends_with("7,,,列が足りません\r\n"));
        // Not UTF-8: Excel on Japanese Windows reads it as CP932.
        assert!(std::str::from_utf8(&bytes).is_err());
    }
}
