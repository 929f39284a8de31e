//! A tenant's tables as the rows of its export (`domain::export`): every value opened with the
//! tenant's data key, blind indexes replaced by the 宛名番号 they stand for, row ids that only
//! bind a ciphertext left out. Read in one transaction, so the files agree with each other.
//!
//! Rows come out in an order that no data key decides (persons, copies and marks are sorted by
//! their values once opened), so the same data exported by two platforms gives the same bytes.

use super::gaiji::gaiji_table;
use super::*;
use crate::db::Value as Cell;
use renkei_domain::export::{self, Table};
use renkei_domain::gaiji::{GaijiTable, annotate};

/// One table of an export: its layout and its rows.
pub struct ExportedRows {
    pub table: &'static Table,
    pub rows: Vec<Vec<String>>,
}

/// The rows of `table` among `tables` (none if it is not there).
pub fn rows_of<'a>(tables: &'a [ExportedRows], table: &Table) -> &'a [Vec<String>] {
    tables.iter().find(|e| e.table == table).map_or(&[][..], |e| &e.rows[..])
}

/// What a tenant store exports, and the copies whose 宛名番号 it could not name.
pub struct TenantExport {
    pub tables: Vec<ExportedRows>,
    pub unregistered_copies: u64,
}

/// A value as a cell: decimal, text as it is, nothing for NULL.
pub(crate) fn cell(v: &Cell) -> Result<String> {
    match v {
        Cell::Null => Ok(String::new()),
        Cell::Int(n) => Ok(n.to_string()),
        Cell::Text(s) => Ok(s.clone()),
        Cell::Blob(_) => Err(corrupt("bytes where text was expected")),
    }
}

/// Column `i` of `row` as a cell.
fn text(row: &Row, i: usize) -> Result<String> {
    cell(row.0.get(i).ok_or_else(|| corrupt(format!("no column {i}")))?)
}

/// The first `n` columns as cells.
fn cells(row: &Row, n: usize) -> Result<Vec<String>> {
    (0..n).map(|i| text(row, i)).collect()
}

/// Each table's statement; `?1` is the tenant. The blind-index and ciphertext columns come last.
/// The SLA monitor's probe person and its queries are the platform's, not the tenant's: left out.
const PERSONS_SQL: &str =
    "SELECT org_id, created_at, id, addressee_idx, addressee_enc, code_enc FROM persons WHERE tenant_id = ?1 AND probe = 0";
const COPIES_SQL: &str =
    "SELECT org_id, item, valid_from, updated_at, id, addressee_idx, fields_enc FROM provision_copies WHERE tenant_id = ?1 AND probe = 0";
const QUERIES_SQL: &str = "SELECT org_id, id, request_id, idempotency_key, fingerprint, duty, provider_org, items, reference_date, state,
    attempts, next_attempt_at, deadline_at, error, outcome, created_at, updated_at, filed_by, decided_by, in_house,
    addressee_idx, request_enc, answer_enc FROM queries WHERE tenant_id = ?1 AND probe = 0 ORDER BY id";
const QUERY_STATES_SQL: &str = "SELECT query_id, seq, state, at FROM query_states WHERE tenant_id = ?1
    AND query_id NOT IN (SELECT id FROM queries WHERE tenant_id = ?1 AND probe = 1) ORDER BY query_id, seq";
const ANSWERS_SQL: &str = "SELECT org_id, request_id, envelope, outcome, created_at FROM provided_answers WHERE tenant_id = ?1
    AND request_id NOT IN (SELECT request_id FROM queries WHERE tenant_id = ?1 AND probe = 1) ORDER BY request_id, org_id";
const RECORDS_SQL: &str = "SELECT org_id, seq, role, request_id, counterpart_org, duty, items, outcome, at, in_house
    FROM linkage_records WHERE tenant_id = ?1
    AND request_id NOT IN (SELECT request_id FROM queries WHERE tenant_id = ?1 AND probe = 1) ORDER BY seq";
const PURGES_SQL: &str =
    "SELECT purged_at, through_seq, count, first_at, last_at FROM record_purges WHERE tenant_id = ?1 ORDER BY through_seq";
const MARKS_SQL: &str = "SELECT org_id, item, version, set_by, set_at, id, addressee_idx, mark_enc FROM item_marks WHERE tenant_id = ?1";
const REVIEWS_SQL: &str = "SELECT org_id, request_id, received_at, decided_by, decided_at, forwarded_enc
    FROM manual_reviews WHERE tenant_id = ?1 ORDER BY request_id, org_id";
const POLICIES_SQL: &str =
    "SELECT org_id, duty, window_minutes, updated_at FROM approval_policies WHERE tenant_id = ?1 ORDER BY org_id, duty";
const IN_HOUSE_SQL: &str = "SELECT csv, updated_by, updated_at FROM in_house_uses WHERE tenant_id = ?1";
const GAIJI_SQL: &str = "SELECT code_point, mj_name, fallback FROM gaiji WHERE tenant_id = ?1 ORDER BY code_point";

const STATEMENTS: [&str; 12] = [
    PERSONS_SQL,
    COPIES_SQL,
    QUERIES_SQL,
    QUERY_STATES_SQL,
    ANSWERS_SQL,
    RECORDS_SQL,
    PURGES_SQL,
    MARKS_SQL,
    REVIEWS_SQL,
    POLICIES_SQL,
    IN_HOUSE_SQL,
    GAIJI_SQL,
];

