//! `renkei bench …` runs and reports its figure, the baseline measured in the same run and their
//! ratio as one JSON object. Sizes here are tiny: these tests check the reports, not the speed
//! (figures live in docs/benchmarks.md).

mod common;

use serde_json::Value;

fn bench(args: &[&str]) -> Value {
    let mut all = vec!["bench"];
    all.extend(args);
    all.push("--json");
    let out = common::renkei(&all, None);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not one JSON object ({e}): {out}"))
}

fn positive(v: &Value, path: &[&str]) -> f64 {
    let x = path.iter().fold(v, |v, k| &v[*k]).as_f64().unwrap_or_else(|| panic!("{path:?} missing: {v}"));
    assert!(x > 0.0, "{path:?} = {x}: {v}");
    x
}

#[test]
fn bench_import_reports_rows_per_second_its_baseline_and_the_ratio() {
    let v = bench(&["import", "--rows", "300"]);
    assert_eq!((v["bench"].as_str(), v["backend"].as_str(), v["rows"].as_u64()), (Some("import"), Some("sqlite"), Some(300)));
    let (figure, base) = (positive(&v, &["rows_per_second"]), positive(&v, &["baseline", "rows_per_second"]));
    assert!((positive(&v, &["ratio"]) - figure / base).abs() < 1e-9);
    positive(&v, &["peak_rss_mib"]);
    let keyed = positive(&v, &["keyed_reference", "rows_per_second"]);
    assert!((positive(&v, &["keyed_reference", "ratio"]) - figure / keyed).abs() < 1e-9);
    // The storage floor: the sorted, encrypted rows' write, and the preparation spread over the
    // cores; the ratio it allows is the baseline's time over the floor's.
    let (floor, write, prepare) =
        (positive(&v, &["floor", "seconds"]), positive(&v, &["floor", "write_seconds"]), positive(&v, &["floor", "prepare_seconds"]));
    let cores = positive(&v, &["floor", "cores"]);
    assert!((floor - write.max((write + prepare) / cores)).abs() < 1e-9, "{v}");
    assert!((positive(&v, &["floor", "max_ratio"]) - positive(&v, &["baseline", "seconds"]) / floor).abs() < 1e-9, "{v}");
}

#[test]
fn bench_codes_reports_residents_per_second_its_baseline_and_the_ratio() {
    let v = bench(&["codes", "--residents", "300"]);
    assert_eq!((v["bench"].as_str(), v["residents"].as_u64()), (Some("codes"), Some(300)));
    let (figure, base) = (positive(&v, &["per_second"]), positive(&v, &["baseline", "per_second"]));
    assert!((positive(&v, &["ratio"]) - figure / base).abs() < 1e-9);
    positive(&v, &["seconds_per_million"]);
    assert_eq!(v["seconds_per_million_extrapolated"], true, "300 residents say little about a million: {v}");
}

#[test]
fn bench_e2e_reports_both_loads_the_echo_baseline_and_the_ratio() {
    let v = bench(&["e2e", "--queries", "40", "--concurrency", "4"]);
    assert_eq!((v["bench"].as_str(), v["queries"].as_u64()), (Some("e2e"), Some(40)));
    for load in ["full", "half"] {
        positive(&v, &[load, "throughput_qps"]);
        positive(&v, &[load, "cpu_ms_per_query"]);
        let (p50, p99) = (positive(&v, &[load, "p50_ms"]), positive(&v, &[load, "p99_ms"]));
        assert!(p50 <= p99, "{v}");
    }
    let (figure, base) = (positive(&v, &["full", "throughput_qps"]), positive(&v, &["baseline", "run", "throughput_qps"]));
    assert!((positive(&v, &["ratio"]) - figure / base).abs() < 1e-9);
    // The protocol floor: the cryptography plus the exchanges at the echo's cost, and the ratio
    // it allows, derived from the echo's CPU measured in the same run.
    let floor = positive(&v, &["floor", "ms_per_query"]);
    let parts = positive(&v, &["floor", "crypto_ms_per_query"]) + positive(&v, &["floor", "http_ms_per_query"]);
    assert!((floor - parts).abs() < 1e-9, "{v}");
    // CPU is read in 10 ms ticks, so a run this small may see none spent on the echo.
    let (echo_cpu, max_ratio) = (&v["baseline"]["run"]["cpu_ms_per_query"], &v["floor"]["max_ratio"]);
    let (echo_cpu, max_ratio) = (echo_cpu.as_f64().expect("echo CPU"), max_ratio.as_f64().expect("max_ratio"));
    assert!((max_ratio - echo_cpu / floor).abs() < 1e-9, "{v}");
}

#[test]
fn bench_runs_on_postgresql_too() {
    let db = renkei_store::testing::TestDatabase::create().expect("PostgreSQL for tests (see .ci/run)");
    let v = bench(&["import", "--rows", "300", "--database", &db.url]);
    assert_eq!(v["backend"], "postgresql");
    positive(&v, &["ratio"]);
    assert!(v["floor"].is_null(), "the storage floor is measured on SQLite only: {v}");
}

#[test]
fn bench_tenants_reports_a_served_platform_of_n_tenants_beside_two() {
    let v = bench(&["tenants", "--tenants", "5", "--residents", "3", "--queries", "20", "--rate", "40"]);
    assert_eq!((v["bench"].as_str(), v["tenants"].as_u64(), v["baseline"]["tenants"].as_u64()), (Some("tenants"), Some(5), Some(2)));
    for run in [&v, &v["baseline"]] {
        positive(run, &["startup_seconds"]);
        positive(run, &["peak_rss_mib"]);
        positive(run, &["open_files"]);
        positive(run, &["throughput_qps"]);
        // The serve process: the pool's workers and the runtime's, whatever the tenants.
        let threads = positive(run, &["threads"]);
        assert!(threads <= 64.0, "{run}");
        let (p50, p99) = (positive(run, &["p50_ms"]), positive(run, &["p99_ms"]));
        assert!(p50 <= p99, "{run}");
    }
    assert_eq!(v["baseline_p99_ms"], v["baseline"]["p99_ms"]);
    assert!((positive(&v, &["p99_ratio"]) - positive(&v, &["p99_ms"]) / positive(&v, &["baseline_p99_ms"])).abs() < 1e-9, "{v}");
}

#[test]
fn bench_rollup_reports_rows_per_second_its_baseline_and_the_ratio() {
    let v = bench(&["rollup", "--tenants", "3", "--days", "2", "--every-secs", "3600"]);
    assert_eq!((v["bench"].as_str(), v["rows"].as_u64()), (Some("rollup"), Some(3 * 2 * 24 * 4)), "{v}");
    assert_eq!((v["days_rolled"].as_u64(), v["rollup_rows"].as_u64()), (Some(2), Some(3 * 4 * 2)), "a row per tenant, probe and day: {v}");
    let (rollup, delete) = (positive(&v, &["rollup_secs"]), positive(&v, &["delete_secs"]));
    assert!((positive(&v, &["ratio"]) - rollup / delete).abs() < 1e-9, "{v}");
    positive(&v, &["rollup_rows_per_s"]);
    positive(&v, &["peak_mib"]);
}
