//! Storage rules that hold whatever calls the store, on both backends: every test runs once on
//! SQLite (`sqlite::…`) and once on PostgreSQL (`postgres::…`), each in its own database.

use renkei_crypto::datakey::{DataKey, MasterKey};
use renkei_domain::{AddresseeNo, DutyCode, ItemCode, OrgCode, OrgId, OrgType, Outcome, QueryState, RequestId, TenantId};
use renkei_store::platform::{Org, PlatformStore};
use renkei_store::tenant::{Acceptance, AnswerBasis, Filing, Loaded, NewQuery, Registration, TenantStore};
use renkei_store::testing::TestDatabase;
use renkei_store::{Finish, Location, StoreError};
use serde_json::json;

/// A platform with tenant `t` and its org `org`, on one backend.
struct Fixture {
    platform: PlatformStore,
    store: TenantStore,
    location: Location,
    master: MasterKey,
    _dir: tempfile::TempDir,
    pg: Option<TestDatabase>,
}

impl Fixture {
    async fn new(postgres: bool) -> Fixture {
        let (dir, pg, location, platform) = renkei_store::testing::platform_store(postgres).await;
        let master = MasterKey::generate();
        let t = TenantId::parse("t").unwrap();
        platform.create_tenant(&master, &t, "T", "test").await.unwrap();
        let dk = platform.data_key(&master, &t).await.unwrap();
        let org = Org { tenant: t.clone(), id: ids().0, org_type: OrgType::parse("MUNI").unwrap(), name: "org".into() };
        platform.create_org(&dk, &org, "test").await.unwrap();
        let store = platform.tenant_store(t, dk).await.unwrap();
        Fixture { platform, store, location, master, _dir: dir, pg }
    }
}

renkei_store::on_both_backends!(
    copies_keep_history_and_answer_with_the_version_valid_on_the_date,
    registration_is_idempotent_and_a_different_code_conflicts,
    query_states_only_move_forward_and_records_are_written_once,
    another_data_key_finds_nothing_and_a_foreign_key_is_refused,
    a_database_newer_than_the_binary_is_refused,
    each_due_query_is_claimed_by_one_worker_until_its_lease_ends,
    a_provided_answer_is_kept_once_per_request_id,
    the_answer_basis_is_the_prior_answer_or_the_persons_copies,
    a_bulk_load_replaces_versions_in_place_and_keeps_the_first_of_repeated_lines,
    many_queries_are_marked_in_flight_at_once_and_those_that_moved_on_are_left,
    a_query_needing_approval_is_sent_once_approved_and_ends_when_its_window_passes,
    a_persons_load_registers_each_person_in_every_org_or_in_none,
    a_scan_opens_every_copy_once_across_pages,
);

async fn a_scan_opens_every_copy_once_across_pages(f: Fixture) {
    let s = &f.store;
    let (org, _, _) = ids();
    let tax = ItemCode::parse("TAX").unwrap();
    // More than a page (1,000), some persons with two versions.
    for i in 0..1_003 {
        let a = AddresseeNo::parse(&format!("S{i}")).unwrap();
        s.upsert_copy(&org, &a, &tax, "2026-01-01".parse().unwrap(), json!({"i": i}).as_object().unwrap()).await.unwrap();
        if i % 500 == 0 {
            s.upsert_copy(&org, &a, &tax, "2026-06-01".parse().unwrap(), json!({"i": i}).as_object().unwrap()).await.unwrap();
        }
    }
    let mut seen = std::collections::BTreeMap::new();
    let n = s.scan_copies(|fields| *seen.entry(fields["i"].as_i64().unwrap()).or_insert(0) += 1).await.unwrap();
    assert_eq!(n, 1_006);
    assert_eq!(seen.len(), 1_003);
    assert_eq!(seen.values().filter(|v| **v == 2).count(), 3, "two versions of S0, S500, S1000");
}

fn ids() -> (OrgId, AddresseeNo, OrgCode) {
    (OrgId::parse("org").unwrap(), AddresseeNo::parse("A1").unwrap(), OrgCode::parse("code-1").unwrap())
}

