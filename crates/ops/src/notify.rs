//! 障害通知 sent: each notice the store queued (`store::notices`) goes out by its channel — a
//! mail over SMTP with STARTTLS required (`lettre`; UTF-8, subject and body in Japanese from
//! `domain::notice`), or a webhook POST of the notice as JSON signed with the channel's secret
//! (`crypto::webhook`: HMAC-SHA256 over the timestamp and body). Each delivery is bounded by a
//! timeout and runs apart from the others, so a dead endpoint delays no other channel; a failure
//! is retried with backoff (`domain::notice::retry_after_secs`) until `MAX_ATTEMPTS`, its reason
//! kept for the operator. A notice names the tenant, probe and times, never a person.

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use renkei_crypto::datakey::MasterKey;
use renkei_domain::notice::{IncidentNotice, retry_after_secs};
use renkei_store::StoreError;
use renkei_store::notices::{ChannelKind, Notice};
use renkei_store::platform::PlatformStore;
use std::sync::Arc;
use std::time::Duration;

/// The purpose a webhook's secret is sealed under (`MasterKey::seal_secret`), the channel id bound.
pub const WEBHOOK_SECRET: &str = "webhook-secret";

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("SMTP settings: {0}")]
    Smtp(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where mail goes out.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub from: String,
    /// A CA to trust instead of the system's (e.g. the organisation's own).
    pub ca_pem: Option<String>,
    pub user: Option<(String, String)>,
}

/// How mail leaves: an SMTP server, or a drop directory another program (or a person) picks
/// the messages up from, one `.eml` file each.
#[derive(Clone)]
pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>, Mailbox),
    Directory(AsyncFileTransport<Tokio1Executor>, Mailbox),
}

/// Where mail goes.
#[derive(Debug, Clone)]
pub enum MailSettings {
    Smtp(SmtpSettings),
    /// A directory that exists, and the sender's address.
    Directory(std::path::PathBuf, String),
}

/// How notices go out.
#[derive(Clone)]
pub struct Notifier {
    mailer: Option<Mailer>,
    http: reqwest::Client,
    master: Arc<MasterKey>,
    /// Where administrators see the status, named in every notice.
    pub status_url: String,
    /// How long one delivery may take.
    pub timeout: Duration,
}

impl Notifier {
    /// A notifier sending mail by `smtp` (none: mail channels fail with that reason) and
    /// webhooks by `http`.
    pub fn new(
        mail: Option<&MailSettings>,
        http: reqwest::Client,
        master: Arc<MasterKey>,
        status_url: String,
        timeout: Duration,
    ) -> Result<Self, NotifyError> {
        let mailer = match mail {
            None => None,
            Some(MailSettings::Smtp(s)) => {
                let (transport, from) = mailer(s, timeout)?;
                Some(Mailer::Smtp(transport, from))
            }
            Some(MailSettings::Directory(dir, from)) => {
                let from: Mailbox = from.parse().map_err(|e| NotifyError::Smtp(format!("the sender: {e}")))?;
                Some(Mailer::Directory(AsyncFileTransport::new(dir), from))
            }
        };
        Ok(Notifier { mailer, http, master, status_url, timeout })
    }

    /// Sends one notice; the reason it failed otherwise (never a secret).
    async fn deliver(&self, store: &PlatformStore, n: &Notice) -> Result<(), String> {
        let incident = store.incident(&n.incident).await.map_err(|e| e.to_string())?.ok_or("the incident is gone")?;
        let notice = IncidentNotice {
            kind: n.kind,
            incident: incident.id.clone(),
            tenant: incident.tenant.clone(),
            probe: incident.kind,
            started_at: incident.started_at,
            recovered_at: incident.recovered_at,
            cause: incident.cause.clone(),
            status_url: self.status_url.clone(),
        };
        let sending = async {
            match n.channel.kind {
                ChannelKind::Email => self.mail(&n.channel.target, &notice).await,
                ChannelKind::Webhook => self.webhook(n, &notice).await,
            }
        };
        tokio::time::timeout(self.timeout, sending).await.unwrap_or_else(|_| Err(format!("no answer within {} s", self.timeout.as_secs())))
    }

