//! `renkei.toml`: one file for the platform's commands (`serve`, `admin`, `import`, `audit`) and the hub.
//!
//! A key is a flag's long name with `_` for `-`, in the section of its command. Keys are read
//! off the commands' own flag definitions (clap), so every flag has a key and a new flag gets
//! one without a line here. Each key found becomes its flag's default before the command line is
//! parsed, so clap's own order decides: a flag beats its environment variable, which beats the
//! file, which beats the built-in default.
//!
//! Secrets are never values in the file: keys ending in `_file` name the files that hold them,
//! and a `database` URL with a password in it is refused (put the URL in the file that
//! `database_file` names).

use anyhow::{Result, bail};
use clap::{Arg, ArgMatches, Command, CommandFactory, FromArgMatches};
use std::any::TypeId;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The environment variable naming the file, if `--config` is not given.
pub const ENV: &str = "RENKEI_CONFIG";

/// The sections of the file: its name, the commands that read it (in this order, later ones
/// overriding), and what it is for.
const SECTIONS: &[(&str, &str)] = &[
    (
        "platform",
        "Read by every platform command (`serve`, `admin`, `import`, `audit`, `unify-registry`, `retention run`, `gaiji`, `export`): where its stores, keys and hub are.",
    ),
    (
        "serve",
        "`renkei serve` only: its listeners and timings. It also takes every `[platform]` key, which overrides `[platform]` for `serve`.",
    ),
    ("admin", "`renkei admin` only. It also takes every `[platform]` key, which overrides `[platform]` for `admin`."),
    (
        "backup",
        "`renkei backup`, `renkei serve` (which backs up on a schedule once `backup_repository` is set), `renkei admin tenant-delete` (which destroys the tenant's key in every key backup), `renkei admin locations` and `renkei sla compliance` (which report them): the repositories, their passwords' files and the generations kept. `renkei backup` also takes every `[platform]` key.",
    ),
    (
        "sla",
        "`renkei sla` and `renkei serve` (whose report page measures each month against them): the tenants' SLA contracts (`contracts_file`). `renkei sla` also takes every `[platform]` key.",
    ),
    (
        "hub",
        "`renkei hub` and its subcommands (`register-org`, `verify-key`, `resident-token`, `backup`, each taking the keys it has). The hub's backups are set here (`backup_repository` …, with repositories and passwords of their own), apart from the platform's `[backup]`.",
    ),
];

/// Flags that are not settings: the file's own path and clap's.
const NOT_KEYS: &[&str] = &["config", "help", "version"];

/// A validated configuration file: per section, (flag id, value as the command line would give
/// it).
#[derive(Debug, Default)]
pub struct Config {
    sections: BTreeMap<&'static str, Vec<(String, String)>>,
}

impl Config {
    /// How many keys each section sets.
    pub fn counts(&self) -> Vec<(&'static str, usize)> {
        SECTIONS.iter().map(|(s, _)| (*s, self.sections.get(s).map_or(0, Vec::len))).collect()
    }
}

/// Parses the command line into `P`, with the configuration file (if `--config` or
/// `RENKEI_CONFIG` names one) as the flags' defaults. Clap's own errors (and `--help`) exit as
/// clap does; a bad file is an error naming the file and the key.
pub fn parse<P: CommandFactory + FromArgMatches>() -> Result<P> {
    let args: Vec<OsString> = std::env::args_os().collect();
    let mut cmd = P::command();
    if let Some(path) = path_from(&args) {
        let config = load(&path, &cmd)?;
        cmd = apply(cmd, &config);
    }
    let matches: ArgMatches = cmd.get_matches_from(args);
    P::from_arg_matches(&matches).map_err(|e| e.exit())
}

/// The file that `--config FILE` (anywhere on the line) or `RENKEI_CONFIG` names.
fn path_from(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        let Some(a) = a.to_str() else { continue };
        if a == "--" {
            break;
        }
        if a == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(p) = a.strip_prefix("--config=") {
            return Some(PathBuf::from(p));
        }
    }
    std::env::var_os(ENV).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// Reads and validates `path` against the commands' flags: every section and key known, every
