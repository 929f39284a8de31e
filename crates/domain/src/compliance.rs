//! The compliance sheet (適合状況一覧, issue 17 §7): each evaluation item of 000 表2-8 (クラウド事業者の
//! セキュリティ対策を評価する仕組み) and each SLA item of 表2-13 (SLA のグレード) answered for one
//! tenant and month by checks on evidence the running platform gives ([`Evidence`]: settings,
//! measured figures, records). A check without its evidence is not met; an item is met when all
//! its checks are. Every sentence of an answer is made here from the evidence — none is typed by
//! the operator.

use crate::backup::KeepPolicy;
use crate::calendar::ServiceHours;
use crate::policy::{self, Action, Principal, Role};
use crate::sla::Contract;
use crate::wareki::jst_minute;
use serde::Serialize;

/// What the running platform shows about one tenant and month. Gathered by `ops::compliance`.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// The tenant's contract, and where it was agreed (the contracts file's section), if at all.
    pub contract: Contract,
    pub contract_source: Option<String>,
    /// Probes run in the month (0: nothing measured).
    pub probes: i64,
    pub availability_percent: Option<f64>,
    pub mttr_seconds: Option<f64>,
    pub incidents: usize,
    /// 95th percentiles of the month's 検索系 and 更新系 probes, in milliseconds.
    pub search_p95_ms: Option<u64>,
    pub update_p95_ms: Option<u64>,
    /// When the monitor was told to probe the tenant, and its latest probe.
    pub enrolled_at: Option<i64>,
    pub last_probe_at: Option<i64>,
    /// The tenant's own notice channels by kind.
    pub mail_channels: usize,
    pub webhook_channels: usize,
    /// The backups as set up, if they are.
    pub backup: Option<BackupSetup>,
    /// The month's backup runs and drills.
    pub backups_ok: i64,
    pub backups_failed: i64,
    pub drills_passed: i64,
    pub drills_failed: i64,
    pub last_backup_ok_at: Option<i64>,
    pub last_drill_passed_at: Option<i64>,
    /// The platform's forgetting of generations the policy no longer keeps: how often, the latest.
    pub forgets: Activity,
    /// The tenant's exports (`renkei export tenant`).
    pub exports: Activity,
    /// The tenant's bulk loads.
    pub loads: Activity,
    /// Raises of its limit of people signed in at once.
    pub limit_raises: Activity,
    /// Whether the tenant's audit chain verified when the sheet was made, and what it said.
    pub audit_sound: bool,
    pub audit_text: String,
    /// Where the stores, key store and repositories are (`label`, where, declared place), all
    /// checked against the allowed countries; `locations_refused` says why a listing was refused.
    pub locations: Vec<Location>,
    pub locations_refused: Option<String>,
    pub allowed_countries: Vec<String>,
    /// Whether the tenant's data key is in the key store (not destroyed).
    pub data_key_present: bool,
    /// The tenant's people by role (every role, zero included).
    pub people: Vec<(Role, i64)>,
    /// Client systems' API keys not revoked (the monitor's left out).
    pub api_keys: i64,
    /// Orgs of the tenant with an approval policy (電子決裁).
    pub approval_policies: i64,
    /// The tenant's limit of people signed in at once, if set.
    pub session_limit: Option<u32>,
    /// The tenant's consortium (id) and the weights it shares cost by (E:P:U), if it is in one.
    pub consortium: Option<(String, crate::allocation::Weights)>,
}

/// How often something was done, and when last.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Activity {
    pub count: i64,
    pub last_at: Option<i64>,
}

impl Activity {
    fn text(&self, what: &str) -> String {
        match self.last_at {
            Some(at) if self.count > 0 => format!("{what} {} 回（最終 {}）", self.count, jst_minute(at)),
            _ => format!("{what}の記録なし"),
        }
    }
}

/// One place data is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub label: String,
    pub at: String,
    pub place: String,
}

