//! Bulk loading (一括登録): the two CSV layouts client systems send, and the rules each line must
//! pass. Reading files, batching and writing live in `server::import`; this module only decides
//! what a header or a line means, so every rule can be unit-tested. Layouts: `docs/csv-layouts.md`.
//!
//! Messages name the column and the rule, never the value: a report may be read by people who
//! must not see the personal data it is about.

use crate::date::{Date, DateError};
use crate::ids::{AddresseeNo, ItemCode};
use crate::number::IndividualNumber;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// Longest accepted physical line, in bytes (line end included).
pub const MAX_LINE_BYTES: usize = 65_536;
/// Most field columns a copies file may have.
pub const MAX_FIELDS: usize = 64;
/// The header of a persons file, in this order.
pub const PERSONS_HEADER: [&str; 2] = ["addressee_no", "individual_number"];
/// The first columns of a copies file, in this order; every further column is a field.
pub const COPIES_KEY_COLUMNS: [&str; 3] = ["addressee_no", "item", "valid_from"];

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// 宛名番号 and 個人番号: register persons and acquire their codes (符号取得).
    Persons,
    /// 副本: one version of one item of one person per line.
    Copies,
}

impl FileKind {
    pub fn name(self) -> &'static str {
        match self {
            FileKind::Persons => "persons",
            FileKind::Copies => "copies",
        }
    }
}

/// The character encoding of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8, with or without a byte-order mark.
    Utf8,
    /// CP932 (Windows-31J, the Shift_JIS of Japanese Windows and most municipal systems).
    Cp932,
}

impl Encoding {
    /// `utf-8`/`utf8`, `cp932`/`shift_jis`/`sjis`/`windows-31j` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "utf-8" | "utf8" => Some(Encoding::Utf8),
            "cp932" | "shift-jis" | "sjis" | "windows-31j" | "ms932" => Some(Encoding::Cp932),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Cp932 => "CP932",
        }
    }

    /// Decodes one cell. CP932 is safe to split at byte level first: its second bytes never
    /// take the values of `,`, `"`, CR or LF.
    pub fn decode<'a>(self, bytes: &'a [u8]) -> Result<Cow<'a, str>, String> {
        match self {
            Encoding::Utf8 => std::str::from_utf8(bytes)
                .map(Cow::Borrowed)
                .map_err(|_| "not valid UTF-8 (if the file is Shift_JIS, use --encoding cp932)".to_owned()),
            Encoding::Cp932 => encoding_rs::SHIFT_JIS
                .decode_without_bom_handling_and_without_replacement(bytes)
                .ok_or_else(|| "not valid CP932 (if the file is UTF-8, use --encoding utf-8)".to_owned()),
        }
    }
}

/// The byte-order mark that tells Excel a CSV file is UTF-8.
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Tells the encoding from the start of a file. `whole` says `prefix` is the entire file (so a
/// multi-byte character cut at its end is an error, not the edge of the sample).
pub fn detect(prefix: &[u8], whole: bool) -> Result<Encoding, String> {
    if prefix.starts_with(UTF8_BOM) {
        return Ok(Encoding::Utf8);
    }
    match std::str::from_utf8(prefix) {
        Ok(_) => return Ok(Encoding::Utf8),
        // Only the last character is incomplete: the sample was cut inside it.
        Err(e) if e.error_len().is_none() && !whole => return Ok(Encoding::Utf8),
        Err(_) => {}
    }
    let (_, _, had_errors) = encoding_rs::SHIFT_JIS.decode(trim_partial_sjis(prefix, whole));
    if had_errors { Err("the file is neither UTF-8 nor CP932; give --encoding or convert it".into()) } else { Ok(Encoding::Cp932) }
}

/// Drops a trailing lead byte that the sample boundary separated from its second byte.
fn trim_partial_sjis(prefix: &[u8], whole: bool) -> &[u8] {
    if whole {
        return prefix;
    }
    let mut i = 0;
    while i < prefix.len() {
        let b = prefix[i];
        let lead = (0x81..=0x9F).contains(&b) || (0xE0..=0xFC).contains(&b);
        if lead && i + 1 == prefix.len() {
            return &prefix[..i];
        }
        i += if lead { 2 } else { 1 };
    }
    prefix
}

/// Strips a UTF-8 byte-order mark from the first cell of a file.
pub fn strip_bom(cell: &[u8]) -> &[u8] {
    cell.strip_prefix(UTF8_BOM).unwrap_or(cell)
}

/// Why one line is refused. `column` is 1-based with its header name; `None` for the whole line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub column: Option<(usize, String)>,
    pub reason: String,
}

