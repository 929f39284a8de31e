//! Rows read recently from a store, used for a short time before they are read again. The
//! platform keeps API keys' scopes this way and the hub its directory entries: every request
//! needs one, and reading it each time put a transaction in front of every call.

use std::collections::HashMap;
use std::future::Future;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// Values by key, each used for at most `ttl` after it was read. Only values found are kept, so
/// a row added to the store is seen at once and a changed or removed one within `ttl`.
pub struct Recent<V> {
    ttl: Duration,
    /// Most values kept; past it the cache starts again empty.
    max: usize,
    entries: RwLock<HashMap<String, (V, Instant)>>,
}

impl<V: Clone> Recent<V> {
    pub fn new(ttl: Duration, max: usize) -> Self {
        Self { ttl, max, entries: RwLock::new(HashMap::new()) }
    }

    /// The value of `key`: kept from at most `ttl` ago, else what `load` reads now.
    pub async fn get_or_load<E, F, L>(&self, key: &str, load: L) -> Result<Option<V>, E>
    where
        L: FnOnce() -> F,
        F: Future<Output = Result<Option<V>, E>>,
    {
        if let Some((value, at)) = self.entries.read().ok().and_then(|m| m.get(key).cloned())
            && at.elapsed() < self.ttl
        {
            return Ok(Some(value));
        }
        let value = load().await?;
        if let (Some(v), Ok(mut m)) = (&value, self.entries.write()) {
            if m.len() >= self.max {
                m.clear();
            }
            m.insert(key.to_owned(), (v.clone(), Instant::now()));
        }
        Ok(value)
    }

    /// Drops `key`'s value: this process changed its row, and reads it again next time.
    pub fn forget(&self, key: &str) {
        if let Ok(mut m) = self.entries.write() {
            m.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    async fn get(cache: &Recent<String>, key: &str, stored: Option<&str>, reads: &AtomicUsize) -> Option<String> {
        let found = stored.map(str::to_owned);
        cache
            .get_or_load(key, || async {
                reads.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ()>(found)
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_value_found_is_kept_for_its_time_and_one_not_found_is_not_kept() {
        let reads = AtomicUsize::new(0);
        let kept = Recent::new(Duration::from_secs(3600), 10);
        assert_eq!(get(&kept, "a", Some("1"), &reads).await.as_deref(), Some("1"));
        // Kept: the store is not read again, even though it now says otherwise.
        assert_eq!(get(&kept, "a", Some("2"), &reads).await.as_deref(), Some("1"));
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        // Not found is not kept: a row added since is seen at once.
        assert_eq!(get(&kept, "b", None, &reads).await, None);
        assert_eq!(get(&kept, "b", Some("3"), &reads).await.as_deref(), Some("3"));
        assert_eq!(reads.load(Ordering::SeqCst), 3);
        // Forgotten: read again at once.
        kept.forget("a");
        assert_eq!(get(&kept, "a", Some("2"), &reads).await.as_deref(), Some("2"));
        assert_eq!(reads.load(Ordering::SeqCst), 4);

        // Past its time a value is read again.
        let stale = Recent::new(Duration::ZERO, 10);
        assert_eq!(get(&stale, "a", Some("1"), &reads).await.as_deref(), Some("1"));
        assert_eq!(get(&stale, "a", Some("2"), &reads).await.as_deref(), Some("2"));
    }

    #[tokio::test]
    async fn the_cache_holds_at_most_its_size() {
        let reads = AtomicUsize::new(0);
        let cache = Recent::new(Duration::from_secs(3600), 3);
        for key in ["a", "b", "c", "d"] {
            get(&cache, key, Some(key), &reads).await;
        }
        assert!(cache.entries.read().unwrap().len() <= 3);
    }
}
