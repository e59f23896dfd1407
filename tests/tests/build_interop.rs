//! `docker build` interop: our classic builder (`POST /build`) driven by the real
//! docker CLI 28 (its default path without buildx, and `DOCKER_BUILDKIT=0`), by
//! raw HTTP with hand-made (hostile, compressed) contexts; the images compared
//! with what a real dockerd builds from the same Dockerfile, and moved to it.
//! docker-py's `api_build_test.py` runs with the rest of its suite in
//! `docker_py.rs`.

use dockhand_tests::dockerd::RealDockerd;
use dockhand_tests::{build_context as context, Daemon, Run};
use sha2::Digest;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

// ----- helpers -------------------------------------------------------------------

fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The real docker CLI against our daemon as a user runs it: `DOCKER_BUILDKIT`
/// as given (`None`: unset, the CLI's default path), no buildx plugin (its
/// configuration directory is the test's, and the machine has none).
fn docker_env(d: &Daemon, buildkit: Option<&str>, args: &[&str]) -> Run {
    let mut cmd = Command::new(dockhand_tests::docker_cli().expect("docker CLI"));
    cmd.env("DOCKER_HOST", d.host_uri())
        .env("DOCKER_CONFIG", d.dir.path().join("docker-config"))
        .env("DOCKER_CLI_HINTS", "false")
        .env_remove("DOCKER_BUILDKIT")
        .env_remove("BUILDX_BUILDER")
        .args(args);
    if let Some(v) = buildkit {
        cmd.env("DOCKER_BUILDKIT", v);
    }
    dockhand_tests::run_command(cmd, None, Duration::from_secs(180))
}

/// Whether the machine has a buildx CLI plugin (the CLI's default path would
/// then be BuildKit, which this daemon refuses).
fn buildx_installed() -> bool {
    [
        "/usr/local/lib/docker/cli-plugins",
        "/usr/local/libexec/docker/cli-plugins",
        "/usr/lib/docker/cli-plugins",
        "/usr/libexec/docker/cli-plugins",
    ]
    .iter()
    .any(|d| Path::new(d).join("docker-buildx").exists())
}

/// `Step N/M : TEXT` lines of a build's output.
fn steps(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| l.starts_with("Step "))
        .map(str::to_string)
        .collect()
}

/// The short ID of `Successfully built ID`.
#[track_caller]
fn built_id(out: &str) -> String {
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("Successfully built "))
        .unwrap_or_else(|| panic!("no `Successfully built` in: {out}"))
        .trim()
        .to_string();
    assert!(
        id.len() == 12 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
    id
}

fn is_sha256_id(s: &str) -> bool {
    s.strip_prefix("sha256:")
        .is_some_and(|h| h.len() == 64 && h.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')))
}

/// Scratch build directories left under the data root's `tmp`.
fn leftover_contexts(d: &Daemon) -> Vec<String> {
    std::fs::read_dir(d.root.join("tmp"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("build-"))
                .collect()
        })
        .unwrap_or_default()
}

/// A plain HTTP/1.1 request over a unix socket; the status and the body
/// (de-chunked). Bounded by a read timeout.
fn http(socket: &Path, method: &str, path: &str, ctype: &str, body: &[u8]) -> (u16, String) {
    let mut s = UnixStream::connect(socket).expect("connect to the daemon");
    s.set_read_timeout(Some(Duration::from_secs(180))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    // The daemon may answer (an error) before reading the whole body.
    let _ = s.write_all(body);
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let split = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP response: {}", String::from_utf8_lossy(&resp)));
    let headers = String::from_utf8_lossy(&resp[..split]).to_lowercase();
    let status: u16 = headers
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {headers}"));
    let mut rest = &resp[split + 4..];
    let body = if headers.contains("transfer-encoding: chunked") {
        let mut out = Vec::new();
        while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
            let size_text = String::from_utf8_lossy(&rest[..eol]);
            let size =
                usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap_or(0);
            if size == 0 || rest.len() < eol + 2 + size {
                break;
            }
            out.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
            rest = &rest[(eol + 2 + size + 2).min(rest.len())..];
        }
        out
    } else {
        rest.to_vec()
    };
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// `POST /build` with this body; (status, body).
fn post_build(d: &Daemon, query: &str, body: &[u8]) -> (u16, String) {
    http(
        &d.socket,
        "POST",
        &format!("/v1.41/build?{query}"),
        "application/x-tar",
        body,
    )
}

/// Whether a build's JSON message stream ended without an error.
fn stream_ok(status: u16, body: &str) -> bool {
    status == 200 && !body.contains("\"errorDetail\"") && body.contains("Successfully built")
}

/// A tar entry written by hand (names and links are taken as given, `..` too).
enum Entry<'a> {
    File(&'a str, &'a [u8], u32),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
}

fn octal(field: &mut [u8], v: u64) {
    let w = field.len() - 1;
    let s = format!("{v:0w$o}");
    field[..w].copy_from_slice(s.as_bytes());
    field[w] = 0;
}

