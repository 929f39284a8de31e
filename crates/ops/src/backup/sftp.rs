//! A restic repository on another machine over SFTP (the second site, 遠隔地保管), the way restic's
//! own `sftp:` backend reaches one: OpenSSH's client (`ssh … -s sftp`) runs as a child process
//! and the SFTP protocol is spoken over its standard input and output (`openssh-sftp-client`).
//! Authentication and the server's host key are OpenSSH's: a key file of the operator's and a
//! known-hosts file, with strict checking and no prompt.
//!
//! rustic calls a backend from threads of its own, so this one keeps a small runtime of its own
//! for the SFTP session and blocks on it.

use bytes::Bytes;
use futures_core::Stream;
use openssh_sftp_client::file::TokioCompatFile;
use openssh_sftp_client::{Sftp, SftpOptions};
use rustic_core::{ALL_FILE_TYPES, ErrorKind, FileType, Id, ReadBackend, RusticError, RusticResult, WriteBackend};
use std::path::{Path, PathBuf};
use std::pin::pin;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// Where an SFTP repository is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SftpTarget {
    pub user: String,
    pub host: String,
    pub port: u16,
    /// The repository's directory on the server (absolute).
    pub path: PathBuf,
    /// The private key ssh signs in with.
    pub identity: PathBuf,
    /// The server's host key, as OpenSSH's known_hosts holds it.
    pub known_hosts: PathBuf,
}

impl SftpTarget {
    /// Parses `sftp://USER@HOST[:PORT]/PATH`.
    pub fn parse(url: &str, identity: &Path, known_hosts: &Path) -> Result<SftpTarget, String> {
        let rest = url.strip_prefix("sftp://").ok_or("an SFTP repository is sftp://USER@HOST[:PORT]/PATH")?;
        let (authority, path) = rest.split_once('/').ok_or("the URL names no path")?;
        let (user, host_port) = authority.split_once('@').ok_or("the URL names no user (USER@HOST)")?;
        let (host, port) = match host_port.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| "the port is not a number")?),
            None => (host_port, 22),
        };
        // Never an option of ssh's: they go on its command line.
        let plain = |s: &str| !s.is_empty() && !s.starts_with('-') && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !plain(user) || !plain(host) {
            return Err("the user and host are letters, digits, '.', '_' and '-', not starting with '-'".into());
        }
        Ok(SftpTarget {
            user: user.into(),
            host: host.into(),
            port,
            path: PathBuf::from(format!("/{path}")),
            identity: identity.to_path_buf(),
            known_hosts: known_hosts.to_path_buf(),
        })
    }

    /// How messages name it (no key, no secret).
    pub fn name(&self) -> String {
        format!("sftp://{}@{}:{}{}", self.user, self.host, self.port, self.path.display())
    }
}

/// An open SFTP session to the repository's server.
pub struct SftpBackend {
    target: SftpTarget,
    runtime: tokio::runtime::Runtime,
    sftp: Sftp,
    _ssh: tokio::process::Child,
}

fn failed(what: &'static str) -> impl FnOnce(openssh_sftp_client::Error) -> Box<RusticError> {
    move |e| RusticError::with_source(ErrorKind::Backend, format!("SFTP: cannot {what}"), e)
}

