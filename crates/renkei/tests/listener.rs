//! What the listeners allow their clients: a slow client cannot hold a connection, and a
//! shutdown answers the requests in flight before the process exits.

mod common;

use common::Cluster;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A client that sends its request head one byte at a time, slower than the header timeout
/// allows, is cut off at the timeout; the listener goes on serving others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_its_head_one_byte_at_a_time_is_cut_off() {
    let mut c = Cluster::start().await;
    c.serve_env = vec![("RENKEI_HEADER_TIMEOUT_SECS".into(), "2".into())];
    c.restart().await;
    let tls = c.raw_tls(&c.internal()).await;
    let (mut read, mut write) = tokio::io::split(tls);
    let started = Instant::now();
    let closed = tokio::spawn(async move {
        let mut buf = [0u8; 1024];
        // Whatever the server says (if anything), until it closes the connection.
        while let Ok(n) = read.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
        started.elapsed()
    });
    let head = b"GET /api/v1/records HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer rk_not-a-key\r\n\r\n";
    for byte in head.iter().take(60) {
        if closed.is_finished() || write.write_all(&[*byte]).await.is_err() {
            break;
        }
        let _ = write.flush().await;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(closed.is_finished(), "the connection was still open after 15 s of a trickled head");
    let after = closed.await.unwrap();
    assert!(after >= Duration::from_millis(1500) && after < Duration::from_secs(6), "cut off after {after:?}, want about 2 s");
    // Others are served as ever.
    assert_eq!(c.api("a-mayor", reqwest::Method::GET, "/api/v1/records", None).await.0, 200);
}

/// SIGTERM while an upload is part-way: the server stops accepting, the upload finishes and is
/// answered (and kept), then the process exits by itself with status 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_answers_the_requests_in_flight_then_exits() {
    let mut c = Cluster::start().await;
    assert_eq!(c.register("b-mayor", "B1", &common::number(77)).await.0, 201);
    let body = b"addressee_no,item,valid_from,income\nB1,TAX,2026-04-01,5\nB1,TAX,2026-05-01,6\n";
    let half = body.len() / 2;
    let base = c.internal();
    let addr = base.trim_start_matches("https://").to_owned();
    let mut tls = c.raw_tls(&base).await;
    let head = format!(
        "POST /api/v1/imports/copies HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: text/csv\r\nContent-Length: {}\r\n\r\n",
        c.keys["b-mayor"],
        body.len()
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    tls.write_all(&body[..half]).await.unwrap();
    tls.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    c.terminate_process(1);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(tokio::net::TcpStream::connect(&addr).await.is_err(), "a stopping server accepts no new connection");
    assert!(c.wait_exit(1, Duration::from_millis(100)).await.is_none(), "the process waits for the request in flight");

    tls.write_all(&body[half..]).await.unwrap();
    tls.flush().await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), tls.read_to_end(&mut answer)).await.expect("answered within the grace period").ok();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"stored\":2"), "{answer}");
    let status = c.wait_exit(1, Duration::from_secs(10)).await.expect("the server exits once drained");
    assert!(status.success(), "{status}");
    let log = std::fs::read_to_string(c.path("serve.log")).unwrap_or_default();
    assert!(log.contains("shutting down") && log.contains("stopped"), "{log}");
}

