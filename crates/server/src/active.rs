//! Which tenants the outbox has work in, and when: a platform of every municipality has 1,788
//! tenants, most of them idle at any moment, and each visit to a tenant costs a transaction (and
//! on SQLite, often the opening of its file). The outbox visits a tenant only when this says so:
//! to claim queries when one was filed or a retry comes due, to end queries when the earliest
//! deadline passes.
//!
//! What is here is a hint kept in memory; the store stays the truth. It is rebuilt from the
//! stores at start (and on PostgreSQL, where other processes file too, every
//! `outbox::RESCAN_EVERY`), and a visit that finds nothing due costs one transaction, never a
//! lost query.

use renkei_domain::TenantId;
use renkei_store::tenant::OutboxSchedule;
use std::collections::HashMap;
use std::sync::Mutex;

/// When the outbox next looks at one tenant (ms since the epoch).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Due {
    /// Claim its queued queries at this time.
    claim_at: Option<i64>,
    /// End its overdue queries at this time.
    deadline_at: Option<i64>,
    /// Queries filed since it was added, so that it is dropped only if none was filed meanwhile.
    filed: u64,
}

/// The tenants with work, each with when it is due.
#[derive(Default)]
pub struct Active(Mutex<HashMap<TenantId, Due>>);

fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Active {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<TenantId, Due>) -> T) -> T {
        // Each change is a whole value written under the lock: a panic elsewhere cannot leave a
        // half-changed map behind.
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// A query was filed for `tenant` with this deadline: claim at once.
    pub fn filed(&self, tenant: &TenantId, now: i64, deadline_at: i64) {
        self.with(|m| {
            let due = m.entry(tenant.clone()).or_default();
            due.claim_at = Some(now);
            due.deadline_at = earliest(due.deadline_at, Some(deadline_at));
            due.filed += 1;
        });
    }

    /// What the store says of `tenant`'s outbox (a scan, or a visit's look after its work).
    pub fn scheduled(&self, tenant: &TenantId, s: OutboxSchedule) {
        if s == OutboxSchedule::default() {
            return;
        }
        self.with(|m| {
            let due = m.entry(tenant.clone()).or_default();
            due.claim_at = earliest(due.claim_at, s.next_attempt_at);
            due.deadline_at = earliest(due.deadline_at, s.next_deadline_at);
        });
    }

    /// Look at `tenant`'s queued queries again at `at` (a retry's time, or a lease's end).
    pub fn claim_at(&self, tenant: &TenantId, at: i64) {
        self.with(|m| {
            let due = m.entry(tenant.clone()).or_default();
            due.claim_at = earliest(due.claim_at, Some(at));
        });
    }

    /// The tenants whose claim is due at `now`, no longer due (a claim that finds more than it
    /// may take says so with [`Active::claim_at`]).
    pub fn take_claims(&self, now: i64) -> Vec<TenantId> {
        self.with(|m| {
            m.iter_mut()
                .filter(|(_, d)| d.claim_at.is_some_and(|at| at <= now))
                .map(|(t, d)| {
                    d.claim_at = None;
                    t.clone()
                })
                .collect()
        })
    }

    /// The tenants whose earliest deadline has passed at `now`, each with its filing count.
    pub fn deadlines_due(&self, now: i64) -> Vec<(TenantId, u64)> {
        self.with(|m| m.iter().filter(|(_, d)| d.deadline_at.is_some_and(|at| at <= now)).map(|(t, d)| (t.clone(), d.filed)).collect())
    }

    /// After `tenant`'s overdue queries were ended: its next deadline, from the store. A tenant
    /// with nothing left is dropped, unless a query was filed since `filed` was read.
    pub fn deadlines_kept(&self, tenant: &TenantId, filed: u64, s: OutboxSchedule) {
        self.with(|m| {
            let Some(due) = m.get_mut(tenant) else { return };
            if due.filed != filed {
                return;
            }
            due.deadline_at = s.next_deadline_at;
            due.claim_at = earliest(due.claim_at, s.next_attempt_at);
            if due.deadline_at.is_none() && due.claim_at.is_none() {
                m.remove(tenant);
            }
        });
    }

    /// Tenants with work.
    pub fn len(&self) -> usize {
        self.with(|m| m.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> TenantId {
        TenantId::parse(s).unwrap()
    }

    #[test]
    fn a_filed_tenant_is_claimed_once_then_left_until_its_deadline() {
        let a = Active::default();
        a.filed(&t("a"), 100, 10_000);
        assert_eq!(a.take_claims(100), vec![t("a")]);
        assert!(a.take_claims(5_000).is_empty(), "claimed: not again until told");
        assert!(a.deadlines_due(9_999).is_empty());
        assert_eq!(a.deadlines_due(10_000), vec![(t("a"), 1)]);
        // All its queries were final: it leaves.
        a.deadlines_kept(&t("a"), 1, OutboxSchedule::default());
        assert!(a.is_empty());
    }

    #[test]
    fn a_tenant_filed_for_while_its_deadlines_were_kept_stays() {
        let a = Active::default();
        a.filed(&t("a"), 100, 10_000);
        let (_, filed) = a.deadlines_due(10_000)[0].clone();
        a.filed(&t("a"), 10_001, 20_000);
        a.deadlines_kept(&t("a"), filed, OutboxSchedule::default());
        assert_eq!(a.len(), 1, "the query filed meanwhile is not forgotten");
        assert_eq!(a.take_claims(10_001), vec![t("a")]);
    }

    #[test]
    fn retries_and_scans_bring_the_earliest_time_forward() {
        let a = Active::default();
        a.claim_at(&t("a"), 500);
        a.claim_at(&t("a"), 300);
        assert!(a.take_claims(299).is_empty());
        assert_eq!(a.take_claims(300), vec![t("a")]);
        a.scheduled(&t("b"), OutboxSchedule { next_attempt_at: Some(50), next_deadline_at: Some(900) });
        a.scheduled(&t("c"), OutboxSchedule::default());
        assert_eq!(a.take_claims(60), vec![t("b")]);
        assert_eq!(a.len(), 2, "a and b; c, with nothing scheduled, is not added");
        a.deadlines_kept(&t("b"), 0, OutboxSchedule { next_attempt_at: None, next_deadline_at: Some(1_900) });
        assert!(a.deadlines_due(1_000).is_empty());
        assert_eq!(a.deadlines_due(1_900).len(), 1);
    }
}
