//! `renkei sla report|maintenance|incidents|cause|statement|weights|enrol|withdraw|probes|
//! publish|notify|channels|unnotify|notices`: a tenant's month against its contract (`ops::sla`,
//! `ops::report`), announced maintenance windows, what an incident's cause was, the month's cost
//! statement (`ops::metering`), which tenants the monitor of `serve` probes (`ops::monitor`) with
//! their latest results, and who is told of incidents (`ops::notify`). The contracts file is
//! `contracts.rs`'s; `serve`'s monitor and notice settings are `settings.rs`'s.

mod contracts;
pub mod page;
mod settings;

use crate::run::PlatformAccess;
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
pub use contracts::Contracts;
use renkei_domain::allocation::Weights;
use renkei_domain::export::Encoding;
use renkei_domain::sla::Month;
use renkei_domain::wareki::jst_minute as jst;
use renkei_store::monitor::Maintenance;
pub use settings::{MonitorSettings, NoticeSettings};
use std::path::PathBuf;

#[derive(Args)]
pub struct SlaArgs {
    #[command(flatten)]
    platform: PlatformAccess,
    /// The tenants' SLA contracts (TOML: [default] and [tenant.ID] sections) [default: every
    /// tenant on 表2-13's grade, office hours, no fee].
    #[arg(long, env = "RENKEI_SLA_CONTRACTS_FILE")]
    contracts_file: Option<PathBuf>,
    /// Who is acting, for the audit log.
    #[arg(long, env = "RENKEI_ACTOR", default_value = "operator")]
    actor: String,
    #[command(subcommand)]
    cmd: SlaCmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
    /// 運用サービス実績報告書 as a page with charts.
    Html,
    /// The page printed by headless Chromium.
    Pdf,
}