/// The backups as the settings give them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSetup {
    /// The first site's declared place, and its second site's (遠隔地保管) if there is one.
    pub first_place: String,
    pub second_place: Option<String>,
    /// How the second site is reached: a directory, or SFTP on another machine.
    pub second_medium: Option<String>,
    pub keep: KeepPolicy,
    /// Whether the PostgreSQL cluster is backed up by pgBackRest (else restic's snapshots hold
    /// the SQLite files).
    pub pgbackrest: bool,
}

/// The two tables the sheet answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Table {
    /// 表2-8 クラウド事業者のセキュリティ対策を評価する仕組み.
    Evaluation,
    /// 表2-13 SLA のグレードの検討.
    SlaGrade,
}

impl Table {
    pub fn label(self) -> &'static str {
        match self {
            Table::Evaluation => "表2-8",
            Table::SlaGrade => "表2-13",
        }
    }
}

/// One check of an item, met or not, with the evidence that decided it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub asks: &'static str,
    pub met: bool,
    pub evidence: String,
}

/// How far an item is met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    Met,
    Partly,
    NotMet,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Met => "充足",
            Status::Partly => "一部充足",
            Status::NotMet => "未充足",
        }
    }
}

/// One item of a table and its checks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    pub table: Table,
    /// The item as the table names it (セキュリティリスク or SLA 項目).
    pub name: &'static str,
    /// What the table asks of it (評価の仕組み or 求めるべきグレード), shortened.
    pub asks: &'static str,
    pub checks: Vec<Check>,
}

impl Item {
    pub fn status(&self) -> Status {
        match self.checks.iter().filter(|c| c.met).count() {
            n if n == self.checks.len() && n > 0 => Status::Met,
            0 => Status::NotMet,
            _ => Status::Partly,
        }
    }
}

fn check(asks: &'static str, met: bool, evidence: impl Into<String>) -> Check {
    Check { asks, met, evidence: evidence.into() }
}

fn percent(p: Option<f64>) -> String {
    p.map_or_else(|| "計測なし".to_owned(), |p| format!("{p:.3} %"))
}

fn hours(seconds: f64) -> String {
    format!("{:.2} 時間", seconds / 3600.0)
}

fn service_hours(h: &ServiceHours) -> String {
    match h {
        ServiceHours::Always => "24時間365日".into(),
        ServiceHours::OfficeDays { open, close } => {
            format!("開庁日 {}–{}（祝日・年末年始を除く）", open.format("%H:%M"), close.format("%H:%M"))
        }
    }
}

/// Every item of both tables, answered from `e` as of `now` (Unix seconds).
pub fn sheet(e: &Evidence, now: i64) -> Vec<Item> {
    let mut items = evaluation(e);
    items.extend(sla_grade(e, now));
    items
}

/// Where the contract was agreed, or why it was not.
fn agreed(e: &Evidence) -> Check {
    match &e.contract_source {
        Some(source) => check("SLA の項目と水準が契約で定められている", true, format!("契約ファイル {source}")),
        None => check("SLA の項目と水準が契約で定められている", false, "契約ファイルがなく、表2-13 の既定値で計測している"),
    }
}

fn export_check(e: &Evidence, asks: &'static str) -> Check {
    check(asks, e.exports.count > 0, format!("CSV（UTF-8 BOM付き／CP932）と署名付き目録: {}", e.exports.text("エクスポート")))
}

fn personal_acts_of(role: Role) -> usize {
    Action::ALL.iter().filter(|a| a.touches_personal_data() && policy::allows(Principal::Person(role), **a)).count()
}

