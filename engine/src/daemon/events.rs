//! The event bus: engine events (`GET /events`) and the container events
//! every lifecycle step emits.

use super::*;

fn event_message(
    typ: &str,
    action: &str,
    id: &str,
    attributes: BTreeMap<String, String>,
) -> shared::api::EventMessage {
    let now = chrono::Utc::now();
    shared::api::EventMessage {
        typ: typ.into(),
        action: action.into(),
        actor: shared::api::EventActor {
            id: id.into(),
            attributes,
        },
        scope: "local".into(),
        time: now.timestamp(),
        time_nano: now.timestamp_nanos_opt().unwrap_or(0),
        ..Default::default()
    }
}

impl Daemon {
    /// Subscribe to this daemon's events.
    pub fn events(&self) -> tokio::sync::broadcast::Receiver<shared::api::EventMessage> {
        self.events.subscribe()
    }

    /// Publish an event of `typ` (`image`, `network`, `volume`, ...).
    pub fn emit(&self, typ: &str, action: &str, id: &str, attributes: BTreeMap<String, String>) {
        let _ = self.events.send(event_message(typ, action, id, attributes));
    }

    /// A container event, with the name and image attributes (and the legacy
    /// status/id/from fields) Docker gives.
    pub(super) fn emit_container(
        &self,
        rec: &ContainerInspect,
        action: &str,
        extra: &[(&str, String)],
    ) {
        if hidden(rec) {
            return;
        }
        let mut attrs: BTreeMap<String, String> = rec.config.labels.clone();
        attrs.insert("name".into(), rec.name.trim_start_matches('/').to_string());
        attrs.insert("image".into(), rec.config.image.clone());
        for (k, v) in extra {
            attrs.insert((*k).to_string(), v.clone());
        }
        let _ = self.events.send(shared::api::EventMessage {
            status: action.into(),
            id: rec.id.clone(),
            from: rec.config.image.clone(),
            ..event_message("container", action, &rec.id, attrs)
        });
    }
}
