//! The PostgreSQL connection pool behind [`Db::Postgres`](crate::Db).
//!
//! Connections are made lazily, at most [`POOL_SIZE`] per pool, and used from blocking tasks
//! with the synchronous `postgres` client, so store code is the same closure for both backends.
//! A connection found dead when its transaction begins is replaced once, silently (nothing has
//! run yet); one that dies later fails that transaction with [`StoreError::Unavailable`], which
//! the APIs answer with 503, and is not put back.

use crate::db::Finish;
use crate::db::{Row, Scope, Tx, Value};
use crate::migrate::{Migrations, known, row_security_sql};
use crate::{Result, StoreError};
use postgres::error::SqlState;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Most connections one pool opens.
pub const POOL_SIZE: usize = 10;

struct Conn {
    client: postgres::Client,
    stmts: StatementCache,
}

pub struct Pool {
    config: postgres::Config,
    tls: crate::pg_tls::Tls,
    /// The URL without its password, for messages.
    target: String,
    schema: String,
    app_role: String,
    idle: Mutex<Vec<Conn>>,
    permits: tokio::sync::Semaphore,
    /// An exported snapshot every transaction reads in, read-only (see `restore_point`).
    snapshot: Option<String>,
}

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        if let Some(db) = e.as_db_error() {
            let code = db.code();
            // Only the message: PostgreSQL's detail can quote key values.
            let msg = db.message().to_owned();
            if *code == SqlState::UNIQUE_VIOLATION {
                StoreError::Duplicate(db.constraint().unwrap_or("unique").to_owned())
            } else if *code == SqlState::DISK_FULL {
                StoreError::Full(format!("PostgreSQL: {msg}"))
            } else if code.code().starts_with("08")
                || [SqlState::ADMIN_SHUTDOWN, SqlState::CRASH_SHUTDOWN, SqlState::CANNOT_CONNECT_NOW, SqlState::TOO_MANY_CONNECTIONS]
                    .contains(code)
            {
                StoreError::Unavailable(msg)
            } else if *code == SqlState::INVALID_CATALOG_NAME
                || *code == SqlState::INVALID_PASSWORD
                || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
            {
                StoreError::Open { path: "PostgreSQL".into(), reason: msg }
            } else {
                StoreError::Database(format!("{msg} ({})", code.code()))
            }
        } else {
            // "error connecting to server" alone does not say why: add the cause.
            let source = std::error::Error::source(&e);
            let msg = source.map_or_else(|| e.to_string(), |s| format!("{e}: {s}"));
            if e.is_closed() || source.is_some_and(|s| s.is::<std::io::Error>()) {
                StoreError::Unavailable(msg)
            } else {
                StoreError::Database(msg)
            }
        }
    }
}

