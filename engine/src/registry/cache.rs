//! One pull cache for the whole process: every daemon (the machine's and each
//! virtual host's, whichever thread or runtime pulls for it) shares it.
//!
//! - **Blobs are fetched once.** Layers live in the shared content store; a
//!   process-wide lock per digest makes concurrent pulls of one layer wait for
//!   the first, then find it there ("Already exists").
//! - **Manifests are fresh for a while.** A manifest fetched by tag is reused
//!   for [`PullCache::ttl`] (`--pull-cache-ttl`) without asking the registry, and
//!   concurrent pulls of one tag make one request. Entries are keyed by the
//!   registry, repository, reference *and the credentials' user*, so what one
//!   virtual host pulled with its own login is never served to another without
//!   it: that one asks the registry itself.

use shared::sync::Locked;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The default freshness of a manifest fetched by tag.
pub const DEFAULT_TTL: Duration = Duration::from_secs(5 * 60);

#[derive(Clone)]
struct Entry {
    bytes: Vec<u8>,
    ctype: String,
    digest: String,
    at: Instant,
}

/// Manifests fetched recently.
pub struct PullCache {
    ttl: Duration,
    manifests: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for PullCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullCache").field("ttl", &self.ttl).finish()
    }
}

impl Default for PullCache {
    fn default() -> Self {
        PullCache::new(DEFAULT_TTL)
    }
}

impl PullCache {
    pub fn new(ttl: Duration) -> PullCache {
        PullCache {
            ttl,
            manifests: Mutex::new(HashMap::new()),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The key of a manifest: where, what, and as whom.
    pub fn key(registry: &str, repo: &str, reference: &str, user: &str) -> String {
        format!("{registry}/{repo}:{reference}\u{0}{user}")
    }

    /// A fresh entry: (bytes, content type, digest).
    pub fn get(&self, key: &str) -> Option<(Vec<u8>, String, String)> {
        let mut m = self.manifests.locked();
        match m.get(key) {
            Some(e) if e.at.elapsed() < self.ttl => {
                Some((e.bytes.clone(), e.ctype.clone(), e.digest.clone()))
            }
            Some(_) => {
                m.remove(key);
                None
            }
            None => None,
        }
    }

    pub fn put(&self, key: &str, bytes: &[u8], ctype: &str, digest: &str) {
        if self.ttl.is_zero() {
            return;
        }
        let mut m = self.manifests.locked();
        m.retain(|_, e| e.at.elapsed() < self.ttl);
        m.insert(
            key.to_string(),
            Entry {
                bytes: bytes.to_vec(),
                ctype: ctype.to_string(),
                digest: digest.to_string(),
                at: Instant::now(),
            },
        );
    }
}

/// A process-wide lock per name (a layer's digest, a manifest's key): holders
/// of the same name run one at a time, on any runtime.
pub async fn lock(name: &str) -> tokio::sync::OwnedMutexGuard<()> {
    static LOCKS: OnceLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let m = {
        let mut all = LOCKS.get_or_init(Default::default).locked();
        // Forget locks nobody holds or waits for.
        all.retain(|_, l| Arc::strong_count(l) > 1);
        all.entry(name.to_string()).or_default().clone()
    };
    m.lock_owned().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_are_per_user() {
        let c = PullCache::new(Duration::from_millis(200));
        let k = PullCache::key("r", "a/b", "1", "");
        c.put(&k, b"m", "t", "sha256:x");
        assert_eq!(c.get(&k).unwrap().2, "sha256:x");
        assert!(c.get(&PullCache::key("r", "a/b", "1", "alice")).is_none());
        std::thread::sleep(Duration::from_millis(250));
        assert!(c.get(&k).is_none());
        let off = PullCache::new(Duration::ZERO);
        off.put(&k, b"m", "t", "d");
        assert!(off.get(&k).is_none());
    }

    #[tokio::test]
    async fn one_holder_per_name_at_a_time() {
        let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let max = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (c, m) = (counter.clone(), max.clone());
            tasks.push(tokio::spawn(async move {
                let _g = lock("blob-x").await;
                let now = c.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                m.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                c.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(max.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
