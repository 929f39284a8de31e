//! 別表第二 (Annex Table 2): which requester type may ask which provider type for which item,
//! for which duty. Loaded from a CSV file, never hard-coded: the real table changes by ordinance.

use crate::ids::{DutyCode, ItemCode, OrgType};
use std::collections::{BTreeMap, HashSet};

/// The CSV header the loader expects, in this order.
pub const HEADER: [&str; 9] =
    ["row", "requester_type", "requester_name", "duty_code", "duty_name", "provider_type", "provider_name", "item_code", "item_name"];

/// One line of the table: one (requester type, duty, provider type, item) permission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatrixRow {
    pub row: u32,
    pub requester_type: OrgType,
    pub requester_name: String,
    pub duty: DutyCode,
    pub duty_name: String,
    pub provider_type: OrgType,
    pub provider_name: String,
    pub item: ItemCode,
    pub item_name: String,
}

/// A malformed Matrix file: which file, which line (1-based, header is line 1) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {reason}")]
pub struct MatrixError {
    pub file: String,
    pub line: u64,
    pub reason: String,
}

/// 別表第二 — the authorization matrix.
#[derive(Debug, Clone, Default)]
pub struct Matrix {
    rows: Vec<MatrixRow>,
    allowed: HashSet<(OrgType, DutyCode, OrgType, ItemCode)>,
    duties: BTreeMap<DutyCode, String>,
    items: BTreeMap<ItemCode, String>,
}

impl Matrix {
    /// Parses the CSV text of a Matrix file; `file` is only used in error messages.
    pub fn from_csv(file: &str, text: &str) -> Result<Self, MatrixError> {
        let err = |line: u64, reason: String| MatrixError { file: file.to_owned(), line, reason };
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(text.as_bytes());
        let header = reader.headers().map_err(|e| err(1, format!("unreadable header: {e}")))?;
        let got: Vec<&str> = header.iter().map(str::trim).collect();
        if got != HEADER {
            return Err(err(1, format!("header must be `{}`", HEADER.join(","))));
        }
        let mut m = Matrix::default();
        for record in reader.records() {
            let record = record.map_err(|e| {
                let line = e.position().map_or(0, |p| p.line());
                err(line, format!("not a valid CSV line: {e}"))
            })?;
            let line = record.position().map_or(0, |p| p.line());
            let f = |i: usize| record.get(i).map(str::trim).unwrap_or_default();
            let row: u32 = f(0).parse().map_err(|_| err(line, format!("row `{}` is not a number", f(0))))?;
            let parse_type = |i: usize, what: &str| OrgType::parse(f(i)).map_err(|e| err(line, format!("{what}: {e}")));
            let requester_type = parse_type(1, "requester_type")?;
            let provider_type = parse_type(5, "provider_type")?;
            let duty = DutyCode::parse(f(3)).map_err(|e| err(line, format!("duty_code: {e}")))?;
            let item = ItemCode::parse(f(7)).map_err(|e| err(line, format!("item_code: {e}")))?;
            for (i, name) in [(2, "requester_name"), (4, "duty_name"), (6, "provider_name"), (8, "item_name")] {
                if f(i).is_empty() {
                    return Err(err(line, format!("{name} is empty")));
                }
            }
            let r = MatrixRow {
                row,
                requester_type,
                requester_name: f(2).to_owned(),
                duty,
                duty_name: f(4).to_owned(),
                provider_type,
                provider_name: f(6).to_owned(),
                item,
                item_name: f(8).to_owned(),
            };
            let key = (r.requester_type.clone(), r.duty.clone(), r.provider_type.clone(), r.item.clone());
            if !m.allowed.insert(key) {
                return Err(err(line, "duplicates an earlier line".into()));
            }
            m.duties.entry(r.duty.clone()).or_insert_with(|| r.duty_name.clone());
            m.items.entry(r.item.clone()).or_insert_with(|| r.item_name.clone());
            m.rows.push(r);
        }
        if m.rows.is_empty() {
            return Err(err(1, "the file has no rows".into()));
        }
        Ok(m)
    }

    /// Whether an org of `requester` type may, for `duty`, ask an org of `provider` type for `item`.
    pub fn allows(&self, requester: &OrgType, duty: &DutyCode, provider: &OrgType, item: &ItemCode) -> bool {
        self.allowed.contains(&(requester.clone(), duty.clone(), provider.clone(), item.clone()))
    }