fn evaluation(e: &Evidence) -> Vec<Item> {
    let g = &e.contract.grade;
    let t = Table::Evaluation;
    let fairness = match &e.consortium {
        Some((id, w)) => check(
            "規模や利用量に応じた按分が定められている",
            w.population + w.usage > 0,
            format!("団体群 {id} の按分比率 均等割 {} : 人口割 {} : 利用量割 {}", w.equal, w.population, w.usage),
        ),
        None => check("規模や利用量に応じた按分が定められている", false, "団体群に属さず、按分比率の記録がない"),
    };
    let response_agreed = match (g.search_p95_ms, g.update_p95_ms) {
        (Some(s), Some(u)) => check("応答時間を SLA で定めている", true, format!("95%値の目標 検索系 {s} ms、更新系 {u} ms")),
        _ => check("応答時間を SLA で定めている", false, "契約に検索系・更新系の応答時間の目標がない"),
    };
    let response_measured = match (g.search_p95_ms, g.update_p95_ms, e.search_p95_ms, e.update_p95_ms) {
        (Some(ts), Some(tu), Some(s), Some(u)) => {
            check("定めたとおりの応答時間が出ている", s <= ts && u <= tu, format!("当月の95%値 検索系 {s} ms、更新系 {u} ms"))
        }
        (_, _, s, u) => check(
            "定めたとおりの応答時間が出ている",
            false,
            format!(
                "目標または計測がない（当月の95%値 検索系 {}、更新系 {}）",
                s.map_or("計測なし".into(), |s| format!("{s} ms")),
                u.map_or("計測なし".into(), |u| format!("{u} ms"))
            ),
        ),
    };
    let operator_acts = personal_acts_of(Role::Operator) + personal_acts_of(Role::ConsortiumAdmin);
    let admins = e.people.iter().find(|(r, _)| *r == Role::TenantAdmin).map_or(0, |(_, n)| *n);
    let people = e.people.iter().map(|(r, n)| format!("{} {n}", r.code())).collect::<Vec<_>>().join("、");
    vec![
        Item {
            table: t,
            name: "共同利用時の料金負担の公平性",
            asks: "自治体の規模の違いによる料金負担が適切かどうかを確認する",
            checks: vec![fairness],
        },
        Item {
            table: t,
            name: "不明瞭な SLA",
            asks: "SLA の内容を確認する",
            checks: vec![agreed(e), check("SLA の達成状況が計測されている", e.probes > 0, format!("当月の監視プローブ {} 回", e.probes))],
        },
        Item {
            table: t,
            name: "ノンカスタマイズの場合の業務改革コスト",
            asks: "説明会の開催、わかりやすいマニュアル類の提供などを確認する",
            checks: vec![check("説明会・マニュアル提供の実績がある", false, "本基盤は説明会やマニュアル提供の記録を持たない")],
        },
        Item {
            table: t,
            name: "ベンダロックイン",
            asks: "標準形式でデータをエクスポートできる機能を確認する",
            checks: vec![export_check(e, "標準形式でエクスポートされている")],
        },
        Item {
            table: t,
            name: "セキュリティモデル、品質モデルのカスタマイズ",
            asks: "セキュリティを強化するオプションが選択可能かどうかを確認する",
            checks: vec![check(
                "強化オプションを選択している",
                e.approval_policies > 0 || e.session_limit.is_some(),
                format!(
                    "電子決裁を求める機関 {}、同時接続の上限 {}",
                    e.approval_policies,
                    e.session_limit.map_or("未設定".into(), |l| format!("{l} 人"))
                ),
            )],
        },
        Item {
            table: t,
            name: "既存システムとのデータ連携",
            asks: "庁内の既存システムとのデータ連携が可能かどうか確認する",
            checks: vec![check(
                "既存システムが API または一括登録で連携している",
                e.api_keys > 0 || e.loads.count > 0,
                format!("有効な API キー {}、{}", e.api_keys, e.loads.text("一括登録")),
            )],
        },
        Item {
            table: t,
            name: "アクセス権限の管理（クラウド事業者側を含む）",
            asks: "管理者の役割分担と責任分界、共同利用の形態に即した権限を確認する",
            checks: vec![
                check("団体ごとの管理者がいる", admins > 0, format!("役割別の人数: {people}")),
                check(
                    "運用者と複数団体の管理者は個人データに触れない",
                    operator_acts == 0,
                    format!("権限表で運用者・複数団体の管理者に許された個人データの操作 {operator_acts} 件"),
                ),
                check("権限の行使が監査ログに残り、改ざんがない", e.audit_sound, format!("監査ログの検証: {}", e.audit_text)),
            ],
        },
        Item {
            table: t,
            name: "アプリケーションの応答速度",
            asks: "応答速度を SLA で定め、定めたとおりの性能を利用者側で確認できる仕組みを確認する",
            checks: vec![
                response_agreed,
                check(
                    "利用者側で確認できる",
                    e.enrolled_at.is_some(),
                    e.enrolled_at.map_or("SLA監視に登録されていない".into(), |at| {
                        format!("SLA監視 {} から（団体の状況ページと運用サービス実績報告書に表示）", jst_minute(at))
                    }),
                ),
                response_measured,
            ],
        },
        Item {
            table: t,
            name: "データ保管場所と法制度",
            asks: "データセンター、バックアップの取得頻度や保管先、機微情報の取扱いを確認する",
            checks: vec![
                locations_check(e),
                backups_done(e),
                check(
                    "個人データが団体ごとの鍵で暗号化されている",
                    e.data_key_present,
                    if e.data_key_present {
                        "団体のデータ鍵が鍵ストアにあり、個人データはそれで暗号化"
                    } else {
                        "団体のデータ鍵がない"
                    },
                ),
            ],
        },
    ]
}

