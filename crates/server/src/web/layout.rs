//! The frame every page shares: `<html lang="ja">`, the stylesheet and script as files, the
//! header with the signed-in person and sign-out, the main content, and error pages.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use renkei_net::Problem;
use renkei_store::accounts::Session;

/// The service's name as the pages show it.
pub const SERVICE: &str = "renkei 中間サーバ";

/// A whole page: `title`, the person signed in (with the CSRF token their sign-out form carries)
/// or nobody, and `main`.
pub fn page(title: &str, signed_in: Option<(&Session, &str)>, main: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="ja" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " | " (SERVICE) }
                link rel="stylesheet" href=(crate::web::assets::STYLESHEET);
                script src=(crate::web::assets::SCRIPT) defer {}
            }
            body {
                a.skip href="#main" { "本文へ移動" }
                header.site {
                    span.service { (SERVICE) }
                    @if let Some((s, csrf)) = signed_in {
                        nav aria-label="アカウント" {
                            span.who { (s.account.name.as_str()) "（" (role_name(s.account.role)) "）" }
                            form method="post" action="/sign-out" {
                                input type="hidden" name="csrf" value=(csrf);
                                button.secondary type="submit" { "サインアウト" }
                            }
                        }
                    }
                }
                main id="main" tabindex="-1" {
                    h1 { (title) }
                    (main)
                }
            }
        }
    }
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