impl LineError {
    pub fn line(reason: impl Into<String>) -> Self {
        Self { column: None, reason: reason.into() }
    }
    pub fn at(column: usize, name: &str, reason: impl Into<String>) -> Self {
        Self { column: Some((column + 1, name.to_owned())), reason: reason.into() }
    }
}

/// The columns of a file, read from its header line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub kind: FileKind,
    /// Every column name, in order.
    pub columns: Vec<String>,
}

impl Layout {
    /// Checks a header line (cells already decoded and trimmed).
    pub fn from_header(kind: FileKind, header: &[String]) -> Result<Self, String> {
        let columns: Vec<String> = header.iter().map(|c| c.trim().to_owned()).collect();
        match kind {
            FileKind::Persons => {
                if columns != PERSONS_HEADER {
                    return Err(format!("the header must be `{}`", PERSONS_HEADER.join(",")));
                }
            }
            FileKind::Copies => {
                if columns.len() < 4 || columns[..3] != COPIES_KEY_COLUMNS {
                    return Err(format!("the header must start with `{}` and name at least one field", COPIES_KEY_COLUMNS.join(",")));
                }
                if columns.len() - 3 > MAX_FIELDS {
                    return Err(format!("at most {MAX_FIELDS} field columns"));
                }
                for (i, name) in columns.iter().enumerate().skip(3) {
                    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
                        return Err(format!("column {}: a field name is 1–64 printable characters", i + 1));
                    }
                    if columns[..i].contains(name) {
                        return Err(format!("column {}: `{name}` appears twice", i + 1));
                    }
                }
            }
        }
        Ok(Self { kind, columns })
    }

    fn check_width<S: AsRef<str>>(&self, cells: &[S]) -> Result<(), LineError> {
        let (want, got) = (self.columns.len(), cells.len());
        match got.cmp(&want) {
            std::cmp::Ordering::Less => Err(LineError::line(format!("{got} columns, the header has {want}: a column is missing"))),
            std::cmp::Ordering::Greater => Err(LineError::line(format!("{got} columns, the header has {want}: an extra column"))),
            std::cmp::Ordering::Equal => Ok(()),
        }
    }

    /// One line of a persons file.
    pub fn person<S: AsRef<str>>(&self, cells: &[S]) -> Result<PersonLine, LineError> {
        self.check_width(cells)?;
        let addressee = business_addressee(cells[0].as_ref()).map_err(|e| LineError::at(0, &self.columns[0], e))?;
        let number = IndividualNumber::parse(cells[1].as_ref()).map_err(|e| LineError::at(1, &self.columns[1], e.to_string()))?;
        Ok(PersonLine { addressee, number })
    }

    /// One line of a copies file; `knows_item` is 別表第二's list of items.
    /// Cells may borrow from the line (`&str`, `Cow`) or own their text.
    pub fn copy<S: AsRef<str>>(&self, cells: &[S], knows_item: impl Fn(&ItemCode) -> bool) -> Result<CopyLine, LineError> {
        self.check_width(cells)?;
        let col = |i: usize, reason: String| LineError::at(i, &self.columns[i], reason);
        let addressee = business_addressee(cells[0].as_ref()).map_err(|e| col(0, e))?;
        let item = ItemCode::parse(cells[1].as_ref().trim()).map_err(|e| col(1, e.to_string()))?;
        if !knows_item(&item) {
            return Err(col(1, format!("item {item} is not in 別表第二")));
        }
        let valid_from = Date::parse_csv(cells[2].as_ref().trim()).map_err(|e| match e {
            DateError::Year => col(2, e.to_string()),
            _ => col(2, "not a date (YYYY-MM-DD or YYYY/MM/DD)".into()),
        })?;
        let mut fields = Map::new();
        for (i, cell) in cells.iter().enumerate().skip(3) {
            let cell = cell.as_ref();
            if !cell.is_empty() {
                fields.insert(self.columns[i].clone(), Value::String(cell.to_owned()));
            }
        }
        match crate::copy::check_fields(&fields) {
            Ok(()) => Ok(CopyLine { addressee, item, valid_from, fields }),
            Err(crate::copy::FieldsError::Empty) => Err(LineError::line("every field is empty")),
            Err(e) => Err(LineError::line(e.to_string())),
        }
    }
}

