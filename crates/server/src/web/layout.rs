//! The frame every page shares: `<html lang="ja">`, the stylesheet and script as files, the
//! header with the signed-in person and sign-out, the main content, and error pages.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use renkei_net::Problem;
use renkei_store::accounts::Session;

/// The service's name as the pages show it.
pub const SERVICE: &str = "renkei 中間サーバ";

/// A whole page: `title`, the person signed in (with the CSRF token their sign-out form carries)
/// or nobody, and `main`, in the frame every page shares (`renkei_net::page::frame`).
pub fn page(title: &str, signed_in: Option<(&Session, &str)>, main: Markup) -> Markup {
    let nav = signed_in.map(|(s, csrf)| {
        html! {
            nav aria-label="アカウント" {
                span.who { (s.account.name.as_str()) "（" (role_name(s.account.role)) "）" }
                form method="post" action="/sign-out" {
                    input type="hidden" name="csrf" value=(csrf);
                    button.secondary type="submit" { "サインアウト" }
                }
            }
        }
    });
    renkei_net::page::frame(SERVICE, title, nav, main)
}

/// A page with a heading and one message, for whoever asked (signed in or not).
pub fn bare(title: &str, message: &str) -> Markup {
    page(title, None, html! { p { (message) } })
}

/// A problem as a page: a Japanese heading by its status and its detail, which never quotes a
/// personal value (`renkei_net::problem`).
pub fn failure(p: Problem) -> Response {
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let heading = match status.as_u16() {
        400 | 422 => "入力内容を確認してください",
        401 => "サインインしてください",
        403 => "この操作は許可されていません",
        404 => "見つかりません",
        409 => "ほかの操作と重なりました",
        429 => "ただいま混み合っています",
        500..=599 => "システムでエラーが起きました",
        _ => "操作できませんでした",
    };
    let detail = p.detail.unwrap_or(p.title);
    (status, page(heading, None, html! { p { (detail) } })).into_response()
}

/// A problem as a notice on the page that caused it, in Japanese where its kind is a person's
/// to put right; the detail never quotes a personal value (`renkei_net::problem`).
pub fn problem_notice(p: &Problem) -> Markup {
    let slug = p.type_uri.rsplit(':').next().unwrap_or_default();
    let text = match slug {
        "invalid-individual-number" => "個人番号が正しくありません。12桁の数字を確かめてください。",
        "invalid-body" | "invalid-query" => "入力内容を確かめてください。",
        "conflict" => "この宛名番号またはこの方は、別の内容で登録されています。",
        "person-not-registered" => "この宛名番号の方はまだ登録されていません。先に照会対象者を登録してください。",
        "unknown-provider" => "照会先の機関が見つかりません。機関コードを確かめてください。",
        "matrix-denied" => "別表第二で認められていない照会です。",
        "duty-not-assigned" => "この事務は、あなたに割り当てられていません。",
        "unknown-item" => "特定個人情報の項目が正しくありません。",
        "hub-unavailable" => "情報提供ネットワークシステムにつながりません。しばらくしてからお試しください。",
        "import-rejected" => "ファイルに不正な行があるため、何も設定していません。",
        "unreadable-file" => "ファイルを読めませんでした。形式と文字コードを確かめてください。",
        "not-found" => "見つかりません。指定を確かめてください。",
        _ => "操作できませんでした。",
    };
    html! {
        div.notice.error role="alert" {
            p { (text) }
            @if let Some(detail) = &p.detail { p.hint { (detail) } }
            // A refused file's lines: line, column and reason, never a value.
            @if let Some(lines) = p.extensions.get("bad_lines").and_then(|l| l.as_array()) {
                ul #bad-lines { @for l in lines.iter().take(100) {
                    li { (l["line"]) "行目" @if let Some(c) = l["column_name"].as_str() { "（" (c) "）" } "：" (l["reason"].as_str().unwrap_or_default()) }
                } }
            }
        }
    }
}

pub use renkei_domain::wareki::{jst, moment};

/// The status a page that shows `p` answers with (a form refused is a client's error).
pub fn status_of(p: &Problem) -> StatusCode {
    StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST)
}

/// The role as the pages name it.
pub fn role_name(r: renkei_domain::Role) -> &'static str {
    use renkei_domain::Role;
    match r {
        Role::Operator => "運用者",
        Role::ConsortiumAdmin => "複数団体の管理者",
        Role::TenantAdmin => "団体管理者",
        Role::Approver => "決裁者",
        Role::Staff => "職員",
        Role::Auditor => "監査者",
    }
}
