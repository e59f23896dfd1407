//! Workshops against a real `dockhand serve --trainer-code`: trainees join
//! with the code and a name; the trainer's socket shows each trainee and
//! their lesson progress as it changes; the trainer mirrors a trainee's
//! terminal without being able to type into it; a message reaches every
//! trainee's page; closing the workshop ends the trainees' sessions.

use dockhand_tests::serve::{Serve, WebSocket};
use std::time::{Duration, Instant};

/// Events of the trainer's socket until `want` holds one, within 15 s.
fn until(ws: &mut WebSocket, want: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(15) {
        match ws.next_json() {
            Some(ev) if want(&ev) => return ev,
            Some(_) => {}
            None => break,
        }
    }
    panic!("the awaited event did not come");
}

fn join(serve: &Serve, code: &str, name: &str) -> (String, String) {
    let (id, token) = serve.join_workshop(code, name);
    let (st, body) = serve.http(
        "POST",
        &format!("/api/sessions/{id}/instances"),
        Some(&token),
        "",
    );
    assert_eq!(st, 201, "{body}");
    (id, token)
}

#[test]
fn a_trainer_follows_mirrors_messages_and_closes() {
    dockhand_tests::require_root!();
    let serve = Serve::start(&["--trainer-code", "chalk"]);
    let (_, cfg) = serve.http("GET", "/api/config", None, "");
    assert!(cfg.contains(r#""workshops":true"#), "{cfg}");
    let (st, _) = serve.http(
        "POST",
        "/api/workshops",
        None,
        r#"{"trainer_code":"chalk!"}"#,
    );
    assert_eq!(st, 403);
    let (wid, code, wtok) = serve.workshop("chalk");
    let (st, body) = serve.http("POST", "/api/sessions", None, r#"{"workshop":"NOPE42"}"#);
    assert_eq!(st, 404, "{body}");
    assert!(body.contains("No workshop has this code"), "{body}");

    let mut trainer = WebSocket::open(&serve, &format!("/api/workshops/{wid}/ws?token={wtok}"));
    let first = trainer.next_json().unwrap();
    assert_eq!(first["type"], "workshop");
    assert_eq!(first["join_code"], code.as_str());
    // A wrong token is refused (4401 after the upgrade).
    let mut other = WebSocket::open(&serve, &format!("/api/workshops/{wid}/ws?token=x"));
    assert_eq!(other.next_frame().map(|f| f.0), Some(8));

    // Two trainees join (the code in any case) and appear with their names.
    let (a, atok) = join(&serve, &code.to_lowercase(), "Ada");
    let (b, _btok) = join(&serve, &code, "Bob");
    let row = until(&mut trainer, |ev| {
        ev["type"] == "trainee" && ev["name"] == "Bob" && ev["instances"][0]["name"] == "node1"
    });
    assert_eq!(row["session"], b.as_str());

    // Ada's progress reaches the trainer as it changes.
    let mut ada_page = WebSocket::open(&serve, &format!("/api/sessions/{a}/ws?token={atok}"));
    let (st, _) = serve.http(
        "PUT",
        &format!("/api/sessions/{a}/lesson"),
        Some(&atok),
        r#"{"lesson":"01-containers"}"#,
    );
    assert_eq!(st, 200);
    serve.in_vhost(
        &format!("{a}-node1"),
        "docker run --name first busybox true",
    );
    let row = until(&mut trainer, |ev| {
        ev["type"] == "trainee"
            && ev["name"] == "Ada"
            && ev["lesson"]["done"]["01-containers"]
                .as_array()
                .is_some_and(|d| d.iter().any(|s| s == "01-run"))
    });
    assert_eq!(row["lesson"]["current"], "02-commit");
    let names: Vec<&str> = row["states"][0]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["first"], "{row}");

    // The trainer's mirror shows what Ada types; what the trainer sends
    // reaches nobody.
    let mut ada_term = WebSocket::open(
        &serve,
        &format!("/api/sessions/{a}/instances/node1/terminals/1?token={atok}&offset=0"),
    );
    let mut mirror = WebSocket::open(
        &serve,
        &format!(
            "/api/workshops/{wid}/sessions/{a}/instances/node1/terminals/1?token={wtok}&offset=0"
        ),
    );
    ada_term.send(2, b"echo ada-$((6*7))\n");
    let seen = mirror.output_until("ada-42");
    assert!(seen.contains("ada-42"), "{seen}");
    mirror.send(2, b"echo trainer-$((6*7))\n");
    mirror.send(1, br#"{"type":"resize","cols":20,"rows":5}"#);
    ada_term.send(2, b"echo done-$((6*7))\n");
    let ada_saw = ada_term.output_until("done-42");
    assert!(ada_saw.contains("done-42"), "{ada_saw}");
    assert!(
        !ada_saw.contains("trainer-42"),
        "the mirror typed: {ada_saw}"
    );
    // Another workshop's token opens no mirror.
    let mut wrong = WebSocket::open(
        &serve,
        &format!("/api/workshops/{wid}/sessions/{a}/instances/node1/terminals/1?token=nope"),
    );
    assert_eq!(wrong.next_frame().map(|f| f.0), Some(8));

    // A message reaches the trainee's page.
    let msg = format!("/api/workshops/{wid}/message");
    assert_eq!(serve.http("POST", &msg, None, r#"{"text":"hi"}"#).0, 401);
    let (st, body) = serve.http("POST", &msg, Some(&wtok), r#"{"text":"Break: 10 minutes"}"#);
    assert_eq!((st, body.as_str()), (200, r#"{"sent":2}"#));
    let ev = until(&mut ada_page, |ev| ev["type"] == "message");
    assert_eq!(ev["text"], "Break: 10 minutes");

    // Closing the workshop ends both sessions.
    let (st, _) = serve.http("DELETE", &format!("/api/workshops/{wid}"), Some(&wtok), "");
    assert_eq!(st, 204);
    let ev = until(&mut ada_page, |ev| ev["type"] == "closed");
    assert_eq!(ev["reason"], "workshop_closed");
    until(&mut trainer, |ev| ev["type"] == "closed");
    for (id, _) in [(&a, ()), (&b, ())] {
        let (st, _) = serve.http("GET", &format!("/api/sessions/{id}"), Some(&atok), "");
        assert!(st == 410 || st == 401, "session {id} answered {st}");
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while !serve.vhost_records().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(serve.vhost_records(), Vec::<String>::new());
}

#[test]
fn without_a_trainer_code_there_are_no_workshops() {
    dockhand_tests::require_root!();
    let serve = Serve::start(&[]);
    let (st, body) = serve.http("POST", "/api/workshops", None, r#"{"trainer_code":""}"#);
    assert_eq!(st, 404, "{body}");
    assert!(body.contains("serve --trainer-code"), "{body}");
    let (_, cfg) = serve.http("GET", "/api/config", None, "");
    assert!(cfg.contains(r#""workshops":false"#), "{cfg}");
}
