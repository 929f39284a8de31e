//! The operator's `renkei admin` against running servers: what it changes takes effect on every
//! process without a restart, and is audited.

mod common;

use common::{Backend, Cluster};
use reqwest::Method;
use std::time::{Duration, Instant};

on_both_backends!(a_revoked_api_key_is_refused_by_every_process_within_the_cache_lifetime,);

/// `renkei admin ARGS…` on the cluster's platform.
fn admin(c: &Cluster, args: &[&str]) -> String {
    let plat = c.path("platform").display().to_string();
    let mut all = vec!["admin", "--data-dir", &plat, "--database-schema", "renkei"];
    let db = c.db_args();
    all.extend(db.iter().map(String::as_str));
    all.extend(args);
    common::renkei(&all, None)
}

async fn a_revoked_api_key_is_refused_by_every_process_within_the_cache_lifetime(b: Backend) {
    let c = Cluster::start_with(b, 2).await;
    let key = admin(&c, &["api-key-create", "--tenant", "tenant-a", "--org", "a-mayor", "--label", "税務システム"]).trim().to_owned();
    let records = |process: usize| {
        let (url, key) = (format!("{}/api/v1/records", c.internal_of(process)), key.clone());
        let http = c.http.clone();
        async move { http.request(Method::GET, url).bearer_auth(key).send().await.unwrap().status().as_u16() }
    };
    for process in 0..2 {
        assert_eq!(records(process).await, 200, "the new key works on process {process} at once");
    }
    // Listed with an id, never the key or its whole hash; the label shows whose it is.
    let list = admin(&c, &["api-key-list", "--tenant", "tenant-a"]);
    let line = list.lines().find(|l| l.contains("税務システム")).unwrap_or_else(|| panic!("{list}"));
    assert!(!list.contains(&key), "{list}");
    let id = line.split('\t').next().unwrap().to_owned();
    assert!(line.contains("a-mayor") && line.contains("live"), "{line}");

    let revoked_at = Instant::now();
    let said = admin(&c, &["api-key-revoke", "--tenant", "tenant-a", "--id", &id]);
    assert!(said.contains("revoked"), "{said}");
    for process in 0..2 {
        loop {
            let status = records(process).await;
            if status == 401 {
                break;
            }
            assert_eq!(status, 200);
            let waited = revoked_at.elapsed();
            assert!(
                waited < renkei_server::KEY_CACHE_TTL + Duration::from_secs(2),
                "process {process} still takes the key after {waited:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // The other keys still work; the list says revoked; the audit log has the act.
    assert_eq!(c.api("a-mayor", Method::GET, "/api/v1/records", None).await.0, 200);
    let list = admin(&c, &["api-key-list", "--tenant", "tenant-a"]);
    assert!(list.lines().any(|l| l.starts_with(&id) && l.contains("revoked")), "{list}");
    let audit = admin(&c, &["audit", "--tenant", "tenant-a"]);
    assert!(audit.lines().any(|l| l.contains("api_key.revoke") && l.contains(&id)), "{audit}");
    // Revoking it again, or a key of another tenant, is one clear line and a non-zero exit.
    let plat = c.path("platform").display().to_string();
    for tenant in ["tenant-a", "tenant-b"] {
        let mut cmd = std::process::Command::new(common::bin());
        cmd.args(["admin", "--data-dir", &plat, "--database-schema", "renkei"]).args(c.db_args());
        cmd.args(["api-key-revoke", "--tenant", tenant, "--id", &id]);
        let (code, _, err) = Cluster::output(cmd);
        assert_ne!(code, 0, "{tenant}: {err}");
        assert!(err.starts_with("error:") && err.contains("no live API key") && err.trim_end().lines().count() == 1, "{err}");
    }
}
