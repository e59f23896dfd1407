//! Sessions, their instances and their terminal tabs, and everything that
//! happens to them: creation under the caps, tokens, the event feed, expiry and
//! the idle timeout.
//!
//! A session is a token, a deadline and up to `max_instances` instances. An
//! instance is a virtual host of the engine named `<session>-nodeN` with hostname
//! `nodeN` on the session's network (so `ping node1` works from `node2`); it takes
//! the lowest free N and comes with terminal tab 1. Tab numbers grow and are never
//! reused within an instance. Sessions live in memory: when the server stops it
//! removes their virtual hosts, and a new server removes any that a crash left.
//!
//! The feed is one broadcast per session carrying whole snapshots
//! ([`SessionEvent::Session`], [`SessionEvent::InstanceState`]), so a reader that
//! lags simply takes a fresh snapshot and loses nothing that matters.

use super::config::PlaygroundOptions;
use super::terminal::{hex_token, Terminal};
use crate::ApiError;
use axum::http::StatusCode;
use engine::daemon::Daemon;
use shared::playground::{
    close_code, CloseReason, InstanceInfo, SessionCreated, SessionEvent, SessionInfo, TabId,
};
use shared::sync::Locked;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::broadcast;

/// Label on the virtual hosts of the playground (value: the session id), by which
/// a new server finds those an earlier one left behind.
pub const SESSION_LABEL: &str = "dockhand.playground.session";
/// Events the session feed holds for a slow reader before it must resync.
const FEED_QUEUE: usize = 64;
/// Engine events within this window become one `instance_state`.
const COALESCE: Duration = Duration::from_millis(40);
/// Closed sessions remembered (to answer 410 rather than 404), and for how long.
const TOMBSTONES: usize = 10_000;
const TOMBSTONE_SECS: u64 = 24 * 3600;

pub fn now() -> u64 {
    chrono::Utc::now().timestamp().max(0) as u64
}

/// The lowest instance number in `1..=max` that is neither used nor being made.
pub fn lowest_free(taken: &BTreeSet<u32>, max: u32) -> Option<u32> {
    (1..=max).find(|n| !taken.contains(n))
}

/// Compares in time independent of where the strings differ.
pub(in crate::playground) fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn gone(reason: CloseReason) -> ApiError {
    ApiError::new(StatusCode::GONE, reason.message())
}

fn not_found(what: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, what)
}

fn full() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        shared::playground::FULL_MESSAGE,
    )
}

/// The 503 answer of a draining node.
pub(in crate::playground) fn draining() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        shared::playground::DRAINING_MESSAGE,
    )
}

/// The WebSocket close code that says the same as an API error.
pub fn close_code_for(e: &ApiError) -> u16 {
    match e.status {
        StatusCode::UNAUTHORIZED => close_code::UNAUTHORIZED,
        StatusCode::GONE => close_code::GONE,
        _ => close_code::NOT_FOUND,
    }
}

struct Inner {
    instances: BTreeMap<u32, Arc<Instance>>,
    /// Instance numbers being created.
    pending: BTreeSet<u32>,
    closed: Option<CloseReason>,
    warned_ttl: bool,
    warned_idle: bool,
}

/// One session.
pub struct Session {
    pub id: String,
    token: String,
    pub created: u64,
    pub expires_at: u64,
    last_active: AtomicU64,
    inner: Mutex<Inner>,
    feed: broadcast::Sender<SessionEvent>,
    /// Guided lessons: the one chosen and the steps done.
    pub(in crate::playground) lesson: Mutex<super::lessons::Progress>,
    /// Wakes the lesson checker (an instance's engine had an event).
    pub(in crate::playground) lesson_wake: tokio::sync::Notify,
    /// The workshop it joined, whose trainer follows it.
    pub(in crate::playground) workshop: std::sync::OnceLock<Arc<super::workshop::Workshop>>,
}

