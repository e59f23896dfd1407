//! The trainer's page state: the workshop's trainees as its socket reports
//! them. Pure, so it is tested natively.

use shared::workshop::{Trainee, WorkshopEvent};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct WorkshopState {
    pub join_code: String,
    /// By session ID.
    pub trainees: BTreeMap<String, Trainee>,
    pub closed: bool,
    /// The socket is connected.
    pub live: bool,
}

impl WorkshopState {
    pub fn apply(&mut self, ev: WorkshopEvent) {
        match ev {
            WorkshopEvent::Workshop { join_code, .. } => {
                // A (re)connect: every trainee follows.
                self.join_code = join_code;
                self.trainees.clear();
            }
            WorkshopEvent::Trainee(t) => {
                self.trainees.insert(t.session.clone(), *t);
            }
            WorkshopEvent::Left { session } => {
                self.trainees.remove(&session);
            }
            WorkshopEvent::Closed => {
                self.closed = true;
                self.trainees.clear();
            }
        }
    }

    /// The trainees by name (then session).
    pub fn rows(&self) -> Vec<&Trainee> {
        let mut v: Vec<&Trainee> = self.trainees.values().collect();
        v.sort_by(|a, b| {
            (a.name.to_lowercase(), &a.session).cmp(&(b.name.to_lowercase(), &b.session))
        });
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(session: &str, name: &str) -> WorkshopEvent {
        WorkshopEvent::Trainee(Box::new(Trainee {
            session: session.into(),
            name: name.into(),
            instances: vec![],
            states: vec![],
            lesson: Default::default(),
        }))
    }

    #[test]
    fn trainees_come_change_and_go_in_name_order() {
        let mut s = WorkshopState::default();
        s.apply(WorkshopEvent::Workshop {
            join_code: "K7QX2M".into(),
            trainees: 0,
        });
        s.apply(t("s2", "bob"));
        s.apply(t("s1", "Ada"));
        s.apply(t("s2", "Bob"));
        let names: Vec<&str> = s.rows().iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["Ada", "Bob"]);
        s.apply(WorkshopEvent::Left {
            session: "s1".into(),
        });
        assert_eq!(s.rows().len(), 1);
        // A reconnect starts over from the snapshot.
        s.apply(WorkshopEvent::Workshop {
            join_code: "K7QX2M".into(),
            trainees: 1,
        });
        assert!(s.rows().is_empty());
        s.apply(t("s2", "Bob"));
        s.apply(WorkshopEvent::Closed);
        assert!(s.closed && s.rows().is_empty());
    }
}
