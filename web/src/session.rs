//! The session page's state as a reducer: the session and its instances (from
//! [`SessionEvent`]s only, never polled), each instance's engine snapshot, which
//! instance and tab is in front, the countdown, and notices.

use shared::lessons::LessonProgress;
use shared::playground::{
    close_code, InstanceInfo, InstanceState, PlaygroundConfig, SessionEvent, SessionInfo, TabId,
};
use std::collections::BTreeMap;

/// The session socket's state, shown in the header.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Link {
    Connecting,
    Live,
    /// Dropped; the next attempt starts in `retry_ms`.
    Retrying {
        retry_ms: u32,
    },
}

/// A message for the trainee: a failure or a confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub error: bool,
}

/// A warning that the session is about to end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Expiring {
    pub secs_left: u64,
    /// The idle timeout is the cause; typing anything cancels it.
    pub idle: bool,
    /// When it arrived (ms, `performance.now()`-like clock).
    pub at_ms: f64,
}

/// Everything the session page shows.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionState {
    pub id: String,
    pub token: String,
    pub config: Option<PlaygroundConfig>,
    /// `None` until the socket's first event.
    pub info: Option<SessionInfo>,
    /// Latest engine snapshot per instance name.
    pub states: BTreeMap<String, InstanceState>,
    /// The instance in front.
    pub selected: Option<String>,
    /// The tab in front, per instance.
    pub tabs: BTreeMap<String, TabId>,
    pub link: Link,
    /// Seconds left when the last [`SessionInfo`] arrived, and when (ms).
    clock: Option<(u64, f64)>,
    /// The clock now (ms), advanced by [`SessionAction::Tick`].
    pub now_ms: f64,
    pub expiring: Option<Expiring>,
    /// Set when the session is over: the sentence to show. Nothing reconnects then.
    pub closed: Option<String>,
    /// An instance is being added.
    pub adding: bool,
    pub notice: Option<Notice>,
    /// The side panels (containers, images, ...) are shown.
    pub panels_open: bool,
    /// The window is narrow: the panels are a drawer over the terminal.
    pub drawer: bool,
    /// Presenter mode: nothing but the terminal and the port links.
    pub presenter: bool,
    /// Guided lessons: the one chosen and the steps done (from the socket).
    pub lesson: LessonProgress,
    /// The last message of the workshop's trainer, until dismissed.
    pub trainer_message: Option<String>,
}

/// What can happen on the session page.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionAction {
    /// The session socket delivered an event at `now_ms`.
    Event {
        event: SessionEvent,
        now_ms: f64,
    },
    SocketOpened,
    /// The session socket closed with `code` and the server's `reason`
    /// (shown when the close is final: a gateway's "this session's node is
    /// unavailable"); `retry_ms` when it will retry.
    SocketClosed {
        code: u16,
        retry_ms: u32,
        reason: String,
    },
    /// The clock moved (once a second).
    Tick(f64),
    ConfigLoaded(PlaygroundConfig),
    /// Bring an instance to the front.
    Select(String),
    /// Bring a tab of an instance to the front (and the instance too).
    SelectTab {
        instance: String,
        tab: TabId,
    },
    /// `POST .../instances` was sent.
    AddingInstance,
    /// `POST .../instances` answered: show and select it without waiting for the event.
    InstanceAdded(InstanceInfo),
    /// `DELETE .../instances/{name}` succeeded.
    InstanceRemoved(String),
    /// `POST .../terminals` answered.
    TabOpened {
        instance: String,
        tab: TabId,
    },
    /// `DELETE .../terminals/{tab}` succeeded, or the shell exited.
    TabClosed {
        instance: String,
        tab: TabId,
    },
    /// Someone typed: an idle warning no longer holds.
    Activity,
    /// A request failed: show the message (and stop any spinner).
    Failed(String),
    Notice(String),
    /// A lesson call answered with the session's progress.
    LessonProgress(LessonProgress),
    DismissTrainerMessage,
    DismissNotice,
    TogglePanels,
    ClosePanels,
    /// The window crossed the drawer width (`true`: now narrower).
    Layout {
        drawer: bool,
    },
    TogglePresenter,
    /// The session does not exist (any more).
    Gone(String),
}