impl Pool {
    pub fn new(url: &str, schema: &str, app_role: &str) -> Result<Self> {
        let target = crate::db::redact(url);
        let (url, tls) = crate::pg_tls::from_url(url, &target)?;
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e: postgres::Error| StoreError::Open { path: target.clone(), reason: format!("not a valid PostgreSQL URL: {e}") })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        config.application_name("renkei");
        if matches!(tls, crate::pg_tls::Tls::On(_)) {
            config.ssl_mode(postgres::config::SslMode::Require);
        }
        Ok(Self {
            config,
            tls,
            target,
            schema: schema.to_owned(),
            app_role: app_role.to_owned(),
            idle: Mutex::new(Vec::new()),
            permits: tokio::sync::Semaphore::new(POOL_SIZE),
            snapshot: None,
        })
    }

    /// A pool like this one whose transactions only read, each in the exported snapshot
    /// `snapshot` (which its exporting transaction must hold open while they begin).
    pub(crate) fn pinned(&self, snapshot: String) -> Pool {
        Pool {
            config: self.config.clone(),
            tls: self.tls.clone(),
            target: self.target.clone(),
            schema: self.schema.clone(),
            app_role: self.app_role.clone(),
            idle: Mutex::new(Vec::new()),
            permits: tokio::sync::Semaphore::new(POOL_SIZE),
            snapshot: Some(snapshot),
        }
    }

    /// The schema the pool works in.
    pub(crate) fn schema(&self) -> &str {
        &self.schema
    }

    /// A connection as the connecting role, in the schema, outside the pool.
    pub(crate) fn owner_session(&self) -> Result<postgres::Client> {
        let mut client = self.connect()?;
        client.batch_execute(&format!("SET search_path TO {}", self.schema))?;
        Ok(client)
    }

    fn connect(&self) -> Result<postgres::Client> {
        let connected = match &self.tls {
            crate::pg_tls::Tls::Off => self.config.connect(postgres::NoTls),
            crate::pg_tls::Tls::On(tls) => self.config.connect(tls.clone()),
        };
        connected.map_err(|e| match StoreError::from(e) {
            StoreError::Unavailable(m) | StoreError::Database(m) | StoreError::Open { reason: m, .. } => {
                StoreError::Unavailable(format!("cannot connect to {}: {m}", self.target))
            }
            other => other,
        })
    }

    /// A new connection acting as the application role inside the schema.
    fn session(&self) -> Result<Conn> {
        let mut client = self.connect()?;
        // Statements are prepared once per connection and live as long as it. A generic plan made
        // while a table was small (a new tenant, a new deployment) would stay a full scan after the
        // table grew; plan each execution for the table as it is instead.
        client.batch_execute(&format!(
            "SET search_path TO {}; SET statement_timeout = '30s'; SET plan_cache_mode = force_custom_plan",
            self.schema
        ))?;
        let user: String = client.query_one("SELECT current_user::text", &[])?.get(0);
        if user != self.app_role {
            // Requests never run as the owner: the application role cannot bypass RLS.
            client.batch_execute(&format!("SET ROLE {}", self.app_role))?;
        }
        Ok(Conn { client, stmts: StatementCache::new() })
    }

    fn take(&self) -> Result<Conn> {
        let idle = self.idle.lock().ok().and_then(|mut v| v.pop());
        match idle {
            Some(c) if !c.client.is_closed() => Ok(c),
            _ => self.session(),
        }
    }

    fn give_back(&self, conn: Conn) {
        if !conn.client.is_closed()
            && let Ok(mut v) = self.idle.lock()
        {
            v.push(conn);
        }
    }

    pub(crate) async fn tx<T, F>(self: &Arc<Self>, scope: Scope, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut dyn Tx) -> Result<(T, Finish)> + Send + 'static,
    {
        let _permit = self.permits.acquire().await.map_err(|e| StoreError::Task(e.to_string()))?;
        let pool = self.clone();
        tokio::task::spawn_blocking(move || pool.run(scope, f)).await.map_err(|e| StoreError::Task(e.to_string()))?
    }

    fn run<T>(&self, scope: Scope, f: impl FnOnce(&mut dyn Tx) -> Result<(T, Finish)>) -> Result<T> {
        let setting = match &scope {
            Scope::Global => None,
            Scope::Tenant(t) => Some(("renkei.tenant_id", t.as_str())),
            Scope::Operator => Some(("renkei.operator", "on")),
            Scope::ApiKey(h) => Some(("renkei.key_hash", h.as_str())),
            Scope::Presented(p) => Some(("renkei.presented", p.as_str())),
        };
        // BEGIN and the scope go in one round trip. The value is a tenant id, a key hash or
        // "on"; it is quoted as a literal all the same.
        let mut begin = match &self.snapshot {
            // The snapshot id comes from PostgreSQL (hex digits and dashes).
            Some(id) => format!("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '{}'", id.replace('\'', "''")),
            None => "BEGIN".to_owned(),
        };
        if let Some((name, value)) = setting {
            begin.push_str(&format!("; SELECT set_config('{name}', '{}', true)", value.replace('\'', "''")));
        }
        let mut conn = self.take()?;
        if conn.client.batch_execute(&begin).is_err() {
            // A pooled connection the server has since closed: nothing ran, so take a new one.
            conn = self.session()?;
            conn.client.batch_execute(&begin)?;
        }
        let out = (|| {
            let (out, finish) = f(&mut PgTx { client: &mut conn.client, stmts: &mut conn.stmts })?;
            conn.client.batch_execute(match finish {
                Finish::Commit => "COMMIT",
                Finish::Rollback => "ROLLBACK",
            })?;
            Ok(out)
        })();
        if out.is_err()
            && !conn.client.is_closed()
            && let Err(e) = conn.client.batch_execute("ROLLBACK")
        {
            // A session whose transaction could not be ended is not used again.
            tracing::warn!(error = %StoreError::from(e), "a failed transaction could not be rolled back; its connection is closed");
            return out;
        }
        self.give_back(conn);
        out
    }

    /// Runs `sql` once as the connecting role, outside the pool.
    pub(crate) fn admin(&self, sql: &str) -> Result<()> {
        Ok(self.connect()?.batch_execute(sql)?)
    }

    /// Brings the schema up to date, as the connecting role. An up-to-date schema is only read,
    /// so a process connecting as the application role itself starts too.
    pub(crate) fn migrate(&self, migrations: &Migrations) -> Result<()> {
        let list = migrations.postgres;
        let known = known(list);
        let mut c = self.connect()?;
        let s = &self.schema;
        let current = |c: &mut postgres::Client| -> Option<i64> {
            c.query_one(&format!("SELECT COALESCE(MAX(version), 0) FROM {s}.schema_migrations"), &[]).ok().map(|r| r.get(0))
        };
        match current(&mut c) {
            Some(found) if found > known => return Err(StoreError::SchemaTooNew { found, known }),
            Some(found) if found == known => return Ok(()),
            _ => {}
        }
        // Several processes may start at once: one migrates, the others wait and then see it done.
        c.batch_execute(&format!("SELECT pg_advisory_lock(hashtext('renkei-migrate:{s}'))"))?;
        let out = self.apply(&mut c, migrations);
        if let Err(e) = c.batch_execute(&format!("SELECT pg_advisory_unlock(hashtext('renkei-migrate:{s}'))")) {
            // The lock is the session's: it ends with the connection, dropped below.
            tracing::warn!(error = %StoreError::from(e), "the migration lock could not be released; it is when this connection closes");
        }
        out
    }

    fn apply(&self, c: &mut postgres::Client, migrations: &Migrations) -> Result<()> {
        let (list, grants) = (migrations.postgres, migrations.postgres_grants);
        let (s, role) = (&self.schema, &self.app_role);
        c.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {s}; SET search_path TO {s};
             CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)"
        ))?;
        let found: i64 = c.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[])?.get(0);
        let known = known(list);
        if found > known {
            return Err(StoreError::SchemaTooNew { found, known });
        }
        for m in list.iter().filter(|m| m.version > found) {
            let mut tx = c.transaction()?;
            tx.batch_execute(m.sql)?;
            tx.batch_execute(&row_security_sql(migrations.postgres_row_security, m.version))?;
            tx.execute("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)", &[&m.version, &crate::now_unix()])?;
            tx.commit()?;
        }
        // The role is cluster-wide; another database's migration may be creating it right now.
        c.batch_execute(&format!(
            "DO $$ BEGIN
               IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN CREATE ROLE {role} NOLOGIN NOBYPASSRLS; END IF;
             EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;
             DO $$ BEGIN
               IF NOT pg_has_role(current_user, '{role}', 'MEMBER') THEN EXECUTE format('GRANT {role} TO %I', current_user); END IF;
             EXCEPTION WHEN OTHERS THEN NULL; END $$;
             GRANT USAGE ON SCHEMA {s} TO {role};
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {s} TO {role};
             GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {role};
             REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM {role};
             {grants}"
        ))?;
        Ok(())
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing a synchronous client blocks, which must not happen on an async worker thread:
        // idle connections are closed on a thread of their own.
        let idle = self.idle.get_mut().map(std::mem::take).unwrap_or_default();
        if !idle.is_empty() {
            std::thread::spawn(move || drop(idle));
        }
    }
}

