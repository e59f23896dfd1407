//! A fake Engine API on a temporary unix socket proving that `run` talks to the
//! daemon in docker's order (create, attach with a 101 upgrade, wait with its
//! headers read, start) and demultiplexes the attach stream, and that `host exec`
//! drives Docker's exec API under the virtual host's prefix, and that `build`
//! prints a failed build's stream (plain and compact) and exits with its code.

use crate::client::Client;
use crate::commands::container::run::{run_with, RunArgs};
use crate::stream::Outputs;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use clap::Parser;
use shared::mux::{frame, STDERR, STDOUT};
use std::io::Write;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;
use tokio::sync::Notify;

#[derive(Default)]
struct Fake {
    log: Mutex<Vec<String>>,
    started: Notify,
    output_done: Notify,
}

fn json(status: StatusCode, body: &str) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn ping() -> Response {
    Response::builder()
        .header("Api-Version", "1.47")
        .body(Body::from("OK"))
        .unwrap()
}

async fn handler(State(fake): State<Arc<Fake>>, mut req: Request) -> Response {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    fake.log
        .lock()
        .unwrap()
        .push(format!("{} {}?{}", req.method(), path, query));
    match path.as_str() {
        "/_ping" => ping(),
        "/v1.47/containers/create" => json(StatusCode::CREATED, r#"{"Id":"c0ffee","Warnings":[]}"#),
        "/v1.47/containers/c0ffee/attach" => {
            let on_upgrade = hyper::upgrade::on(&mut req);
            let f = fake.clone();
            tokio::spawn(async move {
                let Ok(up) = on_upgrade.await else { return };
                let mut io = hyper_util::rt::TokioIo::new(up);
                // Nothing may be produced before the container starts.
                f.started.notified().await;
                let _ = io.write_all(&frame(STDOUT, b"hello\n")).await;
                let _ = io.write_all(&frame(STDERR, b"oops\n")).await;
                let _ = io.shutdown().await;
                f.output_done.notify_one();
            });
            Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header(header::CONNECTION, "Upgrade")
                .header(header::UPGRADE, "tcp")
                .body(Body::empty())
                .unwrap()
        }
        "/v1.47/containers/c0ffee/wait" => {
            // Headers now, the status once the output has been sent.
            let f = fake.clone();
            let body = futures_util::stream::once(async move {
                f.output_done.notified().await;
                Ok::<_, std::io::Error>(bytes::Bytes::from_static(br#"{"StatusCode":3}"#))
            });
            Response::builder()
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from_stream(body))
                .unwrap()
        }
        "/v1.47/containers/c0ffee/start" => {
            fake.started.notify_one();
            Response::builder()
                .status(StatusCode::NO_CONTENT)
                .body(Body::empty())
                .unwrap()
        }
        _ => json(StatusCode::NOT_FOUND, r#"{"message":"page not found"}"#),
    }
}

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Parser)]
struct RunCli {
    #[command(flatten)]
    run: RunArgs,
}

#[tokio::test]
async fn run_creates_attaches_waits_then_starts_and_demuxes() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("d.sock");
    let fake = Arc::new(Fake::default());
    let app = axum::Router::new()
        .fallback(handler)
        .with_state(fake.clone());
    let listener = tokio::net::UnixListener::bind(&sock).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let mut client = Client::new(&format!("unix://{}", sock.display())).unwrap();
    client.ping().await.unwrap();
    assert_eq!(client.version, "1.47");

    let args = RunCli::try_parse_from(["run", "--rm", "busybox", "sh", "-c", "echo hello"])
        .unwrap()
        .run;
    let (out, err) = (Buf::default(), Buf::default());
    let outputs = Outputs {
        out: Box::new(out.clone()),
        err: Box::new(err.clone()),
    };
    let code = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        run_with(&client, &args, outputs),
    )
    .await
    .expect("run finished")
    .expect("run succeeded");

    assert_eq!(code, 3, "exit status comes from wait");
    assert_eq!(String::from_utf8_lossy(&out.0.lock().unwrap()), "hello\n");
    assert_eq!(String::from_utf8_lossy(&err.0.lock().unwrap()), "oops\n");
    let log = fake.log.lock().unwrap().clone();
    assert_eq!(
        log,
        vec![
            "HEAD /_ping?".to_string(),
            "POST /v1.47/containers/create?".to_string(),
            "POST /v1.47/containers/c0ffee/attach?stderr=1&stdout=1&stream=1".to_string(),
            "POST /v1.47/containers/c0ffee/wait?condition=removed".to_string(),
            "POST /v1.47/containers/c0ffee/start?".to_string(),
        ]
    );
}

