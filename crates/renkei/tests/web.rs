//! The pages' security as a browser meets it, over HTTPS without a browser: the headers every
//! page carries, the `__Host-` session cookie, CSRF tokens on forms, a new session at each
//! sign-in, sign-in with enrolment of the second factor, and sign-out. (The pages in a real
//! browser: `tests/browser.rs`.)

mod common;

use common::{Backend, Cluster};
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, COOKIE, LOCATION, SET_COOKIE};

on_both_backends!(
    a_person_signs_in_enrols_and_signs_out_on_the_pages_and_every_form_needs_its_token,
    every_page_refuses_exactly_the_roles_the_policy_refuses,
    markup_in_every_field_of_every_form_comes_back_as_text,
    the_monthly_report_is_a_page_for_whoever_reads_the_tenants_sla,
);

/// A request of a signed-in person's browser: the session cookie, and on a form its token.
fn as_browser(web: &reqwest::Client, token: &str, method: &str, url: String, fields: &[(&str, String)]) -> reqwest::RequestBuilder {
    let req = if method == "GET" {
        web.get(url)
    } else {
        let mut form = vec![("csrf".to_owned(), renkei_crypto::session::csrf_token(token))];
        form.extend(fields.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        web.post(url).form(&form)
    };
    req.header(COOKIE, format!("__Host-renkei-session={token}"))
}

/// A signed-in person of each role: (role, session token).
async fn one_of_each_role(c: &Cluster) -> Vec<(renkei_domain::Role, String)> {
    use renkei_domain::Role;
    c.admin_with(&["consortium-set", "--id", "kumiai", "--name", "甲広域連合", "--tenant", "tenant-a"], "");
    c.admin_with(&["account-create", "--consortium", "kumiai", "--name", "kumi", "--role", "consortium_admin"], "a long passphrase\n");
    vec![
        (Role::Staff, c.person("tenant-a", "sato", "staff", Some("a-mayor")).await),
        (Role::Approver, c.person("tenant-a", "kato", "approver", Some("a-mayor")).await),
        (Role::TenantAdmin, c.person("tenant-a", "yamada", "tenant_admin", None).await),
        (Role::Auditor, c.person("tenant-a", "ito", "auditor", None).await),
        (Role::ConsortiumAdmin, c.enrolled_session("kumi", "a long passphrase").await),
        (Role::Operator, c.operator_session().await),
    ]
}

async fn every_page_refuses_exactly_the_roles_the_policy_refuses(b: Backend) {
    use renkei_domain::policy::{Principal, allows};
    let c = Cluster::start_on(b).await;
    let people = one_of_each_role(&c).await;
    let web = c.browser();
    // Enough of every form's fields that a refusal can only be the role's.
    let fields: Vec<(&str, String)> = ["org", "duty", "label", "name", "role", "password", "current", "new", "again", "decision", "reason"]
        .into_iter()
        .chain(["addressee_no", "individual_number", "item", "mark", "normal", "limit", "hours", "window_minutes", "provider"])
        .map(|k| (k, "x".to_owned()))
        .collect();
    for (role, token) in &people {
        for page in renkei_server::web::PAGES {
            let path = page
                .path
                .replace("{id}", "0190aaaa-0000-7000-8000-000000000000")
                .replace("{request_id}", "no-such-request")
                .replace("{name}", "nobody")
                .replace("{tenant}", "tenant-a");
            let r = as_browser(&web, token, page.method, format!("{}{path}", c.internal()), &fields).send().await.expect("request");
            let status = r.status().as_u16();
            let what = format!("{role:?} {} {}", page.method, page.path);
            assert!(status < 500, "{what}: {status}");
            if allows(Principal::Person(*role), page.action) {
                assert_ne!(status, 403, "{what}: refused, though the policy allows it");
            } else {
                assert_eq!(status, 403, "{what}: the policy refuses it");
            }
        }
    }
}

/// Markup a page must show as text, never as elements.
const MARKUP: &str = "\"'><script>window.pwned=1</script><img src=x onerror=alert(1)>";

fn inert(html: &str) -> bool {
    !html.contains("<script>window.pwned") && !html.contains("<img src=x")
}

async fn markup_in_every_field_of_every_form_comes_back_as_text(b: Backend) {
    use renkei_domain::Role;
    let c = Cluster::start_on(b).await;
    let people = one_of_each_role(&c).await;
    let token = |role: Role| people.iter().find(|(r, _)| *r == role).map(|(_, t)| t.clone()).expect("a person of the role");
    assert_eq!(c.register("a-mayor", "MK-1", &common::number(77)).await.0, 201);
    // A query waiting for approval, for the approver's form.
    let (s, _, _) = c
        .as_person(
            &token(Role::TenantAdmin),
            reqwest::Method::PUT,
            "/api/v1/approval-policies/a-mayor/D015",
            Some(serde_json::json!({"window_minutes": 60})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _, q) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "MK-1", "markup").await;
    assert_eq!(s, 201, "{q}");
    let waiting = q["id"].as_str().expect("id").to_owned();
    let web = c.browser();
    let valid = |field: &str| -> String {
        match field {
            "addressee_no" => "MK-1".into(),
            "individual_number" => common::number(78),
            "duty" => "D015".into(),
            "provider" => "b-mayor".into(),
            "item" => "TAX".into(),
            "reference_date" => "2026-07-01".into(),
            "name" => "newcomer".into(),
            "role" => "staff".into(),
            "org" => "a-mayor".into(),
            "password" | "current" | "new" | "again" => "a long passphrase".into(),
            "label" => "住民記録".into(),
            "window_minutes" => "60".into(),
            "mark" => "manual".into(),
            "normal" => "5".into(),
            "limit" => "8".into(),
            "hours" => "2".into(),
            "decision" => "reject".into(),
            _ => "理由".into(),
        }
    };
    let approve = format!("/approvals/{waiting}");
    let forms: Vec<(Role, &str, &[&str])> = vec![
        (Role::Staff, "/persons/new", &["addressee_no", "individual_number"]),
        (Role::Staff, "/persons/lookup", &["addressee_no"]),
        (Role::Staff, "/queries", &["duty", "provider", "item", "addressee_no", "reference_date", "idempotency_key"]),
        (Role::Staff, "/password", &["current", "new", "again"]),
        (Role::Staff, "/reviews/no-such-request", &["decision", "reason"]),
        (Role::TenantAdmin, "/admin/accounts", &["name", "role", "org", "password"]),
        (Role::TenantAdmin, "/admin/accounts/sato/duties", &["duty"]),
        (Role::TenantAdmin, "/admin/api-keys", &["org", "label"]),
        (Role::TenantAdmin, "/admin/approval-policies", &["org", "duty", "window_minutes"]),
        (Role::TenantAdmin, "/admin/approval-policies/remove", &["org", "duty"]),
        (Role::TenantAdmin, "/marks", &["org", "addressee_no", "item", "mark"]),
        (Role::Operator, "/tenants/tenant-a/session-limit", &["normal"]),
        (Role::Operator, "/tenants/tenant-a/session-limit/raise", &["limit", "hours"]),
        // The reason last: the one that is kept (the query ends with it).
        (Role::Approver, approve.as_str(), &["decision", "reason"]),
    ];
    for (role, path, names) in &forms {
        for marked in names.iter() {
            let fields: Vec<(&str, String)> = names.iter().map(|n| (*n, if n == marked { MARKUP.to_owned() } else { valid(n) })).collect();
            let r = as_browser(&web, &token(*role), "POST", format!("{}{path}", c.internal()), &fields).send().await.expect("post");
            let status = r.status().as_u16();
            let body = r.text().await.expect("body");
            assert!(status < 500, "{path} {marked}: {status}");
            assert!(inert(&body), "{path} {marked}: markup came back as markup");
        }
    }
    // In a URL's query too.
    for (role, path) in [
        (Role::Staff, format!("/records?duty={m}&counterpart_org={m}", m = urlencode(MARKUP))),
        (Role::Staff, format!("/queries/new?duty={m}&provider={m}", m = urlencode(MARKUP))),
        (Role::TenantAdmin, format!("/marks?org={m}", m = urlencode(MARKUP))),
        (Role::Staff, format!("/queries/{m}", m = urlencode(MARKUP))),
    ] {
        let r = as_browser(&web, &token(role), "GET", format!("{}{path}", c.internal()), &[]).send().await.expect("get");
        assert!(r.status().as_u16() < 500, "{path}");
        assert!(inert(&r.text().await.expect("body")), "{path}: markup came back as markup");
    }
    // What was kept (a key's label, a rejection's reason) shows as text where it is listed.
    for (role, path) in
        [(Role::TenantAdmin, "/admin".to_owned()), (Role::Staff, format!("/queries/{waiting}")), (Role::Staff, "/".to_owned())]
    {
        let body = as_browser(&web, &token(role), "GET", format!("{}{path}", c.internal()), &[])
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("body");
        assert!(inert(&body), "{path}: kept markup shows as markup");
        if path == "/admin" {
            assert!(body.contains("&lt;script&gt;window.pwned=1&lt;/script&gt;"), "the label is listed, escaped");
        }
    }
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// The cookies a response sets, as (name, whole Set-Cookie line).
fn set_cookies(r: &reqwest::Response) -> Vec<(String, String)> {
    r.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| (v.split('=').next().unwrap_or_default().to_owned(), v.to_owned()))
        .collect()
}

fn value_of(set_cookie: &str) -> String {
    set_cookie.split(';').next().and_then(|kv| kv.split_once('=')).map(|(_, v)| v.to_owned()).unwrap_or_default()
}

/// The `value` of the hidden input `name` in `html`.
fn hidden(html: &str, name: &str) -> String {
    let at = html.find(&format!("name=\"{name}\"")).unwrap_or_else(|| panic!("no {name} in {html}"));
    let rest = &html[at..];
    let v = rest.find("value=\"").expect("value") + 7;
    rest[v..v + rest[v..].find('"').expect("end")].to_owned()
}

async fn a_person_signs_in_enrols_and_signs_out_on_the_pages_and_every_form_needs_its_token(b: Backend) {
    let c = Cluster::start_on(b).await;
    c.admin_with(
        &["account-create", "--tenant", "tenant-a", "--name", "sato", "--role", "staff", "--org", "a-mayor"],
        "a long passphrase\n",
    );
    let web = c.browser();
    let url = |path: &str| format!("{}{path}", c.internal());

    // The sign-in page: its headers, and the cookie its form's token is made from.
    let r = web.get(url("/sign-in")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(r.headers()[CACHE_CONTROL], "no-store");
    let cookies = set_cookies(&r);
    let form_cookie = cookies.iter().find(|(n, _)| n == "__Host-renkei-form").expect("form cookie").1.clone();
    for attribute in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(form_cookie.contains(attribute), "{form_cookie}");
    }
    let form = format!("__Host-renkei-form={}", value_of(&form_cookie));
    let html = r.text().await.unwrap();
    assert!(html.contains("<html lang=\"ja\">") && html.contains("サインイン"), "{html}");
    assert!(!html.contains("<script>") && !html.contains("style="), "no inline script or style");
    let csrf = hidden(&html, "csrf");

    // Without the token, or with another's, nothing is tried.
    let post = |cookie: String, fields: Vec<(&'static str, String)>, path: &'static str| {
        web.post(url(path)).header(COOKIE, cookie).form(&fields).send()
    };
    let sign_in = |csrf: String, password: &str| {
        vec![("csrf", csrf), ("name", "sato".to_owned()), ("password", password.to_owned()), ("code", String::new())]
    };
    let r = post(form.clone(), sign_in("forged".into(), "a long passphrase"), "/sign-in").await.unwrap();
    assert_eq!(r.status(), 403);
    let r = post(String::new(), sign_in(csrf.clone(), "a long passphrase"), "/sign-in").await.unwrap();
    assert_eq!(r.status(), 403, "the token without its cookie");
    // A wrong password: the same words as an unknown name, and no session.
    let r = post(form.clone(), sign_in(csrf.clone(), "wrong passphrase"), "/sign-in").await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(set_cookies(&r).iter().all(|(n, _)| n != "__Host-renkei-session"));
    assert!(r.text().await.unwrap().contains("サインインできませんでした"));

    // Signed in without a second factor: only enrolment is open.
    let r = post(form.clone(), sign_in(csrf.clone(), "a long passphrase"), "/sign-in").await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()[LOCATION].to_str().unwrap()), (303, "/totp"));
    let session_cookie = set_cookies(&r).into_iter().find(|(n, _)| n == "__Host-renkei-session").expect("session cookie").1;
    for attribute in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session_cookie.contains(attribute), "{session_cookie}");
    }
    let enrolling = format!("__Host-renkei-session={}", value_of(&session_cookie));
    let r = web.get(url("/")).header(COOKIE, &enrolling).send().await.unwrap();
    assert_eq!(r.headers()[LOCATION], "/totp", "home waits for the second factor");
    let page = web.get(url("/totp")).header(COOKIE, &enrolling).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<svg"), "a QR code to scan");
    let uri_at = page.find("otpauth://").expect("the secret for who cannot scan");
    let uri = page[uri_at..uri_at + page[uri_at..].find('<').unwrap()].replace("&amp;", "&");
    let totp = renkei_crypto::totp::Totp::from_uri(&uri).expect("otpauth URI");
    let enrol = |csrf: String, code: String| vec![("csrf", csrf), ("sealed", hidden(&page, "sealed")), ("code", code)];
    let r = post(enrolling.clone(), enrol(hidden(&page, "csrf"), "000000".into()), "/totp").await.unwrap();
    assert_eq!(r.status(), 422, "a wrong code enrols nothing");
    let r = post(enrolling.clone(), enrol(csrf.clone(), totp.code(common::unix_now())), "/totp").await.unwrap();
    assert_eq!(r.status(), 403, "the sign-in form's token is not the session's");
    let r = post(enrolling.clone(), enrol(hidden(&page, "csrf"), totp.code(common::unix_now())), "/totp").await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()[LOCATION].to_str().unwrap()), (303, "/"));
    let home = web.get(url("/")).header(COOKIE, &enrolling).send().await.unwrap();
    assert_eq!(home.status(), 200);
    assert_eq!(home.headers()[CACHE_CONTROL], "no-store");
    let home = home.text().await.unwrap();
    assert!(home.contains("sato さん（職員）"), "{home}");

    // Signing in again (with the next code) is a new session, never the old id.
    tokio::time::sleep(std::time::Duration::from_secs(31 - common::unix_now() % 30)).await;
    let mut again = sign_in(csrf.clone(), "a long passphrase");
    again[3].1 = totp.code(common::unix_now());
    let r = post(form.clone(), again, "/sign-in").await.unwrap();
    assert_eq!((r.status().as_u16(), r.headers()[LOCATION].to_str().unwrap()), (303, "/"));
    let second = set_cookies(&r).into_iter().find(|(n, _)| n == "__Host-renkei-session").unwrap().1;
    assert_ne!(value_of(&second), value_of(&session_cookie));

    // Sign-out needs the session's token, ends the session and clears the cookie.
    let r = post(enrolling.clone(), vec![("csrf", "forged".into())], "/sign-out").await.unwrap();
    assert_eq!(r.status(), 403);
    let r = post(enrolling.clone(), vec![("csrf", hidden(&home, "csrf"))], "/sign-out").await.unwrap();
    assert_eq!(r.headers()[LOCATION], "/sign-in?signed_out=1");
    assert!(set_cookies(&r).iter().any(|(n, v)| n == "__Host-renkei-session" && v.contains("Max-Age=0")));
    let r = web.get(url("/")).header(COOKIE, &enrolling).send().await.unwrap();
    assert_eq!(r.headers()[LOCATION], "/sign-in", "the old cookie opens nothing");
}