impl SftpBackend {
    /// Starts `ssh` and the SFTP session.
    pub fn connect(target: &SftpTarget) -> RusticResult<SftpBackend> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("renkei-sftp")
            .enable_all()
            .build()
            .map_err(|e| RusticError::with_source(ErrorKind::Backend, "SFTP: cannot start its runtime", e))?;
        let (ssh, sftp) = runtime.block_on(async {
            let mut ssh = tokio::process::Command::new("ssh")
                .arg("-p")
                .arg(target.port.to_string())
                .arg("-i")
                .arg(&target.identity)
                .args(["-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"])
                .arg("-o")
                .arg(format!("UserKnownHostsFile={}", target.known_hosts.display()))
                .args(["-o", "LogLevel=ERROR", "-s"])
                .arg(format!("{}@{}", target.user, target.host))
                .arg("sftp")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                // ssh's own complaints run over several lines; the error below says what failed.
                .stderr(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| RusticError::with_source(ErrorKind::Backend, "SFTP: cannot start ssh", e))?;
            let (Some(stdin), Some(stdout)) = (ssh.stdin.take(), ssh.stdout.take()) else {
                return Err(RusticError::new(ErrorKind::Backend, "SFTP: ssh gave no pipes"));
            };
            let sftp = Sftp::new(stdin, stdout, SftpOptions::new()).await.map_err(|e| {
                RusticError::with_source(ErrorKind::Backend, "SFTP: the server did not answer (key, host key or address)", e)
            })?;
            Ok((ssh, sftp))
        })?;
        Ok(SftpBackend { target: target.clone(), runtime, sftp, _ssh: ssh })
    }

    fn dir(&self, tpe: FileType, id: &Id) -> PathBuf {
        match tpe {
            FileType::Config => self.target.path.clone(),
            FileType::Pack => self.target.path.join("data").join(&id.to_hex()[0..2]),
            _ => self.target.path.join(tpe.dirname()),
        }
    }

    fn path(&self, tpe: FileType, id: &Id) -> PathBuf {
        let name = if tpe == FileType::Config { "config".to_owned() } else { id.to_hex().to_string() };
        self.dir(tpe, id).join(name)
    }

    /// The regular files directly in `dir`, with their sizes.
    async fn files_in(&self, dir: &Path) -> Result<Vec<(String, u64)>, openssh_sftp_client::Error> {
        let mut fs = self.sftp.fs();
        let opened = fs.open_dir(dir).await?;
        let mut entries = pin!(opened.read_dir());
        let mut out = Vec::new();
        while let Some(entry) = std::future::poll_fn(|cx| entries.as_mut().poll_next(cx)).await {
            let entry = entry?;
            let name = entry.filename().to_string_lossy().into_owned();
            if entry.file_type().is_some_and(|t| t.is_file()) {
                out.push((name, entry.metadata().len().unwrap_or(0)));
            } else if entry.file_type().is_some_and(|t| t.is_dir()) && name != "." && name != ".." {
                out.push((format!("{name}/"), 0));
            }
        }
        Ok(out)
    }
}

impl ReadBackend for SftpBackend {
    fn location(&self) -> String {
        self.target.name()
    }

    fn list_with_size(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
        self.runtime.block_on(async {
            if tpe == FileType::Config {
                return Ok(match self.sftp.fs().metadata(self.target.path.join("config")).await {
                    Ok(m) => vec![(Id::default(), u32::try_from(m.len().unwrap_or(0)).unwrap_or(u32::MAX))],
                    Err(_) => Vec::new(),
                });
            }
            let top = self.target.path.join(tpe.dirname());
            let mut dirs = vec![top.clone()];
            let mut out = Vec::new();
            while let Some(dir) = dirs.pop() {
                let files = match self.files_in(&dir).await {
                    Ok(f) => f,
                    // A repository being made has no such directory yet.
                    Err(_) if dir == top => return Ok(Vec::new()),
                    Err(e) => return Err(failed("list a directory")(e)),
                };
                for (name, len) in files {
                    if let Some(sub) = name.strip_suffix('/') {
                        dirs.push(dir.join(sub));
                    } else if let Some(id) = Id::parse_some(&name, tpe) {
                        out.push((id, u32::try_from(len).unwrap_or(u32::MAX)));
                    }
                }
            }
            Ok(out)
        })
    }

    fn read_full(&self, tpe: FileType, id: &Id) -> RusticResult<Bytes> {
        let path = self.path(tpe, id);
        self.runtime.block_on(async { self.sftp.fs().read(&path).await.map(BytesMutExt::freeze_it).map_err(failed("read a file")) })
    }