/// value of its flag's type, no secret given inline.
pub fn load(path: &Path, cmd: &Command) -> Result<Config> {
    let name = path.display();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => bail!("cannot read the configuration file {name}: {e}"),
    };
    let table: toml::Table = match text.parse() {
        Ok(t) => t,
        Err(e) => {
            let line = e.span().map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            let why = e.message().trim().replace('\n', "; ");
            match line {
                Some(l) => bail!("{name}, line {l}: not valid TOML: {why}"),
                None => bail!("{name}: not valid TOML: {why}"),
            }
        }
    };
    let mut config = Config::default();
    for (section, body) in &table {
        let Some(&(section, _)) = SECTIONS.iter().find(|(s, _)| s == section) else {
            if body.is_table() {
                bail!("{name}: unknown section [{section}]; the sections are {}", section_list());
            }
            bail!("{name}: {section} is outside any section; put it under {}", section_list());
        };
        let Some(body) = body.as_table() else {
            bail!("{name}: {section} must be a section ([{section}]), not a single value");
        };
        let keys = keys(cmd, section);
        let mut values = Vec::new();
        for (key, value) in body {
            let Some(arg) = keys.iter().find(|a| key_of(a).as_deref() == Some(key.as_str())) else {
                bail!("{name}: [{section}] has no key {key} (see docs/config.md)");
            };
            let kind = Kind::of(arg);
            let Some(text) = kind.text(value) else {
                bail!("{name}: [{section}] {key} must be {}, not {}", kind.expected(), describe(value));
            };
            if key == "database" && has_password(&text) {
                bail!("{name}: [{section}] database holds a password; put the URL in a file of its own and name it with database_file");
            }
            values.push((arg.get_id().to_string(), text));
        }
        if body.contains_key("database") && body.contains_key("database_file") {
            bail!("{name}: [{section}] gives both database and database_file; keep one");
        }
        config.sections.insert(section, values);
    }
    Ok(config)
}

/// `cmd` with the file's values as the defaults of the flags they name.
pub fn apply(cmd: Command, config: &Config) -> Command {
    let set = |mut sub: Command, section: &str| {
        for (id, value) in config.sections.get(section).into_iter().flatten() {
            if sub.get_arguments().any(|a| a.get_id() == id.as_str()) {
                let value = value.clone();
                sub = sub.mut_arg(id, |a| a.default_value(value).required(false));
            }
        }
        sub
    };
    cmd.mut_subcommand("serve", |c| set(set(set(set(c, "platform"), "serve"), "backup"), "sla"))
        .mut_subcommand("admin", |c| {
            set(set(c, "platform"), "admin")
                .mut_subcommand("tenant-delete", |t| set(t, "backup"))
                .mut_subcommand("locations", |t| set(t, "backup"))
        })
        .mut_subcommand("import", |c| set(c, "platform"))
        .mut_subcommand("backup", |c| set(set(c, "platform"), "backup"))
        .mut_subcommand("sla", |c| set(set(c, "platform"), "sla").mut_subcommand("compliance", |t| set(t, "backup")))
        .mut_subcommand("audit", |c| set(c, "platform"))
        .mut_subcommand("unify-registry", |c| set(c, "platform"))
        // The retention is serve's setting; `retention run` reads it from there.
        .mut_subcommand("retention", |c| c.mut_subcommand("run", |r| set(set(r, "platform"), "serve")))
        .mut_subcommand("gaiji", |c| c.mut_subcommand("load", |r| set(r, "platform")).mut_subcommand("report", |r| set(r, "platform")))
        .mut_subcommand("hub", |c| {
            let subs: Vec<String> = c.get_subcommands().map(|s| s.get_name().to_owned()).collect();
            subs.iter().fold(set(c, "hub"), |c, s| c.mut_subcommand(s, |sub| set(sub, "hub")))
        })
}