fn locations_check(e: &Evidence) -> Check {
    let asks = "データと鍵の保管場所が許可された国内にある";
    match (&e.locations_refused, &e.locations) {
        (Some(why), _) => check(asks, false, format!("保管場所の確認に失敗: {why}")),
        (None, l) if !l.is_empty() => check(
            asks,
            true,
            format!(
                "{}（許可: {}）",
                l.iter().map(|l| format!("{}: {} [{}]", l.label, l.at, l.place)).collect::<Vec<_>>().join("; "),
                e.allowed_countries.join(",")
            ),
        ),
        (None, _) => check(asks, false, "保管場所の記録がない"),
    }
}

fn backups_done(e: &Evidence) -> Check {
    let asks = "バックアップの頻度と保管先が定められ、実施されている";
    match &e.backup {
        None => check(asks, false, "バックアップが設定されていない"),
        Some(b) => check(
            asks,
            e.backups_ok > 0,
            format!(
                "保管先 {}{}、当月 成功 {} 回・失敗 {} 回{}",
                b.first_place,
                b.second_place.as_ref().map_or(String::new(), |p| format!("（遠隔地 {p}）")),
                e.backups_ok,
                e.backups_failed,
                e.last_backup_ok_at.map_or(String::new(), |at| format!("、最終成功 {}", jst_minute(at)))
            ),
        ),
    }
}