async fn copies_keep_history_and_answer_with_the_version_valid_on_the_date(f: Fixture) {
    let s = &f.store;
    let (org, a, _) = ids();
    let tax = ItemCode::parse("TAX").unwrap();
    for (d, v) in [("2025-01-01", 1), ("2026-01-01", 2), ("2026-01-01", 3)] {
        s.upsert_copy(&org, &a, &tax, d.parse().unwrap(), json!({"v": v}).as_object().unwrap()).await.unwrap();
    }
    let on = |d: &str| d.parse().unwrap();
    assert!(s.copies_valid_on(&org, &a, std::slice::from_ref(&tax), on("2024-12-31")).await.unwrap().is_empty());
    assert_eq!(s.copies_valid_on(&org, &a, std::slice::from_ref(&tax), on("2025-06-01")).await.unwrap()[0].fields["v"], 1);
    assert_eq!(
        s.copies_valid_on(&org, &a, std::slice::from_ref(&tax), on("2026-06-01")).await.unwrap()[0].fields["v"],
        3,
        "same valid_from replaces"
    );
}

async fn registration_is_idempotent_and_a_different_code_conflicts(f: Fixture) {
    let s = &f.store;
    let (org, a, code) = ids();
    assert_eq!(s.register_person(&org, &a, &code).await.unwrap(), Registration::Created);
    assert_eq!(s.register_person(&org, &a, &code).await.unwrap(), Registration::AlreadyRegistered);
    assert!(matches!(s.register_person(&org, &a, &OrgCode::parse("other").unwrap()).await, Err(StoreError::Conflict(_))));
    let b = AddresseeNo::parse("B1").unwrap();
    assert!(matches!(s.register_person(&org, &b, &code).await, Err(StoreError::Conflict(_))), "one code, one addressee");
    assert_eq!(s.person_by_code(&org, &code).await.unwrap(), Some(a));
}

fn new_query(id: &str, org: &OrgId, addressee: &AddresseeNo) -> NewQuery {
    NewQuery {
        org: org.clone(),
        idempotency_key: id.into(),
        addressee: addressee.clone(),
        request_id: RequestId::parse(id).unwrap(),
        provider: OrgId::parse("p").unwrap(),
        duty: DutyCode::parse("D1").unwrap(),
        items: vec![ItemCode::parse("TAX").unwrap()],
        reference_date: "2026-01-01".parse().unwrap(),
        deadline_at: i64::MAX,
        filed_by: "staff".into(),
    }
}

async fn file(s: &TenantStore, id: &str) -> String {
    let (org, a, code) = ids();
    s.register_person(&org, &a, &code).await.unwrap();
    match s.file_query(new_query(id, &org, &a)).await.unwrap() {
        Filing::Created(q) => q.id,
        other => panic!("not filed: {other:?}"),
    }
}

async fn query_states_only_move_forward_and_records_are_written_once(f: Fixture) {
    let s = &f.store;
    let (org, a, code) = ids();
    let mut filed = new_query("r1", &org, &a);
    filed.idempotency_key = "k".into();
    assert!(matches!(s.file_query(filed.clone()).await.unwrap(), Filing::PersonNotRegistered));
    assert!(s.claim_outbox(10, renkei_store::tenant::OUTBOX_LEASE_MS).await.unwrap().is_empty(), "nothing was filed");
    s.register_person(&org, &a, &code).await.unwrap();
    let Filing::Created(q) = s.file_query(filed.clone()).await.unwrap() else { panic!("not created") };
    assert_eq!(q.state, QueryState::Queued);
    let Filing::Existing(again) = s.file_query(filed).await.unwrap() else { panic!("a retry files nothing new") };
    assert_eq!(again.id, q.id);
    let outbox = s.claim_outbox(10, renkei_store::tenant::OUTBOX_LEASE_MS).await.unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].request.requester_code, code, "the request carries the person's code, read when it was filed");
    assert!(s.mark_in_flight(&q.id).await.unwrap());
    assert!(!s.mark_in_flight(&q.id).await.unwrap(), "a repeated effect is a no-op");
    let other = OrgId::parse("other-org").unwrap();
    let accept = |org: &OrgId, provider: &OrgId, rid: &str| {
        let (org, provider, rid) = (org.clone(), provider.clone(), RequestId::parse(rid).unwrap());
        async move { s.accept_answer(&rid, &org, &provider, Outcome::Found, &json!({"ok": true})).await.unwrap() }
    };
    let provider = q.provider.clone();
    assert_eq!(accept(&org, &provider, "no-such-request").await, Acceptance::UnknownRequest);
    assert_eq!(accept(&other, &provider, "r1").await, Acceptance::Mismatch, "filed by another org");
    assert_eq!(accept(&org, &other, "r1").await, Acceptance::Mismatch, "asked of another provider");
    assert_eq!(s.query(&org, &q.id).await.unwrap().unwrap().state, QueryState::InFlight, "a refused answer changes nothing");
    assert_eq!(accept(&org, &provider, "r1").await, Acceptance::Stored);
    assert_eq!(accept(&org, &provider, "r1").await, Acceptance::AlreadyAnswered, "a retried relay is a no-op");
    assert!(matches!(s.fail(&q.id, "late").await, Err(StoreError::Conflict(_))), "answered is final");
    // Each state it entered, once, in order; none for another org.
    let history: Vec<QueryState> = s.query_history(&org, &q.id).await.unwrap().into_iter().map(|h| h.state).collect();
    assert_eq!(history, [QueryState::Queued, QueryState::InFlight, QueryState::Answered]);
    assert!(s.query_history(&other, &q.id).await.unwrap().is_empty(), "another org's query has no history for it");
    let records = s.records(Some(&org), &Default::default(), None, renkei_domain::page::MAX_LIMIT).await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0].seq, records[0].side, records[0].outcome),
        (1, renkei_domain::Side::Requester, renkei_domain::RecordOutcome::Found)
    );
}