/// Writes a configuration file of `sections`, readable by its owner only (it names where the
/// secrets are), headed by `comment`.
pub fn write(path: &Path, comment: &str, sections: Vec<(&str, toml::Table)>) -> Result<()> {
    let mut out = format!("# {comment}\n");
    for (name, keys) in sections {
        let mut table = toml::Table::new();
        table.insert(name.to_owned(), toml::Value::Table(keys));
        out.push('\n');
        out.push_str(&toml::to_string(&table)?);
    }
    crate::run::write_private(path, &out)
}

/// The flags a section may set.
fn keys<'c>(cmd: &'c Command, section: &str) -> Vec<&'c Arg> {
    let of = |name: &str| -> Vec<&'c Arg> {
        cmd.find_subcommand(name).map(|c| c.get_arguments().filter(|a| key_of(a).is_some()).collect()).unwrap_or_default()
    };
    match section {
        // What the platform commands share: serve's flags that admin or import has too.
        "platform" => {
            let others: Vec<String> = of("admin").into_iter().chain(of("import")).filter_map(key_of).collect();
            of("serve").into_iter().filter(|a| key_of(a).is_some_and(|k| others.contains(&k))).collect()
        }
        command => of(command),
    }
}

/// A flag's key: its long name with `_` for `-`; `None` for positional arguments and flags that
/// are not settings.
fn key_of(arg: &Arg) -> Option<String> {
    let long = arg.get_long()?;
    (!NOT_KEYS.contains(&long)).then(|| long.replace('-', "_"))
}

fn section_list() -> String {
    SECTIONS.iter().map(|(s, _)| format!("[{s}]")).collect::<Vec<_>>().join(", ")
}

/// A TOML value's type, as an error names it (never the value: it may be a secret put in the
/// wrong key).
fn describe(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(i) if *i < 0 => "a negative number",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date",
        toml::Value::Array(_) => "a list",
        toml::Value::Table(_) => "a table",
    }
}

/// Whether a PostgreSQL URL carries a password (in its user part or as a parameter).
fn has_password(url: &str) -> bool {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = after_scheme.split(['/', '?']).next().unwrap_or_default();
    let user_has_password = authority.rsplit_once('@').is_some_and(|(user, _)| user.contains(':'));
    user_has_password || url.to_ascii_lowercase().contains("password=")
}

/// The TOML type a flag's values take.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Whole,
    Number,
    Switch,
    Text,
}

impl Kind {
    fn of(arg: &Arg) -> Kind {
        let t = arg.get_value_parser().type_id();
        if [TypeId::of::<u64>(), TypeId::of::<u32>(), TypeId::of::<u16>(), TypeId::of::<usize>(), TypeId::of::<i64>()]
            .iter()
            .any(|id| t == *id)
        {
            Kind::Whole
        } else if t == TypeId::of::<f64>() {
            Kind::Number
        } else if t == TypeId::of::<bool>() {
            Kind::Switch
        } else {
            Kind::Text
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Kind::Whole => "a whole number",
            Kind::Number => "a number",
            Kind::Switch => "true or false",
            Kind::Text => "a string",
        }
    }

    /// The value as the command line would give it, if it is of this kind.
    fn text(self, v: &toml::Value) -> Option<String> {
        match (self, v) {
            (Kind::Whole, toml::Value::Integer(i)) if *i >= 0 => Some(i.to_string()),
            (Kind::Number, toml::Value::Integer(i)) => Some(i.to_string()),
            (Kind::Number, toml::Value::Float(f)) => Some(f.to_string()),
            (Kind::Switch, toml::Value::Boolean(b)) => Some(b.to_string()),
            (Kind::Text, toml::Value::String(s)) => Some(s.clone()),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Whole => "whole number",
            Kind::Number => "number",
            Kind::Switch => "boolean",
            Kind::Text => "string",
        }
    }
}

