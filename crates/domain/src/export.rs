//! A whole tenant's data as files a clerk can open (no lock-in): one CSV file per table, in the
//! layout of docs/export-layout.md, and a manifest naming each file's SHA-256 and row count.
//!
//! The layout is a contract: a column is added at the end of its file and the format's version
//! goes up; nothing here depends on a data key, so the same data exported by two platforms gives
//! the same bytes. Rows hold values only, in text: numbers in decimal, dates as `YYYY-MM-DD`,
//! JSON as stored, absent values as empty cells.

use serde::{Deserialize, Serialize};

/// The manifest's `format`.
pub const FORMAT: &str = "renkei-tenant-export";
/// The layout's version; docs/export-layout.md describes each.
pub const VERSION: u32 = 1;
/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";

/// One file of the export: its name and its columns, in order.
#[derive(Debug, PartialEq, Eq)]
pub struct Table {
    pub file: &'static str,
    pub columns: &'static [&'static str],
}

pub const TENANT: Table = Table { file: "tenant.csv", columns: &["tenant", "name", "created_at"] };
pub const ORGS: Table = Table { file: "orgs.csv", columns: &["org", "org_type", "name", "created_at"] };
pub const STAFF: Table = Table { file: "staff.csv", columns: &["name", "org", "role", "duties", "created_at", "disabled_at"] };
pub const SESSION_LIMITS: Table =
    Table { file: "session_limits.csv", columns: &["normal_limit", "raised_limit", "raised_until", "updated_at"] };
pub const PERSONS: Table = Table { file: "persons.csv", columns: &["org", "addressee_no", "code", "created_at"] };
pub const COPIES: Table =
    Table { file: "provision_copies.csv", columns: &["org", "addressee_no", "item", "valid_from", "fields", "fields_mj", "updated_at"] };
pub const QUERIES: Table = Table {
    file: "queries.csv",
    columns: &[
        "org",
        "query_id",
        "request_id",
        "idempotency_key",
        "fingerprint",
        "duty",
        "provider_org",
        "items",
        "addressee_no",
        "request",
        "reference_date",
        "state",
        "attempts",
        "next_attempt_at",
        "deadline_at",
        "error",
        "outcome",
        "answer",
        "created_at",
        "updated_at",
        "filed_by",
        "decided_by",
        "in_house",
    ],
};
pub const QUERY_STATES: Table = Table { file: "query_states.csv", columns: &["query_id", "seq", "state", "at"] };
pub const PROVIDED_ANSWERS: Table =
    Table { file: "provided_answers.csv", columns: &["org", "request_id", "envelope", "outcome", "created_at"] };
pub const RECORDS: Table = Table {
    file: "linkage_records.csv",
    columns: &["org", "seq", "role", "request_id", "counterpart_org", "duty", "items", "outcome", "at", "in_house"],
};
pub const RECORD_PURGES: Table =
    Table { file: "record_purges.csv", columns: &["purged_at", "through_seq", "count", "first_at", "last_at"] };
pub const MARKS: Table = Table { file: "item_marks.csv", columns: &["org", "addressee_no", "item", "version", "mark", "set_by", "set_at"] };
pub const REVIEWS: Table =
    Table { file: "manual_reviews.csv", columns: &["org", "request_id", "forwarded", "received_at", "decided_by", "decided_at"] };
pub const APPROVAL_POLICIES: Table = Table { file: "approval_policies.csv", columns: &["org", "duty", "window_minutes", "updated_at"] };
pub const IN_HOUSE_USES: Table = Table { file: "in_house_uses.csv", columns: &["table_csv", "updated_by", "updated_at"] };
pub const GAIJI: Table = Table { file: "gaiji.csv", columns: &["code_point", "mj_name", "fallback"] };
pub const AUDIT_LOG: Table =
    Table { file: "audit_log.csv", columns: &["chain_seq", "actor", "role", "action", "target", "detail", "at", "hash"] };
pub const AUDIT_CHECKPOINTS: Table = Table { file: "audit_checkpoints.csv", columns: &["size", "note", "at", "verifier_key"] };