async fn another_data_key_finds_nothing_and_a_foreign_key_is_refused(f: Fixture) {
    let (org, a, code) = ids();
    f.store.register_person(&org, &a, &code).await.unwrap();
    // The same tenant's rows under a different key: look-ups find nothing (blind indexes
    // differ) and the rows cannot be decrypted.
    let t = TenantId::parse("t").unwrap();
    let other = f.platform.tenant_store(t.clone(), DataKey::generate("t")).await.unwrap();
    assert_eq!(other.person_code(&org, &a).await.unwrap(), None);
    assert!(f.platform.tenant_store(t, DataKey::generate("u")).await.is_err(), "a key made for another tenant");
}

async fn a_database_newer_than_the_binary_is_refused(f: Fixture) {
    match (&f.location, &f.pg) {
        (Location::Dir(d), _) => {
            let conn = rusqlite::Connection::open(renkei_store::layout::platform_db(d)).unwrap();
            conn.execute("INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)", []).unwrap();
        }
        (_, Some(db)) => db.execute("INSERT INTO renkei.schema_migrations (version, applied_at) VALUES (99, 0)").unwrap(),
        _ => unreachable!(),
    }
    let err = PlatformStore::open(&f.location).await.err().unwrap();
    assert!(matches!(err, StoreError::SchemaTooNew { found: 99, .. }), "{err}");
}

async fn each_due_query_is_claimed_by_one_worker_until_its_lease_ends(f: Fixture) {
    let (org, a, code) = ids();
    f.store.register_person(&org, &a, &code).await.unwrap();
    for i in 0..40 {
        file(&f.store, &format!("r{i}")).await;
    }
    // Several workers claim at once (on PostgreSQL, each on its own connection).
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let s = f.store.clone();
        set.spawn(async move {
            let mut mine = Vec::new();
            for _ in 0..10 {
                mine.extend(s.claim_outbox(3, renkei_store::tenant::OUTBOX_LEASE_MS).await.unwrap().into_iter().map(|i| i.id));
            }
            mine
        });
    }
    let mut all = Vec::new();
    while let Some(r) = set.join_next().await {
        all.extend(r.unwrap());
    }
    let unique: std::collections::HashSet<_> = all.iter().collect();
    assert_eq!((all.len(), unique.len()), (40, 40), "every query claimed exactly once");
    assert!(
        f.store.claim_outbox(100, renkei_store::tenant::OUTBOX_LEASE_MS).await.unwrap().is_empty(),
        "leased entries are not claimed again"
    );
}