fn sla_grade(e: &Evidence, now: i64) -> Vec<Item> {
    let g = &e.contract.grade;
    let t = Table::SlaGrade;
    let measured = e.probes > 0;
    let availability = match e.availability_percent {
        Some(a) if measured => check(
            "当月の稼働率が目標以上",
            a >= g.availability_percent,
            format!("当月 {}（目標 {} %）", percent(Some(a)), g.availability_percent),
        ),
        _ => check("当月の稼働率が目標以上", false, format!("当月の計測なし（目標 {} %）", g.availability_percent)),
    };
    let mttr = match e.mttr_seconds {
        _ if !measured => check("当月の平均復旧時間が目標以内", false, "当月の計測なし"),
        Some(s) => check(
            "当月の平均復旧時間が目標以内",
            s <= g.mttr_hours * 3600.0,
            format!("当月 {}（障害 {} 件、目標 {} 時間）", hours(s), e.incidents, g.mttr_hours),
        ),
        None => {
            check("当月の平均復旧時間が目標以内", true, format!("当月 復旧した障害なし（障害 {} 件、監視 {} 回）", e.incidents, e.probes))
        }
    };
    // A probe within the hour: the status the pages show is live.
    let live = e.last_probe_at.is_some_and(|at| now - at <= 3600);
    let kinds = usize::from(e.mail_channels > 0) + usize::from(e.webhook_channels > 0);
    let (second, drilled) = match &e.backup {
        Some(BackupSetup { first_place, second_place: Some(p), second_medium, .. }) => (
            check(
                "遠隔地へバックアップしている",
                p != first_place && e.backups_ok > 0,
                format!(
                    "遠隔地 {p}（{}）、第一の保管先 {first_place}、当月の成功 {} 回",
                    second_medium.as_deref().unwrap_or("ディレクトリ"),
                    e.backups_ok
                ),
            ),
            true,
        ),
        Some(b) => (check("遠隔地へバックアップしている", false, format!("遠隔地の保管先がない（保管先 {}）", b.first_place)), true),
        None => (check("遠隔地へバックアップしている", false, "バックアップが設定されていない"), false),
    };
    let drill = check(
        "バックアップからの復元が訓練で確かめられている",
        drilled && e.drills_passed > 0,
        format!(
            "当月の復元訓練 合格 {} 回・不合格 {} 回{}",
            e.drills_passed,
            e.drills_failed,
            e.last_drill_passed_at.map_or(String::new(), |at| format!("、最終合格 {}", jst_minute(at)))
        ),
    );
    let method = match &e.backup {
        None => check("頻度・方法・保管媒体・形式が定められている", false, "バックアップが設定されていない"),
        Some(b) => check(
            "頻度・方法・保管媒体・形式が定められている",
            e.backups_ok > 0,
            format!(
                "{}、当月 成功 {} 回{}",
                if b.pgbackrest {
                    "PostgreSQL は pgBackRest（WAL 継続アーカイブ）、目録は restic 形式リポジトリ（暗号化）"
                } else {
                    "SQLite の一貫したコピーを restic 形式リポジトリ（暗号化・重複排除のスナップショット）へ"
                },
                e.backups_ok,
                e.last_backup_ok_at.map_or(String::new(), |at| format!("、最終 {}", jst_minute(at)))
            ),
        ),
    };
    let keep = match &e.backup {
        None => check("保管期間・世代数・廃棄方法が定められている", false, "バックアップが設定されていない"),
        Some(b) => check(
            "保管期間・世代数・廃棄方法が定められている",
            e.forgets.count > 0,
            format!(
                "日次 {}・週次 {}・月次 {} 世代（最長 約 {} 日）、期限を過ぎた世代の削除: {}",
                b.keep.daily,
                b.keep.weekly,
                b.keep.monthly,
                b.keep.recoverable_days(),
                e.forgets.text("実施")
            ),
        ),
    };
    vec![
        Item {
            table: t,
            name: "サービス時間",
            asks: "市民向けは24時間365日、職員向けは開庁日時を基準に定める",
            checks: vec![check(
                "サービス時間が契約で定められている",
                e.contract_source.is_some(),
                format!(
                    "{}（{}）",
                    service_hours(&e.contract.hours),
                    e.contract_source.as_deref().map_or("契約ファイルなし、既定値".into(), |s| format!("契約ファイル {s}"))
                ),
            )],
        },
        Item {
            table: t,
            name: "サービス稼働率",
            asks: "99%～99.5%程度を基本とする",
            checks: vec![
                check("目標が 99% 以上", g.availability_percent >= 99.0, format!("目標 {} %", g.availability_percent)),
                availability,
            ],
        },
        Item {
            table: t,
            name: "ディザスタリカバリ方法",
            asks: "遠隔地へのバックアップと、それを用いた緊急対応の方法が定められていること",
            checks: vec![second, drill],
        },
        Item {
            table: t,
            name: "障害発生時等に提供されるバックアップデータ形式",
            asks: "EUC で利用可能なデータ形式で提供されること",
            checks: vec![export_check(e, "EUC で使える形式で出力されている")],
        },
        Item {
            table: t,
            name: "平均復旧時間",
            asks: "3 時間程度を基本とする",
            checks: vec![check("目標が 3 時間程度以内", g.mttr_hours <= 3.0, format!("目標 {} 時間", g.mttr_hours)), mttr],
        },
        Item {
            table: t,
            name: "サービス提供状況の確認方法",
            asks: "オンラインでリアルタイムに確認でき、障害時は管理者宛に複数手段で自動連絡すること",
            checks: vec![
                check(
                    "稼働状況がリアルタイムに確認できる",
                    e.enrolled_at.is_some() && live,
                    match e.last_probe_at {
                        Some(at) => format!("最終プローブ {}（状況ページ /status と団体の状況ページ）", jst_minute(at)),
                        None => "プローブの記録がない".into(),
                    },
                ),
                check(
                    "障害を複数の手段で自動連絡する",
                    kinds >= 2,
                    format!("団体の通知先 メール {}、Webhook {}", e.mail_channels, e.webhook_channels),
                ),
            ],
        },
        Item {
            table: t,
            name: "カスタマイズ性",
            asks: "簡易な帳票の変更が利用者側で可能なこと、EUC で利用可能な形式で出力可能なこと",
            checks: vec![
                check("帳票を利用者が変更できる", false, "本基盤に利用者が変更できる帳票の設定はない"),
                export_check(e, "EUC で使える形式で出力されている"),
            ],
        },
        Item {
            table: t,
            name: "同時接続利用者数",
            asks: "平常時の同時接続利用者数と、一時的に増やす手続きを定めること",
            checks: vec![check(
                "同時接続の上限が定められている",
                e.session_limit.is_some(),
                format!(
                    "上限 {}、一時的な引上げ（運用者が期限付きで設定、監査記録あり）: {}",
                    e.session_limit.map_or("未設定".into(), |l| format!("{l} 人")),
                    e.limit_raises.text("引上げ")
                ),
            )],
        },
        Item {
            table: t, name: "データバックアップの方法", asks: "頻度、方法、保管媒体、データ形式を定めること", checks: vec![method]
        },
        Item {
            table: t, name: "バックアップデータの保管期間", asks: "保管期間、世代数、廃棄時の方法を定めること", checks: vec![keep]
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sla::Grade;

    const NOW: i64 = 1_796_000_000;

    fn all_there() -> Evidence {
        Evidence {
            contract: Contract {
                grade: Grade { search_p95_ms: Some(1000), update_p95_ms: Some(2000), ..Grade::default() },
                ..Contract::default()
            },
            contract_source: Some("contracts.toml [tenant.kou]".into()),
            probes: 100,
            availability_percent: Some(99.9),
            mttr_seconds: Some(1800.0),
            incidents: 1,
            search_p95_ms: Some(300),
            update_p95_ms: Some(900),
            enrolled_at: Some(NOW - 86_400),
            last_probe_at: Some(NOW - 60),
            mail_channels: 1,
            webhook_channels: 1,
            backup: Some(BackupSetup {
                first_place: "JP/東京都".into(),
                second_place: Some("JP/大阪府".into()),
                second_medium: Some("SFTP".into()),
                keep: KeepPolicy::default(),
                pgbackrest: false,
            }),
            backups_ok: 30,
            drills_passed: 4,
            last_backup_ok_at: Some(NOW - 3600),
            last_drill_passed_at: Some(NOW - 7200),
            forgets: Activity { count: 30, last_at: Some(NOW - 3600) },
            exports: Activity { count: 1, last_at: Some(NOW - 600) },
            loads: Activity { count: 2, last_at: Some(NOW - 900) },
            audit_sound: true,
            locations: vec![Location { label: "platform store".into(), at: "SQLite files in /d".into(), place: "JP/東京都".into() }],
            allowed_countries: vec!["JP".into()],
            data_key_present: true,
            people: vec![(Role::TenantAdmin, 1), (Role::Staff, 3)],
            api_keys: 1,
            approval_policies: 1,
            session_limit: Some(50),
            consortium: Some(("tokyo".into(), crate::allocation::Weights { equal: 1, population: 1, usage: 1 })),
            ..Evidence::default()
        }
    }

    fn status_of(items: &[Item], name: &str) -> Status {
        items.iter().find(|i| i.name == name).map(Item::status).expect(name)
    }

    #[test]
    fn every_item_of_both_tables_is_answered() {
        let items = sheet(&all_there(), NOW);
        assert_eq!(items.iter().filter(|i| i.table == Table::Evaluation).count(), 9);
        assert_eq!(items.iter().filter(|i| i.table == Table::SlaGrade).count(), 10);
        assert!(items.iter().all(|i| !i.checks.is_empty()));
    }

    #[test]
    fn with_every_evidence_only_what_the_platform_cannot_show_is_unmet() {
        let items = sheet(&all_there(), NOW);
        let unmet: Vec<&str> = items.iter().filter(|i| i.status() != Status::Met).map(|i| i.name).collect();
        assert_eq!(unmet, ["ノンカスタマイズの場合の業務改革コスト", "カスタマイズ性"]);
        assert_eq!(status_of(&items, "カスタマイズ性"), Status::Partly);
    }

    #[test]
    fn missing_evidence_is_not_met_and_says_what_is_missing() {
        let items = sheet(&Evidence::default(), NOW);
        for name in ["不明瞭な SLA", "サービス稼働率", "ディザスタリカバリ方法", "データバックアップの方法", "平均復旧時間"]
        {
            assert_ne!(status_of(&items, name), Status::Met, "{name}");
        }
        let dr = items.iter().find(|i| i.name == "ディザスタリカバリ方法").expect("item");
        assert!(dr.checks.iter().all(|c| !c.met));
        assert!(dr.checks[0].evidence.contains("設定されていない"), "{:?}", dr.checks[0]);
        // Nothing measured is not a month without incidents.
        let mttr = items.iter().find(|i| i.name == "平均復旧時間").expect("item");
        assert_eq!(mttr.checks[1].evidence, "当月の計測なし");
    }

    #[test]
    fn a_measured_figure_beyond_its_target_is_not_met() {
        let e = Evidence { availability_percent: Some(98.0), mttr_seconds: Some(4.0 * 3600.0), update_p95_ms: Some(2500), ..all_there() };
        let items = sheet(&e, NOW);
        for name in ["サービス稼働率", "平均復旧時間", "アプリケーションの応答速度"] {
            assert_eq!(status_of(&items, name), Status::Partly, "{name}");
        }
    }

    #[test]
    fn a_second_site_in_the_same_place_or_a_stale_probe_or_one_channel_is_not_enough() {
        let mut e = all_there();
        if let Some(b) = e.backup.as_mut() {
            b.second_place = Some(b.first_place.clone());
        }
        e.last_probe_at = Some(NOW - 2 * 3600);
        e.webhook_channels = 0;
        let items = sheet(&e, NOW);
        assert_eq!(status_of(&items, "ディザスタリカバリ方法"), Status::Partly);
        assert_eq!(status_of(&items, "サービス提供状況の確認方法"), Status::NotMet);
    }

    #[test]
    fn a_refused_location_listing_is_not_met_and_says_why() {
        let e = Evidence { locations_refused: Some("backup repositories: US is not allowed".into()), ..all_there() };
        let item = sheet(&e, NOW).into_iter().find(|i| i.name == "データ保管場所と法制度").expect("item");
        assert!(!item.checks[0].met);
        assert!(item.checks[0].evidence.contains("US is not allowed"));
    }
}
