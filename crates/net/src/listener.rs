//! The accept loop every listener runs: TLS, HTTP/1.1, and the limits that keep slow or
//! numerous clients from holding the server (`Limits`), with a graceful drain on shutdown.
//!
//! - A request's head must arrive whole within [`Limits::header_timeout`] (hyper's header read
//!   timeout): a client sending one byte a second is cut off.
//! - A request body that sends nothing for [`Limits::body_idle`] fails (tower-http's body
//!   timeout, reset by each frame): a slow but steady upload goes on.
//! - What a handler leaves unread of a body is read after it answers, within bounds, so that
//!   the client gets the answer and may keep the connection (`crate::drain`).
//! - At most [`Limits::max_connections`] connections are served at once; past it the listener
//!   stops accepting until one closes, and the kernel's backlog holds the rest.
//! - On shutdown the listener stops accepting, tells each connection to finish the request in
//!   flight and close (keep-alive off), and waits up to [`Limits::grace`] for them.

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower_http::timeout::RequestBodyTimeoutLayer;

/// What a listener allows its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A TLS handshake and then each request's head must complete within this.
    pub header_timeout: Duration,
    /// A request body may send nothing for at most this long.
    pub body_idle: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// On shutdown, how long requests in flight may take to finish.
    pub grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_idle: Duration::from_secs(30),
            max_connections: 1024,
            grace: Duration::from_secs(30),
        }
    }
}

/// Serves `router` over TLS on `listener` until `shutdown` resolves, then drains: returns once
/// every connection has closed, or [`Limits::grace`] has passed and the rest were dropped.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let acceptor = TlsAcceptor::from(tls);
    let router = router.layer(axum::middleware::from_fn(crate::drain::drain_unread_body));
    let service = tower::ServiceBuilder::new().layer(RequestBodyTimeoutLayer::new(limits.body_idle)).service(router);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let tcp = tokio::select! {
            () = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok((tcp, _peer)) => tcp,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot turn Nagle's algorithm off");
        }
        let (acceptor, service, mut stopping) = (acceptor.clone(), service.clone(), stopping.clone());
        connections.spawn(async move {
            let _slot = slot;
            let stream = match tokio::time::timeout(limits.header_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => return,
            };
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
            let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            tokio::pin!(conn);
            let ended = tokio::select! {
                ended = conn.as_mut() => ended,
                () = stopped(&mut stopping) => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = ended {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
        // Connections that closed are reaped as the loop goes, so the set stays small.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = stop.send(true);
    let open = connections.len();
    if open > 0 {
        tracing::info!(connections = open, "draining the connections still open");
    }
    let drained = tokio::time::timeout(limits.grace, async { while connections.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            grace_secs = limits.grace.as_secs(),
            "connections still open after the grace period are closed"
        );
        connections.abort_all();
    }
}

/// Resolves once the listener is told to stop (or its sender is gone).
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}