/// A person's addressee number in a file: never the SLA monitor's probe person's.
fn business_addressee(cell: &str) -> Result<AddresseeNo, String> {
    match AddresseeNo::parse(cell.trim()) {
        Ok(a) if a.is_probe() => Err("reserved for the platform's SLA monitor".into()),
        r => r.map_err(|e| e.to_string()),
    }
}

/// A valid line of a persons file.
#[derive(Debug)]
pub struct PersonLine {
    pub addressee: AddresseeNo,
    pub number: IndividualNumber,
}

/// A valid line of a copies file.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyLine {
    pub addressee: AddresseeNo,
    pub item: ItemCode,
    pub valid_from: Date,
    pub fields: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(s: &[&str]) -> Vec<String> {
        s.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn dates_are_read_in_both_documented_forms_and_impossible_ones_refused() {
        let d = |y, m, d| Date::from_ymd(y, m, d).ok();
        let parse_date = |s| Date::parse_csv(s).ok();
        assert_eq!(parse_date("2026-04-01"), d(2026, 4, 1));
        assert_eq!(parse_date("2026/12/31"), d(2026, 12, 31));
        assert_eq!(parse_date("2026/4/1"), d(2026, 4, 1));
        for bad in ["2026-02-30", "2026-13-01", "2026-04/01", "2026-0a-01", "2026-04-01 ", "", "20260401", "+10000-01-01", "10000/01/01"] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn utf8_with_bom_utf8_without_and_cp932_are_told_apart() {
        assert_eq!(detect(b"\xEF\xBB\xBFaddressee_no", true), Ok(Encoding::Utf8));
        assert_eq!(detect("宛名".as_bytes(), true), Ok(Encoding::Utf8));
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("住民税,髙橋");
        assert_eq!(detect(&sjis, true), Ok(Encoding::Cp932));
        assert!(detect(b"a,\x81\x20,\x81", true).is_err());
    }

    #[test]
    fn a_sample_cut_inside_a_character_still_detects() {
        let utf8 = "住民".as_bytes();
        assert_eq!(detect(&utf8[..utf8.len() - 1], false), Ok(Encoding::Utf8));
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("住民");
        assert_eq!(detect(&sjis[..sjis.len() - 1], false), Ok(Encoding::Cp932));
    }

    #[test]
    fn cells_in_the_wrong_encoding_are_refused() {
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("髙橋");
        assert!(Encoding::Utf8.decode(&sjis).is_err());
        assert_eq!(Encoding::Cp932.decode(&sjis).unwrap(), "髙橋");
        assert!(Encoding::Cp932.decode(b"\x81").is_err());
    }

    #[test]
    fn encoding_names_parse() {
        assert_eq!(Encoding::parse("Shift_JIS"), Some(Encoding::Cp932));
        assert_eq!(Encoding::parse("utf8"), Some(Encoding::Utf8));
        assert_eq!(Encoding::parse("latin1"), None);
    }

    #[test]
    fn headers_are_checked() {
        assert!(Layout::from_header(FileKind::Persons, &cells(&["addressee_no", "individual_number"])).is_ok());
        assert!(Layout::from_header(FileKind::Persons, &cells(&["individual_number", "addressee_no"])).is_err());
        assert!(Layout::from_header(FileKind::Copies, &cells(&["addressee_no", "item", "valid_from"])).is_err());
        assert!(Layout::from_header(FileKind::Copies, &cells(&["addressee_no", "item", "valid_from", "a", "a"])).is_err());
        assert!(Layout::from_header(FileKind::Copies, &cells(&["addressee_no", "item", "valid_from", ""])).is_err());
        let l = Layout::from_header(FileKind::Copies, &cells(&["addressee_no", "item", "valid_from", "課税額"])).unwrap();
        assert_eq!(l.columns.len(), 4);
    }

    #[test]
    fn person_lines_name_the_bad_column_without_its_value() {
        let l = Layout::from_header(FileKind::Persons, &cells(&PERSONS_HEADER)).unwrap();
        assert!(l.person(&cells(&["A0001", "123456789018"])).is_ok());
        let e = l.person(&cells(&["A0001", "123456789010"])).unwrap_err();
        assert_eq!(e.column, Some((2, "individual_number".into())));
        assert!(e.reason.contains("check digit"));
        assert!(!e.reason.contains("123456789010"));
        let e = l.person(&cells(&["A 0001", "123456789018"])).unwrap_err();
        assert_eq!(e.column, Some((1, "addressee_no".into())));
        assert!(l.person(&cells(&["A0001"])).unwrap_err().reason.contains("missing"));
        assert!(l.person(&cells(&["A0001", "123456789018", "x"])).unwrap_err().reason.contains("extra"));
        let e = l.person(&cells(&[AddresseeNo::PROBE, "123456789018"])).unwrap_err();
        assert!(e.column == Some((1, "addressee_no".into())) && e.reason.contains("SLA monitor"), "the probe person's number is reserved");
    }

    #[test]
    fn copy_lines_check_item_date_and_fields() {
        let l = Layout::from_header(FileKind::Copies, &cells(&["addressee_no", "item", "valid_from", "amount", "note"])).unwrap();
        let known = |i: &ItemCode| i.as_str() == "TAX";
        let ok = l.copy(&cells(&["A1", "TAX", "2026/04/01", "12000", ""]), known).unwrap();
        assert_eq!(ok.valid_from, Date::from_ymd(2026, 4, 1).unwrap());
        assert_eq!(ok.fields.len(), 1, "empty cells are left out");
        let e = l.copy(&cells(&["A1", "PENSION", "2026-04-01", "1", ""]), known).unwrap_err();
        assert_eq!(e.column, Some((2, "item".into())));
        let e = l.copy(&cells(&["A1", "TAX", "2026-13-01", "1", ""]), known).unwrap_err();
        assert_eq!(e.column, Some((3, "valid_from".into())));
        assert!(l.copy(&cells(&["A1", "TAX", "2026-04-01", "", ""]), known).is_err());
        assert!(l.copy(&cells(&[AddresseeNo::PROBE, "TAX", "2026-04-01", "1", ""]), known).is_err(), "the probe's number is reserved");
    }

    /// A line short enough to read can still hold more than any answer may carry: it is refused
    /// by the copy's limit, as `POST /api/v1/copies` refuses it, naming the limit only.
    #[test]
    fn a_copy_line_beyond_the_answer_limits_is_refused() {
        let l = Layout::from_header(FileKind::Copies, &cells(&["addressee_no", "item", "valid_from", "a", "b"])).unwrap();
        let known = |i: &ItemCode| i.as_str() == "TAX";
        let half = "y".repeat(crate::copy::MAX_FIELDS_BYTES / 2);
        let e = l.copy(&cells(&["A1", "TAX", "2026-04-01", &half, &half]), known).unwrap_err();
        assert!(e.reason.contains("bytes as JSON") && !e.reason.contains("yyyy"), "{}", e.reason);
        let fits = "y".repeat(crate::copy::MAX_FIELDS_BYTES / 2 - 20);
        assert!(l.copy(&cells(&["A1", "TAX", "2026-04-01", &fits, &fits]), known).is_ok());
    }
}