async fn a_provided_answer_is_kept_once_per_request_id(f: Fixture) {
    let (org, _, _) = ids();
    let rid = RequestId::parse("r-provided").unwrap();
    let (requester, duty, items) = (OrgId::parse("req").unwrap(), DutyCode::parse("D1").unwrap(), vec![ItemCode::parse("TAX").unwrap()]);
    let mut set = tokio::task::JoinSet::new();
    for i in 0..4 {
        let (s, org, rid, requester, duty, items) =
            (f.store.clone(), org.clone(), rid.clone(), requester.clone(), duty.clone(), items.clone());
        set.spawn(async move {
            s.save_provided_answer(&org, &rid, &requester, &duty, &items, Outcome::Found, format!("envelope-{i}"), None).await.unwrap()
        });
    }
    let mut kept = Vec::new();
    while let Some(r) = set.join_next().await {
        kept.push(r.unwrap());
    }
    assert!(kept.iter().all(|k| k == &kept[0]), "every caller gets the one answer kept: {kept:?}");
    assert_eq!(f.store.provided_answer(&rid).await.unwrap().as_ref(), Some(&kept[0]));
    assert_eq!(f.store.records(Some(&org), &Default::default(), None, renkei_domain::page::MAX_LIMIT).await.unwrap().len(), 1);
}

async fn the_answer_basis_is_the_prior_answer_or_the_persons_copies(f: Fixture) {
    let s = &f.store;
    let (org, a, code) = ids();
    let (tax, res) = (ItemCode::parse("TAX").unwrap(), ItemCode::parse("RES").unwrap());
    let items = vec![tax.clone(), res.clone()];
    let rid = RequestId::parse("r-basis").unwrap();
    let on = "2026-06-01".parse().unwrap();
    let basis = s.answer_basis(&org, &rid, &code, &items, on, false).await.unwrap();
    assert!(matches!(basis, AnswerBasis::NotRegistered), "{basis:?}");

    s.register_person(&org, &a, &code).await.unwrap();
    s.upsert_copy(&org, &a, &tax, "2026-01-01".parse().unwrap(), json!({"v": 1}).as_object().unwrap()).await.unwrap();
    s.upsert_copy(&org, &a, &res, "2026-07-01".parse().unwrap(), json!({"v": 2}).as_object().unwrap()).await.unwrap();
    match s.answer_basis(&org, &rid, &code, &items, on, false).await.unwrap() {
        AnswerBasis::Copies { copies, .. } => {
            assert_eq!(copies.len(), 1, "RES is not valid yet on the reference date");
            assert_eq!((&copies[0].item, &copies[0].fields["v"]), (&tax, &json!(1)));
        }
        other => panic!("expected copies, got {other:?}"),
    }
    let other_code = OrgCode::parse("code-2").unwrap();
    assert!(matches!(s.answer_basis(&org, &rid, &other_code, &items, on, false).await.unwrap(), AnswerBasis::NotRegistered));

    let requester = OrgId::parse("req").unwrap();
    let duty = DutyCode::parse("D1").unwrap();
    s.save_provided_answer(&org, &rid, &requester, &duty, &items, Outcome::Found, "envelope".into(), None).await.unwrap();
    match s.answer_basis(&org, &rid, &code, &items, on, false).await.unwrap() {
        AnswerBasis::Answered(envelope) => assert_eq!(envelope, "envelope"),
        other => panic!("a retried forward gets the answer given: {other:?}"),
    }
}

