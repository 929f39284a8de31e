//! 運用サービス実績報告書 (issue 17 §4): a tenant's month (`sla::MonthReport`) as a page in
//! Japanese — the verdict against its grade, availability by day and response times by week as
//! inline SVG charts (no script, no external file: the page prints and mails as it is), the
//! incidents with their causes, backups and restore drills, and the audit log's verification —
//! and that page as a PDF printed by headless Chromium (the browser municipalities' terminals
//! have; no PDF library lays out Japanese text as well).

use crate::sla::{MonthReport, WeekLatency};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use renkei_domain::incident::ProbeKind;
use renkei_domain::sla::Latency;
use renkei_domain::wareki::jst_minute as jst;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot run Chromium ({0}): install it (Debian: chromium) or set RENKEI_CHROMIUM")]
    NoChromium(String),
    #[error("Chromium printed no PDF: {0}")]
    Print(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

fn met(ok: bool) -> &'static str {
    if ok { "達成" } else { "未達" }
}

pub const STYLE: &str = "body{font-family:'Noto Sans CJK JP','Noto Sans JP',sans-serif;color:#1a1a1c;margin:2rem;line-height:1.6}\
h1{font-size:1.6rem}h2{font-size:1.2rem;border-bottom:2px solid #0017c1;margin-top:2rem}\
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #999;padding:.25rem .6rem;text-align:left}\
.met{color:#197a4b;font-weight:bold}.missed{color:#b51a1a;font-weight:bold}svg text{font-size:10px;fill:#333}\
@media print{body{margin:0}}";

/// The report as a page.
pub fn html(r: &MonthReport, tenant_name: &str) -> String {
    let v = &r.verdict;
    let met_all = v.availability_met && v.mttr_met;
    html! {
        (DOCTYPE)
        html lang="ja" {
            head {
                meta charset="utf-8";
                title { "運用サービス実績報告書 " (tenant_name) " " (r.month) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "運用サービス実績報告書" }
                p { "団体: " (tenant_name) "（" (r.tenant) "）　対象月: " (r.month) }
                @if !r.has_data() {
                    p #no-data .missed { "この月の計測データはありません。SLA監視が実行されていないため、稼働率は算出できません。" }
                }
                h2 { "1. SLAの達成状況" }
                table #summary {
                    tr { th { "項目" } th { "目標" } th { "実績" } th { "判定" } }
                    tr {
                        td { "サービス稼働率" } td { (r.grade_availability_percent) " %" }
                        td { @match r.availability_percent { Some(p) => (format!("{p:.3} %")), None => "—" } }
                        td.(if v.availability_met { "met" } else { "missed" }) { (met(v.availability_met)) }
                    }
                    tr {
                        td { "平均復旧時間" } td { (r.grade_mttr_hours) " 時間" }
                        td { @match r.mttr_seconds { Some(s) => (format!("{:.2} 時間", s / 3600.0)), None => "— (復旧した障害なし)" } }
                        td.(if v.mttr_met { "met" } else { "missed" }) { (met(v.mttr_met)) }
                    }
                }
                p #verdict {
                    "SLA: " span.(if met_all { "met" } else { "missed" }) { (if met_all { "達成" } else { "未達" }) }
                    "　減額: " (v.reduction_percent) " % = " (r.reduction_yen) " 円（月額 " (r.monthly_fee_yen) " 円）"
                }
                p { "計画サービス時間 " (format!("{:.2}", (r.availability.scheduled + r.availability.maintenance) as f64 / 3600.0)) " 時間（うち計画保守 "
                    (format!("{:.2}", r.availability.maintenance as f64 / 3600.0)) " 時間を除く）、停止時間 "
                    (format!("{:.2}", r.availability.outage as f64 / 3600.0)) " 時間。監視 " (r.probes) " 回（失敗 " (r.probes_failed) " 回）。" }
                h2 { "2. 日別の稼働率" }
                (daily_chart(r))
                h2 { "3. 応答時間" }
                table #latency {
                    tr { th { "確認項目" } th { "p50" } th { "p95" } th { "p99" } th { "回数" } }
                    @for l in &r.latencies {
                        tr {
                            td { (l.label) }
                            @match &l.latency {
                                Some(t) => { td { (t.p50) " ms" } td { (t.p95) " ms" } td { (t.p99) " ms" } td { (t.count) } },
                                None => { td colspan="4" { "—" } },
                            }
                        }
                    }
                }
                h3 { "週別の応答時間（検索系）" }
                (weekly_chart("search-chart", &r.weekly, |w| w.search.as_ref()))
                h3 { "週別の応答時間（更新系）" }
                (weekly_chart("update-chart", &r.weekly, |w| w.update.as_ref()))
                h2 { "4. 障害" }
                @if r.incidents.is_empty() { p { "この月に障害はありません。" } }
                @else {
                    table #incidents {
                        tr { th { "対象" } th { "確認項目" } th { "発生" } th { "初回通知" } th { "復旧" } th { "原因" } }
                        @for i in &r.incidents {
                            tr {
                                td { (if i.scope == "platform" { "基盤全体" } else { i.scope.as_str() }) }
                                td { (ProbeKind::parse(i.probe).map(|k| k.label_ja()).unwrap_or(i.probe)) }
                                td { (jst(i.started_at)) }
                                td { (i.first_notice_at.map(jst).unwrap_or_else(|| "—".into())) }
                                td { (i.recovered_at.map(jst).unwrap_or_else(|| "継続中".into())) }
                                td { (if i.cause.is_empty() { "（原因未記入）" } else { i.cause.as_str() }) }
                            }
                        }
                    }
                }
                h2 { "5. バックアップとリストア訓練" }
                p #backups { "バックアップ 成功 " (r.backups.runs_ok) " 回、失敗 " (r.backups.runs_failed) " 回。リストア訓練 合格 "
                    (r.backups.drills_passed) " 回、不合格 " (r.backups.drills_failed) " 回。" }
                h2 { "6. 監査ログの検証" }
                p #audit.(if r.audit.sound { "met" } else { "missed" }) {
                    (if r.audit.sound { "改ざんは検出されませんでした: " } else { "問題が検出されました: " }) (r.audit.text)
                }
            }
        }
    }
    .into_string()
}

