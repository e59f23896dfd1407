//! One instance of a session: its virtual host and its terminal tabs.

use super::*;

/// Terminal tabs of an instance.
#[derive(Default)]
pub(super) struct Tabs {
    pub(super) open: BTreeMap<TabId, Arc<Terminal>>,
    /// The next tab number (from 1, never reused).
    pub(super) next: TabId,
    /// Tabs whose shell is starting.
    pub(super) starting: usize,
}

impl Tabs {
    /// Reserve the next tab number, if there is room for another tab.
    pub(super) fn reserve(&mut self, max: u32) -> Option<TabId> {
        if self.open.len() + self.starting >= max as usize {
            return None;
        }
        let tab = self.next;
        self.next += 1;
        self.starting += 1;
        Some(tab)
    }
}

/// One instance: a virtual host of the engine.
pub struct Instance {
    pub num: u32,
    /// `node1`.
    pub name: String,
    /// The engine's name of the virtual host.
    pub vhost: String,
    /// Its address on the playground network (where the port proxy connects).
    pub ip: String,
    pub created: u64,
    pub daemon: Arc<Daemon>,
    pub(super) tabs: Mutex<Tabs>,
    pub(super) watcher: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Instance {
    pub fn new(num: u32, vhost: String, ip: String, daemon: Arc<Daemon>) -> Instance {
        Instance {
            num,
            name: format!("node{num}"),
            vhost,
            ip,
            created: now(),
            daemon,
            tabs: Mutex::new(Tabs {
                next: 1,
                ..Default::default()
            }),
            watcher: Mutex::new(None),
        }
    }

    pub fn info(&self) -> InstanceInfo {
        InstanceInfo {
            name: self.name.clone(),
            hostname: self.name.clone(),
            ip: self.ip.clone(),
            created: self.created,
            terminals: self.tabs.locked().open.keys().copied().collect(),
        }
    }

    pub fn terminal(&self, tab: TabId) -> Option<Arc<Terminal>> {
        self.tabs.locked().open.get(&tab).cloned()
    }

    /// Reserve the next tab number, if the instance has room for another tab.
    pub(super) fn reserve_tab(&self, max: u32) -> Option<TabId> {
        self.tabs.locked().reserve(max)
    }

    pub(super) fn tab_started(&self, term: Option<Arc<Terminal>>) {
        let mut t = self.tabs.locked();
        t.starting -= 1;
        if let Some(term) = term {
            t.open.insert(term.tab, term);
        }
    }

    pub(super) fn take_tab(&self, tab: TabId) -> Option<Arc<Terminal>> {
        self.tabs.locked().open.remove(&tab)
    }

    pub(super) fn take_all_tabs(&self) -> Vec<Arc<Terminal>> {
        std::mem::take(&mut self.tabs.locked().open)
            .into_values()
            .collect()
    }

    pub(super) fn stop_watcher(&self) {
        if let Some(w) = self.watcher.locked().take() {
            w.abort();
        }
    }
}
