//! `renkei import persons|copies`: files made by the tests, loaded by the binary into a running
//! cluster, then checked through the internal API as a client system would.

mod common;

use common::{Backend, Cluster, number};
use reqwest::Method;
use serde_json::json;
use std::path::PathBuf;

fn write(c: &Cluster, name: &str, bytes: &[u8]) -> PathBuf {
    let p = c.path(name);
    std::fs::write(&p, bytes).expect("write test file");
    p
}

fn cp932(text: &str) -> Vec<u8> {
    let (bytes, _, bad) = encoding_rs::SHIFT_JIS.encode(text);
    assert!(!bad, "test text must be representable in CP932");
    bytes.into_owned()
}

/// The report as (line, column, reason) rows.
fn report(c: &Cluster, name: &str) -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(c.path(&format!("{name}.errors.csv"))).expect("report written");
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let mut rows: Vec<(String, String, String)> =
        r.records().map(|x| x.expect("report line")).map(|x| (x[0].to_owned(), x[1].to_owned(), x[3].to_owned())).collect();
    // Persons' database checks report when their batch is written: order by line.
    rows.sort_by_key(|r| r.0.parse::<u64>().unwrap_or(0));
    rows
}

async fn persons_load_with_codes_and_can_then_be_asked_about(b: Backend) {
    let c = Cluster::start_on(b).await;
    let mut text = String::from("\u{feff}addressee_no,individual_number\r\n");
    for i in 0..2500u64 {
        text.push_str(&format!("B{i},{}\r\n", number(7_000_000 + i)));
    }
    let file = write(&c, "persons.csv", text.as_bytes());
    let (code, out, err) = c.import("persons", &file, "b-mayor", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2500 lines read (UTF-8), 2500 stored, 0 unchanged"), "{out}");
    // The hub was asked in batches of 1,000, not once per resident.
    let hub_log = std::fs::read_to_string(c.path("hub.log")).expect("hub log");
    assert!(!hub_log.contains('\u{1b}'), "a log file has no terminal control codes");
    let mut given: Vec<&str> = hub_log
        .lines()
        .filter(|l| l.contains("codes given") && l.contains("org=b-mayor"))
        .filter_map(|l| l.split("count=").nth(1).and_then(|c| c.split(' ').next()))
        .collect();
    given.sort_unstable();
    assert_eq!(given, ["1000", "1000", "500"], "{hub_log}");
    // Loading the same file again changes nothing.
    let (code, out, _) = c.import("persons", &file, "b-mayor", &[]);
    assert_eq!(code, 0);
    assert!(out.contains("0 stored, 2500 unchanged"), "{out}");

    let copies = cp932("addressee_no,item,valid_from,課税額,氏名\r\nB7,TAX,2026/04/01,120000,髙橋 花子\r\n");
    let file = write(&c, "copies.csv", &copies);
    let (code, out, err) = c.import("copies", &file, "b-mayor", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 lines read (CP932), 1 stored"), "{out}");

    // The requester registers the same person through the API and asks: the loaded person and
    // copy answer, decoded from CP932.
    let done = ask_for_tax(&c, "A7", 7_000_007, "import-1").await;
    assert_eq!(done["outcome"], "found", "{done}");
    assert_eq!(done["answer"]["items"][0]["fields"], json!({"課税額": "120000", "氏名": "髙橋 花子"}), "{done}");
}

/// 団体内統合宛名番号: a load into one org of tenant-a (a-mayor, a-edu) registers each person in
/// both, from one hub request per batch; a line that one org refuses is refused whole.
async fn a_persons_load_registers_each_person_in_every_org_of_the_tenant(b: Backend) {
    let c = Cluster::start_on(b).await;
    // Known before the load: A2 with another number, through a-edu (and so in both orgs).
    assert_eq!(c.register("a-edu", "A2", &number(902)).await.0, 201);
    let text = format!("addressee_no,individual_number\nA1,{}\nA2,{}\nA3,{}\n", number(901), number(903), number(904));
    let file = write(&c, "tenant-persons.csv", text.as_bytes());
    let (code, out, err) = c.import("persons", &file, "a-mayor", &["--skip-bad"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("2 stored") && out.contains("1 bad lines skipped"), "{out}");
    assert_eq!(report(&c, "tenant-persons.csv").iter().map(|r| r.0.as_str()).collect::<Vec<_>>(), ["3"]);
    let hub_log = std::fs::read_to_string(c.path("hub.log")).expect("hub log");
    let asked: Vec<&str> = hub_log.lines().filter(|l| l.contains("codes given") && l.contains("org=a-mayor")).collect();
    assert_eq!(asked.len(), 1, "one request for both orgs: {hub_log}");
    assert!(asked[0].contains("count=3") && asked[0].contains("siblings=1"), "{asked:?}");
    // a-edu knows the loaded persons under the same addressee numbers, by its own codes.
    for (addressee, seed) in [("A1", 901), ("A3", 904)] {
        let (s, _, v) = c.register("a-edu", addressee, &number(seed)).await;
        assert_eq!((s, v["status"].as_str()), (200, Some("already_registered")), "{addressee}: {v}");
    }
    let (s, _, v) = c.register("a-edu", "A1", &number(905)).await;
    assert_eq!((s, v["type"].as_str()), (409, Some("urn:renkei:problem:conflict")), "{v}");
    // And a-edu asks a-mayor about A1 by the person's a-edu code: the hub finds a-mayor's row.
    assert_eq!(c.copy("a-mayor", "A1", "TAX", "2026-04-01", json!({"income": 1})).await.0, 200);
    let (s, _, q) = c.file("a-edu", "a-mayor", "D014", &["TAX"], "A1", "sibling").await;
    assert_eq!(s, 201, "{q}");
    let done = c.wait_final("a-edu", q["id"].as_str().expect("id")).await;
    assert_eq!(done["outcome"], "found", "{done}");
}

/// Registers the person with Individual Number `number(seed)` at a-mayor as `addressee`, asks
/// b-mayor for the person's TAX copies (D015) and returns the query in its final state.
async fn ask_for_tax(c: &Cluster, addressee: &str, seed: u64, key: &str) -> serde_json::Value {
    let (s, _, _) = c.register("a-mayor", addressee, &number(seed)).await;
    assert_eq!(s, 201);
    let (s, _, q) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], addressee, key).await;
    assert_eq!(s, 201, "{q}");
    c.wait_final("a-mayor", q["id"].as_str().expect("id")).await
}

/// One bad line of each kind the issue names, among good lines.
fn bad_persons_file(c: &Cluster) -> PathBuf {
    let mut text = b"addressee_no,individual_number\n".to_vec();
    text.extend(format!("G1,{}\n", number(1)).as_bytes()); // line 2: good
    text.extend(b"G2,123456789010\n"); // 3: wrong check digit
    text.extend(b"G3\n"); // 4: missing column
    text.extend(format!("G4,{},x\n", number(4)).as_bytes()); // 5: extra column
    text.extend(format!("G1,{}\n", number(1)).as_bytes()); // 6: duplicated key
    text.extend(b"G6,\x81\x40\x82\xa0\n"); // 7: CP932 bytes in a UTF-8 file
    text.extend(format!("G7,{}{}\n", number(7), " ".repeat(70_000)).as_bytes()); // 8: longer than the limit
    text.extend(format!("G8,{}\n", number(8)).as_bytes()); // 9: good
    text.extend(format!("G9,{}", &number(9)[..6]).as_bytes()); // 10: truncated last line
    write(c, "bad-persons.csv", &text)
}

async fn any_bad_line_applies_nothing_and_the_report_names_each(b: Backend) {
    let c = Cluster::start_on(b).await;
    let file = bad_persons_file(&c);
    let (code, out, err) = c.import("persons", &file, "b-mayor", &["--encoding", "utf-8"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("7 bad lines; nothing was applied"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    let rows = report(&c, "bad-persons.csv");
    let lines: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(lines, ["3", "4", "5", "6", "7", "8", "10"], "{rows:?}");
    assert_eq!(rows[0].1, "2");
    assert!(rows[0].2.contains("check digit"), "{rows:?}");
    assert!(rows[1].2.contains("missing"), "{rows:?}");
    assert!(rows[2].2.contains("extra"), "{rows:?}");
    assert!(rows[3].2.contains("earlier line"), "{rows:?}");
    assert!(rows[4].2.contains("UTF-8") && rows[4].1 == "2", "{rows:?}");
    assert!(rows[5].2.contains("longer than"), "{rows:?}");
    assert!(rows[6].2.contains("truncated"), "{rows:?}");
    let report_text = std::fs::read_to_string(c.path("bad-persons.csv.errors.csv")).expect("report");
    assert!(!report_text.contains(&number(1)) && !report_text.contains("123456789010"), "the report holds no numbers");

    // Nothing was applied: loading the good lines now stores both of them.
    let good = write(&c, "good.csv", format!("addressee_no,individual_number\nG1,{}\nG8,{}\n", number(1), number(8)).as_bytes());
    let (code, out, err) = c.import("persons", &good, "b-mayor", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 stored, 0 unchanged"), "{out}");
}

async fn skip_bad_applies_the_good_lines_and_reports_the_rest(b: Backend) {
    let c = Cluster::start_on(b).await;
    let file = bad_persons_file(&c);
    let (code, out, err) = c.import("persons", &file, "b-mayor", &["--encoding", "utf-8", "--skip-bad"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("2 stored") && out.contains("7 bad lines skipped"), "{out}");
    assert_eq!(report(&c, "bad-persons.csv").len(), 7);
    let good = write(&c, "good.csv", format!("addressee_no,individual_number\nG1,{}\nG8,{}\n", number(1), number(8)).as_bytes());
    let (_, out, _) = c.import("persons", &good, "b-mayor", &[]);
    assert!(out.contains("0 stored, 2 unchanged"), "{out}");
}

async fn bad_copies_lines_are_reported_by_column(b: Backend) {
    let c = Cluster::start_on(b).await;
    let text = "addressee_no,item,valid_from,income\n\
                B1,TAX,2026-04-01,100\n\
                B1,NOSUCH,2026-04-01,100\n\
                B1,TAX,2026-02-30,100\n\
                B1,TAX,2026-04-01,200\n\
                B2,TAX,2026-04-01,\n";
    let file = write(&c, "copies.csv", text.as_bytes());
    let (code, _, err) = c.import("copies", &file, "b-mayor", &[]);
    assert_eq!(code, 1, "{err}");
    let rows = report(&c, "copies.csv");
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert_eq!((rows[0].0.as_str(), rows[0].1.as_str()), ("3", "2"));
    assert!(rows[0].2.contains("not in 別表第二"), "{rows:?}");
    assert_eq!((rows[1].0.as_str(), rows[1].1.as_str()), ("4", "3"));
    assert!(rows[2].2.contains("earlier line"), "{rows:?}");
    assert!(rows[3].2.contains("empty"), "{rows:?}");
}

async fn a_file_that_cannot_be_read_is_one_line_and_changes_nothing(b: Backend) {
    let c = Cluster::start_on(b).await;
    let file = write(&c, "wrong-header.csv", b"number,addressee\n1,2\n");
    let (code, out, err) = c.import("persons", &file, "b-mayor", &[]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.starts_with("error: line 1: the header must be `addressee_no,individual_number`"), "{err}");
    let file = write(&c, "empty.csv", b"");
    let (code, _, err) = c.import("persons", &file, "b-mayor", &[]);
    assert_eq!(code, 1);
    assert!(err.contains("empty"), "{err}");
    let file = write(&c, "bom.csv", "\u{feff}addressee_no,individual_number\n".as_bytes());
    let (code, _, err) = c.import("persons", &file, "b-mayor", &["--encoding", "cp932"]);
    assert_eq!(code, 1);
    assert!(err.contains("byte-order mark"), "{err}");
    let (code, _, err) = c.import("persons", &file, "nobody", &[]);
    assert_eq!(code, 1);
    assert!(err.contains("not hosted"), "{err}");
}

on_both_backends!(
    persons_load_with_codes_and_can_then_be_asked_about,
    any_bad_line_applies_nothing_and_the_report_names_each,
    skip_bad_applies_the_good_lines_and_reports_the_rest,
    bad_copies_lines_are_reported_by_column,
    a_file_that_cannot_be_read_is_one_line_and_changes_nothing,
    client_systems_load_files_over_the_api,
    a_file_of_many_chunks_is_loaded_whole_and_reported_in_line_order,
    a_load_killed_part_way_keeps_nothing,
    an_upload_cut_short_keeps_nothing,
    a_slow_upload_does_not_hold_up_its_tenants_reads_and_answers,
    a_persons_load_while_the_hub_is_down_keeps_nothing_and_says_why,
    a_persons_load_registers_each_person_in_every_org_of_the_tenant,
    a_tenant_admin_loads_for_an_org_of_their_tenant_named_in_the_request,
    a_crlf_files_bad_lines_are_named_by_their_own_line,
);

async fn a_tenant_admin_loads_for_an_org_of_their_tenant_named_in_the_request(b: Backend) {
    let c = Cluster::start_on(b).await;
    let admin = c.person("tenant-a", "yamada", "tenant_admin", None).await;
    let load = |org: &'static str| {
        let (c, admin) = (&c, &admin);
        async move {
            let body = format!("addressee_no,individual_number\nT1,{}\n", number(71));
            let query = if org.is_empty() { String::new() } else { format!("?org={org}") };
            upload_as(c, &c.internal(), admin, "persons", &query, body.into_bytes()).await
        }
    };
    let (s, _, v) = load("a-edu").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["stored"], 1, "{v}");
    let (s, _, v) = load("").await;
    assert_eq!(s, 400, "no org named: {v}");
    let (s, _, v) = load("b-mayor").await;
    assert_eq!(s, 404, "another tenant's org: {v}");
    let staff = c.person("tenant-a", "sato", "staff", Some("a-mayor")).await;
    let (s, _, v) = c.as_person(&staff, reqwest::Method::POST, "/api/v1/imports/persons", None).await;
    assert_eq!(s, 403, "staff do not load: {v}");
}

async fn a_crlf_files_bad_lines_are_named_by_their_own_line(b: Backend) {
    let c = Cluster::start_on(b).await;
    let bad = format!("addressee_no,individual_number\r\nC1,{}\r\n\r\nC2,12345\r\nC3,{}\r\n", number(81), number(83));
    let (s, _, v) = upload(&c, "b-mayor", "persons", "", bad.into_bytes()).await;
    assert_eq!(s, 422, "{v}");
    assert_eq!(v["bad_lines"][0]["line"], 4, "the blank line 3 counts too: {v}");
}

/// Uploads a CSV file to `POST /api/v1/imports/{kind}` as `org`'s client system. A bulk upload
/// may take longer than the cluster client's 20 s: the 64 MiB one below takes 10–15 s alone in a
/// debug build, and more beside the rest of the suite on two cores.
async fn upload(c: &Cluster, org: &str, kind: &str, query: &str, body: Vec<u8>) -> (u16, String, serde_json::Value) {
    upload_as(c, &c.internal_for(org), &c.keys[org], kind, query, body).await
}

/// [`upload`] to the internal listener at `base` with any bearer token (a key or a session).
async fn upload_as(c: &Cluster, base: &str, token: &str, kind: &str, query: &str, body: Vec<u8>) -> (u16, String, serde_json::Value) {
    let resp = c
        .http
        .post(format!("{base}/api/v1/imports/{kind}{query}"))
        .timeout(std::time::Duration::from_secs(120))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .expect("upload");
    common::respond(resp).await
}

async fn client_systems_load_files_over_the_api(b: Backend) {
    let c = Cluster::start_on(b).await;
    let persons = format!("addressee_no,individual_number\nB1,{}\nB2,{}\n", number(51), number(52));
    let (s, _, v) = upload(&c, "b-mayor", "persons", "", persons.into_bytes()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!((v["stored"].as_u64(), v["bad"].as_u64(), v["applied"].as_bool()), (Some(2), Some(0), Some(true)), "{v}");
    let copies = cp932("addressee_no,item,valid_from,氏名\nB1,TAX,2026-04-01,髙橋\n");
    let (s, _, v) = upload(&c, "b-mayor", "copies", "?encoding=cp932", copies).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["encoding"], "CP932");

    // A bad line: 422 problem listing it, and nothing applied.
    let bad = format!("addressee_no,individual_number\nB3,{}\nB4,123456789010\n", number(53));
    let (s, ct, v) = upload(&c, "b-mayor", "persons", "", bad.clone().into_bytes()).await;
    assert_eq!((s, ct.as_str()), (422, "application/problem+json"), "{v}");
    assert_eq!(v["type"], "urn:renkei:problem:import-rejected");
    assert_eq!(v["bad_lines"][0]["line"], 3, "{v}");
    assert_eq!(v["bad_lines"][0]["column_name"], "individual_number", "{v}");
    assert_eq!(v["summary"]["applied"], false);
    // With skip_bad the good line is applied and the bad one listed.
    let (s, _, v) = upload(&c, "b-mayor", "persons", "?skip_bad=true", bad.into_bytes()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!((v["stored"].as_u64(), v["bad"].as_u64()), (Some(1), Some(1)), "{v}");
    assert_eq!(v["bad_lines"].as_array().map(Vec::len), Some(1));

    // The audit log names the client system's key of each load.
    let audit = renkei(&c, &["admin", "audit", "--tenant", "tenant-b"]);
    let key = format!("api-key:{}", renkei_store::platform::key_id(&renkei_crypto::apikey::hash(&c.keys["b-mayor"])));
    assert!(audit.matches(&key).count() >= 4, "{audit}");

    // Unreadable files and wrong requests are problems too.
    let (s, _, v) = upload(&c, "b-mayor", "persons", "", b"no,header\n".to_vec()).await;
    assert_eq!((s, v["type"].as_str()), (400, Some("urn:renkei:problem:unreadable-file")), "{v}");
    let (s, _, _) = upload(&c, "b-mayor", "people", "", b"x\n".to_vec()).await;
    assert_eq!(s, 404);
    let (s, _, v) = upload(&c, "b-mayor", "persons", "?encoding=latin1", b"x\n".to_vec()).await;
    assert_eq!((s, v["type"].as_str()), (400, Some("urn:renkei:problem:invalid-query")), "{v}");
    let mut huge = b"addressee_no,individual_number\n".to_vec();
    let line = format!("{}\n", "x".repeat(60_000));
    while huge.len() <= 64 << 20 {
        huge.extend(line.as_bytes());
    }
    let (s, _, v) = upload(&c, "b-mayor", "persons", "", huge).await;
    assert_eq!((s, v["type"].as_str()), (413, Some("urn:renkei:problem:body-too-large")), "{v}");
    // Refused before any load began, and audited all the same.
    let audit = renkei(&c, &["admin", "audit", "--tenant", "tenant-b"]);
    assert!(audit.contains("org=b-mayor kind=persons applied=false failed=too-large"), "{audit}");
}

fn renkei(c: &Cluster, args: &[&str]) -> String {
    let plat = c.path("platform").display().to_string();
    let mut all: Vec<&str> = vec![args[0], "--data-dir", &plat];
    let db = c.db_args();
    all.extend(db.iter().map(String::as_str));
    all.extend(&args[1..]);
    common::renkei(&all, None)
}

/// A file far larger than what the load holds in flight (16 chunks of 128 lines or 1 MiB),
/// with lines long enough to close chunks by size: its lines are hashed and encrypted on several
/// threads, yet bad lines are reported in line order and every good line lands with its own data.
async fn a_file_of_many_chunks_is_loaded_whole_and_reported_in_line_order(b: Backend) {
    let c = Cluster::start_on(b).await;
    let mut text = String::from("addressee_no,item,valid_from,income,note\n");
    let mut expected_bad = Vec::new();
    for i in 0..3300u64 {
        let item = if i % 97 == 5 { "NOSUCH" } else { "TAX" };
        if item == "NOSUCH" {
            expected_bad.push(i + 2);
        }
        let note = if i >= 3000 { "x".repeat(9_000) } else { format!("n{i}") };
        text.push_str(&format!("L{i},{item},2026-04-01,{i},{note}\n"));
    }
    let (s, _, v) = upload(&c, "b-mayor", "copies", "?skip_bad=true", text.into_bytes()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!((v["stored"].as_u64(), v["bad"].as_u64()), (Some(3300 - expected_bad.len() as u64), Some(expected_bad.len() as u64)));
    let reported: Vec<u64> = v["bad_lines"].as_array().expect("bad lines").iter().filter_map(|l| l["line"].as_u64()).collect();
    assert_eq!(reported, expected_bad, "bad lines in line order");

    // A line from the last chunks answers a query with its own fields.
    let persons = format!("addressee_no,individual_number\nL3250,{}\n", number(90_001));
    let (s, _, v) = upload(&c, "b-mayor", "persons", "", persons.into_bytes()).await;
    assert_eq!(s, 200, "{v}");
    let done = ask_for_tax(&c, "A90", 90_001, "chunks-1").await;
    assert_eq!(done["answer"]["items"][0]["fields"], json!({"income": "3250", "note": "x".repeat(9_000)}), "{done}");
}

/// Runs `cmd` with SQLite's temporary directory on a file system of `size` (e.g. `512k`) of its
/// own, mounted in a mount namespace made for the command (`unshare`, which needs no privilege
/// where user namespaces are allowed): the disk a staged load writes to fills up.
fn on_a_small_temporary_disk(cmd: std::process::Command, dir: &std::path::Path, size: &str) -> std::process::Command {
    std::fs::create_dir_all(dir).expect("temporary directory");
    let mut wrapped = std::process::Command::new("unshare");
    wrapped
        .args([
            "--map-root-user",
            "--mount",
            "sh",
            "-c",
            r#"mount -t tmpfs -o size="$1" tmpfs "$0" && shift && SQLITE_TMPDIR="$0" exec "$@""#,
        ])
        .arg(dir)
        .arg(size)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    wrapped
}

/// On SQLite a copies load stages its lines in SQLite's temporary directory. When that disk
/// fills up, the load stops with a one-line message that says so, nothing of it is applied, and
/// the tenant's store takes the same file whole once there is room.
#[tokio::test]
async fn a_copies_load_that_fills_the_disk_applies_nothing_and_says_so() {
    let c = Cluster::start_on(Backend::Sqlite).await;
    let before = write(&c, "before.csv", b"addressee_no,item,valid_from,income\nF0,TAX,2026-04-01,111\n");
    let (code, _, err) = c.import("copies", &before, "b-mayor", &[]);
    assert_eq!(code, 0, "{err}");

    // Far more than SQLite keeps of a temporary table in memory, and more than the disk holds.
    const LINES: u64 = 200_000;
    let mut text = String::from("addressee_no,item,valid_from,income,note\n");
    for i in 0..LINES {
        text.push_str(&format!("F{i},TAX,2026-04-01,{},{}\n", 222_000 + i, "n".repeat(40)));
    }
    let big = write(&c, "big.csv", text.as_bytes());
    let cmd = on_a_small_temporary_disk(c.import_command("copies", &big, "b-mayor", &[]), &c.path("small-tmp"), "512k");
    let (code, out, err) = Cluster::output(cmd);
    assert_eq!(code, 1, "out: {out}\nerr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains("disk is full"), "{err}");
    assert!(err.contains("nothing was applied"), "{err}");
    let audit = renkei(&c, &["admin", "audit", "--tenant", "tenant-b"]);
    assert!(audit.contains("kind=copies applied=false failed=storage-full"), "{audit}");

    // The copy loaded before still answers with its own value.
    let persons = format!("addressee_no,individual_number\nF0,{}\n", number(80_001));
    let (code, _, err) = c.import("persons", &write(&c, "p.csv", persons.as_bytes()), "b-mayor", &[]);
    assert_eq!(code, 0, "{err}");
    let done = ask_for_tax(&c, "A80", 80_001, "full-1").await;
    assert_eq!(done["answer"]["items"][0]["fields"], json!({"income": "111"}), "{done}");

    // With room again, the same file loads whole: none of its lines had been kept.
    let (code, out, err) = c.import("copies", &big, "b-mayor", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("{LINES} lines read (UTF-8), {LINES} stored")), "{out}");
}

/// Lines in [`persons_file`]: twenty batches of codes.
const PERSONS_LINES: u64 = 20_000;

/// A persons file of [`PERSONS_LINES`] lines (addressees `{prefix}0…`, numbers from `seed`), and where
/// its first half of whole lines ends.
fn persons_file(prefix: &str, seed: u64) -> (String, usize) {
    let mut text = String::from("addressee_no,individual_number\n");
    for i in 0..PERSONS_LINES {
        text.push_str(&format!("{prefix}{i},{}\n", number(seed + i)));
    }
    let half = text[..text.len() / 2].rfind('\n').map_or(0, |i| i + 1);
    (text, half)
}

/// A load killed part-way (SIGKILL while it waits for the rest of its input, with batches of
/// persons already written in its transaction) keeps nothing: the same file then loads whole,
/// every line stored and none found already there.
async fn a_load_killed_part_way_keeps_nothing(b: Backend) {
    use std::io::Write;
    let c = Cluster::start_on(b).await;
    let (text, half) = persons_file("K", 3_000_000);
    let report = c.path("killed.errors.csv").display().to_string();
    let mut cmd = c.import_command("persons", std::path::Path::new("-"), "b-mayor", &["--report", &report]);
    cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().expect("start renkei import");
    let mut input = child.stdin.take().expect("stdin");
    // The first half of the lines, more than a pipe holds: written once the load has read most
    // of it. (Ended there, it would be a whole file of its own.)
    input.write_all(&text.as_bytes()[..half]).expect("feed the load");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    child.kill().expect("SIGKILL");
    let status = child.wait().expect("reap");
    assert!(!status.success(), "the load was still running: {status}");
    drop(input);

    let file = write(&c, "persons.csv", text.as_bytes());
    let (code, out, err) = c.import("persons", &file, "b-mayor", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("{PERSONS_LINES} lines read (UTF-8), {PERSONS_LINES} stored, 0 unchanged")), "{out}");
}

/// Sends `body[..sent]` of a `len`-byte upload to `POST /api/v1/imports/{kind}` as `org`'s client
/// system, over a connection of its own, waits, then drops the connection with the body unfinished:
/// a client system that died part-way through an upload.
async fn upload_cut_short(c: &Cluster, org: &str, kind: &str, body: &[u8], sent: usize) {
    use tokio::io::AsyncWriteExt;
    let base = c.internal_for(org);
    let addr = base.trim_start_matches("https://").trim_end_matches('/');
    let mut tls = c.raw_tls(&base).await;
    let head = format!(
        "POST /api/v1/imports/{kind} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: text/csv\r\nContent-Length: {}\r\n\r\n",
        c.keys[org],
        body.len()
    );
    tls.write_all(head.as_bytes()).await.expect("request head");
    tls.write_all(&body[..sent]).await.expect("first part of the body");
    tls.flush().await.expect("flush");
    // The platform reads it and writes its first batches inside the load's transaction.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    drop(tls);
}

/// A client system whose upload stops part-way (the connection closes with the body unfinished)
/// changes nothing, even when what arrived ends at a line break: the same file, sent whole, is
/// then stored line by line with none found already there.
async fn an_upload_cut_short_keeps_nothing(b: Backend) {
    let c = Cluster::start_on(b).await;
    let (text, half) = persons_file("U", 4_000_000);
    upload_cut_short(&c, "b-mayor", "persons", text.as_bytes(), half).await;
    // The platform notices the closed connection and rolls the load back.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;

    let (s, _, v) = upload(&c, "b-mayor", "persons", "", text.into_bytes()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!((v["stored"].as_u64(), v["unchanged"].as_u64()), (Some(PERSONS_LINES), Some(0)), "{v}");
}

/// A client system trickling a file in (here: half of it, then a pause) holds nothing of its
/// tenant: the upload is received whole before its load begins, so the tenant's reads and the
/// answers it gives automatically go on meanwhile. Then the rest arrives and the load is applied.
async fn a_slow_upload_does_not_hold_up_its_tenants_reads_and_answers(b: Backend) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let c = Cluster::start_on(b).await;
    let n = number(31);
    assert_eq!(c.register("a-mayor", "A1", &n).await.0, 201);
    assert_eq!(c.register("b-mayor", "B1", &n).await.0, 201);
    assert_eq!(c.copy("b-mayor", "B1", "TAX", "2026-01-01", json!({"income": 5})).await.0, 200);

    let mut body = b"addressee_no,item,valid_from,fiscal_year,taxable_income,resident_tax\n".to_vec();
    for i in 0..20_000 {
        body.extend(format!("S{i},TAX,2026-06-01,2026,{},{}\n", 1_000 + i, 100 + i).as_bytes());
    }
    let base = c.internal_for("b-mayor");
    let addr = base.trim_start_matches("https://").trim_end_matches('/').to_owned();
    let mut tls = c.raw_tls(&base).await;
    let head = format!(
        "POST /api/v1/imports/copies HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: text/csv\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        c.keys["b-mayor"],
        body.len()
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    let half = body.len() / 2;
    tls.write_all(&body[..half]).await.unwrap();
    tls.flush().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    // While the upload waits for the rest of its body: a read of the same tenant, and a query
    // it answers automatically.
    let limit = std::time::Duration::from_secs(5);
    let read = tokio::time::timeout(limit, c.api("b-mayor", Method::GET, "/api/v1/records", None)).await;
    assert_eq!(read.expect("the read did not wait for the upload").0, 200);
    let (s, _, q) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "A1", "during-upload").await;
    assert_eq!(s, 201, "{q}");
    let answered = tokio::time::timeout(limit, c.wait_final("a-mayor", q["id"].as_str().unwrap())).await;
    let answered = answered.expect("the answer did not wait for the upload");
    assert_eq!(answered["state"], "answered", "{answered}");
    assert_eq!(answered["answer"]["items"][0]["fields"]["income"], 5);

    tls.write_all(&body[half..]).await.unwrap();
    tls.flush().await.unwrap();
    let mut response = Vec::new();
    tls.read_to_end(&mut response).await.ok();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{}", response.lines().next().unwrap_or_default());
    assert!(response.contains("\"stored\":20000"), "{response}");
}

/// Codes come from the hub: with the hub down, a persons load stops with one line saying so and
/// keeps nothing; once the hub is back the same file is stored whole.
async fn a_persons_load_while_the_hub_is_down_keeps_nothing_and_says_why(b: Backend) {
    let mut c = Cluster::start_on(b).await;
    let (text, _) = persons_file("H", 5_000_000);
    let file = write(&c, "persons.csv", text.as_bytes());
    c.kill_process(0);
    let (code, out, err) = c.import("persons", &file, "b-mayor", &[]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: the hub did not give codes: cannot reach the hub"), "{err}");
    assert!(err.contains("refused"), "why it could not: {err}");
    assert!(err.contains("nothing was applied"), "{err}");
    // The attempt is audited, with what kind of failure stopped it.
    let audit = renkei(&c, &["admin", "audit", "--tenant", "tenant-b"]);
    assert!(audit.contains("org=b-mayor kind=persons applied=false failed=hub"), "{audit}");

    c.start_process(0).await;
    let (code, out, err) = c.import("persons", &file, "b-mayor", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&format!("{PERSONS_LINES} lines read (UTF-8), {PERSONS_LINES} stored, 0 unchanged")), "{out}");
}

/// Single-quoted for `sh`.
fn quoted(arg: &std::ffi::OsStr) -> String {
    format!("'{}'", arg.to_string_lossy().replace('\'', r"'\''"))
}

/// On a terminal a load draws a bar with bytes, lines per second and the time left (run here on a
/// pseudo-terminal made by `script`, as an operator's shell would be).
#[tokio::test]
async fn a_load_on_a_terminal_shows_a_bar_with_its_rate_and_time_left() {
    let c = Cluster::start_on(Backend::Sqlite).await;
    let (text, _) = persons_file("T", 6_000_000);
    let file = write(&c, "persons.csv", text.as_bytes());
    let cmd = c.import_command("persons", &file, "b-mayor", &[]);
    let line = std::iter::once(cmd.get_program()).chain(cmd.get_args()).map(quoted).collect::<Vec<_>>().join(" ");
    // `script` runs the command on a new pseudo-terminal and copies what it drew to stdout.
    let mut terminal = std::process::Command::new("script");
    terminal.args(["--quiet", "--return", "--command", &line, "/dev/null"]);
    let (code, drawn, err) = Cluster::output(terminal);
    assert_eq!(code, 0, "{drawn}{err}");
    assert!(drawn.contains("lines/s") && drawn.contains("ETA"), "a bar: {drawn}");
    assert!(drawn.contains(&format!("{PERSONS_LINES} stored")), "{drawn}");
}

/// Not on a terminal (a log, a pipe), a load that runs for more than a few seconds prints plain
/// progress lines: lines read, bytes, lines per second.
#[tokio::test]
async fn a_load_in_a_log_prints_plain_progress_lines() {
    use std::io::Write;
    let c = Cluster::start_on(Backend::Sqlite).await;
    let (text, half) = persons_file("P", 7_000_000);
    let report = c.path("log.errors.csv").display().to_string();
    let mut cmd = c.import_command("persons", std::path::Path::new("-"), "b-mayor", &["--report", &report]);
    cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let child = cmd.spawn().expect("start renkei import");
    let mut input = child.stdin.as_ref().expect("stdin");
    input.write_all(&text.as_bytes()[..half]).expect("first half");
    // Longer than the five seconds between progress lines.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    input.write_all(&text.as_bytes()[half..]).expect("second half");
    let mut child = child;
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("import ends");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    let progress = regex_lite::Regex::new(r"(?m)^import: \d+ lines, \d+ bytes, \d+ lines/s$").expect("pattern");
    assert!(progress.is_match(&stderr), "a progress line: {stderr}");
    assert!(!stderr.contains('\u{1b}'), "no terminal control codes in a log: {stderr:?}");
    assert!(stdout.contains(&format!("{PERSONS_LINES} stored")), "{stdout}");
}

/// A load that ends but cannot be audited (here the application role may no longer write the
/// audit log) says so and says what it did: it was applied, so it must not be reported as
/// having changed nothing.
#[tokio::test]
async fn a_load_that_cannot_be_audited_says_it_was_applied() {
    let c = Cluster::start_on(Backend::Postgres).await;
    let db = c.db.as_ref().expect("a PostgreSQL cluster");
    db.execute("REVOKE INSERT ON renkei.audit_log FROM renkei_app").expect("revoke");
    let file = write(&c, "persons.csv", format!("addressee_no,individual_number\nN1,{}\nN2,{}\n", number(61), number(62)).as_bytes());
    let (code, out, err) = c.import("persons", &file, "b-mayor", &[]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: the load was applied (2 stored), but its audit entry could not be written"), "{err}");
    assert!(!err.contains("nothing was applied"), "{err}");

    db.execute("GRANT INSERT ON renkei.audit_log TO renkei_app").expect("grant");
    let (code, out, err) = c.import("persons", &file, "b-mayor", &[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("0 stored, 2 unchanged"), "applied the first time: {out}");
}