    fn read_partial(&self, tpe: FileType, id: &Id, _cacheable: bool, offset: u32, length: u32) -> RusticResult<Bytes> {
        let path = self.path(tpe, id);
        self.runtime.block_on(async {
            let file = self.sftp.open(&path).await.map_err(failed("open a file"))?;
            let mut file = pin!(TokioCompatFile::new(file));
            let io = |e: std::io::Error| RusticError::with_source(ErrorKind::Backend, "SFTP: cannot read part of a file", e);
            file.as_mut().seek(std::io::SeekFrom::Start(offset.into())).await.map_err(io)?;
            let mut buf = vec![0; length as usize];
            file.as_mut().read_exact(&mut buf).await.map_err(io)?;
            Ok(Bytes::from(buf))
        })
    }

    fn warmup_path(&self, tpe: FileType, id: &Id) -> String {
        self.path(tpe, id).display().to_string()
    }
}

/// `BytesMut` into `Bytes`, as a function to map with.
trait BytesMutExt {
    fn freeze_it(self) -> Bytes;
}

impl BytesMutExt for bytes::BytesMut {
    fn freeze_it(self) -> Bytes {
        self.freeze()
    }
}

impl WriteBackend for SftpBackend {
    fn create(&self) -> RusticResult<()> {
        self.runtime.block_on(async {
            let mut fs = self.sftp.fs();
            // The repository's directory and those above it, as `mkdir -p` would.
            let mut dirs: Vec<PathBuf> =
                self.target.path.ancestors().skip(1).filter(|a| a.parent().is_some()).map(Path::to_path_buf).collect();
            dirs.reverse();
            dirs.push(self.target.path.clone());
            dirs.extend(ALL_FILE_TYPES.iter().filter(|t| **t != FileType::Config).map(|t| self.target.path.join(t.dirname())));
            dirs.extend((0u8..=255).map(|i| self.target.path.join("data").join(format!("{i:02x}"))));
            for d in dirs {
                if fs.metadata(&d).await.is_err() {
                    fs.create_dir(&d).await.map_err(failed("make a directory"))?;
                }
            }
            Ok(())
        })
    }

    /// Written under a temporary name and renamed into place, so a broken connection never
    /// leaves a file that looks whole.
    fn write_bytes(&self, tpe: FileType, id: &Id, _cacheable: bool, content: rustic_core::BytesList) -> RusticResult<()> {
        let (dir, path) = (self.dir(tpe, id), self.path(tpe, id));
        let temp = dir.join(format!(".{}.tmp", path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()));
        let mut data = Vec::with_capacity(content.size());
        for part in content.into_vec() {
            data.extend_from_slice(&part);
        }
        self.runtime.block_on(async {
            let mut fs = self.sftp.fs();
            if fs.metadata(&dir).await.is_err() {
                fs.create_dir(&dir).await.map_err(failed("make a directory"))?;
            }
            fs.write(&temp, &data).await.map_err(failed("write a file"))?;
            if tpe == FileType::Config {
                let _ = fs.remove_file(&path).await;
            }
            fs.rename(&temp, &path).await.map_err(failed("rename a file into place"))
        })
    }

    fn remove(&self, tpe: FileType, id: &Id, _cacheable: bool) -> RusticResult<()> {
        let path = self.path(tpe, id);
        self.runtime.block_on(async { self.sftp.fs().remove_file(&path).await.map_err(failed("remove a file")) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sftp_url_names_user_host_port_and_path() {
        let t = SftpTarget::parse("sftp://backup@osaka.example:2222/srv/renkei/data", Path::new("k"), Path::new("h")).expect("parses");
        assert_eq!((t.user.as_str(), t.host.as_str(), t.port), ("backup", "osaka.example", 2222));
        assert_eq!(t.path, PathBuf::from("/srv/renkei/data"));
        assert_eq!(SftpTarget::parse("sftp://b@h/r", Path::new("k"), Path::new("h")).expect("parses").port, 22);
        for bad in [
            "/srv/x",
            "sftp://h/x",
            "sftp://u@h",
            "sftp://u@h:x/p",
            "sftp://u;rm@h/p",
            "sftp://-oProxyCommand=x@h/p",
            "sftp://-oX@h/p",
            "sftp://u@-oX/p",
        ] {
            assert!(SftpTarget::parse(bad, Path::new("k"), Path::new("h")).is_err(), "{bad}");
        }
    }
}
