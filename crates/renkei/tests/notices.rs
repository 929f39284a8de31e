//! 障害通知 (`ops::notify`), on both backends: when the monitor opens, explains and recovers an
//! incident, each of the tenant's channels and the operator's is told on its own — mail through
//! a real SMTP server (aiosmtpd requiring STARTTLS; the first message refused 451 and retried),
//! a webhook whose signature the receiver checks, and a dead webhook that is retried with its
//! reason without holding the others back.

mod common;

use common::{Backend, Cluster, free_port, renkei};
use serde_json::Value;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn ok(c: &Cluster, args: &[&str]) -> String {
    let (code, out, err) = c.sla(args);
    assert_eq!(code, 0, "renkei sla {args:?}: {err}");
    out
}

/// The SMTP server, stopped with the test.
struct SmtpSink {
    child: Child,
    mails: PathBuf,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpSink {
    /// aiosmtpd on `port` with a certificate of the cluster's CA, refusing the first `refuse`.
    fn start(c: &Cluster, port: u16, refuse: u32) -> SmtpSink {
        let python = std::env::var_os("RENKEI_AIOSMTPD_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/aiosmtpd/bin/python"));
        assert!(
            python.exists(),
            "aiosmtpd is not installed: python3 -m venv target/aiosmtpd && target/aiosmtpd/bin/pip install aiosmtpd==1.4.6 (as .ci/run does), or set RENKEI_AIOSMTPD_PYTHON"
        );
        let pki = c.path("pki").display().to_string();
        renkei(&["pki", "issue", "--dir", &pki, "--name", "smtp"], None);
        let mails = c.path("mails.jsonl");
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
        let mut child = Command::new(python)
            .arg(script)
            .args([port.to_string(), format!("{pki}/smtp.pem"), format!("{pki}/smtp.key")])
            .arg(&mails)
            .arg(refuse.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start aiosmtpd");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("aiosmtpd says ready");
        assert_eq!(line.trim(), "ready");
        SmtpSink { child, mails }
    }

    fn mails(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.mails).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect()
    }
}

/// A webhook receiver over HTTPS (a certificate of the cluster's CA): every POST's signature
/// header and body.
async fn receiver(c: &Cluster) -> (String, Arc<Mutex<Vec<(String, Vec<u8>)>>>) {
    let pki = c.path("pki");
    renkei(&["pki", "issue", "--dir", &pki.display().to_string(), "--name", "receiver"], None);
    let tls = renkei_net::tls::TlsMaterial::from_files(&pki.join("receiver.pem"), &pki.join("receiver.key"), &pki.join("ca.pem"))
        .expect("receiver's certificate");
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.server_config(false).expect("server config"));
    let got = Arc::new(Mutex::new(Vec::new()));
    let kept = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let kept = kept.clone();
            async move {
                let signature = headers.get("renkei-signature").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                kept.lock().expect("lock").push((signature, body.to_vec()));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("https://127.0.0.1:{}/hook", listener.local_addr().expect("addr").port());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                if let Ok(stream) = acceptor.accept(tcp).await {
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                }
            });
        }
    });
    (url, got)
}

