//! A whole tenant's export, so that a municipality can take its data elsewhere (no lock-in):
//! every table as a CSV file of docs/export-layout.md and `manifest.json` with each file's
//! SHA-256 and row count, signed with the platform's audit key. The files are written into a
//! scratch directory beside the destination and renamed into place once all are there, so a
//! failed export leaves nothing that looks whole.
//!
//! An export is imported on another platform only once its manifest verifies with the key the
//! receiving operator pins; the tenant's store is written first under a new data key, then one
//! transaction of the platform database makes the tenant exist, so a failed import leaves no
//! tenant (and its leftover rows are replaced by the next try).

use crate::Platform;
use renkei_crypto::auditlog::{CheckpointSigner, CheckpointVerifier};
use renkei_crypto::datakey::{DataKey, MasterKey};
use renkei_domain::TenantId;
use renkei_domain::export::{self, Encoding, FileEntry, Manifest};
use renkei_store::StoreError;
use renkei_store::platform::PlatformStore;
use renkei_store::tenant::{ExportedRows, rows_of};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Why an export was not written, or does not check.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("tenant {0} is not hosted on this platform")]
    UnknownTenant(TenantId),
    #[error("{0} exists already; an export goes into a new directory")]
    Exists(PathBuf),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Layout(#[from] export::ExportError),
    #[error("manifest.json: {0}")]
    Manifest(String),
    #[error("{file}: {why}")]
    Changed { file: String, why: &'static str },
    #[error("the manifest's signature does not verify with {0}")]
    Signature(String),
    #[error("tenant {0} is hosted on this platform already; nothing was imported")]
    Hosted(TenantId),
    #[error("{0}; nothing was imported")]
    NotImportable(String),
    #[error("cannot sign the manifest: {0}")]
    Sign(#[from] renkei_crypto::CryptoError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io { path: path.to_path_buf(), source }
}

impl Platform {
    /// Writes every table of `tenant` into the new directory `out`, in `encoding`; audited as
    /// `actor` on the tenant's chain once the files are in place.
    pub async fn export_tenant(&self, tenant: &TenantId, out: &Path, encoding: Encoding, actor: &str) -> Result<Manifest, ExportError> {
        let manifest = write_export(&self.platform, &self.master, tenant, out, encoding).await?;
        let rows: u64 = manifest.files.iter().map(|f| f.rows).sum();
        let detail = format!("files={} rows={rows} encoding={}", manifest.files.len(), encoding_name(encoding));
        self.platform.audit(tenant, actor, "tenant.export", &detail).await?;
        Ok(manifest)
    }
}

/// Writes every table of `tenant` of `platform` (opened with `master`, which also signs the
/// manifest) into the new directory `out`, in `encoding`: an export, or a tenant restored from
/// a backup generation (`renkei backup restore --tenant`). Not audited here.
pub async fn write_export(
    platform: &PlatformStore,
    master: &MasterKey,
    tenant: &TenantId,
    out: &Path,
    encoding: Encoding,
) -> Result<Manifest, ExportError> {
    if out.exists() {
        return Err(ExportError::Exists(out.to_path_buf()));
    }
    if !platform.has_tenant(tenant).await? {
        return Err(ExportError::UnknownTenant(tenant.clone()));
    }
    let store = platform.tenant_store(tenant.clone(), platform.data_key(master, tenant).await?).await?;
    let signer = CheckpointSigner::from_master(master)?;
    let mut tables = platform.export_tenant(tenant, signer.verifier().as_str()).await?;
    let from_tenant = store.export().await?;
    tables.extend(from_tenant.tables);

    let scratch = scratch_beside(out);
    // Personal data in the clear: the operator's alone to read.
    std::fs::DirBuilder::new().mode(0o700).create(&scratch).map_err(io(&scratch))?;
    let written = write_files(&scratch, &tables, encoding);
    let (files, replaced) = match written {
        Ok(w) => w,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&scratch);
            return Err(e);
        }
    };
    let mut manifest = Manifest {
        format: export::FORMAT.into(),
        version: export::VERSION,
        tenant: tenant.to_string(),
        exported_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        encoding,
        files,
        replaced_characters: replaced,
        unregistered_copies: from_tenant.unregistered_copies,
        verifier_key: signer.verifier().as_str().to_owned(),
        signature: String::new(),
    };
    manifest.signature = signer.sign_text(&manifest.signed_text())?;
    let finish = || -> Result<(), ExportError> {
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| ExportError::Manifest(e.to_string()))?;
        write_private(&scratch.join(export::MANIFEST), &json)?;
        std::fs::rename(&scratch, out).map_err(io(out))
    };
    if let Err(e) = finish() {
        let _ = std::fs::remove_dir_all(&scratch);
        return Err(e);
    }
    Ok(manifest)
}

/// What an import wrote.
#[derive(Debug, Clone)]
pub struct ImportSummary {
    pub tenant: TenantId,
    pub files: usize,
    pub rows: u64,
}

