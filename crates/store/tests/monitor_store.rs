//! The SLA monitor's records, on both backends (`sqlite::…`, `postgres::…`): one process claims
//! each tick, one incident is open per tenant and probe whoever opens it, incidents and
//! maintenance are found by the span they overlap, and on PostgreSQL a tenant's transactions see
//! only its own probes and the windows announced for it or for everyone. Each moment of an
//! incident queues a notice per channel of its tenant and of the operator, claimed once per lease
//! and retried after a failure.

use renkei_domain::incident::ProbeKind;
use renkei_domain::notice::NoticeKind;
use renkei_store::monitor::{Maintenance, ProbeRecord};
use renkei_store::notices::{Channel, ChannelKind};
use renkei_store::platform::PlatformStore;
use renkei_store::testing::TestDatabase;
use renkei_store::{Scope, args};

struct Fixture {
    platform: PlatformStore,
    _dir: tempfile::TempDir,
    _pg: Option<TestDatabase>,
}

async fn fixture(postgres: bool) -> Fixture {
    let (dir, pg, _, platform) = renkei_store::testing::platform_store(postgres).await;
    Fixture { platform, _dir: dir, _pg: pg }
}

fn probe(tenant: &str, at: i64, ok: bool, latency_ms: i64) -> ProbeRecord {
    ProbeRecord { tenant: tenant.into(), kind: ProbeKind::Search, at_ms: at * 1000, ok, latency_ms, detail: String::new() }
}

