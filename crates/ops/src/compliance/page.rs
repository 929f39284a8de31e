//! The compliance sheet as a page (HTML, Japanese, to print or mail; the report's style, no
//! script) and as CSV in UTF-8 with a BOM or CP932, one line per check.

use super::Sheet;
use maud::{DOCTYPE, PreEscaped, html};
use renkei_domain::compliance::Status;
use renkei_domain::export::{Encoding, ExportError, Table, encode};
use renkei_domain::wareki::jst_minute;

/// The sheet's CSV layout.
pub const CSV_LAYOUT: Table = Table {
    file: "compliance.csv",
    columns: &["団体ID", "対象月", "表", "項目", "求めるべき水準", "項目の判定", "確認内容", "確認結果", "根拠"],
};

fn class(s: Status) -> &'static str {
    match s {
        Status::Met => "met",
        Status::Partly => "partly",
        Status::NotMet => "missed",
    }
}

/// The sheet as a page.
pub fn html(s: &Sheet) -> String {
    let count = |st: Status| s.items.iter().filter(|i| i.status() == st).count();
    html! {
        (DOCTYPE)
        html lang="ja" {
            head {
                meta charset="utf-8";
                title { "適合状況一覧 " (s.name) " " (s.month) }
                style { (PreEscaped(crate::report::STYLE)) ".partly{color:#8a5300;font-weight:bold}" }
            }
            body {
                h1 { "適合状況一覧（表2-8・表2-13）" }
                p { "団体: " (s.name) "（" (s.tenant) "）　対象月: " (s.month) "　作成: " (jst_minute(s.made_at)) }
                p #summary {
                    "充足 " (count(Status::Met)) " 項目、一部充足 " (count(Status::Partly)) " 項目、未充足 " (count(Status::NotMet)) " 項目。"
                    "各行の根拠は稼働中の基盤の設定・計測値・記録から作成時に求めたもので、根拠のない確認内容は未充足としている。"
                }
                table {
                    thead { tr { th { "表" } th { "項目" } th { "求めるべき水準" } th { "判定" } th { "確認内容" } th { "結果" } th { "根拠" } } }
                    tbody {
                        @for item in &s.items {
                            @let status = item.status();
                            @for (n, c) in item.checks.iter().enumerate() {
                                tr {
                                    @if n == 0 {
                                        @let rows = item.checks.len();
                                        td rowspan=(rows) { (item.table.label()) }
                                        th scope="row" rowspan=(rows) { (item.name) }
                                        td rowspan=(rows) { (item.asks) }
                                        td rowspan=(rows) .(class(status)) { (status.label()) }
                                    }
                                    td { (c.asks) }
                                    td .(if c.met { "met" } else { "missed" }) { (if c.met { "充足" } else { "未充足" }) }
                                    td { (c.evidence) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    .into_string()
}

/// The sheet as CSV in `encoding`: one line per check, with its item's verdict.
pub fn csv(s: &Sheet, encoding: Encoding) -> Result<Vec<u8>, ExportError> {
    let rows: Vec<Vec<String>> = s
        .items
        .iter()
        .flat_map(|item| {
            item.checks.iter().map(move |c| {
                vec![
                    s.tenant.clone(),
                    s.month.clone(),
                    item.table.label().to_owned(),
                    item.name.to_owned(),
                    item.asks.to_owned(),
                    item.status().label().to_owned(),
                    c.asks.to_owned(),
                    if c.met { "充足" } else { "未充足" }.to_owned(),
                    c.evidence.clone(),
                ]
            })
        })
        .collect();
    Ok(encode(&CSV_LAYOUT, &rows, encoding)?.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use renkei_domain::compliance::{Evidence, sheet};

    fn a_sheet(name: &str) -> Sheet {
        Sheet { tenant: "kou".into(), name: name.into(), month: "2026-11".into(), made_at: 0, items: sheet(&Evidence::default(), 0) }
    }

    #[test]
    fn the_csv_has_a_line_per_check_and_reads_back_in_cp932() {
        let s = a_sheet("甲市");
        let checks: usize = s.items.iter().map(|i| i.checks.len()).sum();
        let bytes = csv(&s, Encoding::Cp932).expect("csv");
        let (text, _, bad) = encoding_rs::SHIFT_JIS.decode(&bytes);
        assert!(!bad);
        assert_eq!(text.lines().count(), checks + 1);
        assert!(text.starts_with("団体ID,対象月,表,項目"), "{text}");
        assert!(text.contains("表2-13,サービス稼働率"), "{text}");
    }

    #[test]
    fn the_page_escapes_the_tenants_name_and_counts_items() {
        let page = html(&a_sheet("<script>甲市"));
        assert!(page.contains("&lt;script&gt;甲市") && !page.contains("<script>"), "{page}");
        assert!(page.contains("未充足 "), "{page}");
    }
}
