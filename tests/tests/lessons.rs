//! Guided lessons against a real `dockhand serve` with a trainer's folder
//! (`--lessons DIR`): every kind of check, each first done wrongly (it stays
//! not done, with the hint and what did not hold) then rightly; steps
//! without checks marked by the trainee; progress pushed on the session
//! socket as the engine's events come, and there again after a reconnect.
//! A broken folder stops `serve` with the checker's errors. In Chromium
//! (`tests/e2e/lessons.mjs`): the built-in course, a button that types a
//! command, steps turning done, a wrong attempt with its hint, a reload.
//! `bench_lessons` and `bench_trainer_page` (ignored; `scripts/bench-playground`
//! runs them) print how soon a step shows done after its state became true,
//! and how soon the trainer's page with 50 trainees shows a trainee's change.

use dockhand_tests::serve::{
    browser_runner, json_str, run_browser_with, serve_bin, Serve, WebSocket,
};
use std::process::Command;
use std::time::{Duration, Instant};

/// Every kind of check, one step each, after a step without one.
const LESSON: &[(&str, &str)] = &[
    ("lesson.md", "---\ntitle: Kinds\n---\nAll the checks.\n"),
    ("01-read.md", "---\ntitle: Read\n---\n```sh\ndocker version\n```\n"),
    (
        "02-container.md",
        "---\ntitle: Web\ncheck:\n  container: web\nhint: run it detached\n---\n```sh\ndocker run -d --name web busybox sleep 300\n```\n",
    ),
    ("03-image.md", "---\ntitle: Tag\ncheck:\n  image: my-image:v1\n---\n"),
    ("04-port.md", "---\ntitle: Port\ncheck:\n  port: 8081\n---\n"),
    (
        "05-network.md",
        "---\ntitle: Net\ncheck:\n  network: learn\n  members: 2\n---\n",
    ),
    (
        "06-volume.md",
        "---\ntitle: Vol\ncheck:\n  volume: notes\n  file: /today.txt\n---\n",
    ),
    (
        "07-script.md",
        "---\ntitle: Script\ncheck:\n  script: test -e /tmp/marker || { echo no marker; exit 3; }\n---\n",
    ),
];

fn lessons_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let l = d.path().join("10-kinds");
    std::fs::create_dir(&l).unwrap();
    for (name, text) in LESSON {
        std::fs::write(l.join(name), text).unwrap();
    }
    d
}

/// Waits on the session socket for lesson progress.
trait UntilDone {
    /// The first lesson progress whose `done` list for `lesson` has `step`,
    /// within `limit`; how long it took.
    fn until_done(&mut self, lesson: &str, step: &str, limit: Duration) -> Option<Duration>;
}

impl UntilDone for WebSocket {
    fn until_done(&mut self, lesson: &str, step: &str, limit: Duration) -> Option<Duration> {
        let t = Instant::now();
        while t.elapsed() < limit {
            let ev = self.next_json()?;
            if ev["type"] == "lesson"
                && ev["done"][lesson]
                    .as_array()
                    .is_some_and(|d| d.iter().any(|s| s == step))
            {
                return Some(t.elapsed());
            }
        }
        None
    }
}

