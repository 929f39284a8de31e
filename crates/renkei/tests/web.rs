//! The pages' security as a browser meets it, over HTTPS without a browser: the headers every
//! page carries, the `__Host-` session cookie, CSRF tokens on forms, a new session at each
//! sign-in, sign-in with enrolment of the second factor, and sign-out. (The pages in a real
//! browser: `tests/browser.rs`.)

mod common;

use common::{Backend, Cluster};
use reqwest::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, COOKIE, LOCATION, SET_COOKIE};

on_both_backends!(a_person_signs_in_enrols_and_signs_out_on_the_pages_and_every_form_needs_its_token);

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
