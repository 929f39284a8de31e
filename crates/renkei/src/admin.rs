//! `renkei admin`: tenants, orgs and API keys. Every action is written to the platform's audit
//! log in the same transaction as the change.

use crate::run;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use renkei_domain::{OrgId, OrgType, TenantId};
use renkei_store::hub::DirectoryEntry;
use renkei_store::platform::{KeyScope, Org, PlatformStore};

#[derive(Args)]
pub struct AdminArgs {
    #[command(flatten)]
    platform: run::PlatformAccess,
    /// Who is acting, for the audit log.
    #[arg(long, env = "RENKEI_ACTOR", default_value = "operator")]
    actor: String,
    #[command(subcommand)]
    cmd: AdminCmd,
}

#[derive(Subcommand)]
enum AdminCmd {
    /// Create a tenant (団体) with its own data key.
    TenantCreate {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
    },
    /// Create an org (情報保有機関) of a tenant; prints its hub directory entry as JSON.
    OrgCreate {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        id: String,
        /// The org type as the Matrix names it (MUNI, EDU, KENPO …).
        #[arg(long = "type")]
        org_type: String,
        #[arg(long)]
        name: String,
        /// The URL at which the hub reaches this server's network listener.
        #[arg(long)]
        endpoint: String,
    },
    /// Print an org's hub directory entry again.
    OrgEntry {
        #[arg(long)]
        org: String,
        #[arg(long)]
        endpoint: String,
    },
    /// Create an API key for a client system of one org; the key is printed once.
    ApiKeyCreate {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        org: String,
        #[arg(long, default_value = "client system")]
        label: String,
        /// A duty (事務) the key may file queries for; give it once per duty. Without any, the
        /// key files for every duty 別表第二 allows its org.
        #[arg(long = "duty", value_name = "DUTY")]
        duties: Vec<String>,
    },
    /// List a tenant's API keys: id, org, label, created, live or revoked (never the key).
    ApiKeyList {
        #[arg(long)]
        tenant: String,
    },
    /// Revoke an API key by the id `api-key-list` shows; every server refuses it within seconds.
    ApiKeyRevoke {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        id: String,
    },
    /// Create an operator (運用者) account: the first person who can sign in. The password is
    /// read from standard input (one line); the second factor is enrolled at once and its
    /// otpauth:// URI printed, to scan into an authenticator app.
    OperatorCreate {
        #[arg(long)]
        name: String,
        /// Also write the URI's QR code, as SVG, to this file (readable by its owner only).
        #[arg(long, value_name = "FILE")]
        qr_svg: Option<std::path::PathBuf>,
    },
    /// Create an account of a tenant (its first tenant admin, say): the password is read from
    /// standard input (one line); its owner enrols a second factor at the first sign-in.
    AccountCreate {
        /// The tenant of a tenant_admin, approver, staff member or auditor.
        #[arg(long, required_unless_present = "consortium")]
        tenant: Option<String>,
        #[arg(long)]
        name: String,
        /// tenant_admin, approver, staff, auditor, or consortium_admin (with --consortium).
        #[arg(long)]
        role: String,
        /// The org of a staff member or an approver.
        #[arg(long)]
        org: Option<String>,
        /// The consortium a consortium_admin oversees.
        #[arg(long, conflicts_with = "tenant")]
        consortium: Option<String>,
    },
    /// Make a consortium (複数団体) of tenants, or set the tenants of one: its consortium admins
    /// read their status, SLA and cost.
    ConsortiumSet {
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        /// A tenant of the consortium (repeat for each).
        #[arg(long = "tenant")]
        tenants: Vec<String>,
    },
    /// Delete a tenant for good (crypto-shredding): its data key is destroyed in the key store,
    /// then its rows; writes the disposal certificate (廃棄証明) to a new file. Audited.
    TenantDelete {
        #[arg(long)]
        tenant: String,
        /// The tenant's id again: deletion cannot be undone.
        #[arg(long)]
        confirm: String,
        /// Where to write the disposal certificate (JSON, signed); the file must not exist.
        #[arg(long)]
        certificate: std::path::PathBuf,
        /// The backups, once set up: the tenant's key is destroyed in every key backup too, and
        /// the certificate lists the data generations still holding its ciphertext.
        #[command(flatten)]
        backups: Box<crate::backup::BackupSettings>,
    },
    /// List tenants and orgs.
    List,
    /// Print the audit log.
    Audit {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Where each storage place of the platform is declared to be (データ保管場所): its store,
    /// its key store and, once set up, its backup repositories at both sites; then the
    /// countries allowed. For the compliance sheet: one line per place, tab-separated.
    Locations {
        #[command(flatten)]
        backups: Box<crate::backup::BackupSettings>,
    },
}

pub async fn run(a: AdminArgs) -> Result<()> {
    let store = a.platform.store().await?;
    let master = || a.platform.master_key();
    match a.cmd {
        AdminCmd::TenantCreate { id, name } => {
            let id = TenantId::parse(&id)?;
            store.create_tenant(&master()?, &id, &name, &a.actor).await?;
            println!("tenant {id} created");
        }
        AdminCmd::TenantDelete { tenant, confirm, certificate, backups } => {
            let backups = backups.configured().then(|| backups.config(&a.platform.db.allowed_countries)).transpose()?;
            crate::disposal::delete_tenant(&store, &master()?, &tenant, &confirm, &certificate, &a.actor, backups.as_ref()).await?;
        }
        AdminCmd::OrgCreate { tenant, id, org_type, name, endpoint } => {
            let tenant = TenantId::parse(&tenant)?;
            let org = Org { tenant: tenant.clone(), id: OrgId::parse(&id)?, org_type: OrgType::parse(&org_type)?, name };
            let master = master()?;
            let dk = store.data_key(&master, &tenant).await.context("unknown tenant")?;
            store.create_org(&dk, &org, &a.actor).await?;
            println!("{}", serde_json::to_string_pretty(&entry(&store, &master, &org.id, &endpoint).await?)?);
        }
        AdminCmd::OrgEntry { org, endpoint } => {
            let org = OrgId::parse(&org)?;
            println!("{}", serde_json::to_string_pretty(&entry(&store, &master()?, &org, &endpoint).await?)?);
        }
        AdminCmd::ApiKeyCreate { tenant, org, label, duties } => {
            let duties = if duties.is_empty() {
                renkei_domain::policy::DutyScope::All
            } else {
                renkei_domain::policy::DutyScope::Only(duties.iter().map(|d| renkei_domain::DutyCode::parse(d)).collect::<Result<_, _>>()?)
            };
            let scope = KeyScope { tenant: TenantId::parse(&tenant)?, org: OrgId::parse(&org)?, duties };
            let (secret, hash) = renkei_crypto::apikey::generate();
            store.add_api_key(&scope, &hash, &label, &a.actor).await?;
            println!("{secret}");
        }
        AdminCmd::ApiKeyList { tenant } => {
            for k in store.api_keys(&TenantId::parse(&tenant)?).await? {
                let state = k.revoked_at.map_or_else(|| "live".to_owned(), |at| format!("revoked {}", iso(at)));
                println!("{}\t{}\t{}\t{}\t{state}", k.id, k.org, k.label, iso(k.created_at));
            }
        }
        AdminCmd::ApiKeyRevoke { tenant, id } => {
            let tenant = TenantId::parse(&tenant)?;
            match store.revoke_api_key(&tenant, &id, &a.actor).await? {
                Some(k) => {
                    println!("API key {} of {} revoked; servers refuse it within {} s", k.id, k.org, renkei_server::KEY_CACHE_TTL.as_secs())
                }
                None => anyhow::bail!("tenant {tenant} has no live API key with the id {}", id.chars().take(40).collect::<String>()),
            }
        }
        AdminCmd::AccountCreate { tenant, name, role, org, consortium } => {
            let name = renkei_domain::AccountName::parse(&name)?;
            let tenant = tenant.map(|t| TenantId::parse(&t)).transpose()?;
            let consortium = consortium.map(|c| renkei_domain::ConsortiumId::parse(&c)).transpose()?;
            let org = org.map(|o| OrgId::parse(&o)).transpose()?;
            let role = renkei_domain::Role::from_code(&role)
                .filter(|r| r.is_tenant_role() || *r == renkei_domain::Role::ConsortiumAdmin)
                .context("--role is one of tenant_admin, approver, staff, auditor, consortium_admin")?;
            let password = password_from_stdin()?;
            let who = renkei_server::accounts::Person {
                name: &name,
                tenant: tenant.as_ref(),
                org: org.as_ref(),
                role,
                consortium: consortium.as_ref(),
            };
            renkei_server::accounts::create_account(&store, who, &password, &a.actor, "operator").await?;
            let of = tenant.map(|t| t.to_string()).or(consortium.map(|c| c.to_string())).unwrap_or_default();
            println!("{} {name} of {of} created; the first sign-in enrols its second factor", role.code());
        }
        AdminCmd::ConsortiumSet { id, name, tenants } => {
            let id = renkei_domain::ConsortiumId::parse(&id)?;
            let tenants = tenants.iter().map(|t| TenantId::parse(t)).collect::<Result<Vec<_>, _>>()?;
            store.set_consortium(&id, &name, &tenants, &a.actor).await.map_err(|e| match e {
                renkei_store::StoreError::NotFound(_) => anyhow::anyhow!("a tenant named is not hosted on this platform"),
                e => e.into(),
            })?;
            println!("consortium {id} holds {} tenants", tenants.len());
        }
        AdminCmd::OperatorCreate { name, qr_svg } => {
            let name = renkei_domain::AccountName::parse(&name)?;
            let password = password_from_stdin()?;
            let who = renkei_server::accounts::Person {
                name: &name,
                tenant: None,
                org: None,
                role: renkei_domain::Role::Operator,
                consortium: None,
            };
            let id = renkei_server::accounts::create_account(&store, who, &password, &a.actor, "operator").await?;
            let account = store.account_by_name(&name).await?.context("the account just created is not there")?;
            let totp = renkei_crypto::totp::Totp::generate(name.as_str())?;
            store.enroll_totp(&account, totp.seal(&master()?, &id)?, 0, None, (&a.actor, "operator")).await?;
            if let Some(path) = qr_svg {
                run::write_private(&path, &totp.qr_svg()?)?;
            }
            println!("operator {name} created; enrol its second factor by scanning:\n{}", &*totp.uri()?);
        }
        AdminCmd::Locations { backups } => {
            let stores = a.platform.db.locations("platform store", &a.platform.data_dir, run::PLATFORM_SCHEMA)?;
            let repositories = backups.locations(&a.platform.db.allowed_countries)?;
            // The repositories go before the last line, the countries allowed.
            let (places, allowed) = stores.rsplit_once('\n').unwrap_or(("", &stores));
            let mut lines: Vec<&str> = places.lines().collect();
            lines.extend(repositories.iter().map(String::as_str));
            lines.push(allowed);
            println!("{}", lines.join("\n"));
        }
        AdminCmd::List => {
            for t in store.tenants().await? {
                println!("{}\t{}", t.id, t.name);
                for o in store.orgs(Some(&t.id)).await? {
                    println!("  {}\t{}\t{}", o.id, o.org_type, o.name);
                }
            }
        }
        AdminCmd::Audit { tenant } => {
            let tenant = tenant.map(|t| TenantId::parse(&t)).transpose()?;
            for e in store.audit_log(tenant.as_ref()).await? {
                println!("{}\t{}\t{}\t{}\t{}\t{}", e.seq, e.at, e.tenant.unwrap_or_default(), e.actor, e.action, e.detail);
            }
        }
    }
    Ok(())
}

/// A new password, as one line of standard input.
fn password_from_stdin() -> Result<zeroize::Zeroizing<String>> {
    let raw = zeroize::Zeroizing::new(std::io::read_to_string(std::io::stdin()).context("cannot read the password from standard input")?);
    Ok(zeroize::Zeroizing::new(raw.trim_end_matches(['\r', '\n']).to_owned()))
}

/// A Unix time as the operator reads it (UTC).
fn iso(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0).map_or_else(|| at.to_string(), |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// The hub directory entry of an org hosted on this platform.
pub async fn entry(
    store: &PlatformStore,
    master: &renkei_crypto::datakey::MasterKey,
    org: &OrgId,
    endpoint: &str,
) -> Result<DirectoryEntry> {
    let o = store.orgs(None).await?.into_iter().find(|o| &o.id == org).context("unknown org")?;
    let dk = store.data_key(master, &o.tenant).await?;
    let (signing, opening) = store.org_keys(&dk, &o.id).await?;
    Ok(DirectoryEntry {
        id: o.id,
        org_type: o.org_type,
        name: o.name,
        endpoint: endpoint.to_owned(),
        verify_key: signing.verifying_key().to_base64(),
        seal_key: opening.sealing_key().to_base64(),
        // The tenant is the municipality: its orgs share one person registry.
        group: o.tenant.to_string(),
    })
}