    async fn mail(&self, to: &str, notice: &IncidentNotice) -> Result<(), String> {
        let mailer = self.mailer.as_ref().ok_or("no SMTP server is set (--smtp-host)")?;
        let from = match mailer {
            Mailer::Smtp(_, from) | Mailer::Directory(_, from) => from,
        };
        let to: Mailbox = to.parse().map_err(|e| format!("the address: {e}"))?;
        let message = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(notice.subject())
            .header(ContentType::TEXT_PLAIN)
            .body(notice.body())
            .map_err(|e| format!("the message: {e}"))?;
        match mailer {
            Mailer::Smtp(transport, _) => transport.send(message).await.map(drop).map_err(|e| format!("SMTP: {e}")),
            Mailer::Directory(drop_dir, _) => drop_dir.send(message).await.map(drop).map_err(|e| format!("the mail directory: {e}")),
        }
    }

    async fn webhook(&self, n: &Notice, notice: &IncidentNotice) -> Result<(), String> {
        let sealed = n.channel.secret_enc.as_deref().ok_or("the webhook has no secret")?;
        let secret = self.master.open_secret(WEBHOOK_SECRET, &n.channel.id, sealed).map_err(|_| "the webhook's secret does not open")?;
        let body = serde_json::to_vec(&serde_json::json!({"event": notice.event(), "notice_id": n.id, "notice": notice}))
            .map_err(|e| e.to_string())?;
        let signature = renkei_crypto::webhook::sign(&secret, renkei_store::now_unix(), &body);
        let r = self
            .http
            .post(&n.channel.target)
            .header("content-type", "application/json")
            .header(renkei_crypto::webhook::HEADER, signature)
            .body(body)
            .send()
            .await
            .map_err(|e| format!("the webhook: {}", if e.is_connect() { "could not connect" } else { "a transport error" }))?;
        if r.status().is_success() { Ok(()) } else { Err(format!("the webhook answered {}", r.status())) }
    }
}

/// Whether `address` is one a notice can be mailed to.
pub fn check_address(address: &str) -> Result<(), String> {
    address.parse::<Mailbox>().map(drop).map_err(|e| e.to_string())
}

fn mailer(s: &SmtpSettings, timeout: Duration) -> Result<(AsyncSmtpTransport<Tokio1Executor>, Mailbox), NotifyError> {
    let bad = |what: &str, e: &dyn std::fmt::Display| NotifyError::Smtp(format!("{what}: {e}"));
    let mut tls = TlsParameters::builder(s.host.clone());
    if let Some(pem) = &s.ca_pem {
        tls = tls
            .certificate_store(CertificateStore::None)
            .add_root_certificate(Certificate::from_pem(pem.as_bytes()).map_err(|e| bad("the CA", &e))?);
    }
    let tls = tls.build().map_err(|e| bad("TLS", &e))?;
    // STARTTLS required: no mail goes out in the clear.
    let mut builder =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.clone()).port(s.port).tls(Tls::Required(tls)).timeout(Some(timeout));
    if let Some((user, password)) = &s.user {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    let from: Mailbox = s.from.parse().map_err(|e| bad("--smtp-from", &e))?;
    Ok((builder.build(), from))
}

/// Sends every due notice this process claims, each channel apart; how many went out.
pub async fn deliver_due(store: &PlatformStore, notifier: &Notifier) -> Result<usize, NotifyError> {
    let now = renkei_store::now_unix();
    let lease = i64::try_from(notifier.timeout.as_secs()).unwrap_or(60) + 5;
    let due = store.claim_notices(now, lease, 100).await?;
    let mut sending = tokio::task::JoinSet::new();
    for n in due {
        let (store, notifier) = (store.clone(), notifier.clone());
        sending.spawn(async move {
            let outcome = notifier.deliver(&store, &n).await;
            let now = renkei_store::now_unix();
            match outcome {
                Ok(()) => store.notice_sent(&n.id, &n.incident, now).await.map(|_| true),
                Err(reason) => {
                    let attempts = u32::try_from(n.attempts + 1).unwrap_or(u32::MAX);
                    tracing::warn!(notice = %n.id, channel = %n.channel.id, kind = n.channel.kind.code(), attempts, %reason, "a notice was not delivered; it is retried");
                    store.notice_failed(&n.id, &reason, now + retry_after_secs(attempts)).await.map(|_| false)
                }
            }
        });
    }
    let mut sent = 0;
    while let Some(done) = sending.join_next().await {
        if let Ok(Ok(true)) = done {
            sent += 1;
        }
    }
    Ok(sent)
}

/// Delivers notices as they fall due until `stop`.
pub async fn run(store: PlatformStore, notifier: Notifier, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    loop {
        if let Err(e) = deliver_due(&store, &notifier).await {
            tracing::error!(error = %e, "notices could not be read; tried again shortly");
        }
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}