impl TenantStore {
    /// Every table of the tenant, opened, as the rows of its export file.
    pub async fn export(&self) -> Result<TenantExport> {
        let tenant = self.tenant.to_string();
        let mut raw =
            self.read(move |tx| STATEMENTS.iter().map(|sql| tx.query(sql, args![tenant])).collect::<Result<Vec<_>>>()).await?.into_iter();
        let mut next = || raw.next().ok_or_else(|| corrupt("a table was not read"));
        let (persons, copies, queries, states, answers, records, purges, marks, reviews, policies, in_house, gaiji) =
            (next()?, next()?, next()?, next()?, next()?, next()?, next()?, next()?, next()?, next()?, next()?, next()?);

        let dk = &self.dk;
        let open =
            |table: &str, id: &str, enc: Vec<u8>| -> Result<String> { String::from_utf8(dk.decrypt(table, id, &enc)?).map_err(corrupt) };

        // Persons first: their blind index names the 宛名番号 of every other table's rows.
        let mut addressee_of: HashMap<String, String> = HashMap::with_capacity(persons.len());
        let mut person_rows = Vec::with_capacity(persons.len());
        for r in &persons {
            let (org, created, id) = (text(r, 0)?, text(r, 1)?, text(r, 2)?);
            let addressee = open("persons.addressee", &id, r.get(4)?)?;
            let code = open("persons.code", &id, r.get(5)?)?;
            addressee_of.insert(text(r, 3)?, addressee.clone());
            person_rows.push(vec![org, addressee, code, created]);
        }
        person_rows.sort_unstable();

        let table: GaijiTable = gaiji_table(&gaiji)?;
        let mut unregistered = 0u64;
        let mut copy_rows = Vec::with_capacity(copies.len());
        for r in &copies {
            let (org, item, valid_from, updated) = (text(r, 0)?, text(r, 1)?, text(r, 2)?, text(r, 3)?);
            let a_idx = text(r, 5)?;
            let id = r.get::<Option<String>>(4)?.unwrap_or_else(|| copy_id(&a_idx, &item, &valid_from));
            let fields = open("provision_copies.fields", &id, r.get(6)?)?;
            let addressee = addressee_of.get(&a_idx).cloned().unwrap_or_else(|| {
                unregistered += 1;
                String::new()
            });
            let mj = annotate(&fields, &table);
            let mj = if mj == fields { String::new() } else { mj };
            copy_rows.push(vec![org, addressee, item, valid_from, fields, mj, updated]);
        }
        copy_rows.sort_unstable();

        let mut query_rows = Vec::with_capacity(queries.len());
        for r in &queries {
            let mut row = cells(r, 20)?;
            let id = row[1].clone();
            let addressee = addressee_of.get(&text(r, 20)?).cloned().unwrap_or_default();
            let request = open("queries.request", &id, r.get(21)?)?;
            let answer = r.get::<Option<Vec<u8>>>(22)?.map(|enc| open("queries.answer", &id, enc)).transpose()?.unwrap_or_default();
            // Layout order: …items, addressee_no, request, reference_date…outcome, answer, created_at…
            let tail = row.split_off(8);
            row.extend([addressee, request]);
            let (before_answer, after_answer) = tail.split_at(7);
            row.extend_from_slice(before_answer);
            row.push(answer);
            row.extend_from_slice(after_answer);
            query_rows.push(row);
        }

        let mut mark_rows = Vec::with_capacity(marks.len());
        for r in &marks {
            let (org, item, version, set_by, set_at) = (text(r, 0)?, text(r, 1)?, text(r, 2)?, text(r, 3)?, text(r, 4)?);
            let mark = open("item_marks.mark", &text(r, 5)?, r.get(7)?)?;
            let addressee = addressee_of.get(&text(r, 6)?).cloned().unwrap_or_default();
            mark_rows.push((org, addressee, item, r.get::<i64>(2)?, vec![version, mark, set_by, set_at]));
        }
        mark_rows.sort_unstable();
        let mark_rows = mark_rows.into_iter().map(|(org, addressee, item, _, rest)| [vec![org, addressee, item], rest].concat()).collect();

        let review_rows = reviews
            .iter()
            .map(|r| {
                let (org, request_id) = (text(r, 0)?, text(r, 1)?);
                let forwarded = open("manual_reviews.forwarded", &request_id, r.get(5)?)?;
                Ok(vec![org, request_id, forwarded, text(r, 2)?, text(r, 3)?, text(r, 4)?])
            })
            .collect::<Result<Vec<_>>>()?;

        let gaiji_rows =
            gaiji.iter().map(|r| Ok(vec![format!("U+{:04X}", r.get::<i64>(0)?), text(r, 1)?, text(r, 2)?])).collect::<Result<Vec<_>>>()?;

        let plain = |rows: &[Row], n| rows.iter().map(|r| cells(r, n)).collect::<Result<Vec<_>>>();
        let tables = vec![
            ExportedRows { table: &export::PERSONS, rows: person_rows },
            ExportedRows { table: &export::COPIES, rows: copy_rows },
            ExportedRows { table: &export::QUERIES, rows: query_rows },
            ExportedRows { table: &export::QUERY_STATES, rows: plain(&states, 4)? },
            ExportedRows { table: &export::PROVIDED_ANSWERS, rows: plain(&answers, 5)? },
            ExportedRows { table: &export::RECORDS, rows: plain(&records, 10)? },
            ExportedRows { table: &export::RECORD_PURGES, rows: plain(&purges, 5)? },
            ExportedRows { table: &export::MARKS, rows: mark_rows },
            ExportedRows { table: &export::REVIEWS, rows: review_rows },
            ExportedRows { table: &export::APPROVAL_POLICIES, rows: plain(&policies, 4)? },
            ExportedRows { table: &export::IN_HOUSE_USES, rows: plain(&in_house, 3)? },
            ExportedRows { table: &export::GAIJI, rows: gaiji_rows },
        ];
        Ok(TenantExport { tables, unregistered_copies: unregistered })
    }
}