    /// The first item of `items` that the Matrix does not allow, if any.
    pub fn first_denied<'a>(
        &self,
        requester: &OrgType,
        duty: &DutyCode,
        provider: &OrgType,
        items: &'a [ItemCode],
    ) -> Option<&'a ItemCode> {
        items.iter().find(|i| !self.allows(requester, duty, provider, i))
    }

    pub fn rows(&self) -> &[MatrixRow] {
        &self.rows
    }
    /// Whether 別表第二 lets an org of type `requester` file queries for `duty` at all.
    pub fn files_for(&self, requester: &OrgType, duty: &DutyCode) -> bool {
        self.rows().iter().any(|r| &r.requester_type == requester && &r.duty == duty)
    }

    pub fn duty_name(&self, duty: &DutyCode) -> Option<&str> {
        self.duties.get(duty).map(String::as_str)
    }
    pub fn item_name(&self, item: &ItemCode) -> Option<&str> {
        self.items.get(item).map(String::as_str)
    }
    pub fn knows_item(&self, item: &ItemCode) -> bool {
        self.items.contains_key(item)
    }

    /// The choices of a query form, one step at a time (事務 → provider's type → items): what
    /// `pick` narrows the rows to, each once, in the table's order, with its name.
    fn choices<K: Clone + PartialEq>(&self, keep: impl Fn(&MatrixRow) -> bool, pick: impl Fn(&MatrixRow) -> (K, &str)) -> Vec<(K, String)> {
        let mut out: Vec<(K, String)> = Vec::new();
        for (k, name) in self.rows.iter().filter(|r| keep(r)).map(pick) {
            if !out.iter().any(|(seen, _)| *seen == k) {
                out.push((k, name.to_owned()));
            }
        }
        out
    }

    /// The duties an org of type `requester` may file queries for.
    pub fn duties_for(&self, requester: &OrgType) -> Vec<(DutyCode, String)> {
        self.choices(|r| &r.requester_type == requester, |r| (r.duty.clone(), r.duty_name.as_str()))
    }

    /// The types of org that `requester` may ask under `duty`.
    pub fn provider_types_for(&self, requester: &OrgType, duty: &DutyCode) -> Vec<(OrgType, String)> {
        self.choices(|r| &r.requester_type == requester && &r.duty == duty, |r| (r.provider_type.clone(), r.provider_name.as_str()))
    }

    /// The items `requester` may ask an org of type `provider` for under `duty`.
    pub fn items_for(&self, requester: &OrgType, duty: &DutyCode, provider: &OrgType) -> Vec<(ItemCode, String)> {
        self.choices(
            |r| &r.requester_type == requester && &r.duty == duty && &r.provider_type == provider,
            |r| (r.item.clone(), r.item_name.as_str()),
        )
    }

    /// The first row by which an org of type `org_type` may ask an org of its own type: the
    /// duty and item of the SLA monitor's round trip, which a probe org files to itself.
    pub fn own_type_row(&self, org_type: &OrgType) -> Option<(&DutyCode, &ItemCode)> {
        self.rows.iter().find(|r| &r.requester_type == org_type && &r.provider_type == org_type).map(|r| (&r.duty, &r.item))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_forms_choices_narrow_step_by_step_to_what_the_table_allows() {
        let m = Matrix::from_csv(
            "t",
            "row,requester_type,requester_name,duty_code,duty_name,provider_type,provider_name,item_code,item_name
1,MUNI,市町村長,D1,事務1,MUNI,市町村長,TAX,地方税
2,MUNI,市町村長,D1,事務1,MUNI,市町村長,RES,住民票
3,MUNI,市町村長,D1,事務1,HI,健保組合,HEALTH,医療保険
4,MUNI,市町村長,D2,事務2,MUNI,市町村長,TAX,地方税
5,EDU,教育委員会,D3,事務3,MUNI,市町村長,TAX,地方税
",
        )
        .unwrap();
        let t = |s: &str| OrgType::parse(s).unwrap();
        let d = |s: &str| DutyCode::parse(s).unwrap();
        let codes = |v: Vec<(String, String)>| v.into_iter().map(|(c, _)| c).collect::<Vec<_>>();
        let duties = m.duties_for(&t("MUNI")).into_iter().map(|(c, n)| (c.to_string(), n)).collect::<Vec<_>>();
        assert_eq!(duties, [("D1".to_owned(), "事務1".to_owned()), ("D2".to_owned(), "事務2".to_owned())]);
        let providers = m.provider_types_for(&t("MUNI"), &d("D1")).into_iter().map(|(c, n)| (c.to_string(), n)).collect();
        assert_eq!(codes(providers), ["MUNI", "HI"]);
        let items = m.items_for(&t("MUNI"), &d("D1"), &t("MUNI")).into_iter().map(|(c, n)| (c.to_string(), n)).collect();
        assert_eq!(codes(items), ["TAX", "RES"]);
        assert!(m.items_for(&t("EDU"), &d("D1"), &t("MUNI")).is_empty(), "another requester's duty offers nothing");
        assert_eq!(m.own_type_row(&t("MUNI")).map(|(d, i)| (d.to_string(), i.to_string())), Some(("D1".into(), "TAX".into())));
        assert_eq!(m.own_type_row(&t("EDU")), None, "an EDU org asks no EDU org");
    }

    const SAMPLE: &str = "row,requester_type,requester_name,duty_code,duty_name,provider_type,provider_name,item_code,item_name\n\
        15,MUNI,市町村長,D015,地方税の賦課徴収に関する事務,MUNI,市町村長,TAX,地方税関係情報\n\
        3,KENPO,健康保険組合,D003,保険給付の支給に関する事務,MUNI,市町村長,RESIDENT,住民票関係情報\n";

    fn t(s: &str) -> OrgType {
        OrgType::parse(s).unwrap()
    }
    fn d(s: &str) -> DutyCode {
        DutyCode::parse(s).unwrap()
    }
    fn i(s: &str) -> ItemCode {
        ItemCode::parse(s).unwrap()
    }

    #[test]
    fn allows_exactly_the_listed_permissions() {
        let m = Matrix::from_csv("m.csv", SAMPLE).unwrap();
        assert!(m.allows(&t("MUNI"), &d("D015"), &t("MUNI"), &i("TAX")));
        assert!(!m.allows(&t("MUNI"), &d("D015"), &t("MUNI"), &i("RESIDENT")));
        assert!(!m.allows(&t("EDU"), &d("D015"), &t("MUNI"), &i("TAX")));
        assert!(!m.allows(&t("KENPO"), &d("D015"), &t("MUNI"), &i("RESIDENT")));
        assert_eq!(m.duty_name(&d("D003")), Some("保険給付の支給に関する事務"));
    }

    #[test]
    fn the_shipped_matrix_loads() {
        let text = include_str!("../../../data/matrix.csv");
        let m = Matrix::from_csv("data/matrix.csv", text).unwrap();
        assert!(m.rows().len() >= 20);
        assert!(m.allows(&t("EDU"), &d("D014"), &t("MUNI"), &i("TAX")));
        assert!(!m.allows(&t("EDU"), &d("D014"), &t("MUNI"), &i("RESIDENT")));
    }

    #[test]
    fn malformed_files_name_the_line_and_reason() {
        let bad_header = "row,who\n1,MUNI\n";
        let e = Matrix::from_csv("x.csv", bad_header).unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("x.csv", 1));

        let bad_row = format!("{}\nX,MUNI,a,D1,b,MUNI,c,TAX,d\n", HEADER.join(","));
        let e = Matrix::from_csv("x.csv", &bad_row).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.reason.contains("row"), "{e}");

        let bad_type = format!("{}\n1,MUNI,a,D1,b,MUNI,c,TAX,d\n2,muni,a,D1,b,MUNI,c,TAX,d\n", HEADER.join(","));
        let e = Matrix::from_csv("x.csv", &bad_type).unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.reason.contains("requester_type"), "{e}");

        let short = format!("{}\n1,MUNI,a,D1\n", HEADER.join(","));
        let e = Matrix::from_csv("x.csv", &short).unwrap_err();
        assert_eq!(e.line, 2);

        let dup = format!("{}\n1,MUNI,a,D1,b,MUNI,c,TAX,d\n1,MUNI,a,D1,b,MUNI,c,TAX,d\n", HEADER.join(","));
        assert!(Matrix::from_csv("x.csv", &dup).unwrap_err().reason.contains("duplicates"));

        let empty = format!("{}\n", HEADER.join(","));
        assert!(Matrix::from_csv("x.csv", &empty).is_err());
    }
}