impl std::fmt::Debug for Session {
    /// Without the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session whose id starts with `prefix` (its node's, or none).
    fn new(ttl: u64, prefix: &str) -> Session {
        let created = now();
        Session {
            // 10 characters of [a-z0-9]: short enough to read aloud, unguessable
            // enough together with the token.
            id: (0..10).fold(prefix.to_string(), |mut id, _| {
                let c = rand::random::<u8>() % 36;
                id.push((if c < 10 { b'0' + c } else { b'a' + c - 10 }) as char);
                id
            }),
            token: hex_token(24),
            created,
            expires_at: created + ttl,
            last_active: AtomicU64::new(created),
            inner: Mutex::new(Inner {
                instances: BTreeMap::new(),
                pending: BTreeSet::new(),
                closed: None,
                warned_ttl: false,
                warned_idle: false,
            }),
            feed: broadcast::channel(FEED_QUEUE).0,
            lesson: Mutex::default(),
            lesson_wake: tokio::sync::Notify::new(),
            workshop: std::sync::OnceLock::new(),
        }
    }

    pub fn check_token(&self, token: &str) -> bool {
        same_secret(&self.token, token)
    }

    /// The secret, for the cookie that lets the port proxy in.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Terminal input or an API call: the idle timeout starts again.
    pub fn touch(&self) {
        self.last_active.store(now(), Ordering::Relaxed);
        self.inner.locked().warned_idle = false;
    }

    pub fn last_active(&self) -> u64 {
        self.last_active.load(Ordering::Relaxed)
    }

    pub fn closed(&self) -> Option<CloseReason> {
        self.inner.locked().closed
    }

    pub fn instance(&self, name: &str) -> Option<Arc<Instance>> {
        self.inner
            .locked()
            .instances
            .values()
            .find(|i| i.name == name)
            .cloned()
    }

    pub fn instances(&self) -> Vec<Arc<Instance>> {
        self.inner.locked().instances.values().cloned().collect()
    }

    pub fn info(&self, max_instances: u32) -> SessionInfo {
        SessionInfo {
            id: self.id.clone(),
            created: self.created,
            expires_at: self.expires_at,
            server_time: now(),
            max_instances,
            instances: self.instances().iter().map(|i| i.info()).collect(),
        }
    }

    /// Readers of the feed (the session sockets), and the snapshot they start from.
    pub fn subscribe(&self) -> broadcast::Receiver<SessionEvent> {
        self.feed.subscribe()
    }

    pub fn has_readers(&self) -> bool {
        self.feed.receiver_count() > 0
    }

    pub(in crate::playground) fn push(&self, ev: SessionEvent) {
        if let Some(w) = self.workshop.get() {
            use super::workshop::Change;
            match &ev {
                SessionEvent::Closed { .. } => w.changed(Change::Left(self.id.clone())),
                SessionEvent::Session(_)
                | SessionEvent::InstanceState(_)
                | SessionEvent::Lesson(_) => w.changed(Change::Trainee(self.id.clone())),
                _ => {}
            }
        }
        let _ = self.feed.send(ev);
    }
}

/// The playground: all sessions, and the engine's virtual hosts behind them.
pub struct Playground {
    pub opts: PlaygroundOptions,
    vhosts: Option<Arc<engine::vhost::Manager>>,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    /// Open workshops by ID.
    pub(in crate::playground) workshops: Mutex<HashMap<String, Arc<super::workshop::Workshop>>>,
    /// Recently closed sessions and why.
    tombstones: Mutex<HashMap<String, (CloseReason, u64)>>,
    /// Instances made or being made, on the whole server.
    instance_count: AtomicUsize,
    /// Engine work running in tasks of its own (creating and removing
    /// instances), which shutdown waits for.
    busy: tokio::sync::watch::Sender<usize>,
    /// What this node's session and workshop ids start with ("" alone).
    pub(in crate::playground) prefix: String,
    /// Stopping gracefully: no new sessions or workshops.
    draining: std::sync::atomic::AtomicBool,
}