impl Platform {
    /// Imports the export in `dir` as a new tenant of this platform, once its manifest verifies
    /// with `pinned` (the exporting platform's audit key); audited as `actor` on the platform's
    /// chain. The tenant's orgs get new keys (publish their directory entries to the hub again)
    /// and its staff no usable password until the operator gives them one.
    pub async fn import_tenant(&self, dir: &Path, pinned: &CheckpointVerifier, actor: &str) -> Result<ImportSummary, ExportError> {
        let manifest = verified_manifest(dir, Some(pinned))?;
        if manifest.encoding != Encoding::Utf8 {
            return Err(ExportError::NotImportable("a CP932 export is for reading: import the UTF-8 one".into()));
        }
        if manifest.unregistered_copies > 0 {
            return Err(ExportError::NotImportable(format!(
                "{} provision copies have no addressee_no (their person was never registered)",
                manifest.unregistered_copies
            )));
        }
        let tenant = TenantId::parse(&manifest.tenant).map_err(|e| ExportError::Manifest(format!("tenant: {e}")))?;
        if self.platform.has_tenant(&tenant).await? {
            return Err(ExportError::Hosted(tenant));
        }
        let mut tables = Vec::with_capacity(manifest.files.len());
        for (layout, entry) in export::TABLES.iter().zip(&manifest.files) {
            // Read once: what is decoded is what was checked, whatever changes the file meanwhile.
            let rows = export::decode(layout, &read_checked(dir, entry)?)?;
            if rows.len() as u64 != entry.rows {
                return Err(ExportError::Changed { file: entry.name.clone(), why: "its row count is not the manifest's" });
            }
            tables.push(ExportedRows { table: layout, rows });
        }
        let store = self.platform.tenant_store(tenant.clone(), DataKey::generate(tenant.as_str())).await?;
        self.platform.import_tenant(&store, &self.master, &tables, actor).await?;
        Ok(ImportSummary { tenant, files: tables.len(), rows: tables.iter().map(|t| t.rows.len() as u64).sum() })
    }
}

fn encoding_name(e: Encoding) -> &'static str {
    match e {
        Encoding::Utf8 => "utf-8",
        Encoding::Cp932 => "cp932",
    }
}

/// Writes a new file only its owner may read.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io(path))?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(io(path))
}

/// `DIR.partial-<pid>` beside `out`.
fn scratch_beside(out: &Path) -> PathBuf {
    let name = out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "export".into());
    out.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

/// Writes each table of the layout into `dir`; the manifest's entries and how many characters
/// CP932 could not hold.
fn write_files(dir: &Path, tables: &[ExportedRows], encoding: Encoding) -> Result<(Vec<FileEntry>, u64), ExportError> {
    let mut files = Vec::with_capacity(export::TABLES.len());
    let mut replaced = 0;
    for layout in export::TABLES {
        let rows = rows_of(tables, layout);
        let (bytes, r) = export::encode(layout, rows, encoding)?;
        replaced += r;
        write_private(&dir.join(layout.file), &bytes)?;
        files.push(FileEntry {
            name: layout.file.into(),
            sha256: renkei_crypto::sha256_hex(&bytes),
            rows: rows.len() as u64,
            bytes: bytes.len() as u64,
        });
    }
    Ok((files, replaced))
}

/// Checks the export in `dir`: its manifest's signature (by `pinned`, or else by the key the
/// manifest names), then every file of the layout against its checksum and size. The manifest.
pub fn verify_export(dir: &Path, pinned: Option<&CheckpointVerifier>) -> Result<Manifest, ExportError> {
    let manifest = verified_manifest(dir, pinned)?;
    for f in &manifest.files {
        read_checked(dir, f)?;
    }
    Ok(manifest)
}

/// The manifest in `dir`, once its signature verifies (by `pinned`, or else by the key it
/// names) and its files are the layout's.
fn verified_manifest(dir: &Path, pinned: Option<&CheckpointVerifier>) -> Result<Manifest, ExportError> {
    let path = dir.join(export::MANIFEST);
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| ExportError::Manifest(e.to_string()))?;
    if manifest.format != export::FORMAT || manifest.version != export::VERSION {
        return Err(ExportError::Manifest(format!("not a {} of version {}", export::FORMAT, export::VERSION)));
    }
    let named;
    let verifier = match pinned {
        Some(v) => v,
        None => {
            named = CheckpointVerifier::parse(&manifest.verifier_key).map_err(|e| ExportError::Manifest(e.to_string()))?;
            &named
        }
    };
    if verifier.open_text(&manifest.signature).as_deref() != Some(manifest.signed_text().as_str()) {
        return Err(ExportError::Signature(verifier.as_str().to_owned()));
    }
    let named: Vec<&str> = manifest.files.iter().map(|f| f.name.as_str()).collect();
    let layout: Vec<&str> = export::TABLES.iter().map(|t| t.file).collect();
    if named != layout {
        return Err(ExportError::Manifest("its files are not the layout's".into()));
    }
    Ok(manifest)
}

/// The bytes of the file `f` names, once their size and SHA-256 are the manifest's.
fn read_checked(dir: &Path, f: &FileEntry) -> Result<Vec<u8>, ExportError> {
    let path = dir.join(&f.name);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ExportError::Changed { file: f.name.clone(), why: "missing" });
        }
        Err(e) => return Err(ExportError::Io { path, source: e }),
    };
    if bytes.len() as u64 != f.bytes || renkei_crypto::sha256_hex(&bytes) != f.sha256 {
        return Err(ExportError::Changed { file: f.name.clone(), why: "its SHA-256 is not the manifest's: the file was changed" });
    }
    Ok(bytes)
}
