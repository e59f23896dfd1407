use super::{encode_query_value, TabId, OFFSET_QUERY, TOKEN_QUERY};

/// `GET`: [`super::PlaygroundConfig`].
pub fn config() -> String {
    "/api/config".to_string()
}

/// `POST`: create a session.
pub fn sessions() -> String {
    "/api/sessions".to_string()
}

/// `POST`: a workshop ([`crate::workshop::CreateWorkshop`]).
pub fn workshops() -> String {
    "/api/workshops".to_string()
}

/// `DELETE`: close a workshop (its sessions end).
pub fn workshop(id: &str) -> String {
    format!("/api/workshops/{id}")
}

/// `POST`: a message to every trainee ([`crate::workshop::WorkshopMessage`]).
pub fn workshop_message(id: &str) -> String {
    format!("/api/workshops/{id}/message")
}

/// WebSocket of a workshop's trainees ([`crate::workshop::WorkshopEvent`]).
pub fn workshop_ws(id: &str, token: &str) -> String {
    format!("/api/workshops/{id}/ws?{TOKEN_QUERY}={token}")
}

/// WebSocket of a trainee's terminal, read-only, for the trainer.
pub fn mirror_ws(id: &str, session: &str, name: &str, tab: TabId, token: &str) -> String {
    format!("/api/workshops/{id}/sessions/{session}/instances/{name}/terminals/{tab}?{TOKEN_QUERY}={token}")
}

/// `GET`: every lesson ([`crate::lessons::Lesson`]).
pub fn lessons() -> String {
    "/api/lessons".to_string()
}

/// `PUT`: choose a lesson ([`crate::lessons::LessonChoice`]).
pub fn session_lesson(id: &str) -> String {
    format!("/api/sessions/{id}/lesson")
}

/// `POST`: check the current step now ([`crate::lessons::CheckOutcome`]).
pub fn lesson_check(id: &str) -> String {
    format!("/api/sessions/{id}/lesson/check")
}

/// `POST`: mark a step without checks done.
pub fn lesson_step_done(id: &str, step: &str) -> String {
    format!("/api/sessions/{id}/lesson/steps/{step}/done")
}

/// `GET` / `DELETE` one session.
pub fn session(id: &str) -> String {
    format!("/api/sessions/{id}")
}

/// `POST`: add an instance.
pub fn instances(id: &str) -> String {
    format!("/api/sessions/{id}/instances")
}

/// `DELETE`: remove an instance.
pub fn instance(id: &str, name: &str) -> String {
    format!("/api/sessions/{id}/instances/{name}")
}

/// `POST`: open a terminal tab.
pub fn terminals(id: &str, name: &str) -> String {
    format!("/api/sessions/{id}/instances/{name}/terminals")
}

/// `DELETE`: close a terminal tab.
pub fn terminal(id: &str, name: &str, tab: TabId) -> String {
    format!("/api/sessions/{id}/instances/{name}/terminals/{tab}")
}

/// WebSocket path of a terminal, resuming after `offset` bytes.
pub fn terminal_ws(id: &str, name: &str, tab: TabId, token: &str, offset: u64) -> String {
    format!(
        "/api/sessions/{id}/instances/{name}/terminals/{tab}?{TOKEN_QUERY}={token}&{OFFSET_QUERY}={offset}"
    )
}

/// WebSocket path of the session's event stream.
pub fn session_ws(id: &str, token: &str) -> String {
    format!("/api/sessions/{id}/ws?{TOKEN_QUERY}={token}")
}

/// `POST`: upload a file (`tar = false`) or a folder as tar into the working
/// directory of the shell in tab `terminal`.
pub fn upload(id: &str, name: &str, terminal: TabId, file_name: &str, tar: bool) -> String {
    format!(
        "/api/sessions/{id}/instances/{name}/upload?terminal={terminal}&name={}&tar={}",
        encode_query_value(file_name),
        u8::from(tar)
    )
}

/// Where the browser opens a port published on an instance: the server proxies
/// `/s/{session}/{node}/{port}/...` to it. Apps are served under that prefix
/// (the trailing slash matters for their relative links).
pub fn port_url(session: &str, node: &str, port: u16) -> String {
    format!("/s/{session}/{node}/{port}/")
}

/// The first label of a port's host name in host-name mode:
/// `NODE-PORT-SESSION`.
pub fn port_host_label(session: &str, node: &str, port: u16) -> String {
    format!("{node}-{port}-{session}")
}

/// `(session, node, port)` of a `Host` header (a port after `:` allowed)
/// that is `NODE-PORT-SESSION.<domain>`; `None` for any other host.
pub fn parse_port_host(host: &str, domain: &str) -> Option<(String, String, u16)> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let name = match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host.as_str(),
    };
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let label = name.strip_suffix(&domain)?.strip_suffix('.')?;
    if label.contains('.') {
        return None;
    }
    let mut parts = label.rsplitn(3, '-');
    let session = parts.next()?;
    let port: u16 = parts.next()?.parse().ok().filter(|p| *p > 0)?;
    let node = parts.next()?;
    if !super::is_url_safe_id(session) || !super::is_url_safe_id(node) {
        return None;
    }
    Some((session.to_string(), node.to_string(), port))
}

/// The query parameter that carries a port's key on the first visit.
pub const PORT_KEY_QUERY: &str = "dh_port_key";

/// The key that opens one port of a session in host-name mode: derived
/// from the session's token and the host label, so that a link (and the
/// cookie it leaves on that host) opens that port only, never the session.
pub fn port_key(token: &str, label: &str) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(b"dockhand port key\n");
    h.update(token.as_bytes());
    h.update(b"\n");
    h.update(label.as_bytes());
    hex::encode(h.finalize())[..32].to_string()
}

/// A port link in host-name mode, as the page at `scheme` (`http:`) with
/// `page_port` ("" for the default) opens it.
pub fn port_host_url(
    scheme: &str,
    domain: &str,
    page_port: &str,
    session: &str,
    token: &str,
    node: &str,
    port: u16,
) -> String {
    let label = port_host_label(session, node, port);
    let key = port_key(token, &label);
    let port_part = if page_port.is_empty() {
        String::new()
    } else {
        format!(":{page_port}")
    };
    format!("{scheme}//{label}.{domain}{port_part}/?{PORT_KEY_QUERY}={key}")
}

/// The page address that opens (or joins) a session: `/#/s/{id}/{token}`.
pub fn share_path(id: &str, token: &str) -> String {
    format!("/#/s/{id}/{token}")
}

/// The session id and token in a location hash (`#/s/{id}/{token}`; the leading
/// `#` is optional, a trailing `/` allowed). `None` for anything else, including
/// ids or tokens with characters that are not URL-safe.
pub fn parse_share_fragment(hash: &str) -> Option<(String, String)> {
    let rest = hash.strip_prefix('#').unwrap_or(hash);
    let rest = rest.strip_prefix("/s/")?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (id, token) = rest.split_once('/')?;
    (super::is_url_safe_id(id) && super::is_url_safe_id(token))
        .then(|| (id.to_string(), token.to_string()))
}

/// The WebSocket URL for `path` on the page's origin: `https:` pages use `wss:`.
/// `protocol` and `host` are `location.protocol` (`"https:"`) and `location.host`.
pub fn ws_url(protocol: &str, host: &str, path: &str) -> String {
    let scheme = if protocol == "https:" { "wss" } else { "ws" };
    format!("{scheme}://{host}{path}")
}
