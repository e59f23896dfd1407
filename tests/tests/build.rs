//! `docker build` end to end: the course's Dockerfiles (on busybox), the classic
//! builder's output and cache, multi-stage builds, failures that leave nothing
//! behind, hostile contexts, and the real docker CLI with and without
//! `DOCKER_BUILDKIT=0`.

use dockhand_tests::{build_context as context, Daemon, Run};
use std::path::Path;

fn build(d: &Daemon, ctx: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["build"];
    args.extend_from_slice(extra);
    let p = ctx.to_str().unwrap().to_string();
    args.push(&p);
    d.cli(&args)
}

/// `Step N/M : TEXT` lines of a build's output.
fn steps(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.starts_with("Step "))
        .map(|l| l.to_string())
        .collect()
}

fn image_ids(d: &Daemon) -> Vec<String> {
    let mut v: Vec<String> = d
        .cli(&["images", "-a", "-q", "--no-trunc"])
        .ok()
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// Nothing of a build may stay: containers, build scratch directories.
fn assert_nothing_left(d: &Daemon) {
    assert_eq!(
        d.cli(&["ps", "-a", "-q"]).ok(),
        "",
        "a build container was left"
    );
    let tmp = d.root.join("tmp");
    let left: Vec<String> = std::fs::read_dir(&tmp)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("build-"))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        left.is_empty(),
        "build contexts left in {}: {left:?}",
        tmp.display()
    );
    assert!(d.leftover_mounts().is_empty(), "{:?}", d.leftover_mounts());
}

const HELLO: &str = "FROM busybox
ENV GREETING=hello \\
    WHO=world
# a comment inside the file
RUN echo \"$GREETING\" > /greeting && \\
    echo built
COPY app.sh /app/
WORKDIR /app
RUN chmod +x app.sh
CMD [\"./app.sh\"]
";

#[test]
fn the_course_dockerfile_builds_runs_and_caches() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let ctx = context(&[
        ("Dockerfile", HELLO),
        ("app.sh", "#!/bin/sh\necho \"$(cat /greeting) $WHO\"\n"),
    ]);
    let r = build(&d, ctx.path(), &["-t", "hello"]);
    let out = r.ok();
    assert_eq!(
        steps(&out),
        vec![
            "Step 1/7 : FROM busybox",
            "Step 2/7 : ENV GREETING=hello     WHO=world",
            "Step 3/7 : RUN echo \"$GREETING\" > /greeting &&     echo built",
            "Step 4/7 : COPY app.sh /app/",
            "Step 5/7 : WORKDIR /app",
            "Step 6/7 : RUN chmod +x app.sh",
            "Step 7/7 : CMD [\"./app.sh\"]",
        ],
        "{out}"
    );
    assert!(out.contains(" ---> Running in "), "{out}");
    assert!(out.contains("\nbuilt\n"), "RUN output is streamed: {out}");
    assert!(out.contains("Removing intermediate container "), "{out}");
    let id_line = out
        .lines()
        .find(|l| l.starts_with("Successfully built "))
        .expect("Successfully built")
        .to_string();
    assert!(out.contains("Successfully tagged hello:latest"), "{out}");
    assert_eq!(d.cli(&["run", "--rm", "hello"]).ok(), "hello world");
    let cfg = d
        .cli(&[
            "inspect",
            "-f",
            "{{.Config.WorkingDir}} {{json .Config.Cmd}} {{json .Config.Env}}",
            "hello",
        ])
        .ok();
    assert_eq!(
        cfg,
        "/app [\"./app.sh\"] [\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\",\"GREETING=hello\",\"WHO=world\"]"
    );
    // `images` shows the result, `images -a` also the steps' intermediate images.
    let shown = d.cli(&["images", "-q"]).ok();
    let all = d.cli(&["images", "-a", "-q"]).ok();
    assert!(
        all.lines().count() > shown.lines().count() + 4,
        "{shown}\n--\n{all}"
    );

    // Again: every step from the cache, the same image.
    let again = build(&d, ctx.path(), &["-t", "hello"]).ok();
    assert_eq!(again.matches(" ---> Using cache").count(), 6, "{again}");
    assert!(!again.contains("Running in"), "{again}");
    assert!(again.contains(&id_line), "{again}");

    // A changed file invalidates its COPY and what follows; mtime alone does not.
    let f = ctx.path().join("app.sh");
    let text = std::fs::read_to_string(&f).unwrap();
    std::fs::write(&f, &text).unwrap();
    let touched = build(&d, ctx.path(), &[]).ok();
    assert_eq!(touched.matches(" ---> Using cache").count(), 6, "{touched}");
    std::fs::write(&f, text.replace("echo", "echo -n")).unwrap();
    let changed = build(&d, ctx.path(), &["-t", "hello2"]).ok();
    assert_eq!(changed.matches(" ---> Using cache").count(), 2, "{changed}");
    assert_eq!(d.cli(&["run", "--rm", "hello2"]).ok(), "hello world");

    // --no-cache runs everything.
    let cold = build(&d, ctx.path(), &["--no-cache"]).ok();
    assert!(!cold.contains("Using cache"), "{cold}");
    assert!(!cold.contains(&id_line), "{cold}");

    // The cache survives a daemon restart.
    let mut d = d;
    d.restart();
    let warm = build(&d, ctx.path(), &["-t", "hello2"]).ok();
    assert_eq!(warm.matches(" ---> Using cache").count(), 6, "{warm}");
    assert_nothing_left(&d);

    // `builder prune` empties it.
    let pruned = d.cli(&["builder", "prune", "-f"]).ok();
    assert!(pruned.contains("Total reclaimed space"), "{pruned}");
    let after = build(&d, ctx.path(), &[]).ok();
    assert!(!after.contains("Using cache"), "{after}");
    // Removing the image removes its intermediate images too.
    d.cli(&["rmi", "hello", "hello2"]).ok();
}

