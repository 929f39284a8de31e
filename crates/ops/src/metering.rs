//! 計量と費用按分 (metering and cost allocation, issue 17 §5): each tenant's month — queries sent
//! and answered, persons (住民数) and provision copies kept, the bytes they take, its accounts —
//! and the statement sharing the platform's monthly cost by `domain::allocation`.

use renkei_crypto::datakey::MasterKey;
use renkei_domain::allocation::{self, AllocationError, Measured, Weights};
use renkei_domain::export::{Encoding, ExportError, Table, encode};
use renkei_domain::sla::Month;
use renkei_store::StoreError;
use renkei_store::platform::PlatformStore;
use serde::Serialize;

/// One tenant's month.
#[derive(Debug, Clone, Serialize)]
pub struct TenantMeter {
    pub tenant: String,
    pub name: String,
    pub queries_sent: i64,
    pub queries_answered: i64,
    pub persons: i64,
    pub copies: i64,
    pub bytes: i64,
    pub accounts: i64,
    /// The SLA monitor's probe queries of the month, left out of every figure above.
    pub probe_queries: i64,
}

/// A line of the statement: the tenant's figures and its share.
#[derive(Debug, Clone, Serialize)]
pub struct StatementLine {
    pub meter: TenantMeter,
    pub yen: u64,
}

/// The month's statement.
#[derive(Debug, Clone, Serialize)]
pub struct Statement {
    pub month: String,
    pub cost_yen: u64,
    pub weights: Weights,
    pub lines: Vec<StatementLine>,
    pub rounding: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum MeteringError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Allocation(#[from] AllocationError),
}

/// Every tenant's `month` whose data key is at hand (a deleted tenant's is not: it is left out).
pub async fn meter(platform: &PlatformStore, master: &MasterKey, month: Month) -> Result<Vec<TenantMeter>, StoreError> {
    let span = month.span();
    let mut out = Vec::new();
    for t in platform.tenants().await? {
        let key = match platform.data_key(master, &t.id).await {
            Ok(k) => k,
            Err(StoreError::KeyDestroyed { .. }) => continue,
            Err(e) => return Err(e),
        };
        let usage = platform.tenant_store(t.id.clone(), key).await?.usage(span).await?;
        out.push(TenantMeter {
            tenant: t.id.to_string(),
            name: t.name.clone(),
            queries_sent: usage.queries_sent,
            queries_answered: usage.queries_answered,
            persons: usage.persons,
            copies: usage.copies,
            bytes: usage.bytes,
            accounts: platform.account_count(&t.id).await?,
            probe_queries: usage.probe_queries,
        });
    }
    Ok(out)
}

/// The statement sharing `cost_yen` between `meters` by `weights`: population is persons
/// registered, usage queries sent and answered.
pub fn statement(month: Month, cost_yen: u64, weights: Weights, meters: Vec<TenantMeter>) -> Result<Statement, MeteringError> {
    let measured: Vec<Measured> = meters
        .iter()
        .map(|m| Measured {
            tenant: m.tenant.clone(),
            population: u64::try_from(m.persons).unwrap_or(0),
            usage: u64::try_from(m.queries_sent + m.queries_answered).unwrap_or(0),
        })
        .collect();
    let shares = allocation::allocate(cost_yen, weights, &measured)?;
    Ok(Statement {
        month: month.to_string(),
        cost_yen,
        weights,
        lines: meters.into_iter().zip(shares).map(|(meter, share)| StatementLine { meter, yen: share.yen }).collect(),
        rounding: allocation::ROUNDING_RULE,
    })
}

/// The statement's CSV layout.
pub const STATEMENT_CSV: Table = Table {
    file: "statement.csv",
    columns: &[
        "団体ID",
        "団体名",
        "照会送信件数",
        "照会回答件数",
        "住民数",
        "副本件数",
        "使用バイト数",
        "アカウント数",
        "監視照会件数(除外)",
        "按分額(円)",
    ],
};

/// The statement as CSV in `encoding` (UTF-8 with a BOM, or CP932 for older tools): one line per
/// tenant, then the total.
pub fn statement_csv(s: &Statement, encoding: Encoding) -> Result<Vec<u8>, ExportError> {
    let mut rows: Vec<Vec<String>> = s
        .lines
        .iter()
        .map(|l| {
            let m = &l.meter;
            let figures =
                [m.queries_sent, m.queries_answered, m.persons, m.copies, m.bytes, m.accounts, m.probe_queries].map(|n| n.to_string());
            [vec![m.tenant.clone(), m.name.clone()], figures.to_vec(), vec![l.yen.to_string()]].concat()
        })
        .collect();
    let total: u64 = s.lines.iter().map(|l| l.yen).sum();
    let mut last = vec![String::new(); STATEMENT_CSV.columns.len()];
    last[0] = "合計".into();
    last[STATEMENT_CSV.columns.len() - 1] = total.to_string();
    rows.push(last);
    Ok(encode(&STATEMENT_CSV, &rows, encoding)?.0)
}

/// The statement as a page (HTML, Japanese) to print or mail.
pub fn statement_html(s: &Statement) -> String {
    use maud::{DOCTYPE, html};
    let total: u64 = s.lines.iter().map(|l| l.yen).sum();
    let w = s.weights;
    html! {
        (DOCTYPE)
        html lang="ja" {
            head { meta charset="utf-8"; title { "費用按分明細 " (s.month) } }
            body {
                h1 { "費用按分明細 " (s.month) }
                p { "按分対象額 " (s.cost_yen) " 円 / 按分比率 均等割 " (w.equal) " : 人口割 " (w.population) " : 利用量割 " (w.usage) }
                table {
                    thead { tr { @for c in STATEMENT_CSV.columns { th { (c) } } } }
                    tbody {
                        @for l in &s.lines {
                            @let m = &l.meter;
                            tr {
                                td { (m.tenant) } td { (m.name) } td { (m.queries_sent) } td { (m.queries_answered) }
                                td { (m.persons) } td { (m.copies) } td { (m.bytes) } td { (m.accounts) } td { (m.probe_queries) } td { (l.yen) }
                            }
                        }
                    }
                    tfoot { tr { th { "合計" } td colspan="8" {} td { (total) } } }
                }
                p { "端数処理: " (s.rounding) }
                p { "人口割は登録住民数、利用量割は当月の照会送信件数と照会回答件数の合計による。SLA監視の照会と監視用の宛名は、いずれの件数にも含めない。" }
            }
        }
    }
    .into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meter(tenant: &str, name: &str, persons: i64) -> TenantMeter {
        TenantMeter {
            tenant: tenant.into(),
            name: name.into(),
            queries_sent: 1,
            queries_answered: 2,
            persons,
            copies: 0,
            bytes: 0,
            accounts: 1,
            probe_queries: 0,
        }
    }

    #[test]
    fn the_page_shows_every_share_and_the_total_and_escapes_names() {
        let month = Month::parse("2026-11").expect("month");
        let s = statement(
            month,
            1000,
            Weights { equal: 0, population: 1, usage: 0 },
            vec![meter("a", "<b>甲&市</b>", 3), meter("b", "乙町", 1)],
        )
        .expect("statement");
        let page = statement_html(&s);
        assert!(page.contains("&lt;b&gt;甲&amp;市&lt;/b&gt;") && !page.contains("<b>甲"), "{page}");
        assert!(page.contains("<td>750</td>") && page.contains("<td>250</td>") && page.contains("<td>1000</td>"), "{page}");
        assert!(page.contains(allocation::ROUNDING_RULE));
    }
}
