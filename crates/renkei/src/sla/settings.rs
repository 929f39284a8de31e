//! What `serve` takes for the SLA monitor (`ops::monitor`) and for sending incident notices
//! (`ops::notify`): its flags, and the configurations built from them.

use anyhow::{Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

/// How `serve`'s SLA monitor probes the tenants `renkei sla enrol` named (`ops::monitor`).
#[derive(Args)]
pub struct MonitorSettings {
    /// Seconds between the monitor's probes of every enrolled tenant (one `serve` process runs
    /// each round); 0 turns the monitor off.
    #[arg(long, env = "RENKEI_MONITOR_EVERY_SECS", default_value_t = 60)]
    pub monitor_every_secs: u64,
    /// Seconds one probe may take before it counts as failed.
    #[arg(long, env = "RENKEI_MONITOR_TIMEOUT_SECS", default_value_t = 20)]
    pub monitor_timeout_secs: u64,
    /// Where the probes reach the platform as staff do, e.g. the load balancer's
    /// https://renkei.example.lg.jp [default: this process's internal listener].
    #[arg(long, env = "RENKEI_MONITOR_URL")]
    pub monitor_url: Option<String>,
    /// The Individual Number the probe person is registered with at the hub: a test number the
    /// hub's operator allots, never a resident's.
    #[arg(long, env = "RENKEI_MONITOR_INDIVIDUAL_NUMBER", default_value = "999999999996")]
    pub monitor_individual_number: String,
    /// Consecutive failed probes that open an incident.
    #[arg(long, env = "RENKEI_MONITOR_OPEN_AFTER", default_value_t = 3)]
    pub monitor_open_after: usize,
    /// Days the probes' results are kept one by one; older days are kept as one roll-up per
    /// tenant, day and probe (counts and latency buckets: a month's percentiles then read at
    /// most a quarter high).
    #[arg(long, env = "RENKEI_MONITOR_RAW_DAYS", default_value_t = 35)]
    pub monitor_raw_days: u32,
}

impl MonitorSettings {
    /// The monitor's settings, or `None` if it is off. `internal` is this process's internal
    /// listener; `ca_pem` the CA its certificate chains to.
    pub fn config(&self, internal: std::net::SocketAddr, ca_pem: &str) -> Result<Option<renkei_ops::monitor::MonitorConfig>> {
        if self.monitor_every_secs == 0 {
            return Ok(None);
        }
        renkei_domain::IndividualNumber::parse(&self.monitor_individual_number).context("--monitor-individual-number")?;
        let timeout = std::time::Duration::from_secs(self.monitor_timeout_secs.max(1));
        Ok(Some(renkei_ops::monitor::MonitorConfig {
            every: std::time::Duration::from_secs(self.monitor_every_secs),
            timeout,
            base_url: self.monitor_url.clone().unwrap_or_else(|| {
                // A listener on every address is reached on loopback (a certificate names that).
                let mut at = internal;
                if at.ip().is_unspecified() {
                    at.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                }
                format!("https://{at}")
            }),
            client: renkei_net::tls::client_trusting(ca_pem, timeout)?,
            probe_number: self.monitor_individual_number.clone(),
            rule: renkei_domain::incident::IncidentRule { open_after: self.monitor_open_after.max(1), close_after: 1 },
            parallel: 8,
            raw_days: self.monitor_raw_days.max(1),
        }))
    }
}

/// How `serve` sends 障害通知 (`ops::notify`) to the channels `renkei sla notify` added.
#[derive(Args)]
pub struct NoticeSettings {
    /// The SMTP server mail goes out through (STARTTLS is required) [default: none; mail
    /// channels then fail, saying so, and are retried].
    #[arg(long, env = "RENKEI_SMTP_HOST")]
    pub smtp_host: Option<String>,
    #[arg(long, env = "RENKEI_SMTP_PORT", default_value_t = 587)]
    pub smtp_port: u16,
    /// The sender of notices.
    #[arg(long, env = "RENKEI_SMTP_FROM", default_value = "renkei-monitor@localhost")]
    pub smtp_from: String,
    /// A CA (PEM) to trust for the SMTP server instead of the system's.
    #[arg(long, env = "RENKEI_SMTP_CA_FILE")]
    pub smtp_ca_file: Option<PathBuf>,
    /// The SMTP account, with --smtp-password-file.
    #[arg(long, env = "RENKEI_SMTP_USER", requires = "smtp_password_file")]
    pub smtp_user: Option<String>,
    /// A file holding the SMTP account's password (one line).
    #[arg(long, env = "RENKEI_SMTP_PASSWORD_FILE")]
    pub smtp_password_file: Option<PathBuf>,
    /// Instead of an SMTP server, write each mail as an .eml file into this directory (a pickup
    /// directory another mailer sends from).
    #[arg(long, env = "RENKEI_MAIL_DIR", conflicts_with = "smtp_host")]
    pub mail_dir: Option<PathBuf>,
    /// A CA (PEM) to trust for webhook receivers, besides the system's and the platform's.
    #[arg(long, env = "RENKEI_WEBHOOK_CA_FILE")]
    pub webhook_ca_file: Option<PathBuf>,
    /// The status page named in every notice [default: the monitor's URL + /status].
    #[arg(long, env = "RENKEI_STATUS_URL")]
    pub status_url: Option<String>,
}

fn read(what: &str, path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

impl NoticeSettings {
    /// The notifier `serve` runs; `base_url` is where the probes reach the platform, `ca_pem`
    /// the platform's CA.
    pub fn notifier(
        &self,
        base_url: &str,
        ca_pem: &str,
        master: std::sync::Arc<renkei_crypto::datakey::MasterKey>,
    ) -> Result<renkei_ops::notify::Notifier> {
        let mail = match (&self.smtp_host, &self.mail_dir) {
            (Some(host), _) => Some(renkei_ops::notify::MailSettings::Smtp(renkei_ops::notify::SmtpSettings {
                host: host.clone(),
                port: self.smtp_port,
                from: self.smtp_from.clone(),
                ca_pem: self.smtp_ca_file.as_deref().map(|f| read("--smtp-ca-file", f)).transpose()?,
                user: match (&self.smtp_user, &self.smtp_password_file) {
                    (Some(u), Some(f)) => Some((u.clone(), read("--smtp-password-file", f)?.trim_end().to_owned())),
                    _ => None,
                },
            })),
            (None, Some(dir)) => {
                std::fs::create_dir_all(dir).with_context(|| format!("cannot create --mail-dir {}", dir.display()))?;
                Some(renkei_ops::notify::MailSettings::Directory(dir.clone(), self.smtp_from.clone()))
            }
            (None, None) => None,
        };
        let extra = self.webhook_ca_file.as_deref().map(|f| read("--webhook-ca-file", f)).transpose()?;
        let cas: Vec<&str> = std::iter::once(ca_pem).chain(extra.as_deref()).collect();
        let timeout = std::time::Duration::from_secs(15);
        let http = renkei_net::tls::client_to_anyone(&cas, timeout)?;
        let status = self.status_url.clone().unwrap_or_else(|| format!("{}/status", base_url.trim_end_matches('/')));
        Ok(renkei_ops::notify::Notifier::new(mail.as_ref(), http, master, status, timeout)?)
    }
}
