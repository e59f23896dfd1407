//! How sessions end: closed by a user, by their time or idleness (the tick),
//! at shutdown; and virtual hosts no session explains.

use super::*;

impl Playground {
    /// End a session: tell its readers, close its terminals, destroy its instances.
    pub async fn close_session(self: &Arc<Self>, id: &str, reason: CloseReason) {
        let Some(s) = self.sessions.locked().remove(id) else {
            return;
        };
        {
            let mut t = self.tombstones.locked();
            if t.len() >= TOMBSTONES {
                if let Some(oldest) = t
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| k.clone())
                {
                    t.remove(&oldest);
                }
            }
            t.insert(id.to_string(), (reason, now()));
        }
        let instances: Vec<Arc<Instance>> = {
            let mut inner = s.inner.locked();
            inner.closed = Some(reason);
            std::mem::take(&mut inner.instances).into_values().collect()
        };
        tracing::info!("session {id} closed: {reason:?}");
        s.push(SessionEvent::Closed { reason });
        for inst in &instances {
            for t in inst.take_all_tabs() {
                t.close(close_code::GONE);
            }
        }
        self.drop_instances(instances).await;
    }

    /// Close every session (the server stops).
    pub async fn shutdown(self: &Arc<Self>) {
        let ids: Vec<String> = self.sessions.locked().keys().cloned().collect();
        let closes = ids
            .iter()
            .map(|id| self.close_session(id, CloseReason::Shutdown));
        futures_util::future::join_all(closes).await;
        // Removals started by requests, and creations that will now find their
        // session closed and remove what they made.
        let mut busy = self.busy.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(120), busy.wait_for(|n| *n == 0)).await;
        // A creation that finished after the first round left its session open.
        let ids: Vec<String> = self.sessions.locked().keys().cloned().collect();
        for id in ids {
            self.close_session(&id, CloseReason::Shutdown).await;
        }
    }

    /// What the clock decides for one session: `Some(reason)` to close it, and
    /// the `expiring` notices to send. Pure, for the tests.
    pub(super) fn due(&self, s: &Session, t: u64) -> (Option<CloseReason>, Vec<SessionEvent>) {
        if t >= s.expires_at {
            return (Some(CloseReason::Expired), vec![]);
        }
        let idle = self.opts.idle_timeout;
        let idle_end = s.last_active() + idle;
        if idle > 0 && t >= idle_end {
            return (Some(CloseReason::Idle), vec![]);
        }
        let mut notes = vec![];
        let mut inner = s.inner.locked();
        let warn = self.opts.warn_before;
        if !inner.warned_ttl && s.expires_at - t <= warn {
            inner.warned_ttl = true;
            notes.push(SessionEvent::Expiring {
                secs_left: s.expires_at - t,
                idle: false,
            });
        }
        // Only when idleness would end the session first.
        if idle > 0 && !inner.warned_idle && idle_end - t <= warn && idle_end < s.expires_at {
            inner.warned_idle = true;
            notes.push(SessionEvent::Expiring {
                secs_left: idle_end - t,
                idle: true,
            });
        }
        (None, notes)
    }

    /// The `expiring` notice a newly connected reader should see, if the end is
    /// already near.
    pub fn notice(&self, s: &Session) -> Option<SessionEvent> {
        let t = now();
        let warn = self.opts.warn_before;
        let idle = self.opts.idle_timeout;
        let idle_end = s.last_active() + idle;
        if idle > 0 && idle_end < s.expires_at && idle_end.saturating_sub(t) <= warn {
            return Some(SessionEvent::Expiring {
                secs_left: idle_end.saturating_sub(t),
                idle: true,
            });
        }
        (s.expires_at.saturating_sub(t) <= warn).then(|| SessionEvent::Expiring {
            secs_left: s.expires_at.saturating_sub(t),
            idle: false,
        })
    }

    /// One round of the clock: expiries, idle timeouts, warnings, instances whose
    /// virtual host the engine lost, old tombstones.
    pub async fn tick(self: &Arc<Self>) {
        let t = now();
        let all: Vec<Arc<Session>> = self.sessions.locked().values().cloned().collect();
        for s in all {
            let (close, notes) = self.due(&s, t);
            if let Some(reason) = close {
                self.close_session(&s.id, reason).await;
                continue;
            }
            for n in notes {
                s.push(n);
            }
            if let Some(m) = &self.vhosts {
                let lost: Vec<Arc<Instance>> = s
                    .instances()
                    .into_iter()
                    .filter(|i| m.get(&i.vhost).is_err())
                    .collect();
                for i in lost {
                    tracing::warn!("session {}: {} is gone from the engine", s.id, i.name);
                    let _ = self.remove_instance(&s, &i.name).await;
                }
            }
        }
        self.tombstones
            .locked()
            .retain(|_, (_, at)| *at + TOMBSTONE_SECS > t);
    }

    /// Remove virtual hosts of sessions this server does not know (left by a
    /// server that crashed).
    pub async fn remove_orphans(&self) {
        let Some(m) = &self.vhosts else { return };
        let known: BTreeSet<String> = self.sessions.locked().keys().cloned().collect();
        let orphans: Vec<String> = m
            .list()
            .into_iter()
            .filter(|v| {
                v.labels
                    .get(SESSION_LABEL)
                    .is_some_and(|s| !known.contains(s))
            })
            .map(|v| v.name)
            .collect();
        if !orphans.is_empty() {
            tracing::info!("removing {} instances of earlier sessions", orphans.len());
        }
        let removes = orphans.iter().map(|n| m.remove(n));
        futures_util::future::join_all(removes).await;
    }
}