impl SessionState {
    pub fn new(id: &str, token: &str) -> Self {
        Self {
            id: id.to_string(),
            token: token.to_string(),
            config: None,
            info: None,
            states: BTreeMap::new(),
            selected: None,
            tabs: BTreeMap::new(),
            link: Link::Connecting,
            clock: None,
            now_ms: 0.0,
            expiring: None,
            closed: None,
            adding: false,
            notice: None,
            panels_open: true,
            drawer: false,
            presenter: false,
            lesson: LessonProgress::default(),
            trainer_message: None,
        }
    }

    /// The instances, in creation order (empty before the first event).
    pub fn instances(&self) -> &[InstanceInfo] {
        self.info.as_ref().map_or(&[], |i| &i.instances)
    }

    pub fn instance(&self, name: &str) -> Option<&InstanceInfo> {
        self.instances().iter().find(|i| i.name == name)
    }

    /// The tab in front for `instance`.
    pub fn active_tab(&self, instance: &str) -> Option<TabId> {
        self.tabs.get(instance).copied()
    }

    /// The instance and tab in front.
    pub fn active(&self) -> Option<(&InstanceInfo, Option<TabId>)> {
        let name = self.selected.as_deref()?;
        Some((self.instance(name)?, self.active_tab(name)))
    }

    /// Seconds until the session ends, counted down locally from the server's
    /// figure (immune to a wrong browser clock).
    pub fn secs_left(&self) -> Option<u64> {
        let (left, at) = self.clock?;
        let elapsed = ((self.now_ms - at).max(0.0) / 1000.0) as u64;
        Some(left.saturating_sub(elapsed))
    }

    /// The warning to show now, with the seconds it has left.
    pub fn expiring_now(&self) -> Option<(u64, bool)> {
        if self.closed.is_some() {
            return None;
        }
        let e = self.expiring?;
        let elapsed = ((self.now_ms - e.at_ms).max(0.0) / 1000.0) as u64;
        (elapsed < e.secs_left).then(|| (e.secs_left - elapsed, e.idle))
    }

    fn max_instances(&self) -> u32 {
        self.info
            .as_ref()
            .map(|i| i.max_instances)
            .or(self.config.as_ref().map(|c| c.max_instances))
            .unwrap_or(shared::playground::DEFAULT_MAX_INSTANCES)
    }

    /// True when the add-instance button should be enabled.
    pub fn can_add_instance(&self) -> bool {
        self.closed.is_none()
            && self.info.is_some()
            && !self.adding
            && (self.instances().len() as u32) < self.max_instances()
    }

    /// True when `instance` may get another terminal tab.
    pub fn can_add_tab(&self, instance: &str) -> bool {
        let max = self
            .config
            .as_ref()
            .map_or(4, |c| c.max_terminals_per_instance) as usize;
        self.closed.is_none()
            && self
                .instance(instance)
                .is_some_and(|i| i.terminals.len() < max)
    }