#[derive(Default)]
struct FakeHost {
    log: Mutex<Vec<String>>,
    exec_body: Mutex<Option<serde_json::Value>>,
}

async fn host_handler(State(fake): State<Arc<FakeHost>>, mut req: Request) -> Response {
    let path = req.uri().path().to_string();
    fake.log
        .lock()
        .unwrap()
        .push(format!("{} {}", req.method(), path));
    match path.as_str() {
        "/_ping" => ping(),
        "/v1.47/dockhand/hosts/lab" => json(
            StatusCode::OK,
            r#"{"Name":"lab","Hostname":"lab","Created":"","Limits":{},"State":"running"}"#,
        ),
        "/v1.47/dockhand/hosts/lab/exec" => {
            use http_body_util::BodyExt;
            let body = req.into_body().collect().await.unwrap().to_bytes();
            *fake.exec_body.lock().unwrap() = serde_json::from_slice(&body).ok();
            json(StatusCode::CREATED, r#"{"Id":"e1"}"#)
        }
        "/v1.47/dockhand/hosts/lab/exec/e1/start" => {
            let on_upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                let Ok(up) = on_upgrade.await else { return };
                let mut io = hyper_util::rt::TokioIo::new(up);
                let _ = io.write_all(&frame(STDOUT, b"root\n")).await;
                let _ = io.shutdown().await;
            });
            Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header(header::CONNECTION, "Upgrade")
                .header(header::UPGRADE, "tcp")
                .body(Body::empty())
                .unwrap()
        }
        "/v1.47/dockhand/hosts/lab/exec/e1/json" => json(StatusCode::OK, r#"{"ExitCode":7}"#),
        _ => json(StatusCode::NOT_FOUND, r#"{"message":"page not found"}"#),
    }
}

#[tokio::test]
async fn host_exec_drives_the_exec_api_under_the_virtual_hosts_prefix() {
    use crate::commands::container::exec::{build_exec, exec_with, ExecApi};
    use crate::commands::host::HostCmd;

    #[derive(Parser)]
    struct HostCli {
        #[command(subcommand)]
        cmd: HostCmd,
    }

    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("d.sock");
    let fake = Arc::new(FakeHost::default());
    let app = axum::Router::new()
        .fallback(host_handler)
        .with_state(fake.clone());
    let listener = tokio::net::UnixListener::bind(&sock).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut client = Client::new(&format!("unix://{}", sock.display())).unwrap();
    client.ping().await.unwrap();

    let HostCmd::Exec(a) = HostCli::try_parse_from(["host", "exec", "lab", "--", "id", "-un"])
        .unwrap()
        .cmd
    else {
        panic!("not an exec")
    };
    let body = build_exec(&a.opts, false, &a.command, &|_| None).unwrap();
    let out = Buf::default();
    let outputs = Outputs {
        out: Box::new(out.clone()),
        err: Box::new(Buf::default()),
    };
    let code = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        exec_with(&client, &ExecApi::vhost(&a.host), body, outputs),
    )
    .await
    .expect("exec finished")
    .expect("exec succeeded");

    assert_eq!(code, 7, "exit status comes from the exec's json");
    assert_eq!(String::from_utf8_lossy(&out.0.lock().unwrap()), "root\n");
    let sent = fake.exec_body.lock().unwrap().clone().unwrap();
    assert_eq!(sent["Cmd"], serde_json::json!(["id", "-un"]));
    assert_eq!(sent["AttachStdout"], true);
    assert_eq!(
        fake.log.lock().unwrap().clone(),
        vec![
            "HEAD /_ping",
            "GET /v1.47/dockhand/hosts/lab",
            "POST /v1.47/dockhand/hosts/lab/exec",
            "POST /v1.47/dockhand/hosts/lab/exec/e1/start",
            "GET /v1.47/dockhand/hosts/lab/exec/e1/json",
        ]
    );
}