impl Playground {
    pub fn new(
        opts: PlaygroundOptions,
        vhosts: Option<Arc<engine::vhost::Manager>>,
    ) -> Arc<Playground> {
        Arc::new(Playground {
            vhosts,
            sessions: Mutex::new(HashMap::new()),
            workshops: Mutex::new(HashMap::new()),
            tombstones: Mutex::new(HashMap::new()),
            instance_count: AtomicUsize::new(0),
            busy: tokio::sync::watch::channel(0).0,
            prefix: opts
                .node_name
                .as_deref()
                .map(shared::playground::cluster::id_prefix)
                .unwrap_or_default(),
            draining: std::sync::atomic::AtomicBool::new(false),
            opts,
        })
    }

    /// Run `work` to its end in a task of its own: a dropped request cannot cancel
    /// it half-way (the engine's create and remove are not cancellation-safe),
    /// and shutdown waits for it.
    async fn detached<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Option<T> {
        self.busy.send_modify(|n| *n += 1);
        let busy = self.busy.clone();
        let task = tokio::spawn(async move {
            let out = work.await;
            busy.send_modify(|n| *n -= 1);
            out
        });
        task.await.ok()
    }

    pub fn session_count(&self) -> usize {
        self.sessions.locked().len()
    }

    pub fn instance_count(&self) -> usize {
        self.instance_count.load(Ordering::SeqCst)
    }

    /// Whether a new session would be accepted now.
    pub fn accepting(&self) -> bool {
        self.room() > 0
    }

    /// New sessions it would take now: free session slots, bounded by free
    /// instance slots (a session starts with one); 0 while draining.
    pub fn room(&self) -> u32 {
        if self.is_draining() {
            return 0;
        }
        let sessions = (self.opts.max_sessions as usize).saturating_sub(self.session_count());
        let instances = self
            .opts
            .instance_cap()
            .saturating_sub(self.instance_count());
        u32::try_from(sessions.min(instances)).unwrap_or(u32::MAX)
    }

    /// Stop taking sessions and workshops (SIGTERM with `--drain-deadline`).
    pub fn drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// `GET /api/node`: who this node is and its room, for a gateway.
    pub fn node_report(&self) -> shared::playground::cluster::NodeReport {
        let n = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        shared::playground::cluster::NodeReport {
            name: self.opts.node_name.clone().unwrap_or_default(),
            prefix: self.prefix.clone(),
            sessions: n(self.session_count()),
            max_sessions: self.opts.max_sessions,
            instances: n(self.instance_count()),
            max_instances: n(self.opts.instance_cap()),
            room: self.room(),
            draining: self.is_draining(),
        }
    }

    /// `POST /api/sessions`.
    pub fn create_session(&self, code: Option<&str>) -> Result<SessionCreated, ApiError> {
        self.create_session_in(code, None, None)
    }

