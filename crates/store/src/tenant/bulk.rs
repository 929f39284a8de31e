//! Bulk loads (一括登録) of persons and provision copies in one transaction.

use super::*;

/// SQLite page cache of a tenant file during a bulk load (KiB); the default is 2,000 KiB.
pub(super) const BULK_CACHE_KIB: u32 = 65_536;

/// SQLite page cache (KiB) while a load's staged copies are sorted and written, which also bounds
/// the memory of SQLite's sorter.
pub(super) const BULK_SORT_CACHE_KIB: u32 = 16_384;

/// Duplicate lines of a staged SQLite load handed on at once.
pub(super) const DUPLICATES_PAGE: i64 = 4_096;

/// Runs a multi-row `insert` (written without `RETURNING`) and says which of `ids` it wrote. A
/// single row (SQLite) is a plain execute whose count says it all, measurably cheaper there than
/// `RETURNING`.
pub(super) fn inserted_ids<'a>(
    tx: &mut dyn Tx,
    insert: &str,
    values: &[crate::db::Value],
    mut ids: impl ExactSizeIterator<Item = &'a String>,
) -> Result<std::collections::HashSet<String>> {
    if ids.len() == 1 {
        let id = ids.next().cloned();
        return Ok(if tx.execute(insert, values)? == 1 { id.into_iter().collect() } else { Default::default() });
    }
    tx.query(&format!("{insert} RETURNING id"), values)?.iter().map(|r| r.get(0)).collect()
}

/// What one line of a bulk load did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// A new person, or a provision copy version written (new or replaced).
    Stored,
    /// The person was registered with the same code before this load.
    AlreadyRegistered,
    /// The same key appeared earlier in this load.
    Duplicate,
    /// The line contradicts a stored person (the reason names no values).
    Conflict(&'static str),
}

/// A provision copy line ready to be written: its keys computed and its fields encrypted.
pub struct PreparedCopy {
    line: u64,
    pub(super) id: String,
    pub(super) a_idx: String,
    pub(super) item: String,
    pub(super) valid_from: String,
    pub(super) enc: Vec<u8>,
}

/// Prepares provision copy lines of one org for [`Bulk::copy`] outside the load's transaction,
/// so that a load can hash and encrypt on one thread while the database writes on another.
#[derive(Clone)]
pub struct CopyPreparer {
    org: OrgId,
    dk: Arc<DataKey>,
}

impl CopyPreparer {
    pub fn prepare(
        &self,
        line: u64,
        addressee: &AddresseeNo,
        item: &ItemCode,
        valid_from: Date,
        fields: &Map<String, Value>,
    ) -> Result<PreparedCopy> {
        let vf = valid_from.to_string();
        let a_idx = addressee_idx(&self.dk, &self.org, addressee);
        // The row id is the version's natural key (the addressee by its blind index), so a
        // re-load finds the same row, and ids sort as the natural key does: a load written in
        // key order appends to the primary key as it does to the natural key's index.
        let id = copy_id(&a_idx, item.as_str(), &vf);
        let enc = self.dk.encrypt("provision_copies.fields", &id, &serde_json::to_vec(fields)?)?;
        Ok(PreparedCopy { line, id, a_idx, item: item.to_string(), valid_from: vf, enc })
    }
}

/// One transaction of bulk loading (一括登録) for one org; nothing is visible to others until the
/// load commits.
///
/// Provision copies are written differently per backend:
/// - PostgreSQL: in multi-row statements as they come (see `db::rows_per_statement`), results
///   back when a batch is written.
/// - SQLite: staged in a temporary table (appended, outside the WAL), then written in one
///   statement in natural-key order by [`Bulk::flush`]. Blind indexes are random, so rows in
///   file order land on random pages: past the page cache each page was spilled to the WAL
///   again and again, and a 10 M-row load crawled (docs/benchmarks.md). In key order each page
///   is written once. Duplicates within the file are found at the end and reported then.
pub struct Bulk<'t> {
    tx: &'t mut dyn Tx,
    tenant: String,
    org: OrgId,
    dk: Arc<DataKey>,
    /// Marks the rows this load wrote, so a key repeated within the load is told apart from one
    /// an earlier load wrote.
    import_id: String,
    /// Copies waiting for their batch: (line, row id, the row's values).
    copies: Vec<(u64, String, Vec<crate::db::Value>)>,
    copy_ids: std::collections::HashSet<String>,
    /// The insert statement for a batch of n copies, by n: built once, not per row.
    copy_sql: HashMap<usize, String>,
    /// SQLite: lines in the staging table, waiting for [`Bulk::flush`].
    staged: u64,
}

