//! The pages in a real browser: headless Chromium driven over WebDriver (chromedriver, as
//! `.ci/run` installs them), axe-core run on every page (no serious or critical violation), and a
//! screenshot of each step under `target/screens/` (the committed ones, shown in
//! `docs/guide-ja.md`, are copied from there).

mod common;

use common::Cluster;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// chromedriver on a port of its own, and a headless Chromium session on it; both end with it.
struct Browser {
    client: Client,
    driver: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn tool(env: &str, default: &str, install: &str) -> String {
    let path = std::env::var(env).unwrap_or_else(|_| default.to_owned());
    assert!(std::path::Path::new(&path).exists(), "{path} is not installed: {install} (as .ci/run does), or set {env}");
    path
}

impl Browser {
    async fn start() -> Browser {
        let chromium = tool("RENKEI_CHROMIUM", "/usr/bin/chromium", "apt-get install chromium chromium-driver");
        let chromedriver = tool("RENKEI_CHROMEDRIVER", "/usr/bin/chromedriver", "apt-get install chromium chromium-driver");
        let port = common::free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let caps = serde_json::json!({
            // The test cluster's CA is not the browser's: its certificates are accepted as they are.
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,800", "--lang=ja"]
            }
        });
        let caps = match caps {
            serde_json::Value::Object(m) => m,
            _ => unreachable!("an object"),
        };
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..100 {
            match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => return Browser { client, driver },
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no WebDriver session: {last:?}");
    }

    async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    async fn fill(&self, css: &str, text: &str) {
        let field = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    async fn click(&self, css: &str) {
        self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}")).click().await.expect("click");
    }