#[test]
fn a_failing_step_reports_its_code_and_leaves_nothing() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let before = image_ids(&d);
    let ctx = context(&[(
        "Dockerfile",
        "FROM busybox\nENV A=1\nRUN echo partial > /f && exit 3\nRUN echo never\n",
    )]);
    let r = build(&d, ctx.path(), &["-t", "broken"]);
    assert_eq!(r.code(), 3, "{}\n{}", r.stdout(), r.stderr());
    assert!(
        r.stderr().contains(
            "The command '/bin/sh -c echo partial > /f && exit 3' returned a non-zero code: 3"
        ),
        "{}",
        r.stderr()
    );
    assert!(!r.stdout().contains("never"));
    assert_nothing_left(&d);
    // The ENV step's image may stay as cache (docker keeps it too); no tag, no
    // image of the failed step.
    assert!(d.cli(&["inspect", "broken"]).code() != 0);
    let after = image_ids(&d);
    assert!(after.len() <= before.len() + 1, "{before:?} -> {after:?}");

    // Dockerfile errors are refused before anything runs, with the line.
    let bad = context(&[("Dockerfile", "FROM busybox\nFROBNICATE x\n")]);
    let r = build(&d, bad.path(), &[]);
    assert_ne!(r.code(), 0);
    assert!(r.stderr().contains("line 2"), "{}", r.stderr());
    assert!(
        r.stderr().to_lowercase().contains("unknown instruction"),
        "{}",
        r.stderr()
    );
    let missing = context(&[("Dockerfile", "FROM busybox\nCOPY nothere /x\n")]);
    let r = build(&d, missing.path(), &[]);
    assert_ne!(r.code(), 0);
    assert!(r.stderr().contains("nothere"), "{}", r.stderr());
    assert_nothing_left(&d);
}

