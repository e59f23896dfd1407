//! The landing page's state: the server's configuration, the access code being
//! typed, and what happened to the last Start.

use shared::playground::{PlaygroundConfig, FULL_MESSAGE};

/// Why the page cannot start a session (or could not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The server is at capacity: said politely, with no blame.
    Full(String),
    /// The access code was wrong (HTTP 403).
    WrongCode(String),
    /// Anything else, e.g. the server is unreachable.
    Other(String),
}

/// Everything the landing page shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LandingState {
    /// `None` until `GET /api/config` answers.
    pub config: Option<PlaygroundConfig>,
    /// The access code field.
    pub code: String,
    /// A workshop's join code, and the trainee's name for its trainer.
    pub workshop: String,
    pub name: String,
    /// A Start request is in flight.
    pub starting: bool,
    pub problem: Option<Problem>,
}

/// What can happen on the landing page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LandingAction {
    ConfigLoaded(PlaygroundConfig),
    /// The configuration could not be loaded.
    ConfigFailed(String),
    CodeChanged(String),
    WorkshopChanged(String),
    NameChanged(String),
    /// The Start button was pressed (ignored unless [`LandingState::can_start`]).
    Start,
    /// The session exists; the page navigates away.
    Started,
    /// The server answered Start with an error.
    StartFailed {
        status: u16,
        message: String,
    },
}

impl LandingState {
    /// True when pressing Start makes sense now.
    pub fn can_start(&self) -> bool {
        match &self.config {
            Some(cfg) => {
                !self.starting
                    && cfg.accepting_sessions
                    && (!cfg.access_code_required || !self.code.trim().is_empty())
            }
            None => false,
        }
    }

    /// True when the access code field should be shown.
    pub fn needs_code(&self) -> bool {
        self.config.as_ref().is_some_and(|c| c.access_code_required)
    }

    /// The code to send with Start.
    pub fn code_to_send(&self) -> Option<String> {
        let code = self.code.trim();
        (self.needs_code() && !code.is_empty()).then(|| code.to_string())
    }

    /// True when the workshop fields should be shown.
    pub fn offers_workshops(&self) -> bool {
        self.config.as_ref().is_some_and(|c| c.workshops)
    }

    /// The workshop code and name to send with Start (none when no code).
    pub fn workshop_to_send(&self) -> (Option<String>, Option<String>) {
        let code = self.workshop.trim();
        if !self.offers_workshops() || code.is_empty() {
            return (None, None);
        }
        let name = self.name.trim();
        (
            Some(code.to_string()),
            (!name.is_empty()).then(|| name.to_string()),
        )
    }