async fn until<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(t) = probe() {
            return t;
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn incidents_are_told_by_mail_and_webhook_each_channel_apart(b: Backend) {
    let mut c = Cluster::start_on(b).await;
    let smtp_port = free_port();
    let sink = SmtpSink::start(&c, smtp_port, 1);
    let (hook, received) = receiver(&c).await;
    let dead = format!("https://127.0.0.1:{}/hook", free_port());

    ok(&c, &["enrol", "--tenant", "tenant-a", "--org", "a-mayor"]);
    ok(&c, &["notify", "--tenant", "tenant-a", "--email", "admin@kou.example"]);
    let added = ok(&c, &["notify", "--tenant", "tenant-a", "--webhook", &hook]);
    let secret = added.lines().find_map(|l| l.rsplit_once(": ").filter(|_| l.starts_with("signing secret")).map(|(_, s)| s.to_owned()));
    let secret = secret.expect("the secret is printed once");
    ok(&c, &["notify", "--tenant", "tenant-a", "--webhook", &dead]);
    ok(&c, &["notify", "--email", "ops@renkei.example"]);
    assert_eq!(ok(&c, &["channels", "--tenant", "tenant-a"]).lines().count(), 4, "a header and three channels");
    for (args, says) in [
        (vec!["notify", "--tenant", "tenant-a", "--webhook", "http://127.0.0.1/hook"], "https://"),
        (vec!["notify", "--tenant", "tenant-a", "--email", "not an address"], "--email"),
        (vec!["notify", "--tenant", "no-such", "--email", "a@b.example"], "no tenant no-such"),
    ] {
        let (code, _, err) = c.sla(&args);
        assert!(code != 0 && err.trim().lines().count() == 1 && err.contains(says), "{args:?}: {err}");
    }

    let ca = c.path("pki/ca.pem").display().to_string();
    c.serve_env = [
        ("RENKEI_MONITOR_EVERY_SECS", "1"),
        ("RENKEI_MONITOR_TIMEOUT_SECS", "3"),
        ("RENKEI_MONITOR_OPEN_AFTER", "2"),
        ("RENKEI_SMTP_HOST", "127.0.0.1"),
        ("RENKEI_SMTP_PORT", &smtp_port.to_string()),
        ("RENKEI_SMTP_CA_FILE", &ca),
        ("RENKEI_SMTP_FROM", "監視 <monitor@renkei.example>"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .to_vec();
    c.kill_process(1);
    c.start_process(1).await;
    until("every probe passes", Duration::from_secs(40), || {
        let out = ok(&c, &["probes", "--tenant", "tenant-a", "--last", "4"]);
        (out.lines().skip(1).count() == 4 && out.lines().skip(1).all(|l| l.contains("\tok\t"))).then_some(())
    })
    .await;

    // The hub goes down: the round trip's incident opens and every live channel is told.
    c.kill_process(0);
    let opened = |m: &Value, to: &str| m["to"][0] == to && m["subject"] == "【障害発生】tenant-a 照会の往復";
    let mails = until("the opening mails", Duration::from_secs(60), || {
        let mails = sink.mails();
        (mails.iter().any(|m| opened(m, "admin@kou.example")) && mails.iter().any(|m| opened(m, "ops@renkei.example"))).then_some(mails)
    })
    .await;
    let mail = mails.iter().find(|m| opened(m, "admin@kou.example")).expect("the tenant's mail");
    assert_eq!((mail["tls"].as_bool(), mail["charset"].as_str()), (Some(true), Some("utf-8")), "STARTTLS, UTF-8: {mail}");
    assert_eq!(mail["from"], "monitor@renkei.example");
    let body = mail["body"].as_str().expect("body");
    assert!(body.contains("対象: tenant-a") && body.contains("発生日時: 令和") && body.contains("/status"), "{body}");
    let hooks = until("the opening webhook", Duration::from_secs(30), || {
        let got = received.lock().expect("lock").clone();
        (!got.is_empty()).then_some(got)
    })
    .await;
    let (signature, body) = &hooks[0];
    renkei_crypto::webhook::verify(secret.as_bytes(), signature, body, common::unix_now() as i64, 300).expect("a valid signature");
    assert!(renkei_crypto::webhook::verify(b"another secret", signature, body, common::unix_now() as i64, 300).is_err());
    let event: Value = serde_json::from_slice(body).expect("JSON");
    assert_eq!((event["event"].as_str(), event["notice"]["tenant"].as_str()), (Some("incident.opened"), Some("tenant-a")), "{event}");
    let incident = event["notice"]["incident"].as_str().expect("incident id").to_owned();

    // The refused first mail was retried; the dead webhook keeps its reason and blocked no one.
    let listed = until("the dead webhook retried", Duration::from_secs(30), || {
        let out = ok(&c, &["notices", "--incident", &incident]);
        out.lines().any(|l| l.contains(&dead) && !l.contains("\t1\t") && l.contains("not yet")).then_some(out)
    })
    .await;
    let row = |target: &str| listed.lines().find(|l| l.contains(target)).unwrap_or_else(|| panic!("{target}: {listed}")).to_owned();
    assert!(row(&dead).contains("could not connect"), "{listed}");
    assert!(!row("admin@kou.example").contains("not yet") && !row(&hook).contains("not yet"), "{listed}");
    let store = renkei_store::platform::PlatformStore::open(&c.location("platform", "renkei")).await.expect("store");
    let i = store.incident(&incident).await.expect("read").expect("the incident");
    assert!(i.first_notice_at.is_some_and(|t| t >= i.opened_at), "the first notice's time is kept: {i:?}");

    // The operator writes the cause, then the hub comes back: both moments are told.
    ok(&c, &["cause", "--incident", &incident, "--cause", "ハブの停止（試験）"]);
    c.start_process(0).await;
    until("the update and recovery mails", Duration::from_secs(60), || {
        let mails = sink.mails();
        let to_admin = |subject: &str| mails.iter().any(|m| m["to"][0] == "admin@kou.example" && m["subject"] == subject);
        (to_admin("【障害情報更新】tenant-a 照会の往復") && to_admin("【障害復旧】tenant-a 照会の往復")).then_some(())
    })
    .await;
    let recovered = sink.mails().into_iter().find(|m| m["subject"] == "【障害復旧】tenant-a 照会の往復").expect("recovery mail");
    assert!(recovered["body"].as_str().is_some_and(|b| b.contains("原因: ハブの停止（試験）") && b.contains("復旧日時")), "{recovered}");
    until("the recovery webhook", Duration::from_secs(30), || {
        let got = received.lock().expect("lock").clone();
        got.iter().any(|(_, b)| serde_json::from_slice::<Value>(b).is_ok_and(|e| e["event"] == "incident.recovered")).then_some(())
    })
    .await;
}

on_both_backends!(incidents_are_told_by_mail_and_webhook_each_channel_apart);