async fn a_bulk_load_replaces_versions_in_place_and_keeps_the_first_of_repeated_lines(f: Fixture) {
    let s = &f.store;
    let (org, a, _) = ids();
    let tax = ItemCode::parse("TAX").unwrap();
    let fields = |v: i64| json!({"v": v}).as_object().unwrap().clone();
    let date = |d: &str| d.parse::<renkei_domain::Date>().unwrap();
    // Loads `lines` (line, valid_from, value) for A1/TAX in one transaction.
    let load = |lines: Vec<(u64, &'static str, i64)>, finish: Finish| {
        let (prep, a, tax, org) = (s.copy_preparer(&org), a.clone(), tax.clone(), org.clone());
        async move {
            s.bulk(&org, move |b| {
                let (mut stored, mut others) = (0, Vec::new());
                for (line, vf, v) in lines {
                    let w = b.copy(prep.prepare(line, &a, &tax, vf.parse().unwrap(), &fields(v))?)?;
                    stored += w.stored;
                    others.extend(w.others);
                }
                stored += b.flush(&mut |r| others.push(r))?;
                others.sort_by_key(|(line, _)| *line);
                Ok(((stored, others), finish))
            })
            .await
            .unwrap()
        }
    };
    let valid_on = |d: &str| {
        let (org, a, tax, d) = (org.clone(), a.clone(), tax.clone(), date(d));
        async move { s.copies_valid_on(&org, &a, &[tax], d).await.unwrap().first().map(|c| c.fields["v"].as_i64().unwrap()) }
    };
    // A version entered one at a time is replaced by a load of the same key.
    s.upsert_copy(&org, &a, &tax, date("2026-04-01"), &fields(1)).await.unwrap();
    let (stored, others) = load(vec![(2, "2026-04-01", 2), (3, "2025-04-01", 0), (4, "2026-04-01", 3)], Finish::Commit).await;
    assert_eq!((stored, others), (2, vec![(4, Loaded::Duplicate)]), "the later line of a repeated key is reported, the first kept");
    assert_eq!((valid_on("2026-05-01").await, valid_on("2025-05-01").await), (Some(2), Some(0)), "history kept per valid_from");
    // A later load replaces the version again; one that is rolled back changes nothing.
    assert_eq!(load(vec![(2, "2026-04-01", 4)], Finish::Commit).await, (1, vec![]));
    assert_eq!(load(vec![(2, "2026-04-01", 5), (3, "2027-04-01", 6)], Finish::Rollback).await, (2, vec![]));
    assert_eq!((valid_on("2026-05-01").await, valid_on("2027-05-01").await), (Some(4), Some(4)));
    // Thousands of lines with one key: the first is kept, every other one reported (handed on a
    // page at a time on SQLite).
    let (stored, others) = load((1..=5_000).map(|line| (line, "2030-01-01", line as i64)).collect(), Finish::Rollback).await;
    assert_eq!(stored, 1);
    assert_eq!(others, (2..=5_000).map(|line| (line, Loaded::Duplicate)).collect::<Vec<_>>());
    // And the one-at-a-time path still finds and replaces what the load wrote.
    s.upsert_copy(&org, &a, &tax, date("2026-04-01"), &fields(7)).await.unwrap();
    assert_eq!(valid_on("2026-05-01").await, Some(7));
}

async fn a_persons_load_registers_each_person_in_every_org_or_in_none(f: Fixture) {
    let s = &f.store;
    let (mayor, edu) = (ids().0, OrgId::parse("edu").unwrap());
    let t = TenantId::parse("t").unwrap();
    let dk = f.platform.data_key(&f.master, &t).await.unwrap();
    let org = Org { tenant: t, id: edu.clone(), org_type: OrgType::parse("EDU").unwrap(), name: "edu".into() };
    f.platform.create_org(&dk, &org, "test").await.unwrap();
    let a = |n: &str| AddresseeNo::parse(n).unwrap();
    let code = |c: &str| OrgCode::parse(c).unwrap();
    // Known before the load: A2 in edu only, under a code of another person than the file's A2;
    // A3 in both orgs.
    s.register_person(&edu, &a("A2"), &code("e-other")).await.unwrap();
    s.register_in_orgs(&a("A3"), &[(mayor.clone(), code("m-3")), (edu.clone(), code("e-3"))]).await.unwrap();
    let line = |n: u64, addressee: &str, m: &str, e: &str| (n, a(addressee), vec![(mayor.clone(), code(m)), (edu.clone(), code(e))]);
    let batch = vec![line(2, "A1", "m-1", "e-1"), line(3, "A2", "m-2", "e-2"), line(4, "A3", "m-3", "e-3"), line(5, "A1", "m-1", "e-1")];
    let o = mayor.clone();
    let mut out = s.bulk(&o, move |b| Ok((b.persons(batch)?, Finish::Commit))).await.unwrap();
    out.sort_by_key(|(line, _)| *line);
    let refused = |l: &Loaded| matches!(l, Loaded::Conflict(_));
    assert_eq!(out[0], (2, Loaded::Stored), "{out:?}");
    assert!(refused(&out[1].1), "A2 means another person in edu: {out:?}");
    assert_eq!(out[2], (4, Loaded::AlreadyRegistered), "{out:?}");
    assert_eq!(out[3], (5, Loaded::Duplicate), "{out:?}");
    // A1 is known in both orgs, each by its own code; the refused A2 left no row in mayor.
    assert_eq!(s.person_code(&mayor, &a("A1")).await.unwrap(), Some(code("m-1")));
    assert_eq!(s.person_code(&edu, &a("A1")).await.unwrap(), Some(code("e-1")));
    assert_eq!(s.person_code(&mayor, &a("A2")).await.unwrap(), None, "a refused line leaves no row in any org");
    assert_eq!(s.person_code(&edu, &a("A2")).await.unwrap(), Some(code("e-other")));
    // A batch must name the same orgs on every line.
    let mixed = vec![line(2, "A4", "m-4", "e-4"), (3, a("A5"), vec![(mayor.clone(), code("m-5"))])];
    let err = s.bulk(&o, move |b| Ok((b.persons(mixed)?, Finish::Commit))).await;
    assert!(err.is_err(), "a batch naming different orgs is a bug, refused");
}