/// `POST .../lesson/check`: (done, hint, detail).
fn check(serve: &Serve, id: &str, t: Option<&str>) -> (bool, String, String) {
    let (st, body) = serve.http("POST", &format!("/api/sessions/{id}/lesson/check"), t, "");
    assert_eq!(st, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    (
        v["done"].as_bool().unwrap(),
        v["hint"].as_str().unwrap_or_default().to_string(),
        v["detail"].as_str().unwrap_or_default().to_string(),
    )
}

fn current(serve: &Serve, id: &str, t: Option<&str>) -> String {
    let (st, body) = serve.http(
        "PUT",
        &format!("/api/sessions/{id}/lesson"),
        t,
        r#"{"lesson":"10-kinds"}"#,
    );
    assert_eq!(st, 200, "{body}");
    json_str(&body, "current")
}

#[test]
fn checks_see_the_instances_state_not_what_was_typed() {
    dockhand_tests::require_root!();
    let dir = lessons_dir();
    let serve = Serve::start(&["--lessons", &dir.path().display().to_string()]);
    let (st, body) = serve.http("GET", "/api/lessons", None, "");
    assert_eq!(st, 200);
    let all: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 1, "{body}");
    assert_eq!(
        all[0]["steps"][0]["body"][0],
        serde_json::json!({"kind": "commands", "value": ["docker version"]})
    );
    let (id, token) = serve.session_with_instance();
    let t = Some(token.as_str());
    let vhost = format!("{id}-node1");
    let (st, _) = serve.http(
        "PUT",
        &format!("/api/sessions/{id}/lesson"),
        t,
        r#"{"lesson":"nope"}"#,
    );
    assert_eq!(st, 404);
    assert_eq!(
        serve
            .http(
                "PUT",
                &format!("/api/sessions/{id}/lesson"),
                None,
                r#"{"lesson":"10-kinds"}"#
            )
            .0,
        401
    );
    assert_eq!(current(&serve, &id, t), "01-read");

    // A step without checks is the trainee's to mark; one with checks is not.
    let (done, _, detail) = check(&serve, &id, t);
    assert!(!done && detail.contains("no check"), "{detail}");
    let mark = |step: &str| {
        serve.http(
            "POST",
            &format!("/api/sessions/{id}/lesson/steps/{step}/done"),
            t,
            "",
        )
    };
    assert_eq!(mark("02-container").0, 409);
    let (st, body) = mark("01-read");
    assert_eq!(
        (st, json_str(&body, "current").as_str()),
        (200, "02-container")
    );

    // Wrong: a container named web that is not running. Then right, with the
    // session socket open: the step is pushed done as the events come.
    serve.in_vhost(&vhost, "docker create --name web busybox sleep 300");
    let (done, hint, detail) = check(&serve, &id, t);
    assert_eq!(
        (done, hint.as_str(), detail.as_str()),
        (false, "run it detached", "web is created, not running")
    );
    let mut feed = WebSocket::open(&serve, &format!("/api/sessions/{id}/ws?token={token}"));
    serve.in_vhost(&vhost, "docker start web");
    let took = feed.until_done("10-kinds", "02-container", Duration::from_secs(10));
    let took = took.expect("02-container pushed done");
    eprintln!("02-container pushed done {took:?} after `docker start` returned");

    // Each further kind: wrong first, then right.
    let steps: &[(&str, &str, &str, &str)] = &[
        (
            "03-image",
            "docker tag busybox my-image:v2",
            "no image my-image:v1 on node1",
            "docker tag busybox my-image:v1",
        ),
        (
            "04-port",
            "docker run -d -p 8082:80 busybox sleep 300",
            "no running container publishes port 8081 on node1",
            "docker run -d -p 8081:80 busybox sleep 300",
        ),
        (
            "05-network",
            "docker network create learn && docker run -d --net learn busybox sleep 300",
            "network learn has 1 container, not 2",
            "docker run -d --net learn busybox sleep 300",
        ),
        (
            "06-volume",
            // A link out of the volume (to a file of the instance) is not a
            // file in it.
            "docker run --rm -v notes:/v busybox sh -c 'echo x > /v/other.txt; ln -s /etc/hostname /v/today.txt; ls -l /v'; rm -f /today.txt",
            "no /today.txt in volume notes on node1",
            "docker run --rm -v notes:/v busybox sh -c 'rm /v/today.txt; date > /v/today.txt'",
        ),
        (
            "07-script",
            "touch /tmp/not-the-marker",
            "the check on node1 says not yet (exit code 3): no marker",
            "touch /tmp/marker",
        ),
    ];
    for (step, wrong, why, right) in steps {
        assert_eq!(&current(&serve, &id, t), step);
        serve.in_vhost(&vhost, wrong);
        let (done, _, detail) = check(&serve, &id, t);
        assert_eq!((done, detail.as_str()), (false, *why), "{step}");
        serve.in_vhost(&vhost, right);
        let took = feed.until_done("10-kinds", step, Duration::from_secs(10));
        assert!(took.is_some(), "{step} not pushed done");
    }
    let (st, body) = serve.http("POST", &format!("/api/sessions/{id}/lesson/check"), t, "");
    assert_eq!(st, 409, "the lesson is done: {body}");

    // A reconnecting page gets the progress in the snapshot.
    drop(feed);
    let mut again = WebSocket::open(&serve, &format!("/api/sessions/{id}/ws?token={token}"));
    let progress = std::iter::from_fn(|| again.next_json())
        .take(10)
        .find(|ev| ev["type"] == "lesson")
        .expect("progress in the snapshot");
    assert_eq!(
        progress["done"]["10-kinds"].as_array().unwrap().len(),
        7,
        "{progress}"
    );
    assert!(progress["current"].is_null(), "{progress}");
}