#[test]
fn multi_stage_builds_only_what_the_target_needs_and_ships_one_stage() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let ctx = context(&[(
        "Dockerfile",
        "ARG SIZE=4
FROM busybox AS builder
ARG SIZE
RUN dd if=/dev/zero of=/big bs=1M count=$SIZE 2>/dev/null && echo small > /result
FROM busybox AS unused
RUN echo this stage is not needed
FROM busybox
COPY --from=builder /result /result
CMD [\"cat\", \"/result\"]
",
    )]);
    let out = build(&d, ctx.path(), &["-t", "small", "--build-arg", "SIZE=6"]).ok();
    assert!(!out.contains("not needed"), "{out}");
    assert!(out.contains("Step 1/"), "{out}");
    assert_eq!(d.cli(&["run", "--rm", "small"]).ok(), "small");
    let size: u64 = d
        .cli(&["inspect", "-f", "{{.Size}}", "small"])
        .ok()
        .parse()
        .unwrap();
    let base: u64 = d
        .cli(&["inspect", "-f", "{{.Size}}", "busybox"])
        .ok()
        .parse()
        .unwrap();
    assert!(
        size < base + 64 * 1024,
        "final image carries the builder's 6 MB: {size} vs {base}"
    );
    // --target stops at a stage.
    let out = build(&d, ctx.path(), &["-t", "b", "--target", "builder"]).ok();
    assert_eq!(d.cli(&["run", "--rm", "b", "cat", "/result"]).ok(), "small");
    assert!(!out.contains("COPY --from"), "{out}");
    // An unknown target is an error.
    let r = build(&d, ctx.path(), &["--target", "nope"]);
    assert_ne!(r.code(), 0);
    assert!(r.stderr().contains("nope"), "{}", r.stderr());
}

#[test]
fn args_labels_and_unused_args_are_reported() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let ctx = context(&[(
        "Dockerfile",
        "ARG BASE=busybox\nFROM $BASE\nARG WHO=nobody\nLABEL who=$WHO\nRUN echo \"hi $WHO\" > /who\n",
    )]);
    let out = build(
        &d,
        ctx.path(),
        &[
            "-t",
            "args",
            "--build-arg",
            "WHO=trainee",
            "--build-arg",
            "EXTRA=1",
            "--label",
            "course=docker",
        ],
    )
    .ok();
    assert!(
        out.contains("[Warning] One or more build-args [EXTRA] were not consumed"),
        "{out}"
    );
    assert_eq!(
        d.cli(&["run", "--rm", "args", "cat", "/who"]).ok(),
        "hi trainee"
    );
    let labels = d
        .cli(&["inspect", "-f", "{{json .Config.Labels}}", "args"])
        .ok();
    assert_eq!(labels, r#"{"course":"docker","who":"trainee"}"#);
    // History shows the args a RUN saw, as docker's.
    let hist = d
        .cli(&[
            "history",
            "--no-trunc",
            "--format",
            "{{.CreatedBy}}",
            "args",
        ])
        .ok();
    assert!(
        hist.contains("|1 WHO=trainee /bin/sh -c echo \"hi $WHO\" > /who"),
        "{hist}"
    );
}

#[test]
fn hostile_contexts_are_refused_cleanly() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let ctx = context(&[("Dockerfile", "FROM busybox\nCOPY link/ /copied/\n")]);
    std::os::unix::fs::symlink("/etc", ctx.path().join("link")).unwrap();
    // A symlink to /etc in the context is the context's: never the machine's /etc.
    let r = build(&d, ctx.path(), &["-t", "hostile"]);
    if r.code() == 0 {
        let listing = d.cli(&["run", "--rm", "hostile", "ls", "/copied"]).ok();
        assert!(!listing.contains("passwd"), "{listing}");
    }
    let up = context(&[(
        "Dockerfile",
        "FROM busybox\nCOPY ../../../../etc/passwd /p\n",
    )]);
    let r = build(&d, up.path(), &["-t", "up"]);
    if r.code() == 0 {
        // moby clamps `..` to the context root: nothing of the machine comes in.
        assert_ne!(d.cli(&["run", "--rm", "up", "cat", "/p"]).code(), 0);
    }
    assert_nothing_left(&d);
}