/// Accepts a found answer for request `rid` of `org`, asked of provider `p`.
async fn accept_found(s: &TenantStore, org: &OrgId, rid: &str) -> Acceptance {
    let (rid, provider) = (RequestId::parse(rid).unwrap(), OrgId::parse("p").unwrap());
    s.accept_answer(&rid, org, &provider, Outcome::Found, &json!({"ok": true})).await.unwrap()
}

async fn many_queries_are_marked_in_flight_at_once_and_those_that_moved_on_are_left(f: Fixture) {
    let s = &f.store;
    let (org, _, _) = ids();
    let (queued, other, answered) = (file(s, "r1").await, file(s, "r2").await, file(s, "r3").await);
    s.mark_in_flight(&answered).await.unwrap();
    assert_eq!(accept_found(s, &org, "r3").await, Acceptance::Stored);
    let ids = vec![queued.clone(), other.clone(), answered.clone(), "no-such-query".into(), queued.clone()];
    assert_eq!(s.mark_many_in_flight(ids).await.unwrap(), 2, "the two queued ones move; the rest are left");
    for (id, state) in [(&queued, QueryState::InFlight), (&other, QueryState::InFlight), (&answered, QueryState::Answered)] {
        assert_eq!(s.query(&org, id).await.unwrap().unwrap().state, state);
    }
    assert_eq!(s.mark_many_in_flight(vec![queued]).await.unwrap(), 0, "a repeated effect is a no-op");
    assert_eq!(
        s.records(Some(&org), &Default::default(), None, renkei_domain::page::MAX_LIMIT).await.unwrap().len(),
        1,
        "only the answered query has its record"
    );
}

async fn a_query_needing_approval_is_sent_once_approved_and_ends_when_its_window_passes(f: Fixture) {
    use renkei_domain::approval::Decision;
    use renkei_store::tenant::{ApprovalPolicy, Decided};
    let s = &f.store;
    let (org, a, code) = ids();
    s.register_person(&org, &a, &code).await.unwrap();
    let duty = DutyCode::parse("D1").unwrap();
    s.set_approval_policy(&ApprovalPolicy { org: org.clone(), duty: duty.clone(), window_minutes: 10 }).await.unwrap();
    let lease = renkei_store::tenant::OUTBOX_LEASE_MS;

    let Filing::Created(q) = s.file_query(new_query("r1", &org, &a)).await.unwrap() else { panic!("not created") };
    assert_eq!((q.state, q.filed_by.as_str()), (QueryState::PendingApproval, "staff"));
    assert_eq!(q.deadline_at - q.created_at, 10 * 60_000, "the window, not the query's deadline");
    assert!(s.claim_outbox(10, lease).await.unwrap().is_empty(), "waiting, not sent");
    assert!(s.overdue().await.unwrap().is_empty());
    let other = OrgId::parse("other-org").unwrap();
    assert!(matches!(s.decide(&other, &q.id, "kacho", &Decision::Approve, 1000).await, Err(StoreError::NotFound(_))), "another org's");
    assert_eq!(
        s.decide(&org, &q.id, "kacho", &Decision::Approve, 5_000).await.unwrap(),
        Decided::Approved { deadline_at: s.query(&org, &q.id).await.unwrap().unwrap().deadline_at }
    );
    let approved = s.query(&org, &q.id).await.unwrap().unwrap();
    assert_eq!((approved.state, approved.decided_by.as_deref()), (QueryState::Queued, Some("kacho")));
    assert_eq!(s.claim_outbox(10, lease).await.unwrap().len(), 1, "approved: in the outbox");
    assert_eq!(s.decide(&org, &q.id, "bucho", &Decision::Approve, 5_000).await.unwrap(), Decided::NotPending);
    assert!(!s.end_if_overdue(&q.id, |_| "late").await.unwrap(), "its new deadline has not passed");

    // A window that has passed (the API allows 10 minutes at least; the store takes any).
    s.set_approval_policy(&ApprovalPolicy { org: org.clone(), duty, window_minutes: 0 }).await.unwrap();
    let Filing::Created(late) = s.file_query(new_query("r2", &org, &a)).await.unwrap() else { panic!("not created") };
    assert_eq!(s.overdue().await.unwrap(), vec![(late.id.clone(), QueryState::PendingApproval)]);
    assert!(
        s.end_if_overdue(&late.id, |state| if state == QueryState::PendingApproval { "window passed" } else { "other" }).await.unwrap()
    );
    let ended = s.query(&org, &late.id).await.unwrap().unwrap();
    assert_eq!((ended.state, ended.error.as_deref()), (QueryState::Failed, Some("window passed")));
    assert_eq!(s.decide(&org, &late.id, "kacho", &Decision::Approve, 5_000).await.unwrap(), Decided::NotPending, "too late");
    let reject = Decision::Reject { reason: "no".into() };
    assert_eq!(s.decide(&org, &late.id, "kacho", &reject, 5_000).await.unwrap(), Decided::NotPending);
    assert_eq!(s.records(Some(&org), &Default::default(), None, 10).await.unwrap().len(), 1, "the ended query is recorded");
    assert!(s.remove_approval_policy(&org, &DutyCode::parse("D1").unwrap()).await.unwrap());
    assert!(s.approval_policies().await.unwrap().is_empty());
}