async fn the_monthly_report_is_a_page_for_whoever_reads_the_tenants_sla(b: Backend) {
    use renkei_domain::Role;
    let c = Cluster::start_on(b).await;
    let people = one_of_each_role(&c).await;
    let token = |role: Role| people.iter().find(|(r, _)| *r == role).map(|(_, t)| t.clone()).expect("a person of the role");
    let web = c.browser();
    let get = |token: String, path: &str| as_browser(&web, &token, "GET", format!("{}{path}", c.internal()), &[]).send();

    // The tenant admin finds it from the status of tenants, and reads last month's by default.
    let r = get(token(Role::TenantAdmin), "/tenants").await.expect("page");
    let listing = r.text().await.expect("body");
    assert!(listing.contains("href=\"/tenants/tenant-a/report\""), "{listing}");
    let r = get(token(Role::TenantAdmin), "/tenants/tenant-a/report?month=2026-11").await.expect("page");
    assert_eq!(r.status(), 200);
    let csp = r.headers()[CONTENT_SECURITY_POLICY].to_str().expect("ascii").to_owned();
    assert_eq!(r.headers()[CACHE_CONTROL], "no-store");
    let page = r.text().await.expect("body");
    assert!(page.contains("運用サービス実績報告書") && page.contains("対象月: 2026-11"), "{page}");
    assert!(page.contains("この月の計測データはありません"), "no probe ran in that month: {page}");
    // Its one inline style runs by its hash; nothing else inline does.
    let style = page.split("<style>").nth(1).and_then(|s| s.split("</style>").next()).expect("an inline style");
    assert!(csp.contains(&format!("style-src 'sha256-{}'", renkei_crypto::sha256_base64(style.as_bytes()))), "{csp}");
    assert!(!csp.contains("unsafe-inline") && csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    // The consortium's admin and the operator read it too; another tenant's is not found, a
    // bad month is refused, staff may not.
    for role in [Role::ConsortiumAdmin, Role::Operator] {
        assert_eq!(get(token(role), "/tenants/tenant-a/report").await.expect("page").status(), 200, "{role:?}");
    }
    assert_eq!(get(token(Role::TenantAdmin), "/tenants/tenant-b/report").await.expect("page").status(), 404);
    assert_eq!(get(token(Role::ConsortiumAdmin), "/tenants/tenant-b/report").await.expect("page").status(), 404);
    assert_eq!(get(token(Role::TenantAdmin), "/tenants/tenant-a/report?month=2026-13").await.expect("page").status(), 400);
    assert_eq!(get(token(Role::Staff), "/tenants/tenant-a/report").await.expect("page").status(), 403);
    let r = web.get(format!("{}/tenants/tenant-a/report", c.internal())).send().await.expect("page");
    assert!(r.url().path().starts_with("/sign-in") || r.status().is_redirection(), "signed out: {}", r.url());
}