#[derive(Subcommand)]
enum SlaCmd {
    /// A tenant's month: availability against its grade, MTTR, response times (検索系, 更新系),
    /// incidents, backups and drills, and the fee reduction owed.
    Report {
        #[arg(long)]
        tenant: String,
        /// YYYY-MM (JST).
        #[arg(long)]
        month: String,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Write it here [default: standard output].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The compliance sheet (適合状況一覧): each item of 000 表2-8 and 表2-13 answered for a tenant
    /// and month from the platform's settings, measured figures and records; "未充足" where the
    /// evidence is missing.
    Compliance {
        #[arg(long)]
        tenant: String,
        /// YYYY-MM (JST) [default: last month].
        #[arg(long)]
        month: Option<String>,
        /// html, csv (UTF-8 with a BOM) or csv-cp932.
        #[arg(long, default_value = "html")]
        format: String,
        /// Write it here [default: standard output].
        #[arg(long)]
        out: Option<PathBuf>,
        /// The backups as `serve` runs them (the [backup] section): where they are, the second
        /// site and the generations kept.
        #[command(flatten)]
        backups: Box<crate::backup::BackupSettings>,
    },
    /// Announce a maintenance window: it is neither promised service time nor outage.
    Maintenance {
        /// The tenant it is for [default: every tenant].
        #[arg(long)]
        tenant: Option<String>,
        /// RFC 3339, e.g. 2026-12-05T22:00:00+09:00.
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// What is done (shown on the status page).
        #[arg(long, default_value = "")]
        note: String,
    },
    /// The month's cost statement (費用按分): each tenant's use and its share of the platform's
    /// cost, adding up to the cost to the yen.
    Statement {
        /// YYYY-MM (JST).
        #[arg(long)]
        month: String,
        /// The platform's cost for the month, in yen.
        #[arg(long)]
        cost_yen: u64,
        /// Weights of equal share, population (persons registered) and usage (queries sent and
        /// answered), as E:P:U [default: the consortium's (`sla weights`) with --consortium, else
        /// 1:0:0].
        #[arg(long)]
        weights: Option<String>,
        /// Share the cost among this consortium's tenants only (複数団体の費用按分).
        #[arg(long)]
        consortium: Option<String>,
        /// csv (UTF-8 with a BOM), csv-cp932, html, or json.
        #[arg(long, default_value = "csv")]
        format: String,
        /// Write it here [default: standard output].
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Set the weights a consortium's members agreed to share its cost by (E:P:U).
    Weights {
        #[arg(long)]
        consortium: String,
        #[arg(long)]
        weights: String,
    },
    /// List incidents (to find the one whose cause to write): those open now, or a tenant's of
    /// a month.
    Incidents {
        /// A tenant's (with its platform-wide ones) [default: every incident open now].
        #[arg(long, requires = "month")]
        tenant: Option<String>,
        /// YYYY-MM (JST), with --tenant.
        #[arg(long, requires = "tenant")]
        month: Option<String>,
    },
    /// Have the monitor of `serve` probe a tenant, as ORG (an org whose type 別表第二 lets ask
    /// its own type, e.g. a 市町村長's): stores the hash of the probe's API key (derived from
    /// the master key) and says what the round trip asks.
    Enrol {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        org: String,
        /// Annex Table 2 (別表第二) as CSV [default: the built-in table].
        #[arg(long, env = "RENKEI_MATRIX")]
        matrix: Option<PathBuf>,
    },
    /// Stop probing a tenant; its probe key is revoked.
    Withdraw {
        #[arg(long)]
        tenant: String,
    },
    /// Record whether the tenant allowed the public status page to name it (default: shown as
    /// an unnamed tenant).
    Publish {
        #[arg(long)]
        tenant: String,
        /// Withdraw the consent.
        #[arg(long)]
        off: bool,
    },
    /// A tenant's latest probe results, newest first.
    Probes {
        #[arg(long)]
        tenant: String,
        #[arg(long, default_value_t = 20)]
        last: i64,
    },
    /// Tell a tenant's administrators (or, without --tenant, the operator) of its incidents by
    /// mail or by a signed webhook; a webhook's signing secret is printed once.
    Notify {
        #[arg(long)]
        tenant: Option<String>,
        /// A mail address.
        #[arg(long, conflicts_with = "webhook", required_unless_present = "webhook")]
        email: Option<String>,
        /// An https:// URL that takes the notice as a signed JSON POST.
        #[arg(long)]
        webhook: Option<String>,
    },
    /// The notice channels of a tenant (or, without --tenant, the operator's).
    Channels {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Remove a notice channel by the id `sla channels` shows.
    Unnotify {
        #[arg(long)]
        channel: String,
    },
    /// The notices of an incident: each channel's, sent or not, attempts and the last error.
    Notices {
        #[arg(long)]
        incident: String,
    },
    /// Write what an incident's cause was, for the reports.
    Cause {
        #[arg(long)]
        incident: String,
        #[arg(long)]
        cause: String,
    },
}

/// `E:P:U` weights.
fn parse_weights(text: &str) -> Result<Weights> {
    Weights::parse(text).with_context(|| format!("--weights is E:P:U, three whole numbers up to 1000 (e.g. 1:1:2), not {text:?}"))
}

fn time(flag: &str, text: &str) -> Result<i64> {
    Ok(chrono::DateTime::parse_from_rfc3339(text).with_context(|| format!("{flag} must be an RFC 3339 time"))?.timestamp())
}

/// Writes `bytes` to `out`, saying so, or to standard output.
fn write_out(out: Option<PathBuf>, bytes: &[u8], what: &str) -> Result<()> {
    match out {
        Some(path) => {
            std::fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
            println!("{what} written to {}", path.display());
        }
        None => std::io::Write::write_all(&mut std::io::stdout(), bytes)?,
    }
    Ok(())
}

/// The month before the one `now` is in (JST).
fn last_month(now: i64) -> Month {
    Month::of(now).previous()
}

/// What the compliance sheet takes from the settings: the contract and its section, the
/// backups as set up, and where data is kept — the listing of `renkei admin locations`, or why
/// it was refused.
fn compliance_settings(
    platform: &PlatformAccess,
    contracts: &Contracts,
    tenant: &renkei_domain::TenantId,
    backups: &crate::backup::BackupSettings,
) -> Result<renkei_ops::compliance::Settings> {
    use renkei_domain::compliance::Location;
    let db = &platform.db;
    let listing = db.locations("platform store", &platform.data_dir, crate::run::PLATFORM_SCHEMA).and_then(|stores| {
        let mut lines: Vec<String> = stores.lines().map(str::to_owned).collect();
        lines.extend(backups.locations(&db.allowed_countries)?);
        Ok(lines)
    });
    let (locations, locations_refused) = match listing {
        Ok(lines) => (
            lines
                .iter()
                .filter_map(|l| match l.split('\t').collect::<Vec<_>>()[..] {
                    [label, at, place] => Some(Location { label: label.into(), at: at.into(), place: place.into() }),
                    _ => None,
                })
                .collect(),
            None,
        ),
        Err(e) => (Vec::new(), Some(format!("{e:#}"))),
    };
    Ok(renkei_ops::compliance::Settings {
        contract: contracts.of(tenant.as_str())?,
        contract_source: contracts.source(tenant.as_str()),
        backup: backups.setup(),
        locations,
        locations_refused,
        allowed_countries: renkei_domain::location::parse_allowed(&db.allowed_countries)?,
    })
}

fn hours(seconds: i64) -> String {
    format!("{:.2} 時間", seconds as f64 / 3600.0)
}

pub async fn run(a: SlaArgs) -> Result<()> {
    let contracts = Contracts::load(a.contracts_file.as_deref())?;
    let store = a.platform.store().await?;
    let now = renkei_store::now_unix();
    match a.cmd {
        SlaCmd::Report { tenant, month, format, out } => {
            let tenant_id = renkei_domain::TenantId::parse(&tenant).context("--tenant")?;
            let Some(known) = store.tenants().await?.into_iter().find(|t| t.id == tenant_id) else {
                bail!("no tenant {tenant_id} on this platform");
            };
            let month = Month::parse(&month).context("--month is YYYY-MM")?;
            let contract = contracts.of(tenant_id.as_str())?;
            let r = renkei_ops::sla::month_report(&store, &a.platform.master_key()?, &tenant_id, month, &contract, now).await?;
            let bytes = match format {
                Format::Json => serde_json::to_vec_pretty(&r)?,
                Format::Text => {
                    print_text(&r);
                    return Ok(());
                }
                Format::Html => renkei_ops::report::html(&r, &known.name).into_bytes(),
                Format::Pdf => renkei_ops::report::pdf(&renkei_ops::report::html(&r, &known.name)).await?,
            };
            write_out(out, &bytes, &format!("report of {tenant_id} for {month}"))?;
        }
        SlaCmd::Compliance { tenant, month, format, out, backups } => {
            let tenant_id = renkei_domain::TenantId::parse(&tenant).context("--tenant")?;
            let Some(known) = store.tenants().await?.into_iter().find(|t| t.id == tenant_id) else {
                bail!("no tenant {tenant_id} on this platform");
            };
            let month = match month {
                Some(m) => Month::parse(&m).context("--month is YYYY-MM")?,
                None => last_month(now),
            };
            let settings = compliance_settings(&a.platform, &contracts, &tenant_id, &backups)?;
            let sheet =
                renkei_ops::compliance::sheet(&store, &a.platform.master_key()?, &tenant_id, &known.name, month, settings, now).await?;
            let bytes = match format.as_str() {
                "html" => renkei_ops::compliance::html(&sheet).into_bytes(),
                "csv" => renkei_ops::compliance::csv(&sheet, Encoding::Utf8)?,
                "csv-cp932" => renkei_ops::compliance::csv(&sheet, Encoding::Cp932)?,
                other => bail!("--format is html, csv or csv-cp932, not {other:?}"),
            };
            write_out(out, &bytes, &format!("compliance sheet of {tenant_id} for {month}"))?;
        }
        SlaCmd::Maintenance { tenant, from, to, note } => {
            let tenant = match tenant {
                Some(t) => renkei_domain::TenantId::parse(&t).context("--tenant")?.to_string(),
                None => String::new(),
            };
            let m = Maintenance {
                id: uuid::Uuid::now_v7().to_string(),
                tenant,
                starts_at: time("--from", &from)?,
                ends_at: time("--to", &to)?,
                note,
                announced_at: now,
            };
            if m.ends_at <= m.starts_at {
                bail!("--to must be after --from");
            }
            store.announce_maintenance(&m, &a.actor).await?;
            println!("maintenance {} announced: {} – {} JST", m.id, jst(m.starts_at), jst(m.ends_at));
        }
        SlaCmd::Statement { month, cost_yen, weights, consortium, format, out } => {
            let month = Month::parse(&month).context("--month is YYYY-MM")?;
            let consortium = match consortium {
                Some(id) => {
                    let id = renkei_domain::ConsortiumId::parse(&id).context("--consortium")?;
                    Some(store.consortium(&id).await?.ok_or_else(|| anyhow::anyhow!("no consortium {id} on this platform"))?)
                }
                None => None,
            };
            let weights = match (&weights, &consortium) {
                (Some(w), _) => parse_weights(w)?,
                (None, Some(c)) => parse_weights(&c.cost_weights)?,
                (None, None) => Weights { equal: 1, population: 0, usage: 0 },
            };
            let mut meters = renkei_ops::metering::meter(&store, &a.platform.master_key()?, month).await?;
            if let Some(c) = &consortium {
                meters.retain(|m| c.tenants.iter().any(|t| t.as_str() == m.tenant));
                if meters.is_empty() {
                    bail!("consortium {} has no tenant to share the cost", c.id);
                }
            }
            let statement = renkei_ops::metering::statement(month, cost_yen, weights, meters)?;
            let bytes = match format.as_str() {
                "csv" => renkei_ops::metering::statement_csv(&statement, Encoding::Utf8)?,
                "csv-cp932" => renkei_ops::metering::statement_csv(&statement, Encoding::Cp932)?,
                "html" => renkei_ops::metering::statement_html(&statement).into_bytes(),
                "json" => serde_json::to_vec_pretty(&statement)?,
                other => bail!("--format is csv, csv-cp932, html or json, not {other:?}"),
            };
            write_out(out, &bytes, &format!("statement of {month} ({} tenants, {cost_yen} yen)", statement.lines.len()))?;
        }
        SlaCmd::Weights { consortium, weights } => {
            let id = renkei_domain::ConsortiumId::parse(&consortium).context("--consortium")?;
            let w = parse_weights(&weights)?;
            let text = format!("{}:{}:{}", w.equal, w.population, w.usage);
            store.set_cost_weights(&id, &text, &a.actor).await.map_err(|e| match e {
                renkei_store::StoreError::NotFound(_) => anyhow::anyhow!("no consortium {id} on this platform"),
                e => e.into(),
            })?;
            println!("consortium {id} shares its cost by {text} (equal:population:usage)");
        }
        SlaCmd::Incidents { tenant, month } => {
            let incidents = match (tenant, month) {
                (Some(t), Some(m)) => {
                    let t = renkei_domain::TenantId::parse(&t).context("--tenant")?;
                    let month = Month::parse(&m).context("--month is YYYY-MM")?;
                    store.incidents_of(t.as_str(), month.span()).await?
                }
                _ => store.open_incidents().await?,
            };
            println!("incident\tscope\tprobe\tstarted (JST)\trecovered (JST)\tcause");
            for i in incidents {
                let scope = if i.tenant.is_empty() { "platform" } else { &i.tenant };
                let back = i.recovered_at.map(jst).unwrap_or_else(|| "open".into());
                println!("{}\t{scope}\t{}\t{}\t{back}\t{}", i.id, i.kind.as_str(), jst(i.started_at), i.cause);
            }
        }
        SlaCmd::Enrol { tenant, org, matrix } => {
            let tenant = renkei_domain::TenantId::parse(&tenant).context("--tenant")?;
            let org = renkei_domain::OrgId::parse(&org).context("--org")?;
            let matrix = crate::run::load_matrix(matrix.as_deref())?;
            let master = a.platform.master_key()?;
            let t = renkei_ops::monitor::enrol(&store, &master, &matrix, &tenant, &org, &a.actor).await?;
            println!("{tenant} is probed as {org}: the round trip asks duty {} for item {} of the probe person", t.duty, t.item);
        }
        SlaCmd::Withdraw { tenant } => {
            let tenant = renkei_domain::TenantId::parse(&tenant).context("--tenant")?;
            if !renkei_ops::monitor::withdraw(&store, &a.platform.master_key()?, &tenant, &a.actor).await? {
                bail!("{tenant} is not probed");
            }
            println!("{tenant} is no longer probed; its probe key is revoked");
        }
        SlaCmd::Publish { tenant, off } => {
            let tenant = renkei_domain::TenantId::parse(&tenant).context("--tenant")?;
            store.set_status_public(&tenant, !off, &a.actor).await.map_err(|e| match e {
                renkei_store::StoreError::NotFound(_) => anyhow::anyhow!("no tenant {tenant} on this platform"),
                e => e.into(),
            })?;
            println!("{tenant} {} on the public status page", if off { "is not named" } else { "is named" });
        }
        SlaCmd::Probes { tenant, last } => {
            let tenant = renkei_domain::TenantId::parse(&tenant).context("--tenant")?;
            println!("at (JST)\tprobe\tok\tms\tdetail");
            for r in store.probe_results(tenant.as_str(), last.clamp(1, 10_000)).await? {
                let at = jst(r.at_ms.div_euclid(1000));
                println!("{at}\t{}\t{}\t{}\t{}", r.kind.as_str(), if r.ok { "ok" } else { "FAILED" }, r.latency_ms, r.detail);
            }
        }
        SlaCmd::Notify { tenant, email, webhook } => {
            let tenant = match tenant {
                Some(t) => renkei_domain::TenantId::parse(&t).context("--tenant")?.to_string(),
                None => String::new(),
            };
            if !tenant.is_empty() && !store.tenants().await?.iter().any(|t| t.id.as_str() == tenant) {
                bail!("no tenant {tenant} on this platform");
            }
            let id = uuid::Uuid::now_v7().to_string();
            let (kind, target, secret) = match (email, webhook) {
                (Some(address), _) => {
                    renkei_ops::notify::check_address(&address).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
                    (renkei_store::notices::ChannelKind::Email, address, None)
                }
                (None, Some(url)) => {
                    if !url.starts_with("https://") || url.parse::<reqwest::Url>().is_err() {
                        bail!("--webhook must be an https:// URL");
                    }
                    (renkei_store::notices::ChannelKind::Webhook, url, Some(hex::encode(rand::random::<[u8; 32]>())))
                }
                (None, None) => bail!("give --email or --webhook"),
            };
            let master = a.platform.master_key()?;
            let secret_enc =
                secret.as_ref().map(|s| master.seal_secret(renkei_ops::notify::WEBHOOK_SECRET, &id, s.as_bytes())).transpose()?;
            let channel = renkei_store::notices::Channel { id: id.clone(), tenant, kind, target, secret_enc, created_at: now };
            store.add_notice_channel(&channel, &a.actor).await?;
            println!("notice channel {id} added");
            if let Some(secret) = secret {
                println!("signing secret (shown once; the receiver checks Renkei-Signature with it): {secret}");
            }
        }
        SlaCmd::Channels { tenant } => {
            println!("channel\tkind\ttarget");
            for c in store.notice_channels(tenant.as_deref().unwrap_or("")).await? {
                println!("{}\t{}\t{}", c.id, c.kind.code(), c.target);
            }
        }
        SlaCmd::Unnotify { channel } => {
            if !store.remove_notice_channel(&channel, &a.actor).await? {
                bail!("no notice channel {channel}");
            }
            println!("notice channel {channel} removed");
        }
        SlaCmd::Notices { incident } => {
            println!("notice\tevent\tchannel\ttarget\tsent (JST)\tattempts\tlast error");
            for n in store.notices_of(&incident).await? {
                let sent = n.sent_at.map(jst).unwrap_or_else(|| "not yet".into());
                println!(
                    "{}\t{}\t{}\t{}\t{sent}\t{}\t{}",
                    n.id,
                    n.kind.code(),
                    n.channel.kind.code(),
                    n.channel.target,
                    n.attempts,
                    n.last_error
                );
            }
        }
        SlaCmd::Cause { incident, cause } => {
            if cause.trim().is_empty() || cause.chars().count() > 2000 {
                bail!("--cause is 1 to 2000 characters");
            }
            store.set_incident_cause(&incident, cause.trim(), &a.actor, now).await.map_err(|e| match e {
                renkei_store::StoreError::NotFound(_) => anyhow::anyhow!("no incident {incident}"),
                e => e.into(),
            })?;
            println!("cause of incident {incident} recorded");
        }
    }
    Ok(())
}

fn print_text(r: &renkei_ops::sla::MonthReport) {
    println!("運用サービス実績 {} {}", r.tenant, r.month);
    if !r.has_data() {
        println!("この月の計測データはありません (no probe ran in this month): 稼働率は算出できません");
    }
    let a = &r.availability;
    println!("計画サービス時間 {} (うち計画保守 {} を除く)", hours(a.scheduled + a.maintenance), hours(a.maintenance));
    println!("停止時間 {}", hours(a.outage));
    match r.availability_percent {
        Some(p) => println!("稼働率 {p:.3} % (目標 {} %): {}", r.grade_availability_percent, met(r.verdict.availability_met)),
        None => println!("稼働率 — (目標 {} %)", r.grade_availability_percent),
    }
    match r.mttr_seconds {
        Some(s) => println!("平均復旧時間 {} (目標 {} 時間): {}", hours(s as i64), r.grade_mttr_hours, met(r.verdict.mttr_met)),
        None => println!("平均復旧時間 — (復旧した障害なし)"),
    }
    for l in &r.latencies {
        match &l.latency {
            Some(t) => println!("応答時間 {}: p50 {} ms, p95 {} ms, p99 {} ms ({} 回)", l.label, t.p50, t.p95, t.p99, t.count),
            None => println!("応答時間 {}: —", l.label),
        }
    }
    println!("障害 {} 件", r.incidents.len());
    for i in &r.incidents {
        let back = i.recovered_at.map(jst).unwrap_or_else(|| "継続中".into());
        let cause = if i.cause.is_empty() { "(原因未記入)" } else { &i.cause };
        println!("  {} {} {} – {} {}", i.scope, i.probe, jst(i.started_at), back, cause);
    }
    let b = &r.backups;
    println!(
        "バックアップ 成功 {} 回, 失敗 {} 回; リストア訓練 合格 {} 回, 不合格 {} 回",
        b.runs_ok, b.runs_failed, b.drills_passed, b.drills_failed
    );
    println!("減額 {} % = {} 円 (月額 {} 円)", r.verdict.reduction_percent, r.reduction_yen, r.monthly_fee_yen);
}

fn met(ok: bool) -> &'static str {
    if ok { "達成" } else { "未達" }
}
