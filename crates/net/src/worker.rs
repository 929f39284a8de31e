//! The loop of both delivery workers, the platform's outbox and the hub's forwarding: claim
//! what is due, at most as many as there are free slots, deliver each in a task of its own, and
//! otherwise sleep until woken, until a slot frees after all were busy, or for [`IDLE_POLL`].
//!
//! Claims are durable leases in the store, so several processes may run this loop on one
//! database, and a process that dies leaves its claims to run out and be taken again.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// How long the loop sleeps when nothing woke it: the longest a due retry waits to be claimed.
pub const IDLE_POLL: Duration = Duration::from_millis(250);

/// What one claim found.
pub struct Claimed<I> {
    pub due: Vec<I>,
    /// The claim took as many as it was allowed, so more may be due at once.
    pub full: bool,
}

/// Runs until `shutdown` resolves. `claim(free)` claims at most `free` items; `deliver(item)`
/// makes the future that delivers one, run as a task of its own while it holds a slot.
pub async fn run<I, C, CF, D, DF>(max_in_flight: usize, wake: &Notify, shutdown: impl Future<Output = ()>, mut claim: C, deliver: D)
where
    C: FnMut(usize) -> CF,
    CF: Future<Output = Claimed<I>>,
    D: Fn(I) -> DF,
    DF: Future<Output = ()> + Send + 'static,
{
    tokio::pin!(shutdown);
    let slots = Arc::new(Semaphore::new(max_in_flight));
    loop {
        let free = slots.available_permits();
        let mut full = false;
        if free > 0 {
            let claimed = claim(free).await;
            full = claimed.full;
            for item in claimed.due {
                let Ok(slot) = slots.clone().acquire_owned().await else { return };
                let delivery = deliver(item);
                tokio::spawn(async move {
                    delivery.await;
                    drop(slot);
                });
            }
        }
        if full && slots.available_permits() > 0 {
            continue;
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = wake.notified() => {},
            // A slot freed while all were busy: there may be more to claim.
            Ok(_) = slots.acquire(), if slots.available_permits() == 0 => {},
            _ = tokio::time::sleep(IDLE_POLL) => {},
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A queue of `n` items claimed by the loop: every item is delivered once, never more than
    /// `max` at a time.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_due_item_is_delivered_once_within_the_slots() {
        let (n, max) = (500usize, 8usize);
        let queue = Arc::new(Mutex::new((0..n).collect::<Vec<_>>()));
        let delivered = Arc::new(Mutex::new(Vec::new()));
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let wake = Notify::new();
        let done = Arc::new(Notify::new());
        let claim = |free: usize| {
            let queue = queue.clone();
            async move {
                let mut q = queue.lock().unwrap();
                let take = free.min(q.len());
                let due: Vec<usize> = q.drain(..take).collect();
                Claimed { full: due.len() == free, due }
            }
        };
        let deliver = |item: usize| {
            let (delivered, running, most, done) = (delivered.clone(), running.clone(), most.clone(), done.clone());
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(1)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                let mut d = delivered.lock().unwrap();
                d.push(item);
                if d.len() == n {
                    done.notify_one();
                }
            }
        };
        run(max, &wake, done.notified(), claim, deliver).await;
        let mut d = delivered.lock().unwrap().clone();
        d.sort_unstable();
        assert_eq!(d, (0..n).collect::<Vec<_>>());
        assert!(most.load(Ordering::SeqCst) <= max, "at most {max} at once");
    }
}