async fn the_monitor_records_probes_incidents_and_maintenance(f: Fixture) {
    let p = &f.platform;
    // Two processes reach the same tick: one claims it.
    let (a, b) = tokio::join!(p.claim_monitor_tick(60, "serve-1", 61), p.claim_monitor_tick(60, "serve-2", 61));
    assert!(a.unwrap() ^ b.unwrap(), "exactly one claims the tick");
    assert!(p.claim_monitor_tick(120, "serve-2", 121).await.unwrap());

    for (at, ok, ms) in [(100, true, 40), (160, false, 0), (220, false, 0), (280, true, 60)] {
        p.record_probe(&probe("kou", at, ok, ms)).await.unwrap();
    }
    p.record_probe(&probe("otsu", 100, true, 999)).await.unwrap();
    let recent = p.recent_probes("kou", ProbeKind::Search, 3).await.unwrap();
    assert_eq!(recent.iter().map(|r| (r.at, r.ok)).collect::<Vec<_>>(), vec![(280, true), (220, false), (160, false)]);
    assert_eq!(p.probe_latencies("kou", ProbeKind::Search, (0, 1000)).await.unwrap().len(), 2, "successes only");
    assert_eq!(p.probe_counts("kou", (0, 1000)).await.unwrap(), (4, 2));
    assert_eq!(p.probe_counts("kou", (200, 1000)).await.unwrap(), (2, 1));

    // Its administrators' mail and the operator's webhook are told of each moment.
    let channel = |id: &str, tenant: &str, kind| Channel {
        id: id.into(),
        tenant: tenant.into(),
        kind,
        target: format!("{id}@example"),
        secret_enc: None,
        created_at: 0,
    };
    p.add_notice_channel(&channel("kou-mail", "kou", ChannelKind::Email), "operator").await.unwrap();
    p.add_notice_channel(&channel("ops-hook", "", ChannelKind::Webhook), "operator").await.unwrap();
    p.add_notice_channel(&channel("otsu-mail", "otsu", ChannelKind::Email), "operator").await.unwrap();

    // Two processes open the same incident: one does.
    let (x, y) = tokio::join!(p.open_incident("kou", ProbeKind::Search, 160, 230), p.open_incident("kou", ProbeKind::Search, 160, 231));
    let opened = match (x.unwrap(), y.unwrap()) {
        (Some(i), None) | (None, Some(i)) => i,
        other => panic!("one incident, not {other:?}"),
    };
    assert!(p.open_incident("kou", ProbeKind::Update, 160, 232).await.unwrap().is_some(), "another probe's is its own");
    assert_eq!(p.open_incidents().await.unwrap().len(), 2);
    let recovered = p.recover_incident(&opened.id, 280, 290).await.unwrap();
    assert_eq!((recovered.started_at, recovered.recovered_at), (160, Some(280)));
    assert!(p.recover_incident(&opened.id, 300, 300).await.is_err(), "recovered once");
    p.set_incident_cause(&opened.id, "ディスク障害", "operator", 300).await.unwrap();
    // Opened, recovered, explained: three moments, each to kou's channel and the operator's
    // (never otsu's); a claimed notice is not claimed again within its lease.
    let due = p.claim_notices(300, 60, 100).await.unwrap();
    let of_first: Vec<(NoticeKind, &str)> =
        due.iter().filter(|n| n.incident == opened.id).map(|n| (n.kind, n.channel.id.as_str())).collect();
    assert_eq!(of_first.len(), 6, "{of_first:?}");
    assert!(due.iter().all(|n| n.channel.id != "otsu-mail"));
    for k in [NoticeKind::Opened, NoticeKind::Recovered, NoticeKind::Updated] {
        assert!(of_first.contains(&(k, "kou-mail")) && of_first.contains(&(k, "ops-hook")), "{k:?}");
    }
    assert!(p.claim_notices(300, 60, 100).await.unwrap().is_empty(), "leased");
    let (sent, failed) = (&due[0], &due[1]);
    p.notice_sent(&sent.id, &sent.incident, 235).await.unwrap();
    p.notice_failed(&failed.id, "could not connect", 400).await.unwrap();
    assert!(p.claim_notices(399, 60, 100).await.unwrap().iter().all(|n| n.id != failed.id), "not before its retry");
    let retried = p.claim_notices(400, 60, 100).await.unwrap();
    assert!(retried.iter().any(|n| n.id == failed.id && n.attempts == 1 && n.last_error == "could not connect"), "{retried:?}");
    assert!(retried.iter().all(|n| n.id != sent.id), "a sent notice is done");
    for n in p.notices_of(&opened.id).await.unwrap().iter().filter(|n| n.id != sent.id) {
        p.notice_sent(&n.id, &n.incident, 999).await.unwrap();
    }
    assert!(p.remove_notice_channel("otsu-mail", "operator").await.unwrap());
    assert!(!p.remove_notice_channel("otsu-mail", "operator").await.unwrap());
    let again = p.open_incident("kou", ProbeKind::Search, 400, 460).await.unwrap();
    assert!(again.is_some(), "a new incident once the last recovered");
    let of_kou = p.incidents_of("kou", (0, 300)).await.unwrap();
    assert_eq!(of_kou.len(), 2, "the recovered one and the open update one: {of_kou:?}");
    let first = of_kou.iter().find(|i| i.id == opened.id).expect("the first");
    assert_eq!((first.cause.as_str(), first.first_notice_at), ("ディスク障害", Some(235)));
    assert!(p.incidents_of("otsu", (0, 10_000)).await.unwrap().is_empty());

    let window = |id: &str, tenant: &str, from, to| Maintenance {
        id: id.into(),
        tenant: tenant.into(),
        starts_at: from,
        ends_at: to,
        note: "OS更新".into(),
        announced_at: 0,
    };
    p.announce_maintenance(&window("m1", "", 1000, 2000), "operator").await.unwrap();
    p.announce_maintenance(&window("m2", "otsu", 1500, 1600), "operator").await.unwrap();
    assert!(p.announce_maintenance(&window("m3", "kou", 50, 50), "operator").await.is_err(), "ends before it starts");
    let ids = |v: Vec<Maintenance>| v.into_iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(ids(p.maintenance_of("kou", (0, 3000)).await.unwrap()), vec!["m1"]);
    assert_eq!(ids(p.maintenance_of("otsu", (0, 3000)).await.unwrap()), vec!["m1", "m2"]);
    assert!(p.maintenance_of("otsu", (2000, 3000)).await.unwrap().is_empty(), "a window ending as the span starts");

    let audit = p.audit_log(None).await.unwrap();
    for action in ["incident.open", "incident.recover", "incident.cause", "maintenance.announce"] {
        assert!(audit.iter().any(|e| e.action == action), "{action} audited");
    }
}

/// On PostgreSQL, the database itself keeps a tenant's transactions to its own probe results
/// and incidents, and the windows announced for it or for everyone.
async fn a_tenants_transactions_see_its_own_monitor_rows(f: Fixture) {
    let p = &f.platform;
    p.record_probe(&probe("kou", 100, true, 1)).await.unwrap();
    p.record_probe(&probe("otsu", 100, true, 1)).await.unwrap();
    p.open_incident("otsu", ProbeKind::Search, 100, 100).await.unwrap();
    p.announce_maintenance(
        &Maintenance { id: "all".into(), tenant: String::new(), starts_at: 1, ends_at: 2, note: String::new(), announced_at: 0 },
        "operator",
    )
    .await
    .unwrap();
    p.announce_maintenance(
        &Maintenance { id: "otsu".into(), tenant: "otsu".into(), starts_at: 1, ends_at: 2, note: String::new(), announced_at: 0 },
        "operator",
    )
    .await
    .unwrap();
    let seen = p
        .raw(Scope::Tenant("kou".into()), |tx| {
            let count = |tx: &mut dyn renkei_store::db::Tx, table: &str| tx.value::<i64>(&format!("SELECT COUNT(*) FROM {table}"), args![]);
            Ok((count(tx, "probe_results")?, count(tx, "incidents")?, count(tx, "maintenance_windows")?, count(tx, "monitor_ticks")?))
        })
        .await
        .unwrap();
    assert_eq!(seen, (1, 0, 1, 0), "kou's probe, no incident, the window for everyone, no tick");
}