/// Availability per day as bars from 95 % (or the month's lowest) to 100 %.
fn daily_chart(r: &MonthReport) -> Markup {
    let (w, h, left, bottom) = (640.0, 180.0, 40.0, 20.0);
    // The axis starts a step of 5 below the lowest day (at most 95 %), so every bar shows.
    let lowest = r.daily.iter().filter_map(|d| d.percent).fold(95.0_f64, f64::min);
    let floor = ((lowest - 5.0) / 5.0).floor().mul_add(5.0, 0.0).max(0.0);
    let n = r.daily.len().max(1) as f64;
    let step = (w - left) / n;
    let y = |p: f64| (h - bottom) * (1.0 - (p - floor) / (100.0 - floor).max(0.001));
    let grade = y(r.grade_availability_percent.max(floor));
    html! {
        svg #daily-chart role="img" aria-label="日別の稼働率" viewBox={ "0 0 " (w) " " (h) } width=(w) height=(h) xmlns="http://www.w3.org/2000/svg" {
            text x="0" y="10" { "100%" }
            text x="0" y=(h - bottom) { (floor) "%" }
            line x1=(left) y1=(grade) x2=(w) y2=(grade) stroke="#b51a1a" stroke-dasharray="4 3" {}
            @for (i, d) in r.daily.iter().enumerate() {
                @let x = left + step * i as f64;
                @if let Some(p) = d.percent {
                    rect x=(format!("{:.1}", x + 1.0)) y=(format!("{:.1}", y(p))) width=(format!("{:.1}", (step - 2.0).max(1.0)))
                        height=(format!("{:.1}", (h - bottom - y(p)).max(0.5))) fill=(if p >= r.grade_availability_percent { "#0017c1" } else { "#b51a1a" }) {
                        title { (d.day) ": " (format!("{p:.3}")) "%" }
                    }
                }
                @if i % 5 == 0 { text x=(format!("{:.1}", x)) y=(h - 4.0) { (d.day.get(8..).unwrap_or("")) } }
            }
        }
    }
}