/// docs/config.md: every key of every section, with its type, default and environment variable,
/// made from the flags themselves so that it cannot drift (a test compares the committed file).
pub fn reference(cmd: &Command) -> String {
    let mut out = String::from(
        "# renkei.toml\n\n\
         <!-- Generated by `renkei config reference > docs/config.md`; a test keeps it true. -->\n\n\
         `serve`, `admin`, `import` and `hub` read one TOML file, named by `--config FILE` or \
         `RENKEI_CONFIG`. Every flag has a key: its long name with `_` for `-`. A flag on the \
         command line beats its environment variable, which beats the file, which beats the \
         default below. An unknown section or key, or a value of the wrong type, is refused in \
         one line naming the file and the key, before anything starts; `renkei config check \
         FILE` checks a file alone.\n\n\
         Secrets are never values in the file: keys ending in `_file` name the files that hold \
         them (mode 0600), and a `database` URL with a password is refused — put the URL in a \
         file and name it with `database_file`. `renkei demo` writes the files it runs with into \
         its data directory (`renkei.toml` for the hub and the shared platform, `kenpo.toml` for \
         the union's server).\n\n\
         ```toml\n\
         [platform]\n\
         data_dir = \"/var/lib/renkei\"\n\
         database_file = \"/etc/renkei/database-url\"   # postgres://renkei:…@db/renkei\n\
         hub_url = \"https://hub.example:7443\"\n\
         hub_key = \"…\"                               # renkei hub verify-key\n\
         pki = \"/etc/renkei/pki\"\n\
         cert_name = \"platform\"\n\
         master_key_file = \"/etc/renkei/master.key\"\n\n\
         [serve]\n\
         internal_listen = \"10.0.0.5:8443\"\n\
         network_listen = \"10.1.0.5:9443\"\n\
         ```\n",
    );
    let platform: Vec<String> = keys(cmd, "platform").into_iter().filter_map(key_of).collect();
    let backup: Vec<String> = keys(cmd, "backup").into_iter().filter_map(key_of).collect();
    let sla: Vec<String> = keys(cmd, "sla").into_iter().filter_map(key_of).collect();
    for (section, about) in SECTIONS {
        out.push_str(&format!(
            "\n## [{section}]\n\n{about}\n\n| key | type | default | environment | what it is |\n|---|---|---|---|---|\n"
        ));
        for arg in keys(cmd, section) {
            let Some(key) = key_of(arg) else { continue };
            // The platform's keys are listed once, under [platform].
            if matches!(*section, "serve" | "admin" | "backup" | "sla") && platform.contains(&key) {
                continue;
            }
            // And the backups' keys under [backup], the contracts under [sla].
            if *section == "serve" && (backup.contains(&key) || sla.contains(&key)) {
                continue;
            }
            let default = arg.get_default_values().iter().map(|v| v.to_string_lossy().into_owned()).collect::<Vec<_>>().join(", ");
            let default = if !default.is_empty() {
                format!("`{default}`")
            } else if arg.is_required_set() {
                "required".into()
            } else {
                "—".into()
            };
            let env = arg.get_env().map(|e| format!("`{}`", e.to_string_lossy())).unwrap_or_else(|| "—".into());
            let help = arg.get_help().map(|h| h.to_string().replace('\n', " ").replace('|', "\\|")).unwrap_or_default();
            let kind = if arg.get_value_parser().type_id() == TypeId::of::<PathBuf>() { "path" } else { Kind::of(arg).name() };
            out.push_str(&format!("| `{key}` | {kind} | {default} | {env} | {help} |\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_a_database_url_is_recognised() {
        assert!(has_password("postgres://renkei:s3cret@db/renkei"));
        assert!(has_password("postgres://db/renkei?user=renkei&password=x"));
        assert!(!has_password("postgres://renkei@db/renkei"));
        assert!(!has_password("postgres://renkei@db:5432/renkei?sslmode=verify-full"));
    }

    #[test]
    fn the_file_is_found_by_flag_before_environment() {
        let args = |a: &[&str]| a.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(path_from(&args(&["renkei", "serve", "--config", "a.toml"])), Some(PathBuf::from("a.toml")));
        assert_eq!(path_from(&args(&["renkei", "--config=b.toml", "hub"])), Some(PathBuf::from("b.toml")));
    }
}