    /// `POST /api/sessions` with a workshop's join code (and the trainee's
    /// name): the session is the workshop's.
    pub fn create_session_in(
        &self,
        code: Option<&str>,
        workshop: Option<&str>,
        name: Option<&str>,
    ) -> Result<SessionCreated, ApiError> {
        let workshop = workshop
            .filter(|c| !c.trim().is_empty())
            .map(|c| self.workshop_by_code(c))
            .transpose()?;
        if let Some(want) = &self.opts.access_code {
            if !code.is_some_and(|c| same_secret(c.trim(), want)) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    shared::playground::WRONG_CODE_MESSAGE,
                ));
            }
        }
        if self.is_draining() {
            return Err(draining());
        }
        let mut sessions = self.sessions.locked();
        if sessions.len() >= self.opts.max_sessions as usize
            || self.instance_count() >= self.opts.instance_cap()
        {
            return Err(full());
        }
        let s = Arc::new(Session::new(self.opts.session_ttl, &self.prefix));
        let created = SessionCreated {
            id: s.id.clone(),
            token: s.token.clone(),
            expires_at: s.expires_at,
        };
        tracing::info!("session {} started ({} open)", s.id, sessions.len() + 1);
        sessions.insert(s.id.clone(), s.clone());
        drop(sessions);
        if let Some(w) = workshop {
            self.join_workshop(&w, &s, name);
        }
        Ok(created)
    }

    /// A live session by ID, without a token (the workshop's trainer).
    pub(in crate::playground) fn session_by_id(&self, id: &str) -> Option<Arc<Session>> {
        self.sessions.locked().get(id).cloned()
    }

    /// The session `id` if `key` opens its port whose host label is `label`
    /// (host-name mode; [`shared::playground::routes::port_key`]): 404 unknown,
    /// 410 ended, 401 wrong key.
    pub fn authorize_port(
        &self,
        id: &str,
        label: &str,
        key: Option<&str>,
    ) -> Result<Arc<Session>, ApiError> {
        self.find_open(
            id,
            |s| {
                let want = shared::playground::routes::port_key(s.token(), label);
                // Compared without an early exit.
                key.is_some_and(|k| {
                    k.len() == want.len()
                        && k.bytes()
                            .zip(want.bytes())
                            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                            == 0
                })
            },
            "This link does not open that port (its key is wrong or missing).",
        )
    }

    /// The session `id` if `token` is its token: 404 unknown, 410 ended, 401 wrong
    /// token.
    pub fn authorize(&self, id: &str, token: Option<&str>) -> Result<Arc<Session>, ApiError> {
        self.find_open(
            id,
            |s| token.is_some_and(|t| s.check_token(t)),
            "This link does not open that session (its token is wrong or missing).",
        )
    }

    /// The open session `id` if `allowed` says so: 404 unknown, 401 (with
    /// `refusal`) not allowed, 410 ended.
    fn find_open(
        &self,
        id: &str,
        allowed: impl FnOnce(&Session) -> bool,
        refusal: &str,
    ) -> Result<Arc<Session>, ApiError> {
        let found = self.sessions.locked().get(id).cloned();
        let Some(s) = found else {
            if let Some((reason, _)) = self.tombstones.locked().get(id) {
                return Err(gone(*reason));
            }
            return Err(not_found(format!("There is no session {id}.")));
        };
        if !allowed(&s) {
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, refusal));
        }
        if let Some(reason) = s.closed() {
            return Err(gone(reason));
        }
        Ok(s)
    }

    /// Tell the session's readers about its instances and tabs.
    pub fn push_session(&self, s: &Session) {
        s.push(SessionEvent::Session(s.info(self.opts.max_instances)));
    }

    /// `POST /api/sessions/{id}/instances`: a new instance with tab 1 open.
    pub async fn add_instance(
        self: &Arc<Self>,
        s: &Arc<Session>,
    ) -> Result<InstanceInfo, ApiError> {
        let manager = self.vhosts.clone().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "This server runs no instances.",
            )
        })?;
        let num = {
            let mut inner = s.inner.locked();
            if let Some(reason) = inner.closed {
                return Err(gone(reason));
            }
            let max = self.opts.max_instances;
            let taken: BTreeSet<u32> = inner
                .instances
                .keys()
                .chain(inner.pending.iter())
                .copied()
                .collect();
            let Some(num) = lowest_free(&taken, max) else {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    format!("A session can have {max} instances at most; remove one first."),
                ));
            };
            if self.instance_count.fetch_add(1, Ordering::SeqCst) >= self.opts.instance_cap() {
                self.instance_count.fetch_sub(1, Ordering::SeqCst);
                return Err(full());
            }
            inner.pending.insert(num);
            num
        };
        let (pg, sess) = (self.clone(), s.clone());
        self.detached(async move { pg.finish_instance(&manager, &sess, num).await })
            .await
            .unwrap_or_else(|| {
                Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The instance could not be created.",
                ))
            })
    }

    async fn finish_instance(
        self: &Arc<Self>,
        manager: &Arc<engine::vhost::Manager>,
        s: &Arc<Session>,
        num: u32,
    ) -> Result<InstanceInfo, ApiError> {
        let result = self.make_instance(manager, s, num).await;
        let closed = {
            let mut inner = s.inner.locked();
            inner.pending.remove(&num);
            if let (Ok(inst), None) = (&result, inner.closed) {
                inner.instances.insert(num, inst.clone());
            }
            inner.closed
        };
        match (result, closed) {
            (Ok(inst), None) => {
                self.watch(s, &inst);
                self.push_session(s);
                // Its panels fill at once, not at its first engine event.
                s.push(SessionEvent::InstanceState(super::state::snapshot(
                    &inst.daemon,
                    &s.id,
                    &inst.name,
                )));
                Ok(inst.info())
            }
            (Ok(inst), Some(reason)) => {
                // The session ended while the instance was made.
                self.drop_instance(&inst).await;
                Err(gone(reason))
            }
            (Err(e), _) => {
                self.instance_count.fetch_sub(1, Ordering::SeqCst);
                Err(e)
            }
        }
    }

    async fn make_instance(
        self: &Arc<Self>,
        manager: &Arc<engine::vhost::Manager>,
        s: &Arc<Session>,
        num: u32,
    ) -> Result<Arc<Instance>, ApiError> {
        let node = format!("node{num}");
        let vhost = format!("{}-{node}", s.id);
        let ttl = s.expires_at.saturating_sub(now()) + 300;
        let req = shared::vhost::VhostCreateRequest {
            name: vhost.clone(),
            hostname: node.clone(),
            session: format!("pg-{}", s.id),
            ttl: ttl as i64,
            // The session keeps the time; the instance must not expire before it.
            idle_timeout: -1,
            labels: BTreeMap::from([
                (SESSION_LABEL.to_string(), s.id.clone()),
                ("dockhand.playground.node".to_string(), node.clone()),
            ]),
            ..Default::default()
        };
        let info = manager.create(req).await.map_err(|e| {
            tracing::error!("session {}: creating {node}: {e}", s.id);
            match e.kind() {
                engine::ErrorKind::Conflict => full(),
                _ => ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("The instance could not be created: {e}"),
                ),
            }
        })?;
        let daemon = match manager.get(&vhost) {
            Ok(v) => v.daemon.clone(),
            Err(e) => {
                let _ = manager.remove(&vhost).await;
                return Err(ApiError::from(e));
            }
        };
        crate::routes::events::record(&daemon);
        let inst = Arc::new(Instance::new(num, vhost, info.ip_address, daemon));
        if let Err(e) = self.open_tab_in(s, &inst).await {
            let _ = manager.remove(&inst.vhost).await;
            return Err(e);
        }
        Ok(inst)
    }

    /// Push the instance's state on its engine's events while anyone listens.
    fn watch(&self, s: &Arc<Session>, inst: &Arc<Instance>) {
        let mut rx = inst.daemon.events();
        let (weak_s, weak_i): (Weak<Session>, Weak<Instance>) =
            (Arc::downgrade(s), Arc::downgrade(inst));
        let task = tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                }
                // A `docker run` is create, start, (die, destroy): one snapshot.
                tokio::time::sleep(COALESCE).await;
                while let Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) = rx.try_recv() {}
                let (Some(s), Some(i)) = (weak_s.upgrade(), weak_i.upgrade()) else {
                    return;
                };
                if s.has_readers() {
                    s.push(SessionEvent::InstanceState(super::state::snapshot(
                        &i.daemon, &s.id, &i.name,
                    )));
                }
                s.lesson_wake.notify_one();
            }
        });
        *inst.watcher.locked() = Some(task.abort_handle());
    }

    /// `POST .../terminals`: a new tab with a fresh shell.
    pub async fn open_tab(
        self: &Arc<Self>,
        s: &Arc<Session>,
        name: &str,
    ) -> Result<TabId, ApiError> {
        let inst = s
            .instance(name)
            .ok_or_else(|| not_found(format!("This session has no instance {name}.")))?;
        let tab = self.open_tab_in(s, &inst).await?;
        self.push_session(s);
        Ok(tab)
    }

    async fn open_tab_in(
        self: &Arc<Self>,
        s: &Arc<Session>,
        inst: &Arc<Instance>,
    ) -> Result<TabId, ApiError> {
        let max = self.opts.max_terminals;
        let tab = inst.reserve_tab(max).ok_or_else(|| {
            ApiError::new(
                StatusCode::CONFLICT,
                format!("An instance can have {max} terminals at most; close one first."),
            )
        })?;
        let (pg, ws, wi) = (
            Arc::downgrade(self),
            Arc::downgrade(s),
            Arc::downgrade(inst),
        );
        let on_exit = move |_code: Option<i32>| {
            // The shell ended (`exit`): the tab goes away for everyone.
            if let (Some(pg), Some(s), Some(i)) = (pg.upgrade(), ws.upgrade(), wi.upgrade()) {
                if i.take_tab(tab).is_some() {
                    pg.push_session(&s);
                }
            }
        };
        match Terminal::start(inst.daemon.clone(), tab, self.opts.replay_bytes, on_exit).await {
            Ok(term) => {
                inst.tab_started(Some(term));
                Ok(tab)
            }
            Err(e) => {
                inst.tab_started(None);
                tracing::error!("session {}: shell in {}: {e}", s.id, inst.name);
                Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("The terminal could not be opened: {e}"),
                ))
            }
        }
    }

    /// `DELETE .../terminals/{tab}`: end the shell, close its sockets.
    pub async fn close_tab(
        self: &Arc<Self>,
        s: &Session,
        name: &str,
        tab: TabId,
    ) -> Result<(), ApiError> {
        let inst = s
            .instance(name)
            .ok_or_else(|| not_found(format!("This session has no instance {name}.")))?;
        let term = inst
            .take_tab(tab)
            .ok_or_else(|| not_found(format!("{name} has no terminal {tab}.")))?;
        self.push_session(s);
        term.close(close_code::NORMAL);
        self.detached(async move { term.kill().await }).await;
        Ok(())
    }

    /// `DELETE .../instances/{name}`.
    pub async fn remove_instance(
        self: &Arc<Self>,
        s: &Session,
        name: &str,
    ) -> Result<(), ApiError> {
        let inst = {
            let mut inner = s.inner.locked();
            let num = inner
                .instances
                .values()
                .find(|i| i.name == name)
                .map(|i| i.num)
                .ok_or_else(|| not_found(format!("This session has no instance {name}.")))?;
            inner.instances.remove(&num)
        };
        self.push_session(s);
        if let Some(inst) = inst {
            for t in inst.take_all_tabs() {
                t.close(close_code::NORMAL);
            }
            self.drop_instances(vec![inst]).await;
        }
        Ok(())
    }

    /// Destroy instances (see [`Playground::detached`]).
    async fn drop_instances(self: &Arc<Self>, insts: Vec<Arc<Instance>>) {
        let pg = self.clone();
        self.detached(async move {
            futures_util::future::join_all(insts.iter().map(|i| pg.drop_instance(i))).await;
        })
        .await;
    }

    /// Destroy an instance's virtual host (it is already out of its session).
    async fn drop_instance(&self, inst: &Instance) {
        inst.stop_watcher();
        if let Some(m) = &self.vhosts {
            if let Err(e) = m.remove(&inst.vhost).await {
                tracing::warn!("removing {}: {e}", inst.vhost);
            }
        }
        self.instance_count.fetch_sub(1, Ordering::SeqCst);
    }
}

mod instance;
mod lifetime;

pub use instance::Instance;

#[cfg(test)]
mod tests;