/// Statement cache of one pooled PostgreSQL connection, keyed by the `?N` SQL text.
type StatementCache = HashMap<String, postgres::Statement>;

fn row_from_pg(r: &postgres::Row) -> Result<Row> {
    use postgres::types::Type;
    let mut vals = Vec::with_capacity(r.len());
    for (i, col) in r.columns().iter().enumerate() {
        let ty = col.type_();
        let v = if *ty == Type::INT8 {
            r.try_get::<_, Option<i64>>(i)?.map_or(Value::Null, Value::Int)
        } else if *ty == Type::INT4 {
            r.try_get::<_, Option<i32>>(i)?.map_or(Value::Null, |v| Value::Int(v.into()))
        } else if *ty == Type::INT2 {
            r.try_get::<_, Option<i16>>(i)?.map_or(Value::Null, |v| Value::Int(v.into()))
        } else if *ty == Type::BOOL {
            r.try_get::<_, Option<bool>>(i)?.map_or(Value::Null, |v| Value::Int(v.into()))
        } else if *ty == Type::BYTEA {
            r.try_get::<_, Option<Vec<u8>>>(i)?.map_or(Value::Null, Value::Blob)
        } else if [Type::TEXT, Type::VARCHAR, Type::NAME, Type::BPCHAR].contains(ty) {
            r.try_get::<_, Option<String>>(i)?.map_or(Value::Null, Value::Text)
        } else if *ty == Type::DATE {
            // Dates travel as their `YYYY-MM-DD` text, as SQLite keeps them.
            r.try_get::<_, Option<chrono::NaiveDate>>(i)?.map_or(Value::Null, |d| Value::Text(d.format("%Y-%m-%d").to_string()))
        } else {
            return Err(StoreError::Corrupt(format!("column {} has unsupported type {ty}", col.name())));
        };
        vals.push(v);
    }
    Ok(Row(vals))
}