/// Every file of an export, in the manifest's order.
pub const TABLES: [&Table; 18] = [
    &TENANT,
    &ORGS,
    &STAFF,
    &SESSION_LIMITS,
    &PERSONS,
    &COPIES,
    &QUERIES,
    &QUERY_STATES,
    &PROVIDED_ANSWERS,
    &RECORDS,
    &RECORD_PURGES,
    &MARKS,
    &REVIEWS,
    &APPROVAL_POLICIES,
    &IN_HOUSE_USES,
    &GAIJI,
    &AUDIT_LOG,
    &AUDIT_CHECKPOINTS,
];

/// The character set of the files: UTF-8 (with a byte-order mark, which Excel needs to read it
/// as UTF-8), or Shift_JIS as Windows writes it (CP932) for older tools. CP932 cannot hold every
/// character (外字, and kanji outside JIS X 0208 such as 𠮷): each one is written as 〓 (the 下駄
/// mark clerks know) and counted, so a CP932 export is for reading; only UTF-8 is imported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Encoding {
    #[serde(rename = "utf-8")]
    Utf8,
    #[serde(rename = "cp932")]
    Cp932,
}

impl std::str::FromStr for Encoding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Ok(Encoding::Utf8),
            "cp932" | "shift_jis" | "sjis" => Ok(Encoding::Cp932),
            _ => Err("the encoding is utf-8 or cp932".into()),
        }
    }
}

/// Stands for a character CP932 cannot hold.
pub const GETA: char = '〓';

/// One table as the bytes of its file, and how many characters CP932 could not hold.
pub fn encode(table: &Table, rows: &[Vec<String>], encoding: Encoding) -> Result<(Vec<u8>, u64), ExportError> {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    let csv_error = |e: csv::Error| ExportError::Write(e.to_string());
    w.write_record(table.columns).map_err(csv_error)?;
    for row in rows {
        if row.len() != table.columns.len() {
            return Err(ExportError::Width { file: table.file, want: table.columns.len(), got: row.len() });
        }
        w.write_record(row).map_err(csv_error)?;
    }
    let text =
        String::from_utf8(w.into_inner().map_err(|e| ExportError::Write(e.to_string()))?).map_err(|e| ExportError::Write(e.to_string()))?;
    Ok(match encoding {
        Encoding::Utf8 => {
            let mut out = Vec::with_capacity(text.len() + 3);
            out.extend_from_slice(b"\xEF\xBB\xBF");
            out.extend_from_slice(text.as_bytes());
            (out, 0)
        }
        Encoding::Cp932 => {
            let mut out = Vec::with_capacity(text.len());
            let mut replaced = 0u64;
            let mut buf = [0u8; 4];
            for c in text.chars() {
                let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(c.encode_utf8(&mut buf));
                if unmappable {
                    replaced += 1;
                    out.extend_from_slice(&encoding_rs::SHIFT_JIS.encode(&GETA.to_string()).0);
                } else {
                    out.extend_from_slice(&bytes);
                }
            }
            (out, replaced)
        }
    })
}

/// Reads a UTF-8 file of `table` written by [`encode`]: its rows, each checked for width.
pub fn decode(table: &Table, bytes: &[u8]) -> Result<Vec<Vec<String>>, ExportError> {
    let bad = |why: String| ExportError::Read { file: table.file, why };
    let text = std::str::from_utf8(bytes).map_err(|_| bad("not UTF-8 (only UTF-8 exports are imported)".into()))?;
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let mut r = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
    let header: Vec<String> = r.headers().map_err(|e| bad(e.to_string()))?.iter().map(str::to_owned).collect();
    if header != table.columns {
        return Err(bad(format!("the header is not {}", table.columns.join(","))));
    }
    r.records()
        .map(|rec| {
            let rec = rec.map_err(|e| bad(e.to_string()))?;
            Ok(rec.iter().map(str::to_owned).collect())
        })
        .collect()
}