/// p50, p95 and p99 per week as grouped bars.
fn weekly_chart(id: &str, weeks: &[WeekLatency], pick: fn(&WeekLatency) -> Option<&Latency>) -> Markup {
    let (w, h, left, bottom) = (640.0, 160.0, 50.0, 20.0);
    let top = weeks.iter().filter_map(pick).map(|l| l.p99).max().unwrap_or(0).max(1) as f64 * 1.1;
    let step = (w - left) / weeks.len().max(1) as f64;
    let bar = (step - 12.0) / 3.0;
    let colours = ["#7096f8", "#0031d8", "#000060"];
    html! {
        svg id=(id) role="img" aria-label="週別の応答時間 p50・p95・p99" viewBox={ "0 0 " (w) " " (h) } width=(w) height=(h) xmlns="http://www.w3.org/2000/svg" {
            text x="0" y="10" { (format!("{top:.0}")) " ms" }
            text x="0" y=(h - bottom) { "0" }
            @for (k, name) in ["p50", "p95", "p99"].into_iter().enumerate() {
                rect x=(w - 150.0 + 50.0 * k as f64) y="2" width="10" height="10" fill=(colours[k]) {}
                text x=(w - 136.0 + 50.0 * k as f64) y="11" { (name) }
            }
            @for (i, week) in weeks.iter().enumerate() {
                @let x = left + step * i as f64;
                @if let Some(l) = pick(week) {
                    @for (k, (name, v)) in [("p50", l.p50), ("p95", l.p95), ("p99", l.p99)].into_iter().enumerate() {
                        @let bh = (h - bottom - 12.0) * v as f64 / top;
                        rect x=(format!("{:.1}", x + 6.0 + bar * k as f64)) y=(format!("{:.1}", h - bottom - bh)) width=(format!("{:.1}", bar.max(1.0)))
                            height=(format!("{:.1}", bh.max(0.5))) fill=(colours[k]) { title { (week.from) "〜" (week.to) " " (name) ": " (v) " ms" } }
                    }
                } @else {
                    text x=(format!("{:.1}", x + 6.0)) y=(h - bottom - 4.0) { "データなし" }
                }
                text x=(format!("{:.1}", x + 6.0)) y=(h - 4.0) { (week.from.get(5..).unwrap_or("")) "〜" }
            }
        }
    }
}

/// The page printed to PDF by headless Chromium (`chromium`, or `RENKEI_CHROMIUM`).
pub async fn pdf(page: &str) -> Result<Vec<u8>, ReportError> {
    let dir = tempfile::tempdir()?;
    let (html_file, pdf_file) = (dir.path().join("report.html"), dir.path().join("report.pdf"));
    std::fs::write(&html_file, page)?;
    let chromium = std::env::var("RENKEI_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let out = print(&chromium, &html_file, &pdf_file, dir.path()).await?;
    match std::fs::read(&pdf_file) {
        Ok(bytes) if bytes.starts_with(b"%PDF") => Ok(bytes),
        _ => Err(ReportError::Print(String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("no output").to_owned())),
    }
}

async fn print(chromium: &str, html: &Path, pdf: &Path, profile: &Path) -> Result<std::process::Output, ReportError> {
    tokio::process::Command::new(chromium)
        .args(["--headless", "--disable-gpu", "--no-sandbox", "--no-pdf-header-footer", "--run-all-compositor-stages-before-draw"])
        .arg(format!("--user-data-dir={}", profile.join("profile").display()))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", html.display()))
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| ReportError::NoChromium(format!("{chromium}: {e}")))
}
