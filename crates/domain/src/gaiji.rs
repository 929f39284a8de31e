//! 外字: characters a municipality defined for itself in Unicode's private-use areas, which only
//! its own fonts draw. A tenant's mapping table names each one by its 文字情報基盤 glyph (MJ文字
//! 図形名, e.g. `MJ012345`) and gives a fallback character anyone can read; copies keep the
//! original code point. Layout of the table: docs/gaiji.md.

use std::collections::BTreeMap;

/// Whether `c` is in a private-use area (BMP U+E000–U+F8FF, planes 15 and 16).
pub fn is_gaiji(c: char) -> bool {
    matches!(c as u32, 0xE000..=0xF8FF | 0xF_0000..=0xF_FFFD | 0x10_0000..=0x10_FFFD)
}

/// One mapped 外字.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// The MJ文字図形名: `MJ` and six digits.
    pub mj_name: String,
    /// A character anyone's font draws, standing in for the 外字.
    pub fallback: char,
}

/// A tenant's mapping table: each private-use code point it uses, mapped.
pub type GaijiTable = BTreeMap<char, Mapping>;

/// The most lines a table may have (a municipality defines hundreds, rarely thousands).
pub const MAX_LINES: usize = 100_000;

/// A table's header.
pub const HEADER: [&str; 3] = ["code_point", "mj_name", "fallback"];

/// Why a table was refused: each bad line (1-based, header = 1) and why, or the file as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    #[error("{0}")]
    Unreadable(String),
    #[error("{} bad lines, the first line {}: {}", .0.len(), .0[0].0, .0[0].1)]
    BadLines(Vec<(u64, String)>),
}

/// `U+E000`, `u+e000` or `E000` as a private-use character.
fn code_point(s: &str) -> Result<char, String> {
    let hex = s.trim().trim_start_matches("U+").trim_start_matches("u+");
    let c = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32).ok_or("code_point is U+ and hexadecimal digits, e.g. U+E000")?;
    if is_gaiji(c) { Ok(c) } else { Err(format!("U+{:04X} is not in a private-use area", c as u32)) }
}

fn mj_name(s: &str) -> Result<String, String> {
    let s = s.trim();
    let ok = s.len() == 8 && s.starts_with("MJ") && s[2..].chars().all(|c| c.is_ascii_digit());
    if ok { Ok(s.to_owned()) } else { Err("mj_name is MJ and six digits, e.g. MJ012345".into()) }
}

fn fallback(s: &str) -> Result<char, String> {
    let mut chars = s.trim().chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if !is_gaiji(c) && !c.is_control() => Ok(c),
        _ => Err("fallback is one character outside the private-use areas".into()),
    }
}

/// Reads a table (UTF-8, a BOM allowed): all lines good, or every bad one.
pub fn read_table(bytes: &[u8]) -> Result<GaijiTable, TableError> {
    let text = std::str::from_utf8(crate::bulk::strip_bom(bytes)).map_err(|_| TableError::Unreadable("the table is not UTF-8".into()))?;
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(text.as_bytes());
    let header: Vec<String> =
        reader.headers().map_err(|e| TableError::Unreadable(e.to_string()))?.iter().map(|h| h.trim().to_owned()).collect();
    if header != HEADER {
        return Err(TableError::Unreadable(format!("line 1: the header must be `{}`", HEADER.join(","))));
    }
    let (mut table, mut bad) = (GaijiTable::new(), Vec::new());
    for (i, record) in reader.records().enumerate() {
        let line = i as u64 + 2;
        if i >= MAX_LINES {
            return Err(TableError::Unreadable(format!("more than {MAX_LINES} lines")));
        }
        let parsed = record.map_err(|e| e.to_string()).and_then(|r| {
            if r.len() != 3 {
                return Err(format!("{} columns, not 3", r.len()));
            }
            Ok((code_point(&r[0])?, Mapping { mj_name: mj_name(&r[1])?, fallback: fallback(&r[2])? }))
        });
        match parsed {
            Ok((c, _)) if table.contains_key(&c) => bad.push((line, format!("U+{:04X} is mapped twice", c as u32))),
            Ok((c, m)) => {
                table.insert(c, m);
            }
            Err(why) => bad.push((line, why)),
        }
    }
    if bad.is_empty() { Ok(table) } else { Err(TableError::BadLines(bad)) }
}

/// Counts each 外字 in `text` into `counts`.
pub fn count(text: &str, counts: &mut BTreeMap<char, u64>) {
    for c in text.chars().filter(|c| is_gaiji(*c)) {
        *counts.entry(c).or_default() += 1;
    }
}

/// `text` with each mapped 外字 followed by its MJ name in brackets (`\u{E001}[MJ012345]`), as
/// exports write it; unmapped ones stay as they are.
pub fn annotate(text: &str, table: &GaijiTable) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        out.push(c);
        if let Some(m) = table.get(&c) {
            out.push('[');
            out.push_str(&m.mj_name);
            out.push(']');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_use_areas_are_gaiji_and_nothing_else() {
        for c in ['\u{E000}', '\u{F8FF}', '\u{F0000}', '\u{10FFFD}'] {
            assert!(is_gaiji(c), "{c:?}");
        }
        for c in ['a', '髙', '𠮷', '\u{D7FF}', '\u{F900}', '\u{FFFFF}'] {
            assert!(!is_gaiji(c), "{c:?}");
        }
    }

    #[test]
    fn a_table_is_read_whole_or_every_bad_line_is_named() {
        let good = "\u{feff}code_point,mj_name,fallback\nU+E001,MJ012345,高\ne002,MJ000001,吉\n";
        let t = read_table(good.as_bytes()).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[&'\u{E002}'], Mapping { mj_name: "MJ000001".into(), fallback: '吉' });
        let bad = "code_point,mj_name,fallback\nU+0041,MJ012345,A\nU+E001,MJ12,高\nU+E001,MJ012345,高\nU+E001,MJ012346,高\nU+E003,MJ012347,\u{E004}\n";
        let Err(TableError::BadLines(lines)) = read_table(bad.as_bytes()) else { panic!("refused") };
        let numbers: Vec<u64> = lines.iter().map(|(l, _)| *l).collect();
        assert_eq!(numbers, [2, 3, 5, 6], "{lines:?}");
        assert!(lines[0].1.contains("not in a private-use area") && lines[2].1.contains("mapped twice"), "{lines:?}");
        assert!(matches!(read_table(b"cp,mj\n"), Err(TableError::Unreadable(_))));
    }

    #[test]
    fn counting_and_annotating_touch_only_gaiji() {
        let mut counts = BTreeMap::new();
        count("山\u{E001}太郎\u{E001}\u{E002}", &mut counts);
        assert_eq!(counts, BTreeMap::from([('\u{E001}', 2), ('\u{E002}', 1)]));
        let table = GaijiTable::from([('\u{E001}', Mapping { mj_name: "MJ012345".into(), fallback: '高' })]);
        assert_eq!(annotate("山\u{E001}\u{E002}", &table), "山\u{E001}[MJ012345]\u{E002}");
    }
}