/// An upload whose body stops arriving fails once it has been idle for the body timeout, with a
/// problem saying so, and keeps nothing; an upload that keeps sending is not cut off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_that_stalls_fails_after_the_body_idle_timeout_and_keeps_nothing() {
    let mut c = Cluster::start().await;
    c.serve_env = vec![("RENKEI_BODY_IDLE_SECS".into(), "2".into())];
    c.restart().await;
    assert_eq!(c.register("b-mayor", "B1", &common::number(78)).await.0, 201);
    let body = b"addressee_no,item,valid_from,income\nB1,TAX,2026-04-01,5\nB1,TAX,2026-05-01,6\n";
    let base = c.internal();
    let addr = base.trim_start_matches("https://").to_owned();
    let send = |pause: Duration| {
        let (c, addr, base) = (&c, addr.clone(), base.clone());
        async move {
            let mut tls = c.raw_tls(&base).await;
            let head = format!(
                "POST /api/v1/imports/copies HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: text/csv\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
                c.keys["b-mayor"],
                body.len()
            );
            tls.write_all(head.as_bytes()).await.unwrap();
            // A byte at a time, `pause` apart, for the first line; then the rest.
            for byte in &body[..36] {
                tls.write_all(&[*byte]).await.unwrap();
                tls.flush().await.unwrap();
                tokio::time::sleep(pause).await;
            }
            let _ = tls.write_all(&body[36..]).await;
            let _ = tls.flush().await;
            let mut answer = Vec::new();
            let _ = tokio::time::timeout(Duration::from_secs(20), tls.read_to_end(&mut answer)).await;
            String::from_utf8_lossy(&answer).into_owned()
        }
    };
    // Slow but steady: a byte every 100 ms for 3.6 s, longer than the idle limit in all.
    let steady = send(Duration::from_millis(100)).await;
    assert!(steady.starts_with("HTTP/1.1 200") && steady.contains("\"stored\":2"), "{steady}");
    // Stalled: the first byte, then nothing for longer than the limit.
    let mut tls = c.raw_tls(&base).await;
    let head = format!(
        "POST /api/v1/imports/copies HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: text/csv\r\nContent-Length: {}\r\n\r\nad",
        c.keys["b-mayor"],
        body.len() + 100
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    tls.flush().await.unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), tls.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400") && answer.contains("unreadable-file"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(10), "cut off after {:?}", started.elapsed());
    let audit = {
        let plat = c.path("platform").display().to_string();
        common::renkei(&["admin", "--data-dir", &plat, "audit", "--tenant", "tenant-b"], None)
    };
    assert_eq!(audit.lines().filter(|l| l.contains("applied=true")).count(), 1, "only the steady upload applied: {audit}");
}

/// A request refused before its body is read (a client system on a person's route) is answered,
/// and the connection goes on: the rest of the body is read and dropped, so the client finishes
/// sending, reads the refusal and sends its next request on the same connection. A body too
/// large to be worth reading gets its answer with `Connection: close`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_refused_before_its_body_is_read_is_answered_and_the_connection_goes_on() {
    let c = Cluster::start().await;
    let base = c.internal();
    let addr = base.trim_start_matches("https://").to_owned();
    let key = &c.keys["a-mayor"];
    let refused_head = |len: usize| {
        format!(
            "POST /api/v1/session/totp/confirm HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
        )
    };
    let body = format!("{{\"sealed\":\"{}\",\"code\":\"000000\"}}", "A".repeat(300_000));

    let mut tls = c.raw_tls(&base).await;
    tls.write_all(refused_head(body.len()).as_bytes()).await.unwrap();
    tls.write_all(&body.as_bytes()[..1000]).await.unwrap();
    tls.flush().await.unwrap();
    // The refusal is ready long before the rest arrives.
    tokio::time::sleep(Duration::from_millis(500)).await;
    tls.write_all(&body.as_bytes()[1000..]).await.expect("the rest of the body is taken, not cut off");
    let next = format!("GET /api/v1/records HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n");
    tls.write_all(next.as_bytes()).await.expect("the connection is still open for the next request");
    tls.flush().await.unwrap();
    let mut answers = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), tls.read_to_end(&mut answers)).await;
    let answers = String::from_utf8_lossy(&answers);
    assert!(answers.starts_with("HTTP/1.1 403") && answers.contains("role-denied"), "{answers}");
    assert_eq!(answers.matches("HTTP/1.1 ").count(), 2, "both requests answered on one connection: {answers}");
    assert!(answers.contains("HTTP/1.1 200"), "{answers}");

    // Announced larger than is worth reading: answered, and told the connection ends.
    let mut tls = c.raw_tls(&base).await;
    tls.write_all(refused_head(50 * 1024 * 1024).as_bytes()).await.unwrap();
    tls.write_all(&body.as_bytes()[..1000]).await.unwrap();
    tls.flush().await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), tls.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 403") && answer.contains("connection: close"), "{answer}");
}