    pub fn reduce(&mut self, action: SessionAction) {
        match action {
            SessionAction::Event { event, now_ms } => self.event(event, now_ms),
            SessionAction::SocketOpened => self.link = Link::Live,
            SessionAction::SocketClosed {
                code,
                retry_ms,
                reason,
            } => {
                if close_code::is_final(code) && code != close_code::NORMAL {
                    self.closed.get_or_insert_with(|| {
                        if reason.trim().is_empty() {
                            "This session no longer exists.".to_string()
                        } else {
                            reason
                        }
                    });
                } else if self.closed.is_none() {
                    self.link = Link::Retrying { retry_ms };
                }
            }
            SessionAction::Tick(now_ms) => self.now_ms = now_ms,
            SessionAction::ConfigLoaded(cfg) => self.config = Some(cfg),
            SessionAction::Select(name) => {
                if self.instance(&name).is_some() {
                    self.selected = Some(name);
                }
            }
            SessionAction::SelectTab { instance, tab } => {
                if self
                    .instance(&instance)
                    .is_some_and(|i| i.terminals.contains(&tab))
                {
                    self.tabs.insert(instance.clone(), tab);
                    self.selected = Some(instance);
                }
            }
            SessionAction::AddingInstance => self.adding = true,
            SessionAction::InstanceAdded(inst) => {
                self.adding = false;
                let name = inst.name.clone();
                if let Some(info) = &mut self.info {
                    if !info.instances.iter().any(|i| i.name == name) {
                        info.instances.push(inst);
                    }
                }
                self.selected = Some(name);
                self.fix_selection();
            }
            SessionAction::InstanceRemoved(name) => {
                if let Some(info) = &mut self.info {
                    info.instances.retain(|i| i.name != name);
                }
                self.fix_selection();
            }
            SessionAction::TabOpened { instance, tab } => {
                if let Some(i) = self.instance_mut(&instance) {
                    if !i.terminals.contains(&tab) {
                        i.terminals.push(tab);
                        i.terminals.sort_unstable();
                    }
                    self.tabs.insert(instance.clone(), tab);
                    self.selected = Some(instance);
                }
            }
            SessionAction::TabClosed { instance, tab } => {
                if let Some(i) = self.instance_mut(&instance) {
                    i.terminals.retain(|&t| t != tab);
                }
                self.fix_selection();
            }
            SessionAction::Activity => {
                if self.expiring.is_some_and(|e| e.idle) {
                    self.expiring = None;
                }
            }
            SessionAction::Failed(text) => {
                self.adding = false;
                self.notice = Some(Notice { text, error: true });
            }
            SessionAction::Notice(text) => self.notice = Some(Notice { text, error: false }),
            SessionAction::LessonProgress(p) => self.lesson = p,
            SessionAction::DismissTrainerMessage => self.trainer_message = None,
            SessionAction::DismissNotice => self.notice = None,
            SessionAction::TogglePanels => self.panels_open = !self.panels_open,
            SessionAction::ClosePanels => self.panels_open = false,
            // A drawer starts closed (it covers the terminal); a column starts open.
            SessionAction::Layout { drawer } => {
                if drawer != self.drawer {
                    self.drawer = drawer;
                    self.panels_open = !drawer;
                }
            }
            SessionAction::TogglePresenter => self.presenter = !self.presenter,
            SessionAction::Gone(text) => {
                self.closed.get_or_insert(text);
                self.expiring = None;
            }
        }
    }

    fn event(&mut self, event: SessionEvent, now_ms: f64) {
        self.now_ms = self.now_ms.max(now_ms);
        match event {
            SessionEvent::Session(info) => {
                self.clock = Some((info.expires_at.saturating_sub(info.server_time), now_ms));
                self.states
                    .retain(|name, _| info.instances.iter().any(|i| &i.name == name));
                self.info = Some(info);
                self.fix_selection();
            }
            SessionEvent::InstanceState(state) => {
                if self.instance(&state.instance).is_some() {
                    self.states.insert(state.instance.clone(), state);
                }
            }
            SessionEvent::Expiring { secs_left, idle } => {
                self.expiring = Some(Expiring {
                    secs_left,
                    idle,
                    at_ms: now_ms,
                });
                if !idle {
                    // The server's figure is the better one: correct the countdown.
                    self.clock = Some((secs_left, now_ms));
                }
            }
            SessionEvent::Lesson(progress) => self.lesson = progress,
            SessionEvent::Message { text } => {
                self.trainer_message = Some(text);
            }
            SessionEvent::Closed { reason } => {
                self.closed = Some(reason.message().to_string());
                self.expiring = None;
                self.clock = Some((0, now_ms));
            }
        }
    }