/// A backup on PostgreSQL hashes the data as of its restore point while the service writes on
/// (`store::restore_point`); the pinned view only reads. SQLite has no restore point.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_point_pins_the_data_as_of_it_while_writes_go_on() {
    let f = Fixture::new(true).await;
    let (org, _, _) = ids();
    let t = TenantId::parse("t").unwrap();
    let tax = ItemCode::parse("TAX").unwrap();
    let a = AddresseeNo::parse("P1").unwrap();
    f.store.upsert_copy(&org, &a, &tax, "2026-01-01".parse().unwrap(), json!({"v": 1}).as_object().unwrap()).await.unwrap();
    let before = f.platform.content_hash(&f.master, &t).await.unwrap();

    let point = f.platform.pin_restore_point("renkei-test-point").await.unwrap();
    assert!(point.lsn.contains('/'), "a log position: {}", point.lsn);
    // The lock is gone: writes go on, and the live data moves past the point.
    f.store.upsert_copy(&org, &a, &tax, "2026-02-01".parse().unwrap(), json!({"v": 2}).as_object().unwrap()).await.unwrap();
    assert_ne!(f.platform.content_hash(&f.master, &t).await.unwrap(), before);
    assert_eq!(point.store.content_hash(&f.master, &t).await.unwrap(), before, "the pinned view is the data as of the point");
    let written = point.store.create_tenant(&f.master, &TenantId::parse("u").unwrap(), "U", "test").await;
    assert!(written.is_err(), "the pinned view only reads");
    drop(point);

    let (_dir, _pg, _location, sqlite) = renkei_store::testing::platform_store(false).await;
    assert!(matches!(sqlite.pin_restore_point("p").await, Err(StoreError::Conflict(_))));
}

/// Backups of a platform on PostgreSQL take turns across hosts through an advisory lock held by
/// a session of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_lock_has_one_holder_until_it_is_dropped() {
    let f = Fixture::new(true).await;
    let other = PlatformStore::open(&f.location).await.unwrap();
    let held = f.platform.try_session_lock("renkei-backup").await.unwrap();
    assert!(held.is_some());
    assert!(other.try_session_lock("renkei-backup").await.unwrap().is_none(), "another process finds it held");
    assert!(other.try_session_lock("another-lock").await.unwrap().is_some(), "a lock of another name is free");
    drop(held);
    // The holding session closes on its own thread.
    let mut again = None;
    for _ in 0..50 {
        again = other.try_session_lock("renkei-backup").await.unwrap();
        if again.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(again.is_some(), "let go once dropped");
}