/// Unix seconds of `hour`:00 JST on `day` of November 2026.
fn nov(day: u32, hour: u32) -> i64 {
    chrono::NaiveDate::from_ymd_opt(2026, 11, day).and_then(|d| d.and_hms_opt(hour, 0, 0)).expect("time").and_utc().timestamp() - 9 * 3600
}

async fn old_days_are_rolled_up_and_still_counted_once(f: Fixture) {
    use renkei_domain::rollup::{bucket_of, upper_bound};
    use renkei_domain::sla::days_span;
    let p = &f.platform;
    let d = |day| chrono::NaiveDate::from_ymd_opt(2026, 11, day).expect("day");
    // Two old days (one with a result at 23:30 JST, still that day) and a recent one.
    for (at, ok, ms) in
        [(nov(1, 9), true, 40), (nov(1, 10), false, 0), (nov(1, 23) + 1800, true, 1_000), (nov(2, 9), true, 70), (nov(20, 9), true, 55)]
    {
        p.record_probe(&probe("kou", at, ok, ms)).await.unwrap();
    }
    p.record_probe(&probe("otsu", nov(1, 12), true, 5)).await.unwrap();
    let month = days_span(d(1), d(30));
    let before = (p.probe_counts("kou", month).await.unwrap(), p.probe_latencies("kou", ProbeKind::Search, month).await.unwrap().len());
    assert_eq!(before, ((5, 1), 4));

    assert_eq!(p.roll_up_probes(d(10)).await.unwrap(), 2, "1 and 2 November");
    assert_eq!(p.roll_up_probes(d(10)).await.unwrap(), 0, "nothing left before the 10th");
    let raw: i64 = p.raw(Scope::Operator, |tx| tx.value("SELECT COUNT(*) FROM probe_results", args![])).await.unwrap();
    assert_eq!(raw, 1, "only the recent result stays as it is");
    // The month's figures count every result once; rolled-up latencies read as their bucket's bound.
    assert_eq!(p.probe_counts("kou", month).await.unwrap(), (5, 1));
    assert_eq!(p.probe_counts("otsu", month).await.unwrap(), (1, 0));
    assert_eq!(p.probe_counts("kou", days_span(d(1), d(1))).await.unwrap(), (3, 1), "the day's own roll-up, 23:30 included");
    let mut latencies = p.probe_latencies("kou", ProbeKind::Search, month).await.unwrap();
    latencies.sort_unstable();
    let mut expected: Vec<u64> = [40, 70, 1_000].into_iter().map(|ms| upper_bound(bucket_of(ms))).chain([55]).collect();
    expected.sort_unstable();
    assert_eq!(latencies, expected);
    assert!(p.probe_latencies("kou", ProbeKind::Update, month).await.unwrap().is_empty());

    // Tick claims older than the results kept are forgotten; newer ones stay claimed.
    assert!(p.claim_monitor_tick(1, "serve-1", nov(1, 9)).await.unwrap());
    assert!(p.claim_monitor_tick(2, "serve-1", nov(20, 9)).await.unwrap());
    assert_eq!(p.forget_monitor_ticks(nov(10, 0)).await.unwrap(), 1);
    assert!(!p.claim_monitor_tick(2, "serve-2", nov(20, 9)).await.unwrap(), "a recent claim holds");

    // A result that arrives for a day already rolled up is added to its roll-up next time.
    p.record_probe(&probe("kou", nov(2, 11), false, 0)).await.unwrap();
    assert_eq!(p.roll_up_probes(d(10)).await.unwrap(), 1);
    assert_eq!(p.probe_counts("kou", days_span(d(2), d(2))).await.unwrap(), (2, 1));
}

mod sqlite {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_monitor_records_probes_incidents_and_maintenance() {
        super::the_monitor_records_probes_incidents_and_maintenance(super::fixture(false).await).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn old_days_are_rolled_up_and_still_counted_once() {
        super::old_days_are_rolled_up_and_still_counted_once(super::fixture(false).await).await
    }
}

mod postgres {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_monitor_records_probes_incidents_and_maintenance() {
        super::the_monitor_records_probes_incidents_and_maintenance(super::fixture(true).await).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn old_days_are_rolled_up_and_still_counted_once() {
        super::old_days_are_rolled_up_and_still_counted_once(super::fixture(true).await).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_tenants_transactions_see_its_own_monitor_rows() {
        super::a_tenants_transactions_see_its_own_monitor_rows(super::fixture(true).await).await
    }
}