    pub fn reduce(&mut self, action: LandingAction) {
        match action {
            LandingAction::ConfigLoaded(cfg) => {
                self.problem =
                    (!cfg.accepting_sessions).then(|| Problem::Full(FULL_MESSAGE.to_string()));
                self.config = Some(cfg);
            }
            LandingAction::ConfigFailed(msg) => {
                self.problem = Some(Problem::Other(format!(
                    "The playground server did not answer ({msg}). Reload the page to try again."
                )));
            }
            LandingAction::CodeChanged(code) => {
                self.code = code;
                if matches!(self.problem, Some(Problem::WrongCode(_))) {
                    self.problem = None;
                }
            }
            LandingAction::WorkshopChanged(code) => {
                self.workshop = code;
                if matches!(self.problem, Some(Problem::Other(_))) {
                    self.problem = None;
                }
            }
            LandingAction::NameChanged(name) => self.name = name,
            LandingAction::Start => {
                if self.can_start() {
                    self.starting = true;
                    self.problem = None;
                }
            }
            LandingAction::Started => self.starting = false,
            LandingAction::StartFailed { status, message } => {
                self.starting = false;
                self.problem = Some(match status {
                    503 => Problem::Full(if message.is_empty() {
                        FULL_MESSAGE.to_string()
                    } else {
                        message
                    }),
                    403 => Problem::WrongCode(message),
                    _ => Problem::Other(message),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(code: bool, accepting: bool) -> PlaygroundConfig {
        PlaygroundConfig {
            title: "Dockhand".into(),
            access_code_required: code,
            max_instances: 5,
            max_terminals_per_instance: 4,
            session_ttl_secs: 3600,
            idle_timeout_secs: 600,
            upload_limit_bytes: 1 << 20,
            accepting_sessions: accepting,
            port_domain: None,
            workshops: false,
        }
    }

    #[test]
    fn a_workshop_code_and_name_go_with_start_only_where_workshops_are() {
        let mut s = LandingState::default();
        s.reduce(LandingAction::ConfigLoaded(config(false, true)));
        s.reduce(LandingAction::WorkshopChanged(" ab2cde ".into()));
        assert_eq!(s.workshop_to_send(), (None, None));
        let mut cfg = config(false, true);
        cfg.workshops = true;
        s.reduce(LandingAction::ConfigLoaded(cfg));
        assert_eq!(s.workshop_to_send(), (Some("ab2cde".into()), None));
        s.reduce(LandingAction::NameChanged(" Ada ".into()));
        assert_eq!(
            s.workshop_to_send(),
            (Some("ab2cde".into()), Some("Ada".into()))
        );
        s.reduce(LandingAction::WorkshopChanged(String::new()));
        assert_eq!(s.workshop_to_send(), (None, None));
    }

    #[test]
    fn start_waits_for_the_config_and_the_code_when_one_is_required() {
        let mut s = LandingState::default();
        assert!(!s.can_start());
        s.reduce(LandingAction::ConfigLoaded(config(true, true)));
        assert!(s.needs_code());
        assert!(!s.can_start());
        s.reduce(LandingAction::CodeChanged("  sesame ".into()));
        assert!(s.can_start());
        assert_eq!(s.code_to_send(), Some("sesame".into()));
    }

    #[test]
    fn no_code_is_sent_when_none_is_required() {
        let mut s = LandingState::default();
        s.reduce(LandingAction::ConfigLoaded(config(false, true)));
        s.reduce(LandingAction::CodeChanged("x".into()));
        assert!(s.can_start());
        assert_eq!(s.code_to_send(), None);
    }

    #[test]
    fn a_full_server_is_announced_before_and_after_start() {
        let mut s = LandingState::default();
        s.reduce(LandingAction::ConfigLoaded(config(false, false)));
        assert!(matches!(s.problem, Some(Problem::Full(_))));
        assert!(!s.can_start());

        let mut s = LandingState::default();
        s.reduce(LandingAction::ConfigLoaded(config(false, true)));
        s.reduce(LandingAction::Start);
        assert!(s.starting && !s.can_start());
        s.reduce(LandingAction::StartFailed {
            status: 503,
            message: String::new(),
        });
        assert_eq!(s.problem, Some(Problem::Full(FULL_MESSAGE.into())));
        assert!(!s.starting);
    }

    #[test]
    fn a_wrong_code_is_cleared_by_typing_a_new_one() {
        let mut s = LandingState::default();
        s.reduce(LandingAction::ConfigLoaded(config(true, true)));
        s.reduce(LandingAction::CodeChanged("bad".into()));
        s.reduce(LandingAction::Start);
        s.reduce(LandingAction::StartFailed {
            status: 403,
            message: "wrong".into(),
        });
        assert_eq!(s.problem, Some(Problem::WrongCode("wrong".into())));
        s.reduce(LandingAction::CodeChanged("good".into()));
        assert_eq!(s.problem, None);
    }

    #[test]
    fn a_second_start_while_one_is_in_flight_is_ignored() {
        let mut s = LandingState::default();
        s.reduce(LandingAction::ConfigLoaded(config(false, true)));
        s.reduce(LandingAction::Start);
        let before = s.clone();
        s.reduce(LandingAction::Start);
        assert_eq!(s, before);
    }
}