#[test]
fn a_virtual_host_builds_for_itself() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    d.cli(&["host", "create", "--hostname", "vbuild", "vb1"])
        .ok();
    let script = "mkdir -p /tmp/c && cd /tmp/c && echo content > f.txt \
        && printf 'FROM busybox\\nCOPY f.txt /f.txt\\nRUN echo built-in-$(hostname) > /who\\nCMD cat /f.txt /who\\n' > Dockerfile \
        && docker build -t inside . && docker run --rm inside";
    let out = d
        .cli(&["host", "exec", "vb1", "--", "sh", "-c", script])
        .ok();
    assert!(
        out.contains("Step 3/4 : RUN echo built-in-$(hostname) > /who"),
        "{out}"
    );
    // RUN ran in a container of the virtual host (named by its own ID).
    assert!(out.contains("content\nbuilt-in-"), "{out}");
    // The image and its build containers were the virtual host's, not the machine's.
    assert_eq!(d.cli(&["images", "-q", "inside"]).ok(), "");
    assert_eq!(d.cli(&["ps", "-a", "-q"]).ok(), "");
    let inside = d
        .cli(&["host", "exec", "vb1", "--", "docker", "ps", "-a", "-q"])
        .ok();
    assert_eq!(inside, "", "a build container was left in the virtual host");
    d.cli(&["host", "rm", "-f", "vb1"]).ok();
}

/// Serve `files` (path, body) over HTTP on the machine's loopback for up to
/// `requests` requests; returns the port.
fn serve_http(files: Vec<(String, Vec<u8>)>, requests: usize) -> u16 {
    use std::io::{BufRead, BufReader, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming().take(requests) {
            let Ok(mut c) = conn else { continue };
            let _ = c.set_read_timeout(Some(std::time::Duration::from_secs(10)));
            let mut line = String::new();
            let mut r = BufReader::new(c.try_clone().unwrap());
            if r.read_line(&mut line).is_err() {
                continue;
            }
            loop {
                let mut h = String::new();
                if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            match files.iter().find(|(p, _)| *p == path) {
                Some((_, body)) => {
                    let _ = write!(
                        c,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nLast-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = c.write_all(body);
                }
                None => {
                    let _ = c.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found",
                    );
                }
            }
        }
    });
    port
}

#[test]
fn add_urls_heredocs_and_run_mounts() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let port = serve_http(
        vec![("/files/data.txt".into(), b"downloaded\n".to_vec())],
        8,
    );
    let df = format!(
        "FROM busybox
ADD http://127.0.0.1:{port}/files/data.txt /dl/
COPY <<EOF /etc/greeting
hello from a heredoc
EOF
RUN <<EOF
echo script line one > /script.out
echo script line two >> /script.out
EOF
RUN --mount=type=cache,target=/cache echo run >> /cache/runs && wc -l < /cache/runs > /runs
RUN --mount=type=bind,source=ctx.txt,target=/mnt/ctx.txt cat /mnt/ctx.txt > /from-bind
"
    );
    let ctx = context(&[("Dockerfile", &df), ("ctx.txt", "bound\n")]);
    let out = build(&d, ctx.path(), &["-t", "feat"]).ok();
    assert!(out.contains("Successfully tagged feat:latest"), "{out}");
    let show = |cmd: &str| d.cli(&["run", "--rm", "feat", "sh", "-c", cmd]).ok();
    assert_eq!(show("cat /dl/data.txt"), "downloaded");
    // docker gives a download mode 0600 and the Last-Modified time.
    assert_eq!(show("stat -c '%a %Y' /dl/data.txt"), "600 1445412480");
    assert_eq!(show("cat /etc/greeting"), "hello from a heredoc");
    assert_eq!(show("cat /script.out"), "script line one\nscript line two");
    assert_eq!(show("cat /runs"), "1");
    assert_eq!(show("cat /from-bind"), "bound");
    assert_eq!(
        show("ls /cache | wc -l"),
        "0",
        "a cache mount is not in the image"
    );
    // The cache mount is kept across builds: a cold rebuild sees the first run.
    build(&d, ctx.path(), &["-t", "feat", "--no-cache"]).ok();
    assert_eq!(show("cat /runs"), "2");
    // A missing URL fails the build with the status.
    let bad = context(&[(
        "Dockerfile",
        &format!("FROM busybox\nADD http://127.0.0.1:{port}/nope /x\n"),
    )]);
    let r = build(&d, bad.path(), &[]);
    assert_ne!(r.code(), 0);
    assert!(r.stderr().contains("404"), "{}", r.stderr());
    assert_nothing_left(&d);
}