impl postgres::types::ToSql for Value {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> std::result::Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::{IsNull, Type};
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) if *ty == Type::INT8 => i.to_sql(ty, out),
            Value::Int(i) if *ty == Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
            Value::Int(i) if *ty == Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
            Value::Int(i) if *ty == Type::BOOL => (*i != 0).to_sql(ty, out),
            Value::Text(s) if <String as postgres::types::ToSql>::accepts(ty) => s.to_sql(ty, out),
            Value::Text(s) if *ty == Type::DATE => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")?.to_sql(ty, out),
            Value::Blob(b) if *ty == Type::BYTEA => b.to_sql(ty, out),
            other => Err(format!("cannot bind {} to a {ty} parameter", other.kind()).into()),
        }
    }
    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }
    postgres::types::to_sql_checked!();
}

/// `?N` placeholders to PostgreSQL's `$N`, outside string literals.
pub(crate) fn to_pg_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut in_str = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_str = !in_str;
                out.push(c);
            }
            '?' if !in_str && chars.peek().is_some_and(char::is_ascii_digit) => out.push('$'),
            _ => out.push(c),
        }
    }
    out
}

struct PgTx<'a> {
    client: &'a mut postgres::Client,
    stmts: &'a mut StatementCache,
}

impl PgTx<'_> {
    fn statement(&mut self, sql: &str) -> Result<postgres::Statement> {
        if let Some(st) = self.stmts.get(sql) {
            return Ok(st.clone());
        }
        let st = self.client.prepare(&to_pg_placeholders(sql))?;
        self.stmts.insert(sql.to_owned(), st.clone());
        Ok(st)
    }
}

fn pg_args(args: &[Value]) -> Vec<&(dyn postgres::types::ToSql + Sync)> {
    args.iter().map(|a| a as &(dyn postgres::types::ToSql + Sync)).collect()
}

impl Tx for PgTx<'_> {
    fn backend(&self) -> crate::db::Backend {
        crate::db::Backend::Postgres
    }
    fn execute(&mut self, sql: &str, args: &[Value]) -> Result<u64> {
        let st = self.statement(sql)?;
        Ok(self.client.execute(&st, &pg_args(args))?)
    }
    fn query(&mut self, sql: &str, args: &[Value]) -> Result<Vec<Row>> {
        let st = self.statement(sql)?;
        self.client.query(&st, &pg_args(args))?.iter().map(row_from_pg).collect()
    }
}