/// A failed RUN's stream, as the classic builder sends it.
const FAILED_BUILD: &[&str] = &[
    r#"{"stream":"Step 1/2 : FROM busybox\n"}"#,
    r#"{"stream":" ---\u003e 1234567890ab\n"}"#,
    r#"{"stream":"Step 2/2 : RUN echo out; exit 3\n"}"#,
    r#"{"stream":" ---\u003e Running in 0a1b2c3d4e5f\n"}"#,
    r#"{"stream":"out\n"}"#,
    r#"{"errorDetail":{"code":3,"message":"The command '/bin/sh -c echo out; exit 3' returned a non-zero code: 3"},"error":"The command '/bin/sh -c echo out; exit 3' returned a non-zero code: 3"}"#,
];

async fn build_handler(State(fake): State<Arc<FakeHost>>, req: Request) -> Response {
    use http_body_util::BodyExt;
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    fake.log
        .lock()
        .unwrap()
        .push(format!("{} {}?{}", req.method(), path, query));
    match path.as_str() {
        "/_ping" => ping(),
        "/v1.47/build" => {
            // The context tar, read whole before the answer.
            let body = req.into_body().collect().await.unwrap().to_bytes();
            let mut names = Vec::new();
            let mut t = tar::Archive::new(&body[..]);
            for e in t.entries().unwrap() {
                names.push(e.unwrap().path().unwrap().display().to_string());
            }
            fake.log.lock().unwrap().push(format!("tar {names:?}"));
            let mut text = FAILED_BUILD.join("\r\n");
            text.push_str("\r\n");
            json(StatusCode::OK, &text)
        }
        _ => json(StatusCode::NOT_FOUND, r#"{"message":"page not found"}"#),
    }
}

#[tokio::test]
async fn a_failed_builds_stream_prints_as_docker_and_exits_with_the_runs_code() {
    use crate::commands::image::build::{build_to, BuildArgs};

    #[derive(Parser)]
    struct BuildCli {
        #[command(flatten)]
        build: BuildArgs,
    }

    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("d.sock");
    let ctx = dir.path().join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN echo out; exit 3\n",
    )
    .unwrap();
    let fake = Arc::new(FakeHost::default());
    let app = axum::Router::new()
        .fallback(build_handler)
        .with_state(fake.clone());
    let listener = tokio::net::UnixListener::bind(&sock).unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut client = Client::new(&format!("unix://{}", sock.display())).unwrap();
    client.ping().await.unwrap();
    let ctx_arg = ctx.display().to_string();

    // `--progress=plain` on a terminal: the classic stream.
    let a = BuildCli::try_parse_from(["build", "--progress=plain", "-t", "app", &ctx_arg])
        .unwrap()
        .build;
    let out = Buf::default();
    let e = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        build_to(&client, &a, &mut out.clone(), true),
    )
    .await
    .expect("build finished")
    .expect_err("build failed");
    assert_eq!(e.code, 3, "the RUN's exit code");
    assert_eq!(
        e.message,
        "The command '/bin/sh -c echo out; exit 3' returned a non-zero code: 3"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.0.lock().unwrap()),
        "Step 1/2 : FROM busybox\n ---> 1234567890ab\nStep 2/2 : RUN echo out; exit 3\n ---> Running in 0a1b2c3d4e5f\nout\n"
    );
    let log = fake.log.lock().unwrap().clone();
    assert!(log[1].starts_with("POST /v1.47/build?"), "{log:?}");
    assert!(log[1].contains("t=app") && log[1].contains("dockerfile=Dockerfile"));
    assert_eq!(log[2], r#"tar ["Dockerfile"]"#);

    // `--progress=tty`: the compact display, the failing step's output after it.
    let a = BuildCli::try_parse_from(["build", "--progress=tty", &ctx_arg])
        .unwrap()
        .build;
    let out = Buf::default();
    let e = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        build_to(&client, &a, &mut out.clone(), false),
    )
    .await
    .expect("build finished")
    .expect_err("build failed");
    assert_eq!(e.code, 3);
    let text = String::from_utf8_lossy(&out.0.lock().unwrap()).into_owned();
    assert!(text.contains("\x1b[2K[+] Building "), "{text:?}");
    assert!(text.contains("(1/2)"), "{text:?}");
    assert!(
        text.contains(" => ERROR [2/2] RUN echo out; exit 3"),
        "{text:?}"
    );
    assert!(
        text.ends_with("\x1b[J------\n > [2/2] RUN echo out; exit 3:\nout\n------\n"),
        "{text:?}"
    );
    assert!(!text.contains("Running in"), "{text:?}");
}