#[test]
fn a_url_context_and_a_dockerfile_on_stdin() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    // A tarball context served over HTTP.
    let mut tar = tar::Builder::new(Vec::new());
    for (name, body) in [
        ("Dockerfile", "FROM busybox\nCOPY hi /hi\n"),
        ("hi", "from a url\n"),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        tar.append_data(&mut h, name, body.as_bytes()).unwrap();
    }
    let port = serve_http(vec![("/ctx.tar".into(), tar.into_inner().unwrap())], 4);
    let url = format!("http://127.0.0.1:{port}/ctx.tar");
    d.cli(&["build", "-t", "fromurl", &url]).ok();
    assert_eq!(
        d.cli(&["run", "--rm", "fromurl", "cat", "/hi"]).ok(),
        "from a url"
    );
    // A Dockerfile on stdin: no context.
    let r = d.cli_stdin(
        &["build", "-t", "fromstdin", "-"],
        Some(b"FROM busybox\nRUN echo piped > /p\n"),
    );
    r.ok();
    assert_eq!(
        d.cli(&["run", "--rm", "fromstdin", "cat", "/p"]).ok(),
        "piped"
    );
    assert_nothing_left(&d);
}

#[test]
fn cache_from_a_loaded_image_reuses_its_steps() {
    dockhand_tests::require_root!();
    let a = Daemon::start();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nENV STAGE=one\nRUN echo ran > /ran\nCOPY f /f\nCMD [\"cat\", \"/ran\"]\n",
        ),
        ("f", "file\n"),
    ]);
    build(&a, ctx.path(), &["-t", "app:1"]).ok();
    let archive = a.dir.path().join("app.tar");
    a.cli(&["save", "-o", archive.to_str().unwrap(), "app:1"])
        .ok();
    // Another daemon gets the image by `load`: no parent links, only history.
    let b = Daemon::start();
    b.cli(&["load", "-i", archive.to_str().unwrap()]).ok();
    let cold = build(&b, ctx.path(), &["-t", "app:2"]).ok();
    assert!(!cold.contains("Using cache"), "{cold}");
    let warm = build(&b, ctx.path(), &["-t", "app:3", "--cache-from", "app:1"]).ok();
    assert_eq!(warm.matches(" ---> Using cache").count(), 4, "{warm}");
    assert!(!warm.contains("Running in"), "{warm}");
    assert_eq!(b.cli(&["run", "--rm", "app:3"]).ok(), "ran");
    // The same layers as the source.
    let layers = |img: &str| {
        b.cli(&["inspect", "-f", "{{json .RootFS.Layers}}", img])
            .ok()
    };
    assert_eq!(layers("app:3"), layers("app:1"));
    // Again: the same image.
    let again = build(&b, ctx.path(), &["-t", "app:4", "--cache-from", "app:1"]).ok();
    let id = |img: &str| b.cli(&["inspect", "-f", "{{.Id}}", img]).ok();
    assert_eq!(again.matches(" ---> Using cache").count(), 4, "{again}");
    assert_eq!(id("app:3"), id("app:4"));
    // A name that is not there: no cache at all, as the classic builder.
    let none = build(&b, ctx.path(), &["--cache-from", "nothere:1"]).ok();
    assert!(!none.contains("Using cache"), "{none}");
}
