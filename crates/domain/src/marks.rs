//! A provider's marks on (person, item): 自動応答不可 (*manual*: a forwarded query for it waits
//! for the provider's staff to provide or decline) and 不開示 (*withheld*: the answer says so and
//! carries nothing else). The rule of what an answer holds, given the copies and the marks, is
//! here; the tenant store keeps the marks (encrypted, versioned) and the reviews waiting.

use crate::ids::ItemCode;
use crate::query::{ItemAnswer, ItemStatus};
use std::collections::HashMap;

/// A mark on one item of one person. The latest version holds; `None` clears.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemMark {
    None,
    Manual,
    Withheld,
}

impl ItemMark {
    pub const ALL: [ItemMark; 3] = [ItemMark::None, ItemMark::Manual, ItemMark::Withheld];

    pub fn code(self) -> &'static str {
        match self {
            ItemMark::None => "none",
            ItemMark::Manual => "manual",
            ItemMark::Withheld => "withheld",
        }
    }

    pub fn from_code(code: &str) -> Option<ItemMark> {
        ItemMark::ALL.into_iter().find(|m| m.code() == code)
    }
}

/// What the provider's staff decided on a query held for review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Review {
    /// Answer the manual items from their copies, as if they were not marked.
    Provide,
    /// Answer the manual items as declined, with this reason.
    Decline(String),
}

/// Whether a forwarded query for `items` waits for the provider's staff: some item is marked
/// manual (and not withheld, which answers by itself).
pub fn needs_review(items: &[ItemCode], marks: &HashMap<ItemCode, ItemMark>) -> bool {
    items.iter().any(|i| marks.get(i) == Some(&ItemMark::Manual))
}

/// The per-item answer: withheld items say only that; manual items follow `review` (without a
/// review they are not answered here: see [`needs_review`]); the others are their copy or no
/// copy. `found` gives an item's copy, if it has one valid on the reference date.
pub fn answer_items(
    items: &[ItemCode],
    marks: &HashMap<ItemCode, ItemMark>,
    review: Option<&Review>,
    found: impl Fn(&ItemCode) -> Option<ItemStatus>,
) -> Vec<ItemAnswer> {
    items
        .iter()
        .map(|item| {
            let status = match (marks.get(item).copied().unwrap_or(ItemMark::None), review) {
                (ItemMark::Withheld, _) => ItemStatus::Withheld,
                (ItemMark::Manual, Some(Review::Decline(reason))) => ItemStatus::Declined { reason: reason.clone() },
                _ => found(item).unwrap_or(ItemStatus::NoCopy),
            };
            ItemAnswer { item: item.clone(), status }
        })
        .collect()
}

/// The header of a marks file (docs/csv-layouts.md).
pub const MARKS_HEADER: [&str; 3] = ["addressee_no", "item", "mark"];

/// Lines a marks file may hold: marks are set by hand or by a client system's export, not
/// loaded by the million.
pub const MAX_MARK_LINES: usize = 10_000;

/// A valid line of a marks file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkLine {
    pub addressee: crate::AddresseeNo,
    pub item: ItemCode,
    pub mark: ItemMark,
}

/// Why a marks file is refused as a whole: unreadable, or these lines (1-based, the header is
/// line 1) are bad. Reasons name the rule, never a cell's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarksFileError {
    Unreadable(String),
    BadLines(Vec<(u64, crate::bulk::LineError)>),
}