/// A line's result: (line, what happened).
pub type LineResult = (u64, Loaded);

/// A person line of a load: (line, addressee, each org's code), the same orgs in the same order
/// on every line of a batch.
pub type PersonLine = (u64, AddresseeNo, Vec<(OrgId, OrgCode)>);

/// What writing some provision copy lines did. Stored lines are only counted: a load of
/// millions would otherwise hold a result per line.
#[derive(Debug, Default)]
pub struct Written {
    pub stored: u64,
    /// Lines not stored (duplicates), with the reason.
    pub others: Vec<LineResult>,
}

impl Written {
    pub(super) fn of(results: Vec<LineResult>) -> Self {
        let mut w = Written::default();
        for (line, loaded) in results {
            match loaded {
                Loaded::Stored => w.stored += 1,
                other => w.others.push((line, other)),
            }
        }
        w
    }
}

/// SQLite: where a load's copies wait, in file order, until they are written in key order.
pub(super) const STAGE_COPIES: &str = "CREATE TEMP TABLE bulk_copies (line INTEGER NOT NULL, addressee_idx TEXT NOT NULL,
    item TEXT NOT NULL, valid_from TEXT NOT NULL, fields_enc BLOB NOT NULL)";

impl Bulk<'_> {
    /// Registers persons of the tenant (団体内統合宛名番号), each in every org its line names with
    /// that org's code, like [`TenantStore::register_in_orgs`], in multi-row statements. A line
    /// is one result: `Stored` if some org did not know the person, `AlreadyRegistered` if every
    /// org did, and refused (`Conflict`, `Duplicate`) if any org refuses it, in which case none of
    /// its rows is kept.
    pub fn persons(&mut self, batch: Vec<PersonLine>) -> Result<Vec<LineResult>> {
        let orgs: Vec<OrgId> = batch.first().map(|(_, _, codes)| codes.iter().map(|(o, _)| o.clone()).collect()).unwrap_or_default();
        if batch.iter().any(|(_, _, codes)| codes.len() != orgs.len() || codes.iter().zip(&orgs).any(|((o, _), want)| o != want)) {
            return Err(StoreError::Task("a batch of persons must name the same orgs on every line".into()));
        }
        let mut by_org: Vec<Vec<(u64, AddresseeNo, OrgCode)>> = vec![Vec::with_capacity(batch.len()); orgs.len()];
        let mut addressees = HashMap::with_capacity(batch.len());
        for (line, addressee, codes) in batch {
            for (k, (_, code)) in codes.into_iter().enumerate() {
                by_org[k].push((line, addressee.clone(), code));
            }
            addressees.insert(line, addressee);
        }
        let mut lines: Vec<u64> = Vec::new();
        let mut each: HashMap<u64, Vec<Loaded>> = HashMap::with_capacity(addressees.len());
        for (k, (org, rows)) in orgs.iter().zip(by_org).enumerate() {
            for (line, loaded) in self.persons_of(org, rows)? {
                if k == 0 {
                    lines.push(line);
                }
                each.entry(line).or_default().push(loaded);
            }
        }
        let mut out = Vec::with_capacity(lines.len());
        for line in lines {
            let results = each.remove(&line).unwrap_or_default();
            let refused =
                results.iter().find(|l| matches!(l, Loaded::Conflict(_))).or_else(|| results.iter().find(|l| **l == Loaded::Duplicate));
            let loaded = match refused {
                Some(refused) => {
                    let refused = refused.clone();
                    // The orgs that took the line give its rows back: a person is registered
                    // in every org of the tenant or in none.
                    for (org, _) in orgs.iter().zip(&results).filter(|(_, l)| **l == Loaded::Stored) {
                        if let Some(addressee) = addressees.get(&line) {
                            let id = self.dk.blind_index("person-id", &format!("{org}\0{addressee}"));
                            self.tx.execute(
                                "DELETE FROM persons WHERE tenant_id = ?1 AND org_id = ?2 AND id = ?3",
                                args![self.tenant, org.as_str(), id],
                            )?;
                        }
                    }
                    refused
                }
                None if results.contains(&Loaded::Stored) => Loaded::Stored,
                None => Loaded::AlreadyRegistered,
            };
            out.push((line, loaded));
        }
        Ok(out)
    }

    /// Registers persons (`addressee ↔ code`) in `org`, like [`TenantStore::register_person`], in
    /// multi-row statements; only lines that collide with a stored row are looked at one by one.
    fn persons_of(&mut self, org: &OrgId, batch: Vec<(u64, AddresseeNo, OrgCode)>) -> Result<Vec<LineResult>> {
        let org_name = org.to_string();
        let mut out = Vec::with_capacity(batch.len());
        let mut rows = Vec::with_capacity(batch.len());
        let mut ids = std::collections::HashSet::with_capacity(batch.len());
        for (line, addressee, code) in batch {
            // The row id is derived from the key, so the ciphertext's associated data is known
            // before the row is written.
            let id = self.dk.blind_index("person-id", &format!("{org_name}\0{addressee}"));
            if !ids.insert(id.clone()) {
                out.push((line, Loaded::Duplicate));
                continue;
            }
            let (a_idx, c_idx) = (addressee_idx(&self.dk, org, &addressee), code_idx(&self.dk, org, &code));
            let a_enc = self.dk.encrypt("persons.addressee", &id, addressee.as_str().as_bytes())?;
            let c_enc = self.dk.encrypt("persons.code", &id, code.as_str().as_bytes())?;
            let values = args![self.tenant, org_name, id, a_idx, a_enc, c_idx, c_enc, now_unix(), self.import_id].to_vec();
            rows.push((line, id, a_idx, c_idx, values));
        }
        for chunk in rows.chunks(crate::db::rows_per_statement(self.tx)) {
            let values: Vec<crate::db::Value> = chunk.iter().flat_map(|r| r.4.iter().cloned()).collect();
            let sql = format!(
                "INSERT INTO persons (tenant_id, org_id, id, addressee_idx, addressee_enc, code_idx, code_enc, created_at, import_id)
                 VALUES {} ON CONFLICT DO NOTHING",
                crate::db::value_rows(1, chunk.len(), 9)
            );
            let inserted = inserted_ids(self.tx, &sql, &values, chunk.iter().map(|r| &r.1))?;
            let collided: Vec<(&str, &str)> =
                chunk.iter().filter(|r| !inserted.contains(&r.1)).map(|r| (r.2.as_str(), r.3.as_str())).collect();
            let mut why = self.collided_persons(org, &collided)?;
            for (line, id, a_idx, _, _) in chunk {
                let loaded = if inserted.contains(id) { Loaded::Stored } else { why.remove(a_idx.as_str()).unwrap_or(Loaded::Duplicate) };
                out.push((*line, loaded));
            }
        }
        Ok(out)
    }

    /// Why person rows (addressee index, code index) were not inserted: registered before (with
    /// the same or another number), earlier in this load, or their number belongs to another
    /// addressee. Two statements for the whole batch.
    pub(super) fn collided_persons(&mut self, org: &OrgId, rows: &[(&str, &str)]) -> Result<HashMap<String, Loaded>> {
        let mut out = HashMap::with_capacity(rows.len());
        if rows.is_empty() {
            return Ok(out);
        }
        let org = org.to_string();
        let mut args = vec![self.tenant.to_value(), org.to_value()];
        args.extend(rows.iter().map(|(a, _)| a.to_value()));
        let sql = format!(
            "SELECT addressee_idx, code_idx, import_id FROM persons WHERE tenant_id = ?1 AND org_id = ?2 AND addressee_idx IN ({})",
            crate::db::placeholders(3, rows.len())
        );
        let mut stored: HashMap<String, (String, Option<String>)> = HashMap::with_capacity(rows.len());
        for r in self.tx.query(&sql, &args)? {
            stored.insert(r.get(0)?, (r.get(1)?, r.get(2)?));
        }
        let mut unchanged = Vec::new();
        for (a_idx, c_idx) in rows {
            let loaded = match stored.get(*a_idx) {
                None => Loaded::Conflict("this Individual Number is registered under another addressee number"),
                Some((_, Some(import))) if *import == self.import_id => Loaded::Duplicate,
                Some((code, _)) if code != c_idx => Loaded::Conflict("the addressee number is registered with another Individual Number"),
                Some(_) => {
                    unchanged.push(*a_idx);
                    Loaded::AlreadyRegistered
                }
            };
            out.insert((*a_idx).to_owned(), loaded);
        }
        if !unchanged.is_empty() {
            // Marked as seen by this load, so a later line with the same addressee is a duplicate.
            let mut args = vec![self.tenant.to_value(), org.to_value(), self.import_id.to_value()];
            args.extend(unchanged.iter().map(|a| a.to_value()));
            let sql = format!(
                "UPDATE persons SET import_id = ?3 WHERE tenant_id = ?1 AND org_id = ?2 AND addressee_idx IN ({})",
                crate::db::placeholders(4, unchanged.len())
            );
            self.tx.execute(&sql, &args)?;
        }
        Ok(out)
    }

    /// Queues one provision copy version made by a [`CopyPreparer`], like
    /// [`TenantStore::upsert_copy`]; returns what a batch did when one is written.
    pub fn copy(&mut self, c: PreparedCopy) -> Result<Written> {
        if self.tx.backend() == Backend::Sqlite {
            if self.staged == 0 {
                self.tx.execute("DROP TABLE IF EXISTS temp.bulk_copies", args![])?;
                self.tx.execute(STAGE_COPIES, args![])?;
            }
            self.staged += 1;
            self.tx.execute(
                "INSERT INTO temp.bulk_copies (line, addressee_idx, item, valid_from, fields_enc) VALUES (?1, ?2, ?3, ?4, ?5)",
                args![c.line as i64, c.a_idx, c.item, c.valid_from, c.enc],
            )?;
            return Ok(Written::default());
        }
        if !self.copy_ids.insert(c.id.clone()) {
            return Ok(Written { stored: 0, others: vec![(c.line, Loaded::Duplicate)] });
        }
        let values = args![self.tenant, self.org.as_str(), c.id, c.a_idx, c.item, c.valid_from, c.enc, now_unix(), self.import_id].to_vec();
        self.copies.push((c.line, c.id, values));
        if self.copies.len() >= crate::db::rows_per_statement(self.tx) { self.write_queued() } else { Ok(Written::default()) }
    }

    /// Writes what is queued or staged; call once after the last line. Returns how many lines
    /// were stored; `others` hears each line that was not (in line order on SQLite).
    pub fn flush(&mut self, others: &mut dyn FnMut(LineResult)) -> Result<u64> {
        if self.staged > 0 {
            return self.write_staged(others);
        }
        let written = self.write_queued()?;
        written.others.into_iter().for_each(others);
        Ok(written.stored)
    }

    /// Writes the copies queued for a multi-row statement.
    pub(super) fn write_queued(&mut self) -> Result<Written> {
        if self.copies.is_empty() {
            return Ok(Written::default());
        }
        let batch = std::mem::take(&mut self.copies);
        self.copy_ids.clear();
        let mut values = Vec::with_capacity(batch.len() * 9);
        let mut lines = Vec::with_capacity(batch.len());
        for (line, id, row) in batch {
            values.extend(row);
            lines.push((line, id));
        }
        // A version written earlier by this same load is a duplicate line: left as it is, and
        // not returned.
        let sql = self.copy_sql.entry(lines.len()).or_insert_with_key(|&n| {
            format!(
                "INSERT INTO provision_copies (tenant_id, org_id, id, addressee_idx, item, valid_from, fields_enc, updated_at, import_id)
                 VALUES {}
                 ON CONFLICT (tenant_id, org_id, addressee_idx, item, valid_from) DO UPDATE
                 SET id = excluded.id, fields_enc = excluded.fields_enc, updated_at = excluded.updated_at, import_id = excluded.import_id
                 WHERE provision_copies.import_id IS DISTINCT FROM excluded.import_id",
                crate::db::value_rows(1, n, 9)
            )
        });
        let written = inserted_ids(self.tx, sql, &values, lines.iter().map(|c| &c.1))?;
        Ok(Written::of(
            lines.into_iter().map(|(line, id)| (line, if written.contains(&id) { Loaded::Stored } else { Loaded::Duplicate })).collect(),
        ))
    }

    /// SQLite: writes the staged copies in natural-key order, the first line of each key only;
    /// later lines with the same key are reported as duplicates.
    pub(super) fn write_staged(&mut self, others: &mut dyn FnMut(LineResult)) -> Result<u64> {
        let staged = std::mem::take(&mut self.staged);
        // The statement reads the stage through SQLite's sorter (bounded in memory, it spills to
        // temporary files), whole rows at a time: through an index, each row was a random seek
        // into the stage. The sorter may use as much memory as the page cache, and rows written in
        // key order need little cache, so the load's large cache is let go first.
        self.tx.execute(&format!("PRAGMA cache_size = -{BULK_SORT_CACHE_KIB}"), args![])?;
        // The sorter may merge on helper threads: nothing else of the load runs meanwhile.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        self.tx.query(&format!("PRAGMA threads = {cores}"), args![])?;
        // In (key, line) order the first line of a key writes it; a later line with the same key
        // finds this load's row and leaves it, uncounted: a duplicate. No id is stored: the row's
        // id is its natural key (`copy_id`). `WHERE true` before `ON CONFLICT` is what SQLite's
        // grammar needs for an upsert from a SELECT.
        let written = self.tx.execute(
            "INSERT INTO provision_copies (tenant_id, org_id, id, addressee_idx, item, valid_from, fields_enc, updated_at, import_id)
             SELECT ?1, ?2, NULL, s.addressee_idx, s.item, s.valid_from, s.fields_enc, ?3, ?4 FROM temp.bulk_copies s
             WHERE true ORDER BY s.addressee_idx, s.item, s.valid_from, s.line
             ON CONFLICT (tenant_id, org_id, addressee_idx, item, valid_from) DO UPDATE
             SET id = excluded.id, fields_enc = excluded.fields_enc, updated_at = excluded.updated_at, import_id = excluded.import_id
             WHERE provision_copies.import_id IS DISTINCT FROM excluded.import_id",
            args![self.tenant, self.org.as_str(), now_unix(), self.import_id],
        );
        // The helper threads are let go whether or not the write succeeded: the connection
        // outlives this load.
        let reset = self.tx.query("PRAGMA threads = 0", args![]);
        let written = written?;
        reset?;
        // Only a load with duplicates pays for finding their lines (a second pass over the stage).
        let duplicates = if written < staged { self.report_staged_duplicates(others)? } else { 0 };
        self.tx.execute("DROP TABLE temp.bulk_copies", args![])?;
        // Every staged line is either written or a duplicate; anything else is a bug, and the
        // load is refused rather than committed.
        if written + duplicates != staged {
            return Err(StoreError::Task(format!("a bulk load staged {staged} lines but accounted for {}", written + duplicates)));
        }
        Ok(written)
    }

    /// SQLite: hands on the staged lines whose key an earlier line of the load has, in line order,
    /// and returns how many there are. They go to a table of their own and are handed on a page
    /// at a time, so a file of nothing but repeated lines does not end up in memory.
    pub(super) fn report_staged_duplicates(&mut self, others: &mut dyn FnMut(LineResult)) -> Result<u64> {
        self.tx.execute("DROP TABLE IF EXISTS temp.bulk_duplicates", args![])?;
        self.tx.execute("CREATE TEMP TABLE bulk_duplicates (line INTEGER PRIMARY KEY)", args![])?;
        let duplicates = self.tx.execute(
            "INSERT INTO temp.bulk_duplicates (line) SELECT line FROM (SELECT line,
                row_number() OVER (PARTITION BY addressee_idx, item, valid_from ORDER BY line) AS nth FROM temp.bulk_copies)
             WHERE nth > 1",
            args![],
        )?;
        let mut after = 0i64;
        loop {
            let page = self
                .tx
                .query("SELECT line FROM temp.bulk_duplicates WHERE line > ?1 ORDER BY line LIMIT ?2", args![after, DUPLICATES_PAGE])?;
            let Some(last) = page.last() else { break };
            after = last.get(0)?;
            for r in &page {
                others((r.get::<i64>(0)? as u64, Loaded::Duplicate));
            }
        }
        self.tx.execute("DROP TABLE temp.bulk_duplicates", args![])?;
        Ok(duplicates)
    }
}

