//! What the stores count for `/metrics` (issue 17 §6): how long each transaction took, by backend
//! and kind (a write, a read) — its wait for the database included, as its caller waits — and the
//! queries that entered each state, counted once the transaction that moved them committed (a
//! rolled-back move is not counted). No label names a tenant or a query.
//!
//! A move is noted where it is written (`tenant::queries::note_state`) into a list of the thread
//! that runs the transaction's statements — a transaction's closure runs whole on one thread —
//! and [`crate::db::Db`] counts that list after the commit, or drops it.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use renkei_domain::QueryState;
use std::cell::RefCell;
use std::sync::OnceLock;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Transaction {
    backend: &'static str,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct State {
    state: &'static str,
}

struct Metrics {
    registry: Registry,
    transactions: Family<Transaction, Histogram>,
    queries: Family<State, Counter>,
}

fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let mut registry = Registry::with_prefix("renkei_store");
        // 100 µs to about 3 s, doubling.
        let transactions = Family::<Transaction, Histogram>::new_with_constructor(|| {
            Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(0.0001, 2.0, 15))
        });
        let queries = Family::<State, Counter>::default();
        registry.register(
            "transaction_duration_seconds",
            "Time a transaction took, waiting included, by backend and kind",
            transactions.clone(),
        );
        registry.register("query_moves", "Queries that entered a state, counted when committed", queries.clone());
        Metrics { registry, transactions, queries }
    })
}

thread_local! {
    static MOVES: RefCell<Vec<QueryState>> = const { RefCell::new(Vec::new()) };
}

/// Notes that a query entered `state` in the transaction running on this thread.
pub(crate) fn moved(state: QueryState) {
    MOVES.with(|m| m.borrow_mut().push(state));
}

/// The moves noted on this thread since the last call: called as a transaction's closure starts
/// (dropping a failed one's) and ends.
pub(crate) fn take_moves() -> Vec<QueryState> {
    MOVES.with(|m| std::mem::take(&mut *m.borrow_mut()))
}

/// Counts `moves`, whose transaction committed.
pub(crate) fn committed(moves: Vec<QueryState>) {
    let m = metrics();
    for s in moves {
        m.queries.get_or_create(&State { state: s.code() }).inc();
    }
}

/// Records a transaction of `kind` ("write", "read") on `backend` that took `seconds`.
pub(crate) fn transaction(backend: crate::Backend, kind: &'static str, seconds: f64) {
    let backend = match backend {
        crate::Backend::Sqlite => "sqlite",
        crate::Backend::Postgres => "postgres",
    };
    metrics().transactions.get_or_create(&Transaction { backend, kind }).observe(seconds);
}

/// The stores' metrics in Prometheus's text format (without the closing `# EOF`).
pub fn encode(out: &mut String) -> std::fmt::Result {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &metrics().registry)?;
    out.push_str(text.trim_end().trim_end_matches("# EOF").trim_end());
    out.push('\n');
    Ok(())
}