/// Reads a marks file (UTF-8 with or without BOM, or CP932): every line, or why not.
pub fn read_marks_csv(bytes: &[u8], knows_item: impl Fn(&ItemCode) -> bool) -> Result<Vec<MarkLine>, MarksFileError> {
    use crate::bulk::LineError;
    let encoding = crate::bulk::detect(bytes, true).map_err(MarksFileError::Unreadable)?;
    let text = encoding.decode(crate::bulk::strip_bom(bytes)).map_err(MarksFileError::Unreadable)?;
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut records = reader.records();
    let header = match records.next() {
        Some(Ok(h)) => h,
        _ => return Err(MarksFileError::Unreadable("the file is empty or its header is unreadable".into())),
    };
    if header.iter().map(str::trim).ne(MARKS_HEADER) {
        return Err(MarksFileError::Unreadable(format!("the header must be `{}`", MARKS_HEADER.join(","))));
    }
    let (mut lines, mut bad) = (Vec::new(), Vec::new());
    for (n, record) in records.enumerate() {
        let line = n as u64 + 2;
        if lines.len() + bad.len() >= MAX_MARK_LINES {
            return Err(MarksFileError::Unreadable(format!("at most {MAX_MARK_LINES} lines")));
        }
        let read = record.map_err(|_| LineError::line("not a CSV line")).and_then(|r| {
            if r.len() != 3 {
                return Err(LineError::line(format!("{} columns, the header has 3", r.len())));
            }
            let addressee = crate::AddresseeNo::parse(r[0].trim()).map_err(|e| LineError::at(0, "addressee_no", e.to_string()))?;
            let item = ItemCode::parse(r[1].trim()).map_err(|e| LineError::at(1, "item", e.to_string()))?;
            if !knows_item(&item) {
                return Err(LineError::at(1, "item", format!("item {item} is not in 別表第二")));
            }
            let mark = ItemMark::from_code(r[2].trim()).ok_or_else(|| LineError::at(2, "mark", "manual, withheld or none"))?;
            Ok(MarkLine { addressee, item, mark })
        });
        match read {
            Ok(l) => lines.push(l),
            Err(e) => bad.push((line, e)),
        }
    }
    if bad.is_empty() { Ok(lines) } else { Err(MarksFileError::BadLines(bad)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(c: &str) -> ItemCode {
        ItemCode::parse(c).unwrap()
    }

    fn copy(_: &ItemCode) -> Option<ItemStatus> {
        Some(ItemStatus::Found { valid_from: "2026-04-01".into(), fields: serde_json::Map::new() })
    }

    #[test]
    fn a_withheld_item_answers_withheld_whatever_the_review_and_carries_nothing() {
        let marks = HashMap::from([(code("TAX"), ItemMark::Withheld), (code("RESIDENT"), ItemMark::Manual)]);
        let items = [code("TAX"), code("RESIDENT"), code("LTC")];
        assert!(needs_review(&items, &marks));
        assert!(!needs_review(&items[..1], &marks), "withheld alone answers by itself");
        let provided = answer_items(&items, &marks, Some(&Review::Provide), copy);
        assert_eq!(provided[0].status, ItemStatus::Withheld);
        assert!(matches!(provided[1].status, ItemStatus::Found { .. }));
        assert!(matches!(provided[2].status, ItemStatus::Found { .. }));
        let declined = answer_items(&items, &marks, Some(&Review::Decline("本人確認中".into())), copy);
        assert_eq!(declined[0].status, ItemStatus::Withheld);
        assert_eq!(declined[1].status, ItemStatus::Declined { reason: "本人確認中".into() });
        assert!(matches!(declined[2].status, ItemStatus::Found { .. }), "only the manual items are declined");
        let json = serde_json::to_value(&provided[0]).unwrap();
        assert_eq!(json, serde_json::json!({"item": "TAX", "status": "withheld"}), "nothing but the status");
    }

    #[test]
    fn marks_read_back() {
        for m in ItemMark::ALL {
            assert_eq!(ItemMark::from_code(m.code()), Some(m));
        }
        assert_eq!(ItemMark::from_code("secret"), None);
    }

    #[test]
    fn a_marks_file_is_read_whole_or_its_bad_lines_named() {
        let any = |_: &ItemCode| true;
        let ok = read_marks_csv("\u{feff}addressee_no,item,mark\nA1,TAX,withheld\nA2, RESIDENT ,manual\n".as_bytes(), any).unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!((ok[1].item.as_str(), ok[1].mark), ("RESIDENT", ItemMark::Manual));
        let cp932 = encoding_rs::SHIFT_JIS.encode("addressee_no,item,mark\nA1,TAX,none\n").0;
        assert_eq!(read_marks_csv(&cp932, any).unwrap()[0].mark, ItemMark::None);
        let Err(MarksFileError::BadLines(bad)) =
            read_marks_csv(b"addressee_no,item,mark\nA1,TAX,secret\nA 1,TAX,manual\nA3,TAX\nA4,NOPE,manual\n", |i| i.as_str() == "TAX")
        else {
            panic!("bad lines")
        };
        let lines: Vec<u64> = bad.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [2, 3, 4, 5]);
        assert!(bad.iter().all(|(_, e)| !e.reason.contains("secret") && !e.reason.contains("A 1")), "{bad:?}");
        assert!(matches!(read_marks_csv(b"a,b\n", any), Err(MarksFileError::Unreadable(_))));
        assert!(matches!(read_marks_csv(b"", any), Err(MarksFileError::Unreadable(_))));
    }
}