impl TenantStore {
    /// Prepares `org`'s provision copy lines for a bulk load, on any thread.
    pub fn copy_preparer(&self, org: &OrgId) -> CopyPreparer {
        CopyPreparer { org: org.clone(), dk: self.dk.clone() }
    }

    /// Runs a bulk load for `org` in one transaction; `f` decides whether it is kept.
    pub async fn bulk<T, F>(&self, org: &OrgId, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Bulk<'_>) -> Result<(T, Finish)> + Send + 'static,
    {
        let (tenant, org, dk) = (self.tenant.to_string(), org.clone(), self.dk.clone());
        let scope = Scope::Tenant(tenant.clone());
        self.db
            .tx_then(scope, move |tx| {
                // A persons load writes index entries in random (blind-index) order: on SQLite a
                // bigger page cache for its duration keeps the indexes' pages from being spilled
                // and re-read. (Copies are written in key order; see `Bulk`.)
                let sqlite = tx.backend() == Backend::Sqlite;
                crate::db::plan_for_growing_tables(tx)?;
                if sqlite {
                    tx.execute(&format!("PRAGMA cache_size = -{}", BULK_CACHE_KIB), args![])?;
                }
                let out = f(&mut Bulk {
                    tx: &mut *tx,
                    tenant,
                    org,
                    dk,
                    // Only ever compared with the ids of earlier loads: 64 random bits, written on
                    // every row, in less than half a UUID's bytes.
                    import_id: format!("{:016x}", rand::random::<u64>()),
                    copies: Vec::new(),
                    copy_ids: std::collections::HashSet::new(),
                    copy_sql: HashMap::new(),
                    staged: 0,
                });
                if sqlite {
                    tx.execute("PRAGMA cache_size = -2000", args![])?;
                }
                out
            })
            .await
    }
}