fn tar_of(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let (name, kind, data, link, mode): (&str, u8, &[u8], &str, u32) = match e {
            Entry::File(n, d, m) => (n, b'0', d, "", *m),
            Entry::Dir(n) => (n, b'5', b"", "", 0o755),
            Entry::Symlink(n, t) => (n, b'2', b"", t, 0o777),
        };
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        octal(&mut h[100..108], mode.into());
        octal(&mut h[108..116], 0);
        octal(&mut h[116..124], 0);
        octal(&mut h[124..136], data.len() as u64);
        octal(&mut h[136..148], 1_700_000_000);
        h[148..156].copy_from_slice(b"        ");
        h[156] = kind;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        let s = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(s.as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// `docker run --rm IMAGE ARGS...` on our daemon, trimmed stdout.
#[track_caller]
fn run_out(d: &Daemon, args: &[&str]) -> String {
    let mut a = vec!["run", "--rm"];
    a.extend_from_slice(args);
    d.docker(&a).ok()
}

// ----- 1. the real CLI's default and legacy paths ---------------------------------

const APP_DOCKERFILE: &str = "FROM busybox
ENV MSG=hi
RUN echo \"$MSG\" > /msg
COPY app.sh /app/
WORKDIR /app
CMD [\"sh\", \"app.sh\"]
";

const APP_SH: &str = "echo \"$(cat /msg) from $(pwd)\"\n";

#[test]
fn real_cli_default_path_and_buildkit_0_build_run_and_fail_like_docker() {
    dockhand_tests::require_root!();
    let _cli = dockhand_tests::require_docker_cli!();
    let d = Daemon::start();
    let ctx = context(&[("Dockerfile", APP_DOCKERFILE), ("app.sh", APP_SH)]);
    let path = ctx.path().to_str().unwrap();
    let mut ids = vec![];
    // Without buildx, CLI 28 falls back to the legacy builder with a notice;
    // with DOCKER_BUILDKIT=0 it is told to, with another notice.
    let mut modes = vec![(Some("0"), "BuildKit is currently disabled")];
    if buildx_installed() {
        dockhand_tests::say_skipped(
            "the CLI's default path: a buildx plugin is installed, so the CLI would use BuildKit",
        );
    } else {
        modes.insert(
            0,
            (
                None,
                "Install the buildx component to build images with BuildKit",
            ),
        );
    }
    for (buildkit, notice) in modes {
        let tag = format!("app-{}", buildkit.unwrap_or("default"));
        let r = docker_env(&d, buildkit, &["build", "-t", &tag, path]);
        let out = r.ok();
        let err = r.stderr();
        assert!(
            err.contains("DEPRECATED: The legacy builder is deprecated") && err.contains(notice),
            "{buildkit:?}: {err}"
        );
        assert!(
            out.starts_with("Sending build context to Docker daemon"),
            "{out}"
        );
        assert_eq!(
            steps(&out),
            vec![
                "Step 1/6 : FROM busybox",
                "Step 2/6 : ENV MSG=hi",
                "Step 3/6 : RUN echo \"$MSG\" > /msg",
                "Step 4/6 : COPY app.sh /app/",
                "Step 5/6 : WORKDIR /app",
                "Step 6/6 : CMD [\"sh\", \"app.sh\"]",
            ],
            "{out}"
        );
        ids.push(built_id(&out));
        assert!(
            out.contains(&format!("Successfully tagged {tag}:latest")),
            "{out}"
        );
        assert_eq!(run_out(&d, &[&tag]), "hi from /app");

        // A failing RUN: the CLI exits with its code.
        let bad = context(&[("Dockerfile", "FROM busybox\nRUN exit 3\n")]);
        let r = docker_env(&d, buildkit, &["build", bad.path().to_str().unwrap()]);
        assert_eq!(r.code(), 3, "{buildkit:?}\n{}\n{}", r.stdout(), r.stderr());
        assert!(
            r.stderr()
                .contains("The command '/bin/sh -c exit 3' returned a non-zero code: 3"),
            "{}",
            r.stderr()
        );
    }
    // The second build came from the cache: the same image.
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");

    // -q prints the image ID alone.
    let r = d.docker(&["build", "-q", path]);
    let out = r.ok();
    assert!(
        is_sha256_id(&out) && r.stdout() == format!("{out}\n"),
        "{:?}",
        r.stdout()
    );
    let full = d
        .docker(&["image", "inspect", "-f", "{{.Id}}", "app-default"])
        .ok();
    assert_eq!(out, full);
    let fresh = context(&[("Dockerfile", "FROM busybox\nRUN echo quiet > /q\n")]);
    let r = d.docker(&["build", "-q", fresh.path().to_str().unwrap()]);
    let out = r.ok();
    assert!(
        is_sha256_id(&out),
        "a RUN's output is not printed: {:?}",
        r.stdout()
    );
    assert_eq!(run_out(&d, &[&out, "cat", "/q"]), "quiet");
}

#[test]
fn real_cli_dockerfile_outside_the_context() {
    dockhand_tests::require_root!();
    let _cli = dockhand_tests::require_docker_cli!();
    let d = Daemon::start();
    let ctx = context(&[("Dockerfile", APP_DOCKERFILE), ("app.sh", APP_SH)]);
    let path = ctx.path().to_str().unwrap();
    // -f with a Dockerfile outside the context: the CLI adds it as
    // `.dockerfile.<random>` and lists it with `.dockerignore` itself in a
    // `.dockerignore` it adds, so the daemon removes both (moby's
    // `removeDockerfile`), and COPY . sees the context's own files only.
    let outside = context(&[(
        "Other.dockerfile",
        "FROM busybox\nCOPY . /ctx/\nRUN echo outside > /which\n",
    )]);
    let df = outside.path().join("Other.dockerfile");
    let modes = if buildx_installed() {
        vec![Some("0")]
    } else {
        vec![None, Some("0")]
    };
    for buildkit in modes {
        let r = docker_env(
            &d,
            buildkit,
            &["build", "-f", df.to_str().unwrap(), "-t", "outside", path],
        );
        r.ok();
        assert_eq!(run_out(&d, &["outside", "cat", "/which"]), "outside");
        assert_eq!(
            run_out(&d, &["outside", "ls", "-a", "/ctx"]),
            ".\n..\nDockerfile\napp.sh"
        );
    }
}

#[test]
fn dockerignore_through_the_real_cli_and_raw_http() {
    dockhand_tests::require_root!();
    let _cli = dockhand_tests::require_docker_cli!();
    let d = Daemon::start();
    // .dockerignore: the CLI leaves the ignored file out (and always sends the
    // Dockerfile and .dockerignore, for the daemon to remove when they match).
    let ign = context(&[
        ("Dockerfile", "FROM busybox\nCOPY . /ctx/\n"),
        (".dockerignore", "secret.txt\n*.log\n"),
        ("keep.txt", "keep"),
        ("secret.txt", "secret"),
        ("debug.log", "log"),
    ]);
    d.docker(&["build", "-t", "ign", ign.path().to_str().unwrap()])
        .ok();
    assert_eq!(
        run_out(&d, &["ign", "ls", "-a", "/ctx"]),
        ".\n..\n.dockerignore\nDockerfile\nkeep.txt"
    );
    // Sent anyway (raw HTTP, as a client that does not filter): moby's daemon
    // does not filter the context again; it removes only the Dockerfile and the
    // .dockerignore themselves when the patterns exclude them.
    let tar = tar_of(&[
        Entry::File("Dockerfile", b"FROM busybox\nCOPY . /ctx/\n", 0o644),
        Entry::File(
            ".dockerignore",
            b"secret.txt\n.dockerignore\nDockerfile\n",
            0o644,
        ),
        Entry::File("keep.txt", b"keep", 0o644),
        Entry::File("secret.txt", b"secret", 0o644),
    ]);
    let (status, body) = post_build(&d, "t=ign-raw", &tar);
    assert!(stream_ok(status, &body), "{status}: {body}");
    assert_eq!(
        run_out(&d, &["ign-raw", "ls", "-a", "/ctx"]),
        ".\n..\nkeep.txt\nsecret.txt",
        "moby keeps what the client sent but removes the excluded Dockerfile and .dockerignore"
    );
    assert!(
        leftover_contexts(&d).is_empty(),
        "{:?}",
        leftover_contexts(&d)
    );
}

// ----- 2. the same image as a real dockerd ------------------------------------------

const FULL_DOCKERFILE: &str = "ARG BASE=busybox
FROM ${BASE} AS builder
ARG GREETING=hello
RUN mkdir -p /out && echo \"$GREETING from the builder\" > /out/msg && chmod 644 /out/msg
FROM busybox
ARG VERSION=1.0
ENV APP_HOME=/srv/app PATH=/srv/app/bin:$PATH
LABEL org.example.version=$VERSION maintainer=\"dockhand tests\"
EXPOSE 8080 53/udp
VOLUME [\"/data\"]
WORKDIR $APP_HOME
COPY --chown=1000:1000 app.sh bin/app.sh
COPY --from=builder /out/msg ./msg
COPY conf/ /etc/app/
RUN mkdir -p /srv/app/state && chown 1000:1000 /srv/app/state && ln -s ../msg /srv/app/bin/msg-link
USER 1000:1000
RUN id -u > /srv/app/state/uid
HEALTHCHECK --interval=30s --timeout=5s --start-period=1s --retries=2 CMD [\"test\", \"-f\", \"/srv/app/msg\"]
STOPSIGNAL SIGINT
ENTRYPOINT [\"sh\", \"/srv/app/bin/app.sh\"]
CMD [\"world\"]
";

const FULL_APP: &str = "echo \"$(cat /srv/app/msg), $1, uid $(cat /srv/app/state/uid)\"\n";

fn full_context() -> tempfile::TempDir {
    let ctx = context(&[
        ("Dockerfile", FULL_DOCKERFILE),
        ("app.sh", FULL_APP),
        ("conf/app.conf", "key=value\n"),
        ("conf/sub/deep.conf", "deep\n"),
    ]);
    chmod(&ctx.path().join("app.sh"), 0o750);
    chmod(&ctx.path().join("conf/app.conf"), 0o600);
    ctx
}

/// The Config fields compared between the two daemons.
const CONFIG_FIELDS: &[&str] = &[
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Volumes",
    "Labels",
    "Healthcheck",
    "StopSignal",
    "OnBuild",
];

fn config_of(out: impl Fn(&[&str]) -> String, image: &str) -> BTreeMap<String, String> {
    CONFIG_FIELDS
        .iter()
        .map(|f| {
            let v = out(&[
                "image",
                "inspect",
                "-f",
                &format!("{{{{json .Config.{f}}}}}"),
                image,
            ]);
            (f.to_string(), v)
        })
        .collect()
}

/// Paths a created container's export holds for runtime reasons, not the
/// image's: the files docker bind-mounts (`/etc/hostname`, `/etc/hosts`,
/// `/etc/resolv.conf`), and what moby's init layer adds to every container
/// (`/.dockerenv`, the `/etc/mtab` link, the mount points and device nodes of
/// `/dev`, `/proc`, `/sys`). Neither side's image holds them.
fn runtime_path(p: &str) -> bool {
    matches!(
        p,
        ".dockerenv" | "etc/hostname" | "etc/hosts" | "etc/resolv.conf" | "etc/mtab"
    ) || ["dev", "proc", "sys"]
        .iter()
        .any(|m| p == *m || p.starts_with(&format!("{m}/")))
}

/// `docker export` of a created container: path -> "type mode uid:gid size sha|link".
/// Hard links are shown as their target's content (which of a set of links
/// comes first in the tar is the daemon's choice).
fn export_listing(file: &Path) -> BTreeMap<String, String> {
    let mut ar = tar::Archive::new(std::fs::File::open(file).unwrap());
    let mut out = BTreeMap::new();
    let mut content: BTreeMap<String, (u64, String)> = BTreeMap::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = e
            .path()
            .unwrap()
            .to_string_lossy()
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_string();
        if path.is_empty() || runtime_path(&path) {
            continue;
        }
        let h = e.header().clone();
        let mode = h.mode().unwrap() & 0o7777;
        let owner = format!("{}:{}", h.uid().unwrap(), h.gid().unwrap());
        let kind = h.entry_type();
        let line = if kind.is_file() {
            let mut buf = Vec::new();
            e.read_to_end(&mut buf).unwrap();
            let sha = hex::encode(sha2::Sha256::digest(&buf));
            content.insert(path.clone(), (buf.len() as u64, sha.clone()));
            format!("file {mode:o} {owner} {} {sha}", buf.len())
        } else if kind.is_hard_link() {
            let target = h
                .link_name()
                .unwrap()
                .unwrap()
                .to_string_lossy()
                .trim_start_matches("./")
                .to_string();
            let (size, sha) = content.get(&target).cloned().unwrap_or_default();
            format!("file {mode:o} {owner} {size} {sha}")
        } else if kind.is_symlink() {
            let target = h
                .link_name()
                .unwrap()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            format!("symlink {owner} -> {target}")
        } else if kind.is_dir() {
            format!("dir {mode:o} {owner}")
        } else {
            format!("{kind:?} {mode:o} {owner}")
        };
        out.insert(path, line);
    }
    out
}

/// Differences between two listings, as readable lines.
fn listing_diff(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    let mut diff = vec![];
    for (k, v) in a {
        match b.get(k) {
            None => diff.push(format!("only ours: /{k} {v}")),
            Some(w) if w != v => diff.push(format!("/{k}: ours {v} | dockerd {w}")),
            _ => {}
        }
    }
    for (k, w) in b {
        if !a.contains_key(k) {
            diff.push(format!("only dockerd: /{k} {w}"));
        }
    }
    diff
}

#[test]
fn the_same_dockerfile_builds_the_same_image_as_real_dockerd() {
    dockhand_tests::require_root!();
    let _cli = dockhand_tests::require_docker_cli!();
    let Some(real) = RealDockerd::start() else {
        return;
    };
    let d = Daemon::start();
    // The same busybox on both sides: ours, moved to dockerd.
    let base = d.dir.path().join("busybox.tar");
    d.docker(&["save", "-o", base.to_str().unwrap(), "busybox"])
        .ok();
    real.ok(&["load", "-i", base.to_str().unwrap()]);
    assert_eq!(
        real.ok(&["image", "inspect", "-f", "{{.Id}}", "busybox"]),
        d.docker(&["image", "inspect", "-f", "{{.Id}}", "busybox"])
            .ok()
    );

    let ctx = full_context();
    let path = ctx.path().to_str().unwrap();
    // dockerd runs with --bridge=none: its build containers have no network.
    let args = [
        "build",
        "--network",
        "none",
        "--build-arg",
        "VERSION=2.5",
        "-t",
        "full:1",
        path,
    ];
    let ours = d.docker(&args).ok();
    let theirs = real.ok(&args);
    assert_eq!(
        steps(&ours),
        steps(&theirs),
        "ours:\n{ours}\ndockerd:\n{theirs}"
    );

    // The configuration.
    let ours_cfg = config_of(|a| d.docker(a).ok(), "full:1");
    let real_cfg = config_of(|a| real.ok(a), "full:1");
    assert_eq!(ours_cfg, real_cfg);
    assert!(
        ours_cfg["Labels"].contains("\"org.example.version\":\"2.5\""),
        "{ours_cfg:?}"
    );
    // Layers: as many as dockerd's (RUN, COPY and WORKDIR steps).
    let layers = |out: String| out.split_whitespace().count();
    assert_eq!(
        layers(
            d.docker(&[
                "image",
                "inspect",
                "-f",
                "{{range .RootFS.Layers}}{{.}} {{end}}",
                "full:1"
            ])
            .ok()
        ),
        layers(real.ok(&[
            "image",
            "inspect",
            "-f",
            "{{range .RootFS.Layers}}{{.}} {{end}}",
            "full:1"
        ])),
    );

    // The files: exports of a created container, compared entry by entry.
    let ours_tar = d.dir.path().join("ours-export.tar");
    let real_tar = d.dir.path().join("real-export.tar");
    let c = d.docker(&["create", "--network", "none", "full:1"]).ok();
    d.docker(&["export", "-o", ours_tar.to_str().unwrap(), &c])
        .ok();
    let c = real.ok(&["create", "--network", "none", "full:1"]);
    real.ok(&["export", "-o", real_tar.to_str().unwrap(), &c]);
    real.ok(&["rm", &c]);
    let a = export_listing(&ours_tar);
    let b = export_listing(&real_tar);
    let diff = listing_diff(&a, &b);
    assert!(
        diff.is_empty(),
        "the images' files differ:\n{}",
        diff.join("\n")
    );
    assert!(a.len() > 50, "{a:?}");
    // What the steps made, spelled out.
    assert_eq!(
        a["srv/app/bin/app.sh"]
            .split(' ')
            .take(3)
            .collect::<Vec<_>>(),
        ["file", "750", "1000:1000"]
    );
    assert_eq!(
        a["etc/app/app.conf"].split(' ').take(3).collect::<Vec<_>>(),
        ["file", "600", "0:0"]
    );
    assert!(a.contains_key("etc/app/sub/deep.conf"), "{a:?}");
    assert_eq!(a["srv/app/bin/msg-link"], "symlink 0:0 -> ../msg");

    // History: the same steps and texts. Sizes are not compared: moby counts
    // the apparent bytes of a layer's non-directory files (a WORKDIR layer is
    // 0B, `id -u > f` 5B), ours the layer tar's bytes; an image-store matter
    // beyond the builder. Two normalisations: the hashes of COPY sources (moby's tarsum of the
    // files, not compared here) and HEALTHCHECK's StartInterval, a field
    // dockerd 20.10 (API 1.41) predates and moby >= 25 prints as "0s".
    let hist = [
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        "full:1",
    ];
    let norm = |text: String| -> Vec<String> {
        text.lines()
            .map(|l| {
                let l = l.replace(" \"0s\" '", " '");
                let mut out = String::new();
                let mut rest = l.as_str();
                while let Some(i) = rest.find("file:").or_else(|| rest.find("dir:")) {
                    let (head, tail) = rest.split_at(i);
                    let colon = tail.find(':').unwrap();
                    out.push_str(head);
                    out.push_str(&tail[..=colon]);
                    out.push_str("<hash>");
                    let t = &tail[colon + 1..];
                    rest = &t[t.find(|c: char| !c.is_ascii_hexdigit()).unwrap_or(t.len())..];
                }
                out.push_str(rest);
                out
            })
            .collect()
    };
    let ours_hist = norm(d.docker(&hist).ok());
    let real_hist = norm(real.ok(&hist));
    let hist_diff: Vec<String> = ours_hist
        .iter()
        .zip(&real_hist)
        .filter(|(a, b)| a != b)
        .map(|(a, b)| format!("ours:    {a}\ndockerd: {b}"))
        .collect();

    // Both run it alike.
    let expected = "hello from the builder, world, uid 1000";
    assert_eq!(run_out(&d, &["--network", "none", "full:1"]), expected);
    assert_eq!(
        real.ok(&["run", "--rm", "--network", "none", "full:1"]),
        expected
    );

    // Ours, saved and loaded into dockerd, runs there the same.
    let saved = d.dir.path().join("full.tar");
    d.docker(&["tag", "full:1", "ours-full:1"]).ok();
    d.docker(&["save", "-o", saved.to_str().unwrap(), "ours-full:1"])
        .ok();
    let out = real.ok(&["load", "-i", saved.to_str().unwrap()]);
    assert!(out.contains("Loaded image: ours-full:1"), "{out}");
    assert_eq!(
        real.ok(&["run", "--rm", "--network", "none", "ours-full:1"]),
        expected
    );
    assert_eq!(
        real.ok(&["run", "--rm", "--network", "none", "ours-full:1", "moon"]),
        "hello from the builder, moon, uid 1000"
    );
    assert_eq!(
        real.ok(&["image", "inspect", "-f", "{{.Id}}", "ours-full:1"]),
        d.docker(&["image", "inspect", "-f", "{{.Id}}", "full:1"])
            .ok()
    );
    // Checked last, so that a difference here hides nothing above.
    assert!(
        hist_diff.is_empty() && ours_hist.len() == real_hist.len(),
        "history differs:\n{}",
        hist_diff.join("\n")
    );
}

// ----- 3. the cache across the real CLI ------------------------------------------

#[test]
fn the_cache_through_the_real_cli() {
    dockhand_tests::require_root!();
    let _cli = dockhand_tests::require_docker_cli!();
    let d = Daemon::start();
    let ctx = context(&[
        (
            "Dockerfile",
            "FROM busybox\nENV A=1\nRUN echo one > /one\nCOPY data.txt /data.txt\nRUN cat /data.txt > /copy\nLABEL x=y\nCMD [\"cat\", \"/copy\"]\n",
        ),
        ("data.txt", "first\n"),
    ]);
    let path = ctx.path().to_str().unwrap();
    let first = d.docker(&["build", "-t", "cached", path]).ok();
    assert!(!first.contains("Using cache"), "{first}");
    let id = built_id(&first);
    let n = steps(&first).len();
    assert_eq!(n, 7, "{first}");

    // Again: every step after FROM from the cache, the same image.
    let again = d.docker(&["build", "-t", "cached", path]).ok();
    assert_eq!(again.matches(" ---> Using cache").count(), n - 1, "{again}");
    assert!(!again.contains("Running in"), "{again}");
    assert_eq!(built_id(&again), id);

    // Touched (same content, a new mtime): still all from the cache.
    let f = ctx.path().join("data.txt");
    std::fs::File::options()
        .write(true)
        .open(&f)
        .unwrap()
        .set_modified(std::time::SystemTime::now() + Duration::from_secs(3600))
        .unwrap();
    let touched = d.docker(&["build", path]).ok();
    assert_eq!(
        touched.matches(" ---> Using cache").count(),
        n - 1,
        "{touched}"
    );
    assert_eq!(built_id(&touched), id);

    // Changed: the COPY and what follows run again (ENV and the first RUN cached).
    std::fs::write(&f, "second\n").unwrap();
    let changed = d.docker(&["build", "-t", "cached2", path]).ok();
    assert_eq!(changed.matches(" ---> Using cache").count(), 2, "{changed}");
    let after_copy = changed.split("Step 4/7").nth(1).unwrap_or("");
    assert!(!after_copy.contains("Using cache"), "{changed}");
    assert_ne!(built_id(&changed), id);
    assert_eq!(run_out(&d, &["cached2"]), "second");
    assert_eq!(run_out(&d, &["cached"]), "first");
    // And back: the first content's chain is still cached.
    std::fs::write(&f, "first\n").unwrap();
    let back = d.docker(&["build", path]).ok();
    assert_eq!(back.matches(" ---> Using cache").count(), n - 1, "{back}");
    assert_eq!(built_id(&back), id);
}

// ----- 4. hostile contexts over raw HTTP -------------------------------------------

#[test]
fn hostile_and_compressed_contexts_over_raw_http() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    let tag = format!("{:08x}", rand_u32());

    // Not a tar: 400 with Go's message, nothing left behind.
    let junk = b"this is certainly not a tar archive\n".repeat(40);
    let (status, body) = post_build(&d, "t=junk", &junk);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("tar"), "a clear message: {body}");
    let (status, body) = post_build(&d, "t=junk", b"short");
    assert_eq!(status, 400, "{body}");
    assert!(body.to_lowercase().contains("eof"), "{body}");
    assert!(
        leftover_contexts(&d).is_empty(),
        "{:?}",
        leftover_contexts(&d)
    );
    assert!(d.docker(&["image", "inspect", "junk"]).code() != 0);

    // `..` entries: refused (moby: "is outside of") or clamped; never written
    // outside the context.
    let near = format!("dockhand-near-{tag}");
    let far = format!("dockhand-far-{tag}");
    let near_name = format!("../../etc/{near}");
    let far_name = format!("../../../../../../../../../../etc/{far}");
    let tar = tar_of(&[
        Entry::File("Dockerfile", b"FROM busybox\nCOPY . /ctx/\n", 0o644),
        Entry::File(&near_name, b"escaped", 0o644),
        Entry::File(&far_name, b"escaped", 0o644),
    ]);
    let (status, body) = post_build(&d, "t=dotdot", &tar);
    let escaped: Vec<PathBuf> = [
        PathBuf::from("/etc").join(&near),
        PathBuf::from("/etc").join(&far),
        d.root.join("etc").join(&near),
        d.root.join("tmp/etc").join(&near),
        d.dir.path().join("etc").join(&near),
    ]
    .into_iter()
    .filter(|p| p.exists())
    .collect();
    for p in &escaped {
        let _ = std::fs::remove_file(p);
    }
    assert!(
        escaped.is_empty(),
        "written outside the context: {escaped:?}"
    );
    if stream_ok(status, &body) {
        let listing = run_out(&d, &["dotdot", "find", "/ctx"]);
        assert!(!listing.contains(".."), "{listing}");
    } else {
        assert!(
            status == 400 || body.contains("errorDetail"),
            "{status}: {body}"
        );
    }
    assert!(
        leftover_contexts(&d).is_empty(),
        "{:?}",
        leftover_contexts(&d)
    );

    // A symlink to / in the context is the context's root: COPY through it
    // reads the context's etc/passwd (moby's FollowSymlinkInScope), never the
    // machine's.
    let machine = std::fs::read("/etc/passwd").unwrap();
    let tar = tar_of(&[
        Entry::File(
            "Dockerfile",
            b"FROM busybox\nCOPY evil/etc/passwd /p\n",
            0o644,
        ),
        Entry::Symlink("evil", "/"),
        Entry::Dir("etc"),
        Entry::File("etc/passwd", b"the context's passwd\n", 0o644),
    ]);
    let (status, body) = post_build(&d, "t=evil1", &tar);
    assert!(stream_ok(status, &body), "{status}: {body}");
    assert_eq!(run_out(&d, &["evil1", "cat", "/p"]), "the context's passwd");
    // Without one there, the COPY fails or copies nothing of the machine's.
    let tar = tar_of(&[
        Entry::File(
            "Dockerfile",
            b"FROM busybox\nCOPY evil/etc/passwd /p\n",
            0o644,
        ),
        Entry::Symlink("evil", "/"),
    ]);
    let (status, body) = post_build(&d, "t=evil2", &tar);
    if stream_ok(status, &body) {
        let r = d.docker(&["run", "--rm", "evil2", "cat", "/p"]);
        assert!(
            r.code() != 0 || r.out.stdout != machine,
            "the machine's /etc/passwd landed in the image"
        );
    } else {
        assert!(body.contains("passwd"), "{status}: {body}");
    }
    // Also as a COPY of the link's directory.
    let tar = tar_of(&[
        Entry::File("Dockerfile", b"FROM busybox\nCOPY evil/etc/ /e/\n", 0o644),
        Entry::Symlink("evil", "/"),
        Entry::Dir("etc"),
        Entry::File("etc/only-this", b"x", 0o644),
    ]);
    let (status, body) = post_build(&d, "t=evil3", &tar);
    assert!(stream_ok(status, &body), "{status}: {body}");
    assert_eq!(run_out(&d, &["evil3", "ls", "/e"]), "only-this");
    assert!(
        leftover_contexts(&d).is_empty(),
        "{:?}",
        leftover_contexts(&d)
    );

    // Compressed contexts: gzip and xz (and bzip2 when the tool is there).
    let plain = tar_of(&[
        Entry::File(
            "Dockerfile",
            b"FROM busybox\nCOPY hello.txt /hello.txt\nCMD [\"cat\", \"/hello.txt\"]\n",
            0o644,
        ),
        Entry::File("hello.txt", b"compressed context", 0o644),
    ]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    let mut bodies = vec![("gzip", gz)];
    for (name, tool) in [("xz", "xz"), ("bzip2", "bzip2")] {
        let raw = d.dir.path().join("ctx.tar");
        std::fs::write(&raw, &plain).unwrap();
        match Command::new(tool).arg("-c").arg(&raw).output() {
            Ok(o) if o.status.success() => bodies.push((name, o.stdout)),
            _ => {
                assert_ne!(name, "xz", "the xz tool is needed");
                dockhand_tests::say_skipped(&format!("no {tool} on this machine"));
            }
        }
    }
    for (name, body) in bodies {
        let t = format!("compressed-{name}");
        let (status, out) = post_build(&d, &format!("t={t}"), &body);
        assert!(stream_ok(status, &out), "{name}: {status}: {out}");
        assert_eq!(run_out(&d, &[&t]), "compressed context", "{name}");
    }
    assert!(
        leftover_contexts(&d).is_empty(),
        "{:?}",
        leftover_contexts(&d)
    );
}

fn rand_u32() -> u32 {
    rand::random()
}

// ----- 4b. the same raw contexts on real dockerd -------------------------------------

/// Build `tar` on ours and on dockerd, then `docker run --rm TAG CMD...` on
/// each: (ours, dockerd), each `Ok(output)` or `Err(what failed)`.
fn build_both(
    d: &Daemon,
    real: &RealDockerd,
    tag: &str,
    tar: &[u8],
    cmd: &[&str],
) -> (Result<String, String>, Result<String, String>) {
    let query = format!("t={tag}&networkmode=none");
    let path = format!("/v1.41/build?{query}");
    let ours = {
        let (status, body) = http(&d.socket, "POST", &path, "application/x-tar", tar);
        if stream_ok(status, &body) {
            let mut a = vec!["run", "--rm", "--network", "none", tag];
            a.extend_from_slice(cmd);
            let r = d.docker(&a);
            if r.code() == 0 {
                Ok(r.stdout().trim().to_string())
            } else {
                Err(format!("run: {}", r.stderr()))
            }
        } else {
            Err(format!("build: {status}"))
        }
    };
    let theirs = {
        let sock = real.dir().join("docker.sock");
        let (status, body) = http(&sock, "POST", &path, "application/x-tar", tar);
        if stream_ok(status, &body) {
            let mut a = vec!["run", "--rm", "--network", "none", tag];
            a.extend_from_slice(cmd);
            let o = real.docker(&a);
            if o.status.success() {
                Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
            } else {
                Err(format!("run: {}", String::from_utf8_lossy(&o.stderr)))
            }
        } else {
            Err(format!("build: {status}"))
        }
    };
    (ours, theirs)
}

#[test]
fn raw_contexts_give_what_real_dockerd_gives() {
    dockhand_tests::require_root!();
    let _cli = dockhand_tests::require_docker_cli!();
    let Some(real) = RealDockerd::start() else {
        return;
    };
    let d = Daemon::start();
    let base = d.dir.path().join("busybox.tar");
    d.docker(&["save", "-o", base.to_str().unwrap(), "busybox"])
        .ok();
    real.ok(&["load", "-i", base.to_str().unwrap()]);
    let mut diffs = vec![];
    let mut check = |what: &str, tag: &str, tar: Vec<u8>, cmd: &[&str]| {
        let (ours, theirs) = build_both(&d, &real, tag, &tar, cmd);
        // Failures compare by kind (build or run), not by message.
        let norm = |r: &Result<String, String>| match r {
            Ok(s) => format!("ok: {s}"),
            Err(e) => e.split(':').next().unwrap().to_string() + " failed",
        };
        // A `..` entry: moby clamps it (extracts in a chroot); refusing it is
        // as safe, and allowed.
        let refused = what == "dotdot" && norm(&ours) == "build failed";
        if norm(&ours) != norm(&theirs) && !refused {
            diffs.push(format!("{what}: ours {ours:?} | dockerd {theirs:?}"));
        }
    };
    // .dockerignore sent with the files it lists.
    check(
        "dockerignore",
        "ign",
        tar_of(&[
            Entry::File("Dockerfile", b"FROM busybox\nCOPY . /ctx/\n", 0o644),
            Entry::File(
                ".dockerignore",
                b"secret.txt\n.dockerignore\nDockerfile\n",
                0o644,
            ),
            Entry::File("keep.txt", b"keep", 0o644),
            Entry::File("secret.txt", b"secret", 0o644),
        ]),
        &["ls", "-a", "/ctx"],
    );
    // A .dockerignore that excludes neither itself nor the Dockerfile.
    check(
        "dockerignore-kept",
        "ign2",
        tar_of(&[
            Entry::File("Dockerfile", b"FROM busybox\nCOPY . /ctx/\n", 0o644),
            Entry::File(".dockerignore", b"secret.txt\n", 0o644),
            Entry::File("secret.txt", b"secret", 0o644),
        ]),
        &["ls", "-a", "/ctx"],
    );
    // A symlink to / used as a directory of COPY sources.
    check(
        "symlink-root",
        "evil1",
        tar_of(&[
            Entry::File(
                "Dockerfile",
                b"FROM busybox\nCOPY evil/etc/passwd /p\n",
                0o644,
            ),
            Entry::Symlink("evil", "/"),
            Entry::Dir("etc"),
            Entry::File("etc/passwd", b"the context's passwd\n", 0o644),
        ]),
        &["cat", "/p"],
    );
    check(
        "symlink-root-missing",
        "evil2",
        tar_of(&[
            Entry::File(
                "Dockerfile",
                b"FROM busybox\nCOPY evil/etc/passwd /p\n",
                0o644,
            ),
            Entry::Symlink("evil", "/"),
        ]),
        &["cat", "/p"],
    );
    // `..` in an entry's name.
    check(
        "dotdot",
        "dotdot",
        tar_of(&[
            Entry::File("Dockerfile", b"FROM busybox\nCOPY . /ctx/\n", 0o644),
            Entry::File("../../x-dotdot", b"escaped", 0o644),
        ]),
        &["find", "/ctx"],
    );
    // A tar that ends right after the last file's content (no padding, no
    // end blocks), as the docker CLI's `ReplaceFileTarWrapper` sends it for
    // `-f` outside the context.
    let mut cut = tar_of(&[
        Entry::File("Dockerfile", b"FROM busybox\nCOPY . /ctx/\n", 0o644),
        Entry::File("last.txt", b"the last file", 0o644),
    ]);
    cut.truncate(512 * 3 + b"the last file".len());
    check("unterminated-tar", "cut", cut, &["cat", "/ctx/last.txt"]);
    assert!(
        diffs.is_empty(),
        "ours differs from dockerd:\n{}",
        diffs.join("\n")
    );
}

// ----- 4c. query parameters and stream details as moby gives them ---------------

/// The `stream` texts of a build's JSON messages.
fn stream_texts(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["stream"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn a_runs_stderr_comes_in_red() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    // A RUN's stderr comes in red, as moby's stderr writer wraps each write
    // (docker-py's test_build_stderr_data).
    let tar = tar_of(&[Entry::File(
        "Dockerfile",
        b"FROM busybox\nRUN echo to-stderr >&2\n",
        0o644,
    )]);
    let (status, body) = post_build(&d, "nocache=1", &tar);
    assert!(stream_ok(status, &body), "{status}: {body}");
    let texts = stream_texts(&body);
    assert!(
        texts.iter().any(|t| t == "\u{1b}[91mto-stderr\n\u{1b}[0m"),
        "{texts:?}"
    );
}

#[test]
fn cachefrom_limits_the_cache_to_the_named_images() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    // cachefrom: only the named images' chains are cache sources (moby's
    // MakeImageCache); a name that does not exist means no cache at all.
    let df = b"FROM busybox\nENV FOO=bar\nRUN touch /baz\nRUN touch /bax\n";
    let tar = tar_of(&[Entry::File("Dockerfile", df, 0o644)]);
    let (status, body) = post_build(&d, "t=cache1", &tar);
    assert!(stream_ok(status, &body), "{status}: {body}");
    let cached = |body: &str| {
        stream_texts(body)
            .iter()
            .filter(|t| t.contains("Using cache"))
            .count()
    };
    let (status, body) = post_build(&d, "t=cache2&cachefrom=%5B%22cache1%22%5D", &tar);
    assert!(stream_ok(status, &body), "{status}: {body}");
    assert_eq!(cached(&body), 3, "{body}");
    let (status, body) = post_build(&d, "t=cache3&cachefrom=%5B%22nosuchtag%22%5D", &tar);
    assert!(stream_ok(status, &body), "{status}: {body}");
    assert_eq!(cached(&body), 0, "cachefrom names no image: {body}");
}

#[test]
fn a_parameter_given_twice_counts_once_as_go_reads_it() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    // A parameter given twice: Go's FormValue takes the first (docker-py
    // sends `dockerfile` twice for a Dockerfile outside the context: the
    // name, then the text).
    let tar = tar_of(&[
        Entry::File("a.df", b"FROM busybox\nRUN echo a > /which\n", 0o644),
        Entry::File("b.df", b"FROM busybox\nRUN echo b > /which\n", 0o644),
    ]);
    let (status, body) = post_build(&d, "t=twice&dockerfile=a.df&dockerfile=b.df", &tar);
    assert!(stream_ok(status, &body), "{status}: {body}");
    assert_eq!(run_out(&d, &["twice", "cat", "/which"]), "a");
    assert!(
        leftover_contexts(&d).is_empty(),
        "{:?}",
        leftover_contexts(&d)
    );
}