/// Why an export could not be written or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    #[error("{file}: a row has {got} cells, the layout {want}")]
    Width { file: &'static str, want: usize, got: usize },
    #[error("{0}")]
    Write(String),
    #[error("{file}: {why}")]
    Read { file: &'static str, why: String },
}

/// `manifest.json`: what the export holds and how to check it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub tenant: String,
    /// When the export was written (RFC 3339).
    pub exported_at: String,
    pub encoding: Encoding,
    pub files: Vec<FileEntry>,
    /// Characters CP932 could not hold, written as 〓 (0 in UTF-8).
    pub replaced_characters: u64,
    /// Provision copies of no registered person: the platform keeps their 宛名番号 only as a
    /// keyed index, so their `addressee_no` is empty and they cannot be imported.
    pub unregistered_copies: u64,
    /// The exporting platform's audit key (`renkei-audit+…`), which signed this manifest.
    pub verifier_key: String,
    /// A signed note over [`Manifest::signed_text`], by `verifier_key`.
    pub signature: String,
}

/// One file of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub name: String,
    /// Lower-case hex.
    pub sha256: String,
    pub rows: u64,
    pub bytes: u64,
}

impl Manifest {
    /// What the signature covers: every field but the signature, one per line, each file as
    /// `name sha256 rows bytes`.
    pub fn signed_text(&self) -> String {
        let mut t = format!(
            "{} {}\ntenant {}\nexported_at {}\nencoding {}\nreplaced {}\nunregistered {}\nverifier {}\n",
            self.format,
            self.version,
            self.tenant,
            self.exported_at,
            match self.encoding {
                Encoding::Utf8 => "utf-8",
                Encoding::Cp932 => "cp932",
            },
            self.replaced_characters,
            self.unregistered_copies,
            self.verifier_key
        );
        for f in &self.files {
            t.push_str(&format!("file {} {} {} {}\n", f.name, f.sha256, f.rows, f.bytes));
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(r: &[&[&str]]) -> Vec<Vec<String>> {
        r.iter().map(|row| row.iter().map(|c| (*c).to_owned()).collect()).collect()
    }

    #[test]
    fn a_table_is_written_with_a_bom_and_crlf_and_read_back_the_same() {
        let data = rows(&[&["org-a", "A1", "12345", "1700000000"], &["org-a", "A2", "x,\"y\"\nz", ""]]);
        let (bytes, replaced) = encode(&PERSONS, &data, Encoding::Utf8).unwrap();
        assert_eq!(replaced, 0);
        assert!(bytes.starts_with(b"\xEF\xBB\xBForg,addressee_no,code,created_at\r\n"));
        assert_eq!(decode(&PERSONS, &bytes).unwrap(), data);
    }

    #[test]
    fn cp932_writes_geta_for_what_it_cannot_hold_and_counts_it() {
        let data = rows(&[&["org-a", "A1", "髙橋\u{E000}𠮷", "1"]]);
        let (bytes, replaced) = encode(&PERSONS, &data, Encoding::Cp932).unwrap();
        assert_eq!(replaced, 2);
        let (text, _, bad) = encoding_rs::SHIFT_JIS.decode(&bytes);
        assert!(!bad);
        assert!(text.contains("髙橋〓〓"), "{text}");
    }

    #[test]
    fn a_file_with_another_header_or_a_short_row_is_refused() {
        let (bytes, _) = encode(&ORGS, &rows(&[&["o", "t", "n", "1"]]), Encoding::Utf8).unwrap();
        assert!(matches!(decode(&PERSONS, &bytes), Err(ExportError::Read { .. })));
        assert!(matches!(encode(&ORGS, &rows(&[&["o"]]), Encoding::Utf8), Err(ExportError::Width { .. })));
        let (cp, _) = encode(&ORGS, &rows(&[&["o", "t", "名前", "1"]]), Encoding::Cp932).unwrap();
        assert!(decode(&ORGS, &cp).unwrap_err().to_string().contains("not UTF-8"));
    }

    #[test]
    fn every_file_name_is_distinct_and_every_column_named_once() {
        let mut names: Vec<_> = TABLES.iter().map(|t| t.file).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TABLES.len());
        for t in TABLES {
            let mut cols = t.columns.to_vec();
            cols.sort_unstable();
            cols.dedup();
            assert_eq!(cols.len(), t.columns.len(), "{}", t.file);
        }
    }
}
