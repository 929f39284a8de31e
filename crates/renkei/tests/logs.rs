//! Logs for a log collector (issue 17 §6): with `RENKEI_LOG_FORMAT=json` every line `serve` and
//! `hub` write is one JSON object with its time, level and message, and a whole linkage leaves
//! no Individual Number, addressee number or copy value in either log.

mod common;

use common::{Cluster, number};
use serde_json::{Value, json};

#[tokio::test]
async fn json_logs_are_one_object_a_line_and_hold_no_personal_value() {
    let mut c = Cluster::start().await;
    c.hub_env = vec![("RENKEI_LOG_FORMAT".into(), "json".into())];
    c.serve_env = vec![("RENKEI_LOG_FORMAT".into(), "json".into())];
    for i in [1, 0] {
        c.kill_process(i);
    }
    for log in ["hub.log", "serve.log"] {
        std::fs::write(c.path(log), "").expect("empty the log");
    }
    for i in [0, 1] {
        c.start_process(i).await;
    }
    let (person, marker) = (number(777), "所得額-31415");
    assert_eq!(c.register("a-mayor", "A-4242", &person).await.0, 201);
    assert_eq!(c.register("b-mayor", "B-4242", &person).await.0, 201);
    assert_eq!(c.copy("b-mayor", "B-4242", "TAX", "2026-04-01", json!({"note": marker})).await.0, 200);
    let (s, _, q) = c.file("a-mayor", "b-mayor", "D015", &["TAX"], "A-4242", "logs-1").await;
    assert_eq!(s, 201, "{q}");
    assert_eq!(c.wait_final("a-mayor", q["id"].as_str().expect("id")).await["state"], "answered");

    for (log, started) in [("hub.log", "hub serving"), ("serve.log", "platform serving")] {
        let text = std::fs::read_to_string(c.path(log)).expect("log");
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(lines.len() > 3, "{log}: {text}");
        for line in &lines {
            let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{log}: not JSON ({e}): {line}"));
            assert!(v["timestamp"].is_string() && v["level"].is_string() && v["fields"]["message"].is_string(), "{log}: {line}");
        }
        assert!(lines.iter().any(|l| l.contains(started)), "{log}: {text}");
        for personal in [person.as_str(), "A-4242", "B-4242", marker] {
            assert!(!text.contains(personal), "{log} holds a personal value");
        }
    }
}