#[test]
fn a_broken_lessons_folder_stops_serve_with_its_errors() {
    dockhand_tests::require_root!();
    let dir = lessons_dir();
    std::fs::write(
        dir.path().join("10-kinds/08-bad.md"),
        "---\ntitle: Bad\ncheck:\n  port: 80\n  image: busybox\n---\n",
    )
    .unwrap();
    let root = tempfile::tempdir().unwrap();
    let out = Command::new(serve_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-root"])
        .arg(root.path())
        .arg("--lessons")
        .arg(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("10-kinds/08-bad.md:3: check: one kind per check, not image and port"),
        "{err}"
    );
    // Refused before anything was made.
    assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
}

#[test]
fn lessons_in_a_real_browser() {
    dockhand_tests::require_root!();
    let Some(browser) = browser_runner() else {
        return;
    };
    let serve = Serve::start(&[]);
    let out = scenario(&browser, &serve, "e2e", &[]);
    assert!(out.contains("e2e: all"), "{out}");
}

/// `lessons.mjs MODE` in `browser` (node, Chromium) against `serve`, with
/// `env` added: its output, printed; panics with the server's log when the
/// scenario fails.
fn scenario(
    browser: &(std::path::PathBuf, std::path::PathBuf),
    serve: &Serve,
    mode: &str,
    env: &[(&str, &str)],
) -> String {
    let (node, chromium) = browser;
    let limit = Duration::from_secs(300);
    let (out, ok) = run_browser_with(serve, node, chromium, "lessons.mjs", mode, limit, env);
    eprintln!("{out}");
    assert!(ok, "{out}\n{}", serve.log());
    out
}

/// The trainer's page with two trainees in Chromium (`lessons.mjs trainer`).
#[test]
fn a_workshop_in_a_real_browser() {
    dockhand_tests::require_root!();
    let Some(browser) = browser_runner() else {
        return;
    };
    let mut serve = Serve::start(&["--trainer-code", "chalk"]);
    let out = scenario(&browser, &serve, "trainer", &[]);
    assert!(out.contains("trainer: all"), "{out}");
    serve.shutdown();
    assert_eq!(serve.vhost_records(), Vec::<String>::new());
}

/// Twenty steps, step NN-cN done when container cN runs.
#[test]
#[ignore]
fn bench_lessons() {
    dockhand_tests::require_root!();
    let Some(browser) = browser_runner() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let l = d.path().join("90-bench");
    std::fs::create_dir(&l).unwrap();
    std::fs::write(l.join("lesson.md"), "---\ntitle: Bench\n---\n").unwrap();
    for i in 1..=20 {
        std::fs::write(
            l.join(format!("{i:02}-c{i}.md")),
            format!("---\ntitle: c{i}\ncheck:\n  container: c{i}\n---\n```sh\ndocker run -d --name c{i} busybox sleep 300\n```\n"),
        )
        .unwrap();
    }
    let serve = Serve::start(&["--lessons", &d.path().display().to_string()]);
    scenario(&browser, &serve, "bench", &[]);
}

/// The trainer's page with 50 trainees: how soon a trainee's change shows.
#[test]
#[ignore]
fn bench_trainer_page() {
    dockhand_tests::require_root!();
    let Some(browser) = browser_runner() else {
        return;
    };
    let serve = Serve::start(&["--trainer-code", "chalk", "--max-sessions", "60"]);
    let (id, code, token) = serve.workshop("chalk");
    let trainees: Vec<serde_json::Value> = (0..50)
        .map(|i| {
            let name = format!("T{i:02}");
            let (id, token) = serve.join_workshop(&code, &name);
            serde_json::json!({"name": name, "id": id, "token": token})
        })
        .collect();
    let w = serde_json::json!({"id": id, "token": token, "trainees": trainees}).to_string();
    scenario(&browser, &serve, "trainer-bench", &[("BENCH_WORKSHOP", &w)]);
}

/// How a trainee does each step of the built-in course, without a terminal
/// (`-ti` shells become commands): the commands of the step as written
/// wherever they need no keyboard.
const COURSE_RUN: &[(&str, &str, &str)] = &[
    ("01-containers", "01-run", "docker run busybox sh -c exit"),
    ("01-containers", "02-commit", "docker run busybox sh -c 'echo my change > /my-file' && docker commit $(docker ps -lq) my-image && docker run --rm my-image cat /my-file"),
    ("01-containers", "03-background", "docker run -d -ti --name sleepy busybox sh"),
    ("01-containers", "04-exec-logs", "docker exec sleepy true && docker run -d --name talker busybox sh -c 'while true; do date; sleep 2; done' && sleep 1 && docker logs talker"),
    ("01-containers", "05-clean-up", "docker kill talker sleepy && docker rm talker sleepy && docker run --rm busybox echo done"),
    ("02-images", "01-tag", "docker pull busybox && docker images && docker tag busybox my-busybox:v2.1"),
    ("02-images", "02-save-load", "docker save -o /tmp/busybox.tar my-busybox:v2.1 && docker load -i /tmp/busybox.tar"),
    ("02-images", "03-remove", "docker rmi my-busybox:v2.1"),
    ("03-volumes", "01-host-folder", "mkdir -p /tmp/example && docker run --rm -v /tmp/example:/shared-folder busybox touch /shared-folder/my-data && ls /tmp/example"),
    ("03-volumes", "02-volumes-from", "docker run -d -ti --name disk-holder -v /shared-data busybox sh && docker exec disk-holder sh -c 'echo hello > /shared-data/data-file' && docker run --rm --volumes-from disk-holder busybox cat /shared-data/data-file"),
    ("03-volumes", "03-named", "docker volume create notes && docker run --rm -v notes:/notes busybox sh -c 'date > /notes/today.txt' && docker run --rm -v notes:/notes busybox cat /notes/today.txt"),
    ("04-networking", "01-publish", "docker run -d -p 45678:45678 -p 45679:45679 --name echo-server busybox sleep 300"),
    ("04-networking", "02-dynamic", "docker rm -f echo-server && docker run -d -p 45678 -p 45679 --name echo-server busybox sleep 300 && docker port echo-server"),
    ("04-networking", "03-network", "docker network create learning && docker run -d -ti --net learning --name cat-server busybox sh && docker run -d -ti --net learning --name dog-server busybox sh && docker exec cat-server ping -c 2 dog-server"),
    ("04-networking", "04-connect", "docker network create catsonly && docker network connect catsonly cat-server && docker run --rm --net catsonly busybox ping -c 2 cat-server"),
    ("05-registries", "01-run-registry", "docker run -d -p 5000:5000 --restart=always --name registry registry:2"),
    ("05-registries", "02-push", "docker pull busybox && docker tag busybox localhost:5000/mycompany/my-busybox:99 && for i in $(seq 40); do docker push localhost:5000/mycompany/my-busybox:99 && exit 0; sleep 0.25; done; exit 1"),
    ("05-registries", "03-pull", "docker rmi localhost:5000/mycompany/my-busybox:99 && docker pull localhost:5000/mycompany/my-busybox:99"),
    ("06-building", "01-first-build", "mkdir -p ~/hello && cd ~/hello && printf 'FROM busybox\\nRUN echo \"building a simple image\"\\nCMD echo \"hello from a container\"\\n' > Dockerfile && docker build -t hello . && docker run --rm hello"),
    ("06-building", "02-add-a-file", "mkdir -p ~/notes && cd ~/notes && echo \"my notes\" > notes.txt && printf 'FROM busybox\\nENV EDITOR=vi\\nCOPY notes.txt /notes.txt\\nCMD [\"cat\", \"/notes.txt\"]\\n' > Dockerfile && docker build -t example/notes . && docker run --rm example/notes"),
    ("06-building", "03-multi-stage", "mkdir -p ~/stages && cd ~/stages && printf 'FROM busybox AS builder\\nRUN echo built > /result && dd if=/dev/zero of=/waste bs=1M count=20\\nFROM busybox\\nCOPY --from=builder /result /result\\n' > Dockerfile && docker build -t small . && docker images small"),
    ("07-under-the-hood", "01-client-in-a-container", "docker run --rm -v /var/run/docker.sock:/var/run/docker.sock docker docker ps"),
    ("07-under-the-hood", "02-network-stack", "iptables -n -L -t nat && docker run --rm --net=host --privileged=true busybox ip addr"),
    ("07-under-the-hood", "03-processes", "docker run -d -ti --rm --name hello busybox sh && pid=$(docker inspect --format '{{.State.Pid}}' hello) && docker run --rm --net=host --privileged=true --pid=host busybox kill -9 $pid && sleep 1"),
    ("08-limits", "01-memory", "docker run -d --name limited --memory 64m busybox sleep 1000 && docker stats --no-stream limited"),
    ("08-limits", "02-cpu", "docker run -d --name relaxed --cpu-shares 512 busybox sleep 1000 && docker run -d --name capped --cpus 0.5 busybox sh -c 'while :; do :; done' && docker stats --no-stream && docker rm -f capped"),
];

/// Every step of the built-in course, done as a trainee would, turns done:
/// the course's checks hold when its steps are followed (and the list above
/// covers every step).
#[test]
fn the_course_followed_step_by_step_is_done() {
    dockhand_tests::require_root!();
    let serve = Serve::start(&[]);
    let (st, body) = serve.http("GET", "/api/lessons", None, "");
    assert_eq!(st, 200);
    let lessons: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut all = Vec::new();
    for l in lessons.as_array().unwrap() {
        for s in l["steps"].as_array().unwrap() {
            all.push((
                l["id"].as_str().unwrap(),
                s["id"].as_str().unwrap(),
                !s["checks"].as_array().unwrap().is_empty(),
            ));
        }
    }
    let covered: Vec<(&str, &str)> = COURSE_RUN.iter().map(|(l, s, _)| (*l, *s)).collect();
    let steps: Vec<(&str, &str)> = all.iter().map(|(l, s, _)| (*l, *s)).collect();
    assert_eq!(covered, steps, "COURSE_RUN must follow the course");
    let (id, token) = serve.session_with_instance();
    let t = Some(token.as_str());
    let vhost = format!("{id}-node1");
    let mut lesson = "";
    for ((l, step, checked), (_, _, script)) in all.iter().zip(COURSE_RUN) {
        if *l != lesson {
            lesson = l;
            let (st, body) = serve.http(
                "PUT",
                &format!("/api/sessions/{id}/lesson"),
                t,
                &format!(r#"{{"lesson":"{l}"}}"#),
            );
            assert_eq!(st, 200, "{body}");
        }
        serve.in_vhost(&vhost, script);
        if *checked {
            let (st, body) = serve.http("POST", &format!("/api/sessions/{id}/lesson/check"), t, "");
            assert_eq!(st, 200, "{l}/{step}: {body}");
            assert!(body.contains(r#""done":true"#), "{l}/{step}: {body}");
        } else {
            let (st, body) = serve.http(
                "POST",
                &format!("/api/sessions/{id}/lesson/steps/{step}/done"),
                t,
                "",
            );
            assert_eq!(st, 200, "{l}/{step}: {body}");
        }
    }
    let (_, body) = serve.http(
        "PUT",
        &format!("/api/sessions/{id}/lesson"),
        t,
        r#"{"lesson":"08-limits"}"#,
    );
    let p: serde_json::Value = serde_json::from_str(&body).unwrap();
    let done: usize = p["done"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_array().unwrap().len())
        .sum();
    assert_eq!(done, all.len(), "{p}");
}