    /// Clicks `css`, a form's button, and waits for the page that answers the form at `path`: a
    /// new document, not the one the click was on (a form that posts back to its own page would
    /// otherwise be found "arrived" before the browser left it).
    async fn submit(&self, css: &str, path: &str) {
        self.client.execute("window.__renkeiBeforeSubmit = true", vec![]).await.expect("mark the page");
        self.click(css).await;
        for _ in 0..200 {
            let left = self.client.execute("return window.__renkeiBeforeSubmit === undefined", vec![]).await.ok();
            if left == Some(serde_json::json!(true)) {
                return self.arrive(path).await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{css}: the page did not change");
    }

    /// Signs `name` in for the first time and enrols the second factor from the page's
    /// `otpauth` URI, which it returns; the browser is then at home.
    async fn sign_in_first_time(&self, base: &str, name: &str, password: &str) -> renkei_crypto::totp::Totp {
        self.goto(&format!("{base}/sign-in")).await;
        self.fill("#name", name).await;
        self.fill("#password", password).await;
        self.click("main button[type=submit]").await;
        self.arrive("/totp").await;
        let uri =
            self.client.find(Locator::Css(".secret")).await.expect("secret").prop("textContent").await.expect("text").unwrap_or_default();
        let totp = renkei_crypto::totp::Totp::from_uri(uri.trim()).expect("otpauth URI");
        self.fill("#code", &totp.code(common::unix_now())).await;
        self.click("main button[type=submit]").await;
        self.arrive("/").await;
        totp
    }

    /// The state a query's page at `url` shows once it is final (回答済 or エラー), reloading it
    /// as a person would (at most 20 s).
    async fn final_state(&self, url: &str) -> String {
        let mut state = String::new();
        for _ in 0..100 {
            state = self.client.find(Locator::Css("#state")).await.expect("state").text().await.expect("text");
            if state == "回答済" || state == "エラー" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            self.goto(url).await;
        }
        state
    }

    /// Types `keys` into whatever has the focus, as a keyboard does.
    async fn keys(&self, keys: &str) {
        self.client.active_element().await.expect("focused element").send_keys(keys).await.expect("keys");
    }

    /// Presses Tab until the focused element's text, value or id says `label` (at most 30
    /// times), as someone without a mouse moves through a page.
    async fn tab_to(&self, label: &str) {
        for _ in 0..30 {
            self.keys(&Key::Tab.to_string()).await;
            let el = self.client.active_element().await.expect("focused element");
            let text = el.text().await.unwrap_or_default();
            let id = el.attr("id").await.ok().flatten().unwrap_or_default();
            if text.trim() == label || id == label {
                return;
            }
        }
        panic!("Tab never reached {label}");
    }

    async fn select(&self, css: &str, value: &str) {
        let select = self.client.find(Locator::Css(css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
        select.select_by_value(value).await.expect("select");
    }

    async fn text(&self) -> String {
        self.client.find(Locator::Css("body")).await.expect("body").text().await.expect("text")
    }

    async fn path(&self) -> String {
        self.client.current_url().await.expect("url").path().to_owned()
    }

    /// Waits until the page at `path` has loaded (a click that submits a form may return before
    /// the browser has left the page it was on).
    async fn arrive(&self, path: &str) {
        for _ in 0..100 {
            let loaded = self.client.execute("return document.readyState", vec![]).await.ok() == Some(serde_json::json!("complete"));
            if loaded && self.path().await == path {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("still at {} rather than {path}", self.path().await);
    }

    /// Visits every page there is (and query `id`'s) and finds none of `personal` in any.
    async fn no_personal_data_on_any_page(&self, base: &str, id: &str, personal: &[&str]) {
        let query = format!("/queries/{id}");
        let pages = [
            "/",
            "/tenants",
            "/admin",
            "/queries/new",
            "/persons/new",
            "/approvals",
            "/reviews",
            "/records",
            "/loads",
            "/marks",
            "/audit",
            "/password",
            &query,
        ];
        for path in pages {
            self.goto(&format!("{base}{path}")).await;
            let source = self.client.source().await.expect("source");
            for value in personal {
                assert!(!source.contains(value), "{path} shows {value}");
            }
        }
    }

    /// Runs axe-core on the page and fails on any serious or critical violation (WCAG 2.1 A and
    /// AA rules: JIS X 8341-3 level AA), then saves a screenshot as `target/screens/NAME.png`.
    async fn check(&self, name: &str) {
        let axe = std::fs::read_to_string(axe_path()).expect("axe-core");
        self.client.execute(&format!("{axe}\nreturn true;"), vec![]).await.expect("load axe-core");
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
                   .then(r => done(r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                     .map(v => v.id + ' (' + v.impact + '): ' + v.nodes.map(n => n.target.join(' ')).join(', '))))
                   .catch(e => done(['axe failed: ' + e]));",
                vec![],
            )
            .await
            .expect("axe.run");
        assert_eq!(found, serde_json::json!([]), "{name}: accessibility violations");
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screens");
        std::fs::create_dir_all(&dir).expect("screens dir");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("save screenshot");
    }
}

fn axe_path() -> std::path::PathBuf {
    let default = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/axe/node_modules/axe-core/axe.min.js");
    let path = std::env::var("RENKEI_AXE").map(Into::into).unwrap_or(default);
    assert!(
        path.exists(),
        "axe-core is not installed: npm install --prefix target/axe axe-core@4.10.3 (as .ci/run does), or set RENKEI_AXE"
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staff_member_signs_in_enrols_the_second_factor_and_signs_out() {
    let c = Cluster::start().await;
    c.admin_with(
        &["account-create", "--tenant", "tenant-a", "--name", "sato", "--role", "staff", "--org", "a-mayor"],
        "a long passphrase\n",
    );
    let b = Browser::start().await;
    let url = |path: &str| format!("{}{path}", c.internal());

    b.goto(&url("/")).await;
    assert_eq!(b.path().await, "/sign-in", "a page without a session leads to sign-in");
    b.check("01-sign-in").await;
    b.fill("#name", "sato").await;
    b.fill("#password", "wrong passphrase").await;
    b.click("button[type=submit]").await;
    b.client.wait().for_element(Locator::Css(".notice.error")).await.expect("the refusal");
    assert!(b.text().await.contains("サインインできませんでした"));
    b.check("02-sign-in-refused").await;

    b.fill("#name", "sato").await;
    b.fill("#password", "a long passphrase").await;
    b.click("main button[type=submit]").await;
    b.arrive("/totp").await;
    b.check("03-enrol-second-factor").await;
    let uri = b.client.find(Locator::Css(".secret")).await.expect("secret").prop("textContent").await.expect("text").unwrap_or_default();
    let totp = renkei_crypto::totp::Totp::from_uri(uri.trim()).expect("otpauth URI");
    b.fill("#code", &totp.code(common::unix_now())).await;
    b.click("main button[type=submit]").await;
    b.arrive("/").await;
    assert!(b.text().await.contains("sato さん（職員）"));
    b.check("04-home").await;

    // A new password: the confirmation must match; then every session ends, this one too.
    b.click("a[href='/password']").await;
    b.arrive("/password").await;
    b.fill("#current", "a long passphrase").await;
    b.fill("#new", "another long passphrase").await;
    b.fill("#again", "another long passphrasf").await;
    b.click("main button[type=submit]").await;
    b.client.wait().for_element(Locator::Css(".notice.error")).await.expect("the mismatch");
    assert!(b.text().await.contains("一致しません"));
    b.check("06-password-change").await;
    b.fill("#current", "a long passphrase").await;
    b.fill("#new", "another long passphrase").await;
    b.fill("#again", "another long passphrase").await;
    b.click("main button[type=submit]").await;
    b.arrive("/sign-in").await;
    assert!(b.text().await.contains("パスワードを変更しました"));
    b.fill("#name", "sato").await;
    b.fill("#password", "another long passphrase").await;
    // The enrolment's code is spent: the authenticator's next one.
    b.fill("#code", &totp.code(common::unix_now() + 30)).await;
    b.click("main button[type=submit]").await;
    b.arrive("/").await;

    b.click("header button[type=submit]").await;
    b.arrive("/sign-in").await;
    assert!(b.text().await.contains("サインアウトしました"));
    b.goto(&url("/")).await;
    assert_eq!(b.path().await, "/sign-in", "signed out: home is closed");
    b.client.clone().close().await.expect("close the session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staff_member_registers_a_person_files_a_query_and_reads_the_answer() {
    let c = Cluster::start().await;
    c.admin_with(
        &["account-create", "--tenant", "tenant-a", "--name", "sato", "--role", "staff", "--org", "a-mayor"],
        "a long passphrase\n",
    );
    let admin = c.person("tenant-a", "admin-a", "tenant_admin", None).await;
    let duties = serde_json::json!({"duties": ["D015"]});
    let (s, _, v) = c.as_person(&admin, reqwest::Method::PUT, "/api/v1/accounts/sato/duties", Some(duties)).await;
    assert_eq!(s, 200, "{v}");
    // The provider knows the person and holds a copy.
    assert_eq!(c.register("b-mayor", "B1", &common::number(77)).await.0, 201);
    assert_eq!(c.copy("b-mayor", "B1", "TAX", "2026-04-01", serde_json::json!({"課税額": 123456})).await.0, 200);

    let b = Browser::start().await;
    let base = c.internal();
    b.sign_in_first_time(&base, "sato", "a long passphrase").await;
    assert!(b.text().await.contains("照会はまだありません"));

    b.click("a[href='/persons/new']").await;
    b.arrive("/persons/new").await;
    b.check("10-register-person").await;
    // Looked up by 宛名番号 first: not registered yet.
    b.fill("#lookup", "A1").await;
    b.click("form[action='/persons/lookup'] button").await;
    b.client.wait().for_element(Locator::Css("#lookup-result")).await.expect("the look-up");
    assert!(b.text().await.contains("まだ登録されていません"));
    b.fill("#addressee", "A1").await;
    b.fill("#number", "123").await;
    b.click("form[action='/persons/new'] button[type=submit]").await;
    b.client.wait().for_element(Locator::Css(".notice.error")).await.expect("the refusal");
    assert!(!b.client.source().await.expect("source").contains("value=\"123\""), "the number is not shown again");
    b.fill("#addressee", "A1").await;
    b.fill("#number", &common::number(77)).await;
    b.click("form[action='/persons/new'] button[type=submit]").await;
    b.client.wait().for_element(Locator::Css(".notice.success")).await.expect("registered");
    assert!(b.text().await.contains("宛名番号 A1 の方を登録しました。"));
    b.check("11-person-registered").await;
    b.goto(&format!("{base}/persons/new")).await;
    b.fill("#lookup", "A1").await;
    b.click("form[action='/persons/lookup'] button").await;
    b.client.wait().for_element(Locator::Css("#lookup-result")).await.expect("the look-up");
    assert!(b.text().await.contains("宛名番号 A1 の方は登録済みです"));

    b.click("main a.button").await;
    b.arrive("/queries/new").await;
    b.select("#duty", "D015").await;
    b.click("main button.secondary").await;
    b.client.wait().for_element(Locator::Css("#provider")).await.expect("step 2");
    b.fill("#provider", "b-mayor").await;
    b.click("main button.secondary").await;
    b.client.wait().for_element(Locator::Css("#item-TAX")).await.expect("step 3");
    b.check("12-file-query").await;
    b.click("#item-TAX").await;
    b.fill("#addressee", "A1").await;
    b.click("main form[method=post] button[type=submit]").await;
    if b.client.wait().for_element(Locator::Css("#state")).await.is_err() {
        panic!("not the query's page: {}", b.text().await);
    }
    let query_path = b.path().await;
    assert!(query_path.starts_with("/queries/"), "{query_path}");
    assert_eq!(b.final_state(&format!("{base}{query_path}")).await, "回答済");
    let text = b.text().await;
    assert!(text.contains("照会先が情報を提供しました") && text.contains("課税額") && text.contains("123456"), "{text}");
    let history = b.client.find(Locator::Css("#history")).await.expect("the history").text().await.expect("text");
    let states: Vec<&str> = history.lines().filter_map(|l| l.rsplit(' ').next()).collect();
    assert_eq!(states, ["送信待ち", "照会中", "回答済"], "{history}");
    b.check("13-query-answered").await;

    b.goto(&format!("{base}/")).await;
    assert!(b.text().await.contains("回答済：1件"));
    b.check("14-home-with-queries").await;

    // On a narrow window (a phone's width) every page fits: nothing but a wide table scrolls
    // sideways, inside its own box.
    b.client.set_window_size(390, 844).await.expect("narrow the window");
    for (path, name) in [
        ("/", "70-narrow-home"),
        ("/queries/new", "71-narrow-query-form"),
        (query_path.as_str(), "72-narrow-query"),
        ("/records", "73-narrow-records"),
    ] {
        b.goto(&format!("{base}{path}")).await;
        let overflow = b
            .client
            .execute("return document.documentElement.scrollWidth - document.documentElement.clientWidth", vec![])
            .await
            .expect("measure");
        assert_eq!(overflow, serde_json::json!(0), "{path} is wider than the window");
        b.check(name).await;
    }
    b.client.set_window_size(1280, 800).await.expect("widen the window");
    b.goto(&format!("{base}/")).await;

    // The org's records, searched by duty.
    b.click("a[href='/records']").await;
    b.arrive("/records").await;
    assert_eq!(b.client.find_all(Locator::Css("tbody tr")).await.expect("rows").len(), 1);
    assert!(b.text().await.contains("提供あり"));
    b.fill("#duty", "D014").await;
    b.click("form.search button").await;
    b.client.wait().for_element(Locator::XPath("//p[contains(., '該当する記録はありません')]")).await.expect("none for D014");
    b.fill("#duty", "D015").await;
    b.fill("#counterpart", "b-mayor").await;
    b.click("form.search button").await;
    b.client.wait().for_element(Locator::Css("tbody tr")).await.expect("the record");
    b.check("15-records").await;
    b.client.clone().close().await.expect("close the session");
}

/// Files a-mayor's query to b-mayor about A1 (TAX, D015) through the API, as
/// the staff member holding `session`; returns its id.
async fn file_by_api(c: &Cluster, session: &str, key: &str) -> String {
    let body = serde_json::json!({"duty": "D015", "provider_org": "b-mayor", "items": ["TAX"], "addressee_no": "A1",
        "reference_date": "2026-07-01", "idempotency_key": key});
    let (s, _, q) = c.as_person(session, reqwest::Method::POST, "/api/v1/queries", Some(body)).await;
    assert_eq!(s, 201, "{q}");
    q["id"].as_str().expect("id").to_owned()
}

/// a-mayor's staff member `sato` (D015), A1 registered at a-mayor and B1 (the same person) at
/// b-mayor with a TAX copy: the cluster and sato's session.
async fn linked_person() -> (Cluster, String) {
    let c = Cluster::start().await;
    let admin = c.person("tenant-a", "admin-a", "tenant_admin", None).await;
    let sato = c.person("tenant-a", "sato", "staff", Some("a-mayor")).await;
    let duties = serde_json::json!({"duties": ["D015"]});
    let (s, _, v) = c.as_person(&admin, reqwest::Method::PUT, "/api/v1/accounts/sato/duties", Some(duties)).await;
    assert_eq!(s, 200, "{v}");
    let (s, _, v) = c
        .as_person(&admin, reqwest::Method::PUT, "/api/v1/approval-policies/a-mayor/D015", Some(serde_json::json!({"window_minutes": 60})))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(c.register("a-mayor", "A1", &common::number(78)).await.0, 201);
    assert_eq!(c.register("b-mayor", "B1", &common::number(78)).await.0, 201);
    assert_eq!(c.copy("b-mayor", "B1", "TAX", "2026-04-01", serde_json::json!({"課税額": 5000})).await.0, 200);
    (c, sato)
}

/// A reason with markup in it, which a page must show as text.
const REASON: &str = "基準日を確かめてください <script>window.pwned = 1</script><img src=x onerror=\"window.pwned = 2\">";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approver_approves_one_query_and_rejects_another_with_a_reason() {
    let (c, sato) = linked_person().await;
    let first = file_by_api(&c, &sato, "approve-me").await;
    let second = file_by_api(&c, &sato, "reject-me").await;
    c.admin_with(
        &["account-create", "--tenant", "tenant-a", "--name", "kato", "--role", "approver", "--org", "a-mayor"],
        "a long passphrase\n",
    );

    let b = Browser::start().await;
    let base = c.internal();
    b.sign_in_first_time(&base, "kato", "a long passphrase").await;
    b.click("a[href='/approvals']").await;
    b.arrive("/approvals").await;
    assert_eq!(b.client.find_all(Locator::Css("section.card")).await.expect("cards").len(), 2);
    b.check("20-approvals").await;
    b.submit(&format!("form[action='/approvals/{first}'] button"), "/approvals").await;
    b.client.wait().for_element(Locator::Css(&format!("#reason-{second}"))).await.expect("the second is still there");
    b.fill(&format!("#reason-{second}"), REASON).await;
    b.submit(&format!("form.stack[action='/approvals/{second}'] button"), "/approvals").await;
    b.client.wait().for_element(Locator::XPath("//p[contains(., '承認を待っている照会はありません')]")).await.expect("inbox empty");
    b.check("21-approvals-done").await;

    let answered = c.wait_final("a-mayor", &first).await;
    assert_eq!((answered["state"].as_str(), answered["decided_by"].as_str()), (Some("answered"), Some("kato")), "{answered}");
    let (_, _, rejected) = c.as_person(&sato, reqwest::Method::GET, &format!("/api/v1/queries/{second}"), None).await;
    assert_eq!(rejected["state"], "failed", "{rejected}");
    assert!(rejected["error"].as_str().unwrap_or_default().contains("基準日を確かめてください"), "{rejected}");

    // The reason, markup and all, is text on the query's page (kato may read D015's queries).
    let admin = c.person("tenant-a", "admin-x", "tenant_admin", None).await;
    let (s, _, _) =
        c.as_person(&admin, reqwest::Method::PUT, "/api/v1/accounts/kato/duties", Some(serde_json::json!({"duties": ["D015"]}))).await;
    assert_eq!(s, 200);
    b.goto(&format!("{base}/queries/{second}")).await;
    assert!(b.text().await.contains(REASON), "shown as typed");
    let history = b.client.find(Locator::Css("#history")).await.expect("the history").text().await.expect("text");
    let states: Vec<&str> = history.lines().filter_map(|l| l.rsplit(' ').next()).collect();
    assert_eq!(states, ["承認待ち", "エラー"], "{history}");
    let inert = b
        .client
        .execute("return window.pwned === undefined && document.querySelectorAll('script:not([src]), img, [onerror]').length === 0", vec![])
        .await
        .expect("inspect the page");
    assert_eq!(inert, serde_json::json!(true), "the reason's markup is text, not elements");
    b.check("22-rejected-query").await;
    b.client.clone().close().await.expect("close the session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_providers_staff_member_reviews_a_held_query_and_provides() {
    let (c, sato) = linked_person().await;
    // No approval needed for this one: the policy goes; b-mayor marks B1's TAX manual.
    let admin = c.person("tenant-a", "admin-a2", "tenant_admin", None).await;
    let (s, _, _) = c.as_person(&admin, reqwest::Method::DELETE, "/api/v1/approval-policies/a-mayor/D015", None).await;
    assert_eq!(s, 204);
    let mark = serde_json::json!({"addressee_no": "B1", "item": "TAX", "mark": "manual"});
    assert_eq!(c.api("b-mayor", reqwest::Method::PUT, "/api/v1/marks", Some(mark)).await.0, 200);
    let id = file_by_api(&c, &sato, "held").await;
    c.admin_with(
        &["account-create", "--tenant", "tenant-b", "--name", "suzuki", "--role", "staff", "--org", "b-mayor"],
        "a long passphrase\n",
    );

    let b = Browser::start().await;
    let base = c.internal();
    b.sign_in_first_time(&base, "suzuki", "a long passphrase").await;
    let mut cards = 0;
    for _ in 0..100 {
        b.goto(&format!("{base}/reviews")).await;
        cards = b.client.find_all(Locator::Css("section.card")).await.expect("cards").len();
        if cards > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(cards, 1, "the forward is held for review");
    assert!(b.text().await.contains("B1"), "the provider's own addressee number");
    b.check("30-reviews").await;
    b.click("main form:not(.stack) button[type=submit]").await;
    b.arrive("/reviews").await;
    b.client.wait().for_element(Locator::XPath("//p[contains(., '確認を待っている照会はありません')]")).await.expect("inbox empty");

    let answered = c.wait_final("a-mayor", &id).await;
    assert_eq!(answered["outcome"], "found", "{answered}");
    assert_eq!(answered["answer"]["items"][0]["fields"]["課税額"], 5000, "{answered}");
    b.client.clone().close().await.expect("close the session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_session_ends_and_the_sign_in_page_says_why() {
    let c = Cluster::start().await;
    c.admin_with(
        &["account-create", "--tenant", "tenant-a", "--name", "sato", "--role", "staff", "--org", "a-mayor"],
        "a long passphrase\n",
    );
    let b = Browser::start().await;
    let base = c.internal();
    b.sign_in_first_time(&base, "sato", "a long passphrase").await;
    // Half an hour without use, as the store will have seen it.
    let db = rusqlite::Connection::open(renkei_store::layout::platform_db(&c.path("platform"))).expect("platform database");
    let aged = db.execute("UPDATE sessions SET last_seen_at = last_seen_at - ?1", [renkei_domain::account::IDLE_SECS]).expect("age");
    assert_eq!(aged, 1);
    b.goto(&format!("{base}/queries/new")).await;
    b.arrive("/sign-in").await;
    assert!(b.text().await.contains("操作のない時間が続いたため、サインアウトしました"));
    b.check("05-signed-out-idle").await;
    b.client.clone().close().await.expect("close the session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_query_is_filed_and_read_by_keyboard_alone() {
    let (c, _) = linked_person().await;
    let admin = c.person("tenant-a", "admin-k", "tenant_admin", None).await;
    let (s, _, _) = c.as_person(&admin, reqwest::Method::DELETE, "/api/v1/approval-policies/a-mayor/D015", None).await;
    assert_eq!(s, 204);
    c.admin_with(
        &["account-create", "--tenant", "tenant-a", "--name", "ito", "--role", "staff", "--org", "a-mayor"],
        "a long passphrase\n",
    );
    let (s, _, v) =
        c.as_person(&admin, reqwest::Method::PUT, "/api/v1/accounts/ito/duties", Some(serde_json::json!({"duties": ["D015"]}))).await;
    assert_eq!(s, 200, "{v}");
    let b = Browser::start().await;
    let base = c.internal();
    let (enter, down, space) = (Key::Enter.to_string(), Key::Down.to_string(), " ");

    // Sign in and enrol: each form opens with the focus where typing starts.
    b.goto(&format!("{base}/sign-in")).await;
    b.keys("ito").await;
    b.keys(&Key::Tab.to_string()).await;
    b.keys(&format!("a long passphrase{enter}")).await;
    b.arrive("/totp").await;
    let uri = b.client.find(Locator::Css(".secret")).await.expect("secret").prop("textContent").await.expect("text").unwrap_or_default();
    let totp = renkei_crypto::totp::Totp::from_uri(uri.trim()).expect("otpauth URI");
    b.keys(&format!("{}{enter}", totp.code(common::unix_now()))).await;
    b.arrive("/").await;

    // Home → the form, a step at a time.
    b.tab_to("照会を作成する").await;
    b.keys(&enter).await;
    b.arrive("/queries/new").await;
    b.tab_to("duty").await;
    b.keys(&down).await;
    b.tab_to("次へ").await;
    b.keys(&enter).await;
    b.client.wait().for_element(Locator::Css("#provider")).await.expect("step 2");
    b.tab_to("provider").await;
    b.keys(&format!("b-mayor{enter}")).await;
    b.client.wait().for_element(Locator::Css("#item-TAX")).await.expect("step 3");
    b.tab_to("item-TAX").await;
    b.keys(space).await;
    b.tab_to("addressee").await;
    b.keys("A1").await;
    b.tab_to("照会する").await;
    b.keys(&enter).await;
    b.client.wait().for_element(Locator::Css("#state")).await.expect("the query's page");
    let query_path = b.path().await;
    assert_eq!(b.final_state(&format!("{base}{query_path}")).await, "回答済");
    assert!(b.text().await.contains("5000"));
    b.client.clone().close().await.expect("close the session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_admin_assigns_a_duty_and_issues_and_revokes_a_key() {
    let c = Cluster::start().await;
    c.admin_with(
        &["account-create", "--tenant", "tenant-a", "--name", "sato", "--role", "staff", "--org", "a-mayor"],
        "a long passphrase\n",
    );
    c.admin_with(&["account-create", "--tenant", "tenant-a", "--name", "yamada", "--role", "tenant_admin"], "a long passphrase\n");
    let b = Browser::start().await;
    let base = c.internal();
    b.sign_in_first_time(&base, "yamada", "a long passphrase").await;
    b.click("a[href='/admin']").await;
    b.arrive("/admin").await;
    b.check("40-admin").await;

    // sato may file for D015 from now on.
    b.click("#duty-sato-D015").await;
    b.submit("form[action='/admin/accounts/sato/duties'] button", "/admin").await;
    let checked = b.client.find(Locator::Css("#duty-sato-D015")).await.expect("box").prop("checked").await.expect("checked");
    assert_eq!(checked.as_deref(), Some("true"));
    let admin = c.person("tenant-a", "admin-check", "tenant_admin", None).await;
    let (_, _, accounts) = c.as_person(&admin, reqwest::Method::GET, "/api/v1/accounts", None).await;
    let sato = accounts["accounts"].as_array().unwrap().iter().find(|a| a["name"] == "sato").cloned().expect("sato");
    assert_eq!(sato["duties"], serde_json::json!(["D015"]), "{sato}");

    // a-mayor's D015 queries wait for approval, then no longer; a duty 別表第二 does not give
    // the org is refused.
    b.select("#policy-org", "a-mayor").await;
    b.fill("#policy-duty", "D015").await;
    b.fill("#policy-window", "60").await;
    b.submit("form[action='/admin/approval-policies'] button", "/admin").await;
    assert!(b.text().await.contains("60分"), "the policy is listed");
    let (_, _, policies) = c.as_person(&admin, reqwest::Method::GET, "/api/v1/approval-policies", None).await;
    assert_eq!(policies["policies"], serde_json::json!([{"org": "a-mayor", "duty": "D015", "window_minutes": 60}]));
    b.select("#policy-org", "a-edu").await;
    b.fill("#policy-duty", "D015").await;
    b.click("form[action='/admin/approval-policies'] button").await;
    b.client.wait().for_element(Locator::Css(".notice.error")).await.expect("refused");
    b.check("44-admin-approval-policy").await;
    b.submit("form[action='/admin/approval-policies/remove'] button", "/admin").await;
    assert!(b.text().await.contains("承認が必要な事務はありません"));

    // A key for a-mayor, shown once, works; revoked, it is refused.
    b.fill("#key-label", "住民記録システム").await;
    b.click("form[action='/admin/api-keys'] button").await;
    b.client.wait().for_element(Locator::Css("#new-key")).await.expect("the new key");
    let key = b.client.find(Locator::Css("#new-key")).await.expect("key").text().await.expect("text");
    b.check("41-admin-key-issued").await;
    let (s, _, _) = common::respond(c.http.get(format!("{}/api/v1/records", c.internal())).bearer_auth(&key).send().await.unwrap()).await;
    assert_eq!(s, 200, "the new key works");
    let id = renkei_store::platform::key_id(&renkei_crypto::apikey::hash(&key));
    b.submit(&format!("form[action='/admin/api-keys/{id}/revoke'] button"), "/admin").await;
    assert!(b.client.find_all(Locator::Css(&format!("form[action='/admin/api-keys/{id}/revoke']"))).await.expect("forms").is_empty());
    assert!(b.text().await.contains("失効（"), "the list says revoked");
    let mut status = 0;
    for _ in 0..100 {
        status = common::respond(c.http.get(format!("{}/api/v1/records", c.internal())).bearer_auth(&key).send().await.unwrap()).await.0;
        if status == 401 {
            break;
        }
        tokio::time::sleep(renkei_server::KEY_CACHE_TTL / 20).await;
    }
    assert_eq!(status, 401, "the revoked key is refused");
    b.client.clone().close().await.expect("close the session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_finds_no_personal_data_on_any_page() {
    let c = Cluster::start().await;
    // A resident, their copy, and an answered query: personal data the platform holds.
    let number = common::number(4711);
    assert_eq!(c.register("a-mayor", "JUMIN-7731", &number).await.0, 201);
    assert_eq!(c.register("b-mayor", "JUMIN-8842", &number).await.0, 201);
    let fields = serde_json::json!({"課税額": 987654, "氏名": "山田花子"});
    assert_eq!(c.copy("b-mayor", "JUMIN-8842", "TAX", "2026-04-01", fields).await.0, 200);
    let (s, _, q) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "JUMIN-7731", "op-check").await;
    assert_eq!(s, 201, "{q}");
    let id = q["id"].as_str().expect("id").to_owned();
    assert_eq!(c.wait_final("a-mayor", &id).await["outcome"], "found");

    let out = c.admin_with(&["operator-create", "--name", "root"], "operator passphrase\n");
    let uri = out.lines().find(|l| l.starts_with("otpauth://")).expect("the command prints the otpauth URI");
    let totp = renkei_crypto::totp::Totp::from_uri(uri).expect("otpauth URI");
    let b = Browser::start().await;
    let base = c.internal();
    b.goto(&format!("{base}/sign-in")).await;
    b.fill("#name", "root").await;
    b.fill("#password", "operator passphrase").await;
    b.fill("#code", &totp.code(common::unix_now())).await;
    b.click("main button[type=submit]").await;
    b.arrive("/").await;
    b.click("a[href='/tenants']").await;
    b.arrive("/tenants").await;
    assert!(b.text().await.contains("tenant-a") && b.text().await.contains("a-edu"), "every tenant and org");
    b.check("50-operator-tenants").await;

    // The contracted limit of people signed in at once, then a raise for a while.
    b.fill("#normal-tenant-a", "5").await;
    b.submit("form[action='/tenants/tenant-a/session-limit'] button", "/tenants").await;
    b.client.wait().for_element(Locator::Css("#raise-tenant-a")).await.expect("the raise form");
    b.fill("#raise-tenant-a", "3").await;
    b.click("form[action='/tenants/tenant-a/session-limit/raise'] button").await;
    b.client.wait().for_element(Locator::Css(".notice.error")).await.expect("a raise below the normal limit is refused");
    b.fill("#raise-tenant-a", "8").await;
    b.fill("#hours-tenant-a", "2").await;
    b.submit("form[action='/tenants/tenant-a/session-limit/raise'] button", "/tenants").await;
    let text = b.text().await;
    assert!(text.contains("8人") && text.contains("通常 5人") && text.contains("引き上げ中"), "{text}");
    b.check("51-operator-session-limit").await;

    // Every page there is, as the operator: their own, or a refusal; never a resident's data.
    let personal = ["JUMIN-7731", "JUMIN-8842", "987654", "山田花子", "課税額", number.as_str()];
    b.no_personal_data_on_any_page(&base, &id, &personal).await;
    b.client.clone().close().await.expect("close the session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resident_reads_the_records_about_them_on_the_hubs_page() {
    let (c, _) = linked_person().await;
    let admin = c.person("tenant-a", "admin-r", "tenant_admin", None).await;
    let (s, _, _) = c.as_person(&admin, reqwest::Method::DELETE, "/api/v1/approval-policies/a-mayor/D015", None).await;
    assert_eq!(s, 204);
    let (s, _, q) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "A1", "for-disclosure").await;
    assert_eq!(s, 201, "{q}");
    assert_eq!(c.wait_final("a-mayor", q["id"].as_str().unwrap()).await["outcome"], "found");
    let token = c.hub_cmd("resident-token", &[], Some(&format!("{}\n", common::number(78))));

    let b = Browser::start().await;
    let hub = format!("https://127.0.0.1:{}", c.resident_port);
    b.goto(&format!("{hub}/disclosure")).await;
    b.check("60-disclosure").await;
    b.fill("#token", "rk_not-the-token").await;
    b.click("main button[type=submit]").await;
    b.client.wait().for_element(Locator::Css(".notice.error")).await.expect("refused");
    assert!(b.text().await.contains("確認コードが違う"));
    b.fill("#token", token.trim()).await;
    b.click("main button[type=submit]").await;
    b.client.wait().for_element(Locator::Css("table")).await.expect("the records");
    let text = b.text().await;
    assert!(text.contains("記録は1件です") && text.contains("a-mayor") && text.contains("b-mayor"), "{text}");
    assert!(text.contains("地方税関係情報") && text.contains("提供されました"), "{text}");
    assert!(!b.client.current_url().await.expect("url").as_str().contains(token.trim()), "the token is not in the URL");
    b.check("61-disclosure-records").await;
    b.client.clone().close().await.expect("close the session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_admin_verifies_the_audit_log_and_sees_an_edit_caught() {
    let c = Cluster::start().await;
    c.admin_with(&["account-create", "--tenant", "tenant-a", "--name", "yamada", "--role", "tenant_admin"], "a long passphrase\n");
    let b = Browser::start().await;
    let base = c.internal();
    b.sign_in_first_time(&base, "yamada", "a long passphrase").await;
    b.click("a[href='/audit']").await;
    b.arrive("/audit").await;
    assert!(b.text().await.contains("account.create"), "the log's entries");
    b.click("form[action='/audit/verify'] button").await;
    b.client.wait().for_element(Locator::Css("#verdict")).await.expect("a verdict");
    assert!(b.text().await.contains("改ざんは見つかりませんでした"));
    b.check("42-audit-verified").await;

    // An entry edited in the database is caught.
    let db = rusqlite::Connection::open(renkei_store::layout::platform_db(&c.path("platform"))).expect("platform database");
    let edited = db.execute("UPDATE audit_log SET detail = 'edited' WHERE tenant_id = 'tenant-a' AND chain_seq = 1", []).expect("edit");
    assert_eq!(edited, 1);
    b.goto(&format!("{base}/audit")).await;
    b.click("form[action='/audit/verify'] button").await;
    b.client.wait().for_element(Locator::Css("#verdict.error")).await.expect("the edit caught");
    assert!(b.text().await.contains("改ざんが見つかりました"));
    b.check("43-audit-tampered").await;
    b.client.clone().close().await.expect("close the session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_with_a_bad_line_shows_its_report_and_a_fixed_one_registers_everyone() {
    let c = Cluster::start().await;
    c.admin_with(&["account-create", "--tenant", "tenant-a", "--name", "yamada", "--role", "tenant_admin"], "a long passphrase\n");
    let dir = tempfile::tempdir().expect("tempdir");
    let bad_number = "12345678901"; // 11 digits
    let bad = dir.path().join("persons-bad.csv");
    // CP932 (Shift_JIS), as a municipal system writes it: the load detects it.
    let csv = format!(
        "addressee_no,individual_number\r\nLOAD-1,{}\r\nLOAD-2,{bad_number}\r\nLOAD-3,{}\r\n",
        common::number(61),
        common::number(63)
    );
    std::fs::write(&bad, encoding_rs::SHIFT_JIS.encode(&csv).0).expect("write");
    let b = Browser::start().await;
    let base = c.internal();
    b.sign_in_first_time(&base, "yamada", "a long passphrase").await;
    b.click("a[href='/loads']").await;
    b.arrive("/loads").await;
    b.check("45-load-form").await;
    b.select("#load-org", "a-mayor").await;
    b.click("#kind-persons").await;
    let file = b.client.find(Locator::Css("#load-file")).await.expect("file input");
    file.send_keys(bad.to_str().expect("path")).await.expect("choose the file");
    b.click("form[action='/loads'] button[type=submit]").await;
    // The load's page follows it and shows the outcome.
    b.client.wait().for_element(Locator::Css("#bad-lines")).await.expect("the report");
    assert!(b.path().await.starts_with("/loads/"), "the load's own page");
    let text = b.text().await;
    assert!(text.contains("何も登録していません"), "{text}");
    assert!(text.contains("3") && text.contains("individual_number"), "the line and the column: {text}");
    assert!(!b.client.source().await.expect("source").contains(bad_number), "the bad value is not repeated");
    b.check("46-load-report").await;

    // The report downloads as Excel opens it: UTF-8 with a BOM, or CP932.
    let bytes_of = |enc: &'static str| {
        let b = &b;
        async move {
            let href = b
                .client
                .find(Locator::Css(&format!("a[href$='encoding={enc}']")))
                .await
                .expect("link")
                .attr("href")
                .await
                .expect("href")
                .expect("an href");
            let got = b
                .client
                .execute_async(
                    "const done = arguments[arguments.length - 1];
                     fetch(arguments[0]).then(r => r.arrayBuffer()).then(a => done(Array.from(new Uint8Array(a)))).catch(e => done(String(e)));",
                    vec![serde_json::json!(href)],
                )
                .await
                .expect("fetch");
            got.as_array().expect("bytes").iter().map(|v| v.as_u64().expect("byte") as u8).collect::<Vec<u8>>()
        }
    };
    let utf8 = bytes_of("utf-8").await;
    assert!(utf8.starts_with(&[0xEF, 0xBB, 0xBF]), "a BOM");
    let utf8 = String::from_utf8(utf8[3..].to_vec()).expect("UTF-8");
    assert!(utf8.starts_with("行番号,列番号,列名,理由\r\n3,2,individual_number,"), "{utf8}");
    let cp932 = bytes_of("cp932").await;
    let (decoded, _, errors) = encoding_rs::SHIFT_JIS.decode(&cp932);
    assert!(!errors && decoded.starts_with("行番号,") && decoded.contains("\r\n3,2,"), "{decoded}");
    assert!(!utf8.contains(bad_number) && !decoded.contains(bad_number), "the report names lines, never values");

    // Nothing was applied: a fixed file then registers everyone.
    let admin = c.person("tenant-a", "admin-check", "tenant_admin", None).await;
    let fixed = dir.path().join("persons-fixed.csv");
    std::fs::write(&fixed, csv.replace(bad_number, &common::number(62))).expect("write");
    b.goto(&format!("{base}/loads")).await;
    b.select("#load-org", "a-mayor").await;
    let file = b.client.find(Locator::Css("#load-file")).await.expect("file input");
    file.send_keys(fixed.to_str().expect("path")).await.expect("choose the file");
    b.click("form[action='/loads'] button[type=submit]").await;
    b.client.wait().for_element(Locator::Css(".notice.success")).await.expect("registered");
    assert!(b.text().await.contains("3件を登録"), "{}", b.text().await);
    let (s, _, q) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "LOAD-2", "after-load").await;
    assert_eq!(s, 201, "LOAD-2 is registered: {q}");
    // The load is the admin's: another account of the tenant does not find it.
    let load = b.path().await;
    let r = c.browser().get(format!("{base}{load}")).header("cookie", format!("__Host-renkei-session={admin}")).send().await.expect("GET");
    assert_eq!(r.status(), 404, "another account's load page");
    b.client.clone().close().await.expect("close the session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_admin_adds_staff_ends_a_persons_sessions_and_marks_items() {
    let c = Cluster::start().await;
    c.admin_with(&["account-create", "--tenant", "tenant-a", "--name", "yamada", "--role", "tenant_admin"], "a long passphrase\n");
    assert_eq!(c.register("a-mayor", "MARK-1", &common::number(91)).await.0, 201);
    let b = Browser::start().await;
    let base = c.internal();
    b.sign_in_first_time(&base, "yamada", "a long passphrase").await;

    // A new approver of a-mayor, who can then sign in with the first password.
    b.goto(&format!("{base}/admin")).await;
    b.fill("#new-name", "kato").await;
    b.select("#new-role", "approver").await;
    b.select("#new-org", "a-mayor").await;
    b.fill("#new-password", "kato first passphrase").await;
    b.click("form[action='/admin/accounts'] button").await;
    b.client.wait().for_element(Locator::Css(".notice.success")).await.expect("added");
    assert!(b.text().await.contains("kato を追加しました"));
    b.check("48-admin-staff-added").await;
    let kato = c.enrolled_session("kato", "kato first passphrase").await;
    let (s, _, me) = c.as_person(&kato, reqwest::Method::GET, "/api/v1/session", None).await;
    assert_eq!((s, me["role"].as_str()), (200, Some("approver")), "{me}");
    // A role above tenants is refused, and nothing is created.
    b.fill("#new-name", "evil").await;
    b.client
        .execute("document.querySelector('#new-role option').value = 'operator'; return true;", vec![])
        .await
        .expect("tamper with the form");
    b.select("#new-role", "operator").await;
    b.fill("#new-password", "evil long passphrase").await;
    b.click("form[action='/admin/accounts'] button").await;
    b.client.wait().for_element(Locator::Css(".notice.error")).await.expect("refused");

    // kato's sessions end at the admin's word.
    b.click("form[action='/admin/accounts/kato/revoke-sessions'] button").await;
    b.client.wait().for_element(Locator::Css(".notice.success")).await.expect("ended");
    assert!(b.text().await.contains("kato のサインイン 1件を終わらせました"), "{}", b.text().await);
    let (s, _, _) = c.as_person(&kato, reqwest::Method::GET, "/api/v1/session", None).await;
    assert_eq!(s, 401, "kato's session has ended");

    // Marks: one by hand, then a file with a bad line (nothing set), then a good one.
    b.goto(&format!("{base}/")).await;
    b.click("a[href='/marks']").await;
    b.arrive("/marks").await;
    b.select("#mark-org", "a-mayor").await;
    b.fill("#mark-addressee", "MARK-1").await;
    b.fill("#mark-item", "TAX").await;
    b.select("#mark-mark", "withheld").await;
    b.click("form[action='/marks'][method='post'] button").await;
    b.client.wait().for_element(Locator::Css("#marks")).await.expect("the marks");
    assert!(b.text().await.contains("不開示"), "{}", b.text().await);
    b.check("47-marks").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("marks-bad.csv");
    std::fs::write(&bad, "addressee_no,item,mark\nMARK-1,TAX,manual\nMARK-1,TAX,sometimes\n").expect("write");
    b.select("#csv-org", "a-mayor").await;
    b.client.find(Locator::Css("#marks-file")).await.expect("file").send_keys(bad.to_str().expect("path")).await.expect("choose");
    b.click("form[action='/marks/csv'] button").await;
    b.client.wait().for_element(Locator::Css("#bad-lines")).await.expect("the bad lines");
    assert!(b.text().await.contains("3行目"), "{}", b.text().await);
    assert!(b.text().await.contains("不開示"), "the hand-set mark stands");
    let good = dir.path().join("marks.csv");
    std::fs::write(&good, "addressee_no,item,mark\nMARK-1,TAX,manual\n").expect("write");
    b.select("#csv-org", "a-mayor").await;
    b.client.find(Locator::Css("#marks-file")).await.expect("file").send_keys(good.to_str().expect("path")).await.expect("choose");
    b.click("form[action='/marks/csv'] button").await;
    b.client.wait().for_element(Locator::Css(".notice.success")).await.expect("set");
    let text = b.text().await;
    assert!(text.contains("1件の印を設定しました") && text.contains("自動応答不可"), "{text}");
    b.client.clone().close().await.expect("close the session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consortium_admin_sees_only_its_tenants_and_no_personal_data() {
    let c = Cluster::start().await;
    let number = common::number(4712);
    assert_eq!(c.register("a-mayor", "KUMI-1", &number).await.0, 201);
    let (s, _, q) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "KUMI-1", "kumi-check").await;
    assert_eq!(s, 201, "{q}");
    let id = q["id"].as_str().expect("id").to_owned();
    // A consortium admin needs a consortium that exists, and a consortium hosted tenants.
    let (code, _, err) =
        c.admin_try(&["account-create", "--consortium", "kumiai", "--name", "kumi", "--role", "consortium_admin"], "a long passphrase\n");
    assert_ne!(code, 0);
    assert!(err.contains("there is no consortium kumiai"), "{err}");
    let (code, _, err) = c.admin_try(&["consortium-set", "--id", "kumiai", "--name", "甲広域連合", "--tenant", "nowhere"], "");
    assert_ne!(code, 0);
    assert!(err.contains("not hosted"), "{err}");
    c.admin_with(&["consortium-set", "--id", "kumiai", "--name", "甲広域連合", "--tenant", "tenant-a"], "");
    c.admin_with(&["account-create", "--consortium", "kumiai", "--name", "kumi", "--role", "consortium_admin"], "a long passphrase\n");

    let b = Browser::start().await;
    let base = c.internal();
    let totp = b.sign_in_first_time(&base, "kumi", "a long passphrase").await;
    b.click("a[href='/tenants']").await;
    b.arrive("/tenants").await;
    let text = b.text().await;
    assert!(text.contains("甲広域連合") && text.contains("tenant-a") && text.contains("a-edu"), "{text}");
    assert!(!text.contains("tenant-b") && !text.contains("b-mayor"), "another consortium's tenant: {text}");
    assert!(
        b.client.find_all(Locator::Css("form[action*='session-limit']")).await.expect("forms").is_empty(),
        "only the operator sets limits"
    );
    b.check("52-consortium-tenants").await;
    b.no_personal_data_on_any_page(&base, &id, &["KUMI-1", number.as_str()]).await;

    // The JSON API agrees: its tenants' status, not another's.
    let body = serde_json::json!({"name": "kumi", "password": "a long passphrase", "code": totp.code(common::unix_now() + 30)});
    let (s, _, v) = common::respond(c.http.post(format!("{base}/api/v1/session")).json(&body).send().await.expect("sign in")).await;
    assert_eq!(s, 201, "{v}");
    let kumi = v["token"].as_str().expect("token").to_owned();
    let (s, _, v) = c.as_person(&kumi, reqwest::Method::GET, "/api/v1/tenants/tenant-a/session-limit", None).await;
    assert_eq!(s, 200, "{v}");
    let (s, _, v) = c.as_person(&kumi, reqwest::Method::GET, "/api/v1/tenants/tenant-b/session-limit", None).await;
    assert_eq!(s, 404, "{v}");
    b.client.clone().close().await.expect("close the session");
}