    fn instance_mut(&mut self, name: &str) -> Option<&mut InstanceInfo> {
        self.info
            .as_mut()?
            .instances
            .iter_mut()
            .find(|i| i.name == name)
    }

    /// Keep the selection pointing at things that exist: an instance that vanished
    /// gives way to its neighbour, a tab that closed to the instance's first tab.
    fn fix_selection(&mut self) {
        let names: Vec<String> = self.instances().iter().map(|i| i.name.clone()).collect();
        if !self.selected.as_ref().is_some_and(|s| names.contains(s)) {
            self.selected = names.first().cloned();
        }
        let mut tabs = BTreeMap::new();
        for inst in self.instances() {
            let current = self.tabs.get(&inst.name).copied();
            let tab = match current {
                Some(t) if inst.terminals.contains(&t) => Some(t),
                _ => inst.terminals.first().copied(),
            };
            if let Some(t) = tab {
                tabs.insert(inst.name.clone(), t);
            }
        }
        self.tabs = tabs;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::playground::{CloseReason, ContainerRow};

    fn inst(name: &str, tabs: &[TabId]) -> InstanceInfo {
        InstanceInfo {
            name: name.into(),
            hostname: name.into(),
            ip: "10.0.0.2".into(),
            created: 0,
            terminals: tabs.to_vec(),
        }
    }

    fn info(instances: Vec<InstanceInfo>) -> SessionInfo {
        SessionInfo {
            id: "s".into(),
            created: 0,
            expires_at: 4000,
            server_time: 1000,
            max_instances: 2,
            instances,
        }
    }

    fn session(state: &mut SessionState, instances: Vec<InstanceInfo>, now_ms: f64) {
        state.reduce(SessionAction::Event {
            event: SessionEvent::Session(info(instances)),
            now_ms,
        });
    }

    fn snapshot(name: &str) -> SessionEvent {
        SessionEvent::InstanceState(InstanceState {
            instance: name.into(),
            containers: vec![ContainerRow {
                id: "abc".into(),
                name: "web".into(),
                image: "nginx".into(),
                state: "running".into(),
                status: "Up".into(),
                ports: vec![],
            }],
            ..Default::default()
        })
    }

    #[test]
    fn panels_are_a_closed_drawer_on_narrow_windows_and_a_column_on_wide_ones() {
        let mut s = SessionState::new("s", "t");
        assert!(s.panels_open && !s.drawer);
        s.reduce(SessionAction::Layout { drawer: false });
        assert!(s.panels_open, "a wide window keeps the column");
        s.reduce(SessionAction::Layout { drawer: true });
        assert!(!s.panels_open && s.drawer);
        s.reduce(SessionAction::TogglePanels);
        assert!(s.panels_open);
        s.reduce(SessionAction::Layout { drawer: true });
        assert!(s.panels_open, "the same layout again changes nothing");
        s.reduce(SessionAction::ClosePanels);
        assert!(!s.panels_open);
        s.reduce(SessionAction::Layout { drawer: false });
        assert!(s.panels_open && !s.drawer);
        s.reduce(SessionAction::TogglePresenter);
        assert!(s.presenter);
        s.reduce(SessionAction::TogglePresenter);
        assert!(!s.presenter);
    }

    #[test]
    fn the_first_session_event_selects_the_first_instance_and_its_first_tab() {
        let mut s = SessionState::new("s", "t");
        session(
            &mut s,
            vec![inst("node1", &[1, 2]), inst("node2", &[1])],
            0.0,
        );
        assert_eq!(s.selected.as_deref(), Some("node1"));
        assert_eq!(
            s.active().map(|(i, t)| (i.name.as_str(), t)),
            Some(("node1", Some(1)))
        );
        assert_eq!(s.active_tab("node2"), Some(1));
    }

    #[test]
    fn the_countdown_uses_the_server_clock_and_local_elapsed_time() {
        let mut s = SessionState::new("s", "t");
        assert_eq!(s.secs_left(), None);
        // The browser's clock is irrelevant: 3000 s left at ms 50_000.
        session(&mut s, vec![], 50_000.0);
        assert_eq!(s.secs_left(), Some(3000));
        s.reduce(SessionAction::Tick(50_000.0 + 61_500.0));
        assert_eq!(s.secs_left(), Some(2939));
        s.reduce(SessionAction::Tick(1e9));
        assert_eq!(s.secs_left(), Some(0));
    }

    #[test]
    fn engine_snapshots_replace_the_instance_state_and_die_with_the_instance() {
        let mut s = SessionState::new("s", "t");
        session(&mut s, vec![inst("node1", &[1])], 0.0);
        s.reduce(SessionAction::Event {
            event: snapshot("node1"),
            now_ms: 1.0,
        });
        // A snapshot for an unknown instance (a race with its removal) is dropped.
        s.reduce(SessionAction::Event {
            event: snapshot("node9"),
            now_ms: 1.0,
        });
        assert_eq!(s.states.keys().collect::<Vec<_>>(), ["node1"]);
        session(&mut s, vec![inst("node2", &[1])], 2.0);
        assert!(s.states.is_empty());
        assert_eq!(s.selected.as_deref(), Some("node2"));
    }

    #[test]
    fn an_added_instance_is_selected_even_before_its_event() {
        let mut s = SessionState::new("s", "t");
        session(&mut s, vec![inst("node1", &[1])], 0.0);
        assert!(s.can_add_instance());
        s.reduce(SessionAction::AddingInstance);
        assert!(!s.can_add_instance());
        s.reduce(SessionAction::InstanceAdded(inst("node2", &[1])));
        assert_eq!(s.selected.as_deref(), Some("node2"));
        assert_eq!(s.active_tab("node2"), Some(1));
        // The event that follows does not duplicate it; max_instances is 2.
        session(&mut s, vec![inst("node1", &[1]), inst("node2", &[1])], 1.0);
        assert_eq!(s.instances().len(), 2);
        assert!(!s.can_add_instance());
    }

    #[test]
    fn removing_the_selected_instance_selects_another() {
        let mut s = SessionState::new("s", "t");
        session(&mut s, vec![inst("node1", &[1]), inst("node2", &[1])], 0.0);
        s.reduce(SessionAction::Select("node2".into()));
        s.reduce(SessionAction::InstanceRemoved("node2".into()));
        assert_eq!(s.selected.as_deref(), Some("node1"));
        s.reduce(SessionAction::InstanceRemoved("node1".into()));
        assert_eq!(s.selected, None);
        assert!(s.active().is_none());
    }

    #[test]
    fn tabs_open_in_front_and_closing_one_falls_back_to_the_first() {
        let mut s = SessionState::new("s", "t");
        s.reduce(SessionAction::ConfigLoaded(PlaygroundConfig {
            title: "x".into(),
            access_code_required: false,
            max_instances: 5,
            max_terminals_per_instance: 2,
            session_ttl_secs: 1,
            idle_timeout_secs: 1,
            upload_limit_bytes: 1,
            accepting_sessions: true,
            port_domain: None,
            workshops: false,
        }));
        session(&mut s, vec![inst("node1", &[1]), inst("node2", &[1])], 0.0);
        assert!(s.can_add_tab("node2"));
        s.reduce(SessionAction::TabOpened {
            instance: "node2".into(),
            tab: 2,
        });
        assert_eq!(s.selected.as_deref(), Some("node2"));
        assert_eq!(s.active_tab("node2"), Some(2));
        assert!(!s.can_add_tab("node2"));
        s.reduce(SessionAction::TabClosed {
            instance: "node2".into(),
            tab: 2,
        });
        assert_eq!(s.active_tab("node2"), Some(1));
        // Selecting a tab that does not exist changes nothing.
        s.reduce(SessionAction::SelectTab {
            instance: "node2".into(),
            tab: 7,
        });
        assert_eq!(s.active_tab("node2"), Some(1));
    }

    #[test]
    fn a_session_event_keeps_a_still_valid_tab_choice() {
        let mut s = SessionState::new("s", "t");
        session(&mut s, vec![inst("node1", &[1, 2])], 0.0);
        s.reduce(SessionAction::SelectTab {
            instance: "node1".into(),
            tab: 2,
        });
        session(&mut s, vec![inst("node1", &[1, 2, 3])], 1.0);
        assert_eq!(s.active_tab("node1"), Some(2));
    }

    #[test]
    fn expiry_warnings_count_down_and_idle_ones_vanish_on_activity() {
        let mut s = SessionState::new("s", "t");
        session(&mut s, vec![], 0.0);
        s.reduce(SessionAction::Event {
            event: SessionEvent::Expiring {
                secs_left: 120,
                idle: true,
            },
            now_ms: 1000.0,
        });
        s.reduce(SessionAction::Tick(31_000.0));
        assert_eq!(s.expiring_now(), Some((90, true)));
        s.reduce(SessionAction::Activity);
        assert_eq!(s.expiring_now(), None);

        s.reduce(SessionAction::Event {
            event: SessionEvent::Expiring {
                secs_left: 60,
                idle: false,
            },
            now_ms: 40_000.0,
        });
        assert_eq!(s.secs_left(), Some(60));
        s.reduce(SessionAction::Activity);
        assert_eq!(s.expiring_now(), Some((60, false)));
    }

    #[test]
    fn a_closed_session_stops_everything() {
        let mut s = SessionState::new("s", "t");
        session(&mut s, vec![inst("node1", &[1])], 0.0);
        s.reduce(SessionAction::Event {
            event: SessionEvent::Closed {
                reason: CloseReason::Expired,
            },
            now_ms: 1.0,
        });
        assert_eq!(s.closed.as_deref(), Some(CloseReason::Expired.message()));
        assert_eq!(s.secs_left(), Some(0));
        assert_eq!(s.expiring_now(), None);
        assert!(!s.can_add_instance());
        assert!(!s.can_add_tab("node1"));
        s.reduce(SessionAction::SocketClosed {
            code: close_code::ABNORMAL,
            retry_ms: 500,
            reason: String::new(),
        });
        assert_eq!(s.link, Link::Connecting);
    }

    #[test]
    fn socket_drops_retry_but_a_gone_session_is_final() {
        let mut s = SessionState::new("s", "t");
        s.reduce(SessionAction::SocketOpened);
        s.reduce(SessionAction::SocketClosed {
            code: close_code::ABNORMAL,
            retry_ms: 700,
            reason: String::new(),
        });
        assert_eq!(s.link, Link::Retrying { retry_ms: 700 });
        assert!(s.closed.is_none());
        s.reduce(SessionAction::SocketClosed {
            code: close_code::GONE,
            retry_ms: 0,
            reason: String::new(),
        });
        assert_eq!(s.closed.as_deref(), Some("This session no longer exists."));
    }

    #[test]
    fn a_final_close_shows_the_servers_reason() {
        let mut s = SessionState::new("s", "t");
        s.reduce(SessionAction::SocketOpened);
        s.reduce(SessionAction::SocketClosed {
            code: close_code::GONE,
            retry_ms: 0,
            reason: shared::playground::NODE_UNAVAILABLE_MESSAGE.into(),
        });
        assert_eq!(
            s.closed.as_deref(),
            Some(shared::playground::NODE_UNAVAILABLE_MESSAGE)
        );
    }

    #[test]
    fn failures_stop_the_spinner_and_show_a_notice() {
        let mut s = SessionState::new("s", "t");
        s.reduce(SessionAction::AddingInstance);
        s.reduce(SessionAction::Failed("full".into()));
        assert!(!s.adding);
        assert_eq!(
            s.notice,
            Some(Notice {
                text: "full".into(),
                error: true
            })
        );
        s.reduce(SessionAction::DismissNotice);
        assert_eq!(s.notice, None);
    }
}
