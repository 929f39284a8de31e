//! The demo's people: for each municipality a tenant admin (団体管理者), and for its mayor's org
//! a staff member (職員) and an approver (決裁者), each with a password and a second factor
//! enrolled at creation. They are made once per data directory and written, with their
//! `otpauth://` URIs, to `demo-people.txt` (0600) beside the API keys; a later run reads them.

use super::DemoTenant;
use crate::run;
use anyhow::{Context, Result, bail};
use rand::Rng;
use renkei_domain::{AccountName, OrgId, Role, TenantId};
use renkei_store::platform::PlatformStore;
use std::path::Path;

/// A person of the demo, with what signs them in.
pub(crate) struct DemoPerson {
    pub name: String,
    pub role: Role,
    pub tenant: String,
    pub org: Option<String>,
    pub password: String,
    pub totp_uri: String,
}

/// The file the people are written to.
pub(crate) fn file(dir: &Path) -> std::path::PathBuf {
    dir.join("demo-people.txt")
}

/// The demo's people of `tenants` (whose first org is the mayor's), created in `store` on the
/// first run and read back from [`file`] after.
pub(crate) async fn provision(
    dir: &Path,
    store: &PlatformStore,
    master: &renkei_crypto::datakey::MasterKey,
    tenants: &[DemoTenant],
) -> Result<Vec<DemoPerson>> {
    let path = file(dir);
    if path.exists() {
        return read(&path);
    }
    let mut people = Vec::new();
    for t in tenants {
        let mayor = t.orgs.first().map(|o| o.0).context("a demo tenant has orgs")?;
        for (suffix, role, org) in
            [("admin", Role::TenantAdmin, None), ("staff", Role::Staff, Some(mayor)), ("approver", Role::Approver, Some(mayor))]
        {
            let name = AccountName::parse(&format!("{}-{suffix}", t.id))?;
            let (tenant, org_id) = (TenantId::parse(t.id)?, org.map(OrgId::parse).transpose()?);
            let password: String = rand::thread_rng().sample_iter(rand::distributions::Alphanumeric).take(20).map(char::from).collect();
            let who = renkei_server::accounts::Person { name: &name, tenant: Some(&tenant), org: org_id.as_ref(), role, consortium: None };
            let id = renkei_server::accounts::create_account(store, who, &password, "demo", "operator").await?;
            let account = store.account_by_name(&name).await?.context("the account just created is not there")?;
            let totp = renkei_crypto::totp::Totp::generate(name.as_str())?;
            store.enroll_totp(&account, totp.seal(master, &id)?, 0, None, ("demo", "operator")).await?;
            people.push(DemoPerson {
                name: name.to_string(),
                role,
                tenant: t.id.to_owned(),
                org: org.map(str::to_owned),
                password,
                totp_uri: totp.uri()?.to_string(),
            });
        }
    }
    let text: String = people
        .iter()
        .map(|p| {
            format!("{}\t{}\t{}\t{}\t{}\t{}\n", p.name, p.role.code(), p.tenant, p.org.as_deref().unwrap_or("-"), p.password, p.totp_uri)
        })
        .collect();
    run::write_private(&path, &text)?;
    Ok(people)
}

fn read(path: &Path) -> Result<Vec<DemoPerson>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let [name, role, tenant, org, password, uri] = f[..] else {
                bail!("{}: a line is not name, role, tenant, org, password, URI", path.display())
            };
            Ok(DemoPerson {
                name: name.into(),
                role: Role::from_code(role).with_context(|| format!("{}: an unknown role", path.display()))?,
                tenant: tenant.into(),
                org: (org != "-").then(|| org.to_owned()),
                password: password.into(),
                totp_uri: uri.into(),
            })
        })
        .collect()
}

/// The current second-factor code of the person `name` of the demo in `dir`, with the seconds
/// it stays valid.
pub(crate) fn current_code(dir: &Path, name: &str) -> Result<String> {
    let people = read(&file(dir))?;
    let p = people.iter().find(|p| p.name == name).with_context(|| format!("no demo person {name} in {}", file(dir).display()))?;
    let totp = renkei_crypto::totp::Totp::from_uri(&p.totp_uri).context("the person's otpauth URI")?;
    let now = renkei_store::now_unix().max(0) as u64;
    Ok(format!("{} (valid for {} more seconds)", totp.code(now), 30 - now % 30))
}

/// Signs `p` in over the internal API at `base` and returns the session token. A code whose
/// step was used already (a run moments before) is refused: then the next step's code is used.
pub(crate) async fn sign_in(http: &reqwest::Client, base: &str, p: &DemoPerson) -> Result<String> {
    let totp = renkei_crypto::totp::Totp::from_uri(&p.totp_uri)?;
    for attempt in 0..2 {
        let now = renkei_store::now_unix().max(0) as u64;
        let body = serde_json::json!({"name": p.name, "password": p.password, "code": totp.code(now)});
        let resp = http.post(format!("{base}/api/v1/session")).json(&body).send().await.context("signing in")?;
        if resp.status().as_u16() == 201 {
            let v: serde_json::Value = resp.json().await?;
            return v["token"].as_str().map(str::to_owned).context("a session without its token");
        }
        if attempt == 0 {
            tokio::time::sleep(std::time::Duration::from_secs(30 - now % 30 + 1)).await;
        }
    }
    bail!("{} could not sign in", p.name)
}
