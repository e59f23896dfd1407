//! `docker search` end to end: our CLI and the real docker CLI against our
//! daemon, which asks a fake v1 search index on loopback (there is no
//! internet here) as moby does: `/v1/_ping`, then `/v1/search?q=&n=` with
//! `X-Docker-Token: true` and the user's credentials; the daemon filters the
//! answer; errors in Docker's words; a virtual host's search leaves from its
//! own network.

use base64::Engine as _;
use dockhand_tests::search_index::{SearchIndex, SERVICE};
use dockhand_tests::{bin, require_docker_cli, Daemon, Run};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::process::Command;

fn results() -> Value {
    json!([
        {"name": "team/app", "description": "The team's application server, with a description longer than forty-five characters", "star_count": 120, "is_official": false, "is_automated": true},
        {"name": "app", "description": "Official app image\nsecond line", "star_count": 3000, "is_official": true, "is_automated": false},
        {"name": "someone/app-tools", "description": "", "star_count": 7, "is_official": false, "is_automated": false},
    ])
}

/// What docker 28's CLI prints for [`results`].
const TABLE: &str = "\
NAME                DESCRIPTION                                     STARS     OFFICIAL
team/app            The team's application server, with a descri…   120       
app                 Official app image second line                  3000      [OK]
someone/app-tools                                                   7         
";

/// The names a search printed (`--format {{.Name}}`).
fn names(d: &Daemon, args: &[&str]) -> Vec<String> {
    let mut a = vec!["search", "--format", "{{.Name}}"];
    a.extend_from_slice(args);
    d.cli(&a).ok().lines().map(str::to_string).collect()
}

/// `GET path` on the daemon's socket: status and body.
fn api_get(d: &Daemon, path: &str) -> (u16, String) {
    let mut s = std::os::unix::net::UnixStream::connect(&d.socket).expect("daemon socket");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.push_str(&tail[..n]);
            rest = &tail[n + 2..];
        }
        out
    } else {
        body.to_string()
    };
    (status, body)
}

fn message(body: &str) -> String {
    serde_json::from_str::<Value>(body).unwrap_or(Value::Null)["message"]
        .as_str()
        .unwrap_or(body)
        .to_string()
}

#[track_caller]
fn fails_with(r: &Run, stderr: &str) {
    assert_eq!(r.code(), 1, "stdout: {}", r.stdout());
    assert_eq!(r.stderr(), format!("{stderr}\n"));
}

#[test]
fn search_prints_dockers_table_and_asks_the_index_as_moby_does() {
    dockhand_tests::require_root!();
    let idx = SearchIndex::start(results());
    let d = Daemon::start();
    let term = format!("{}/app", idx.host());
    let r = d.cli(&["search", &term]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(r.stdout(), TABLE);
    // A ping, then the search; anonymous, over plain HTTP (loopback).
    let reqs = idx.requests();
    let paths: Vec<&str> = reqs.iter().map(|q| q.path.as_str()).collect();
    assert_eq!(paths, ["/v1/_ping", "/v1/search"], "{reqs:?}");
    let s = &reqs[1];
    assert_eq!(s.raw_query, "q=app&n=25");
    assert_eq!(s.header("X-Docker-Token"), Some("true"));
    assert_eq!(s.header("Authorization"), None);

    // --limit reaches the index as n=; library/ stays on a registry other
    // than Docker Hub; the results are not cut by the daemon.
    let r = d.cli(&[
        "search",
        "--limit",
        "2",
        &format!("{}/library/app", idx.host()),
    ]);
    assert_eq!(r.stdout(), TABLE);
    assert_eq!(idx.searches()[1].raw_query, "q=library%2Fapp&n=2");
    // --limit 0 and below: the default.
    d.cli(&["search", "--limit", "-3", &term]).ok();
    assert_eq!(idx.searches()[2].param("n"), Some("25"));

    let out = d.cli(&["search", "--no-trunc", &term]).ok();
    assert!(
        out.contains("The team's application server, with a description longer than forty-five characters   120"),
        "{out}"
    );
    let r = d.cli(&[
        "search",
        "--format",
        "{{.Name}}: {{.StarCount}} {{.IsOfficial}}",
        &term,
    ]);
    assert_eq!(
        r.stdout(),
        "team/app: 120 \napp: 3000 [OK]\nsomeone/app-tools: 7 \n"
    );
    let r = d.cli(&[
        "search",
        "--format",
        "table {{.Name}}\t{{.StarCount}}",
        &term,
    ]);
    assert_eq!(
        r.stdout(),
        "NAME                STARS\nteam/app            120\napp                 3000\nsomeone/app-tools   7\n"
    );
    let r = d.cli(&["search", "--format", "json", &term]);
    let first = r.stdout().lines().next().unwrap_or_default().to_string();
    assert_eq!(
        first,
        r#"{"Description":"The team's application server, with a descri…","IsOfficial":"false","Name":"team/app","StarCount":"120"}"#
    );
    // The Engine API's answer: moby's fields, is_automated always false.
    let (status, body) = api_get(&d, &format!("/images/search?term={}%2Fapp", idx.host()));
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v[0],
        json!({"star_count": 120, "is_official": false, "name": "team/app", "is_automated": false,
               "description": "The team's application server, with a description longer than forty-five characters"})
    );
    assert!(v
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["is_automated"] == false));
}

#[test]
fn the_real_docker_cli_prints_what_ours_prints() {
    dockhand_tests::require_root!();
    require_docker_cli!();
    let idx = SearchIndex::start(results());
    let d = Daemon::start();
    let term = format!("{}/app", idx.host());
    let cases: &[&[&str]] = &[
        &[],
        &["--no-trunc"],
        &["--limit", "2"],
        &[
            "--format",
            "table {{.Name}}\t{{.IsOfficial}}\t{{.Description}}",
        ],
        &[
            "--format",
            "{{.Name}}|{{.Description}}|{{.StarCount}}|{{.IsOfficial}}",
        ],
        &["--format", "json"],
        &["--format", "{{json .}}"],
        &["-f", "stars=100"],
        &["-f", "is-official=true", "--filter", "stars=1"],
        &["-f", "is-automated=true"],
        &["--limit", "101"],
        &["-f", "colour=red"],
        &["-f", "stars=many"],
        &["-f", "is-official=maybe"],
        &["-f", "nokey"],
    ];
    for extra in cases {
        let mut args = vec!["search"];
        args.extend_from_slice(extra);
        args.push(&term);
        let before = idx.searches().len();
        let theirs = d.docker(&args);
        let asked = idx.searches()[before..].to_vec();
        let ours = d.cli(&args);
        let ours_asked = idx.searches()[before + asked.len()..].to_vec();
        assert_eq!(ours.stdout(), theirs.stdout(), "stdout of {args:?}");
        assert_eq!(ours.stderr(), theirs.stderr(), "stderr of {args:?}");
        assert_eq!(ours.code(), theirs.code(), "exit code of {args:?}");
        let queries = |v: &[dockhand_tests::search_index::IndexRequest]| -> Vec<String> {
            v.iter().map(|q| q.raw_query.clone()).collect()
        };
        assert_eq!(
            queries(&ours_asked),
            queries(&asked),
            "the index was asked the same for {args:?}"
        );
    }
}

#[test]
fn filters_are_applied_by_the_daemon() {
    dockhand_tests::require_root!();
    let idx = SearchIndex::start(results());
    let d = Daemon::start();
    let term = format!("{}/app", idx.host());
    assert_eq!(names(&d, &["-f", "stars=100", &term]), ["team/app", "app"]);
    // The index is asked for all: the filters stay in the daemon.
    let last = idx.searches().pop().unwrap();
    assert_eq!(last.raw_query, "q=app&n=25");
    assert_eq!(
        names(&d, &["-f", "stars=10", "-f", "stars=1000", &term]),
        ["app"],
        "the largest of several star counts"
    );
    assert_eq!(names(&d, &["-f", "is-official=true", &term]), ["app"]);
    assert_eq!(
        names(&d, &["-f", "is-official=false", &term]),
        ["team/app", "someone/app-tools"]
    );
    assert_eq!(
        names(&d, &["-f", "is-official=0", "-f", "stars=8", &term]),
        ["team/app"]
    );
    let r = d.cli(&["search", "-f", "is-automated=false", &term]);
    assert_eq!(r.stdout(), TABLE);
    assert_eq!(
        r.stderr(),
        "WARNING: the \"is-automated\" filter is deprecated, and searching for \"is-automated=true\" will not yield any results in future.\n"
    );
    // is-automated=true finds nothing, without asking the index.
    let asked = idx.searches().len();
    let r = d.cli(&["search", "-f", "is-automated=true", &term]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(r.stdout(), "NAME      DESCRIPTION   STARS     OFFICIAL\n");
    assert_eq!(idx.searches().len(), asked);
}

#[test]
fn bad_limits_and_filters_get_dockers_errors() {
    dockhand_tests::require_root!();
    let idx = SearchIndex::start(results());
    let d = Daemon::start();
    let term = format!("{}/app", idx.host());
    let e = "Error response from daemon: ";
    fails_with(
        &d.cli(&["search", "--limit", "101", &term]),
        &format!("{e}limit 101 is outside the range of [1, 100]"),
    );
    fails_with(
        &d.cli(&["search", "-f", "stars=many", &term]),
        &format!("{e}invalid filter 'stars=many': strconv.Atoi: parsing \"many\": invalid syntax"),
    );
    fails_with(
        &d.cli(&["search", "-f", "is-official=maybe", &term]),
        &format!("{e}invalid filter 'is-official=[maybe]'"),
    );
    fails_with(
        &d.cli(&["search", "-f", "colour=red", &term]),
        &format!("{e}invalid filter 'colour'"),
    );
    fails_with(
        &d.cli(&["search", "http://reg.lan/app"]),
        &format!("{e}invalid repository name: repository name (http://reg.lan/app) should not have a scheme"),
    );
    // Docker Hub's index is not pinged: a bad limit fails with no network.
    fails_with(
        &d.cli(&["search", "--limit", "101", "busybox"]),
        &format!("{e}limit 101 is outside the range of [1, 100]"),
    );
    let r = d.cli(&["search", "-f", "nokey", &term]);
    assert_eq!(r.code(), 125);
    assert!(
        r.stderr().starts_with("invalid argument \"nokey\" for \"-f, --filter\" flag: bad format of filter (expected name=value)"),
        "{}",
        r.stderr()
    );
    assert!(idx.searches().is_empty(), "{:?}", idx.searches());

    // The Engine API itself.
    let q = |rest: &str| {
        api_get(
            &d,
            &format!("/images/search?term={}%2Fapp{rest}", idx.host()),
        )
    };
    let (status, body) = q("&limit=ten");
    assert_eq!(status, 400);
    assert_eq!(
        message(&body),
        "invalid limit specified: strconv.Atoi: parsing \"ten\": invalid syntax"
    );
    let (status, body) = q("&filters=nope");
    assert_eq!((status, message(&body).as_str()), (400, "invalid filter"));
    let (status, body) = q("&limit=-1");
    assert_eq!(status, 400);
    assert_eq!(message(&body), "limit -1 is outside the range of [1, 100]");
    // The legacy filter format (lists) still reads.
    let (status, body) = q("&filters=%7B%22is-official%22%3A%5B%22true%22%5D%7D");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn index_failures_read_as_dockers() {
    dockhand_tests::require_root!();
    let idx = SearchIndex::start(results());
    let d = Daemon::start();
    let term = format!("{}/app", idx.host());
    let e = "Error response from daemon: ";
    idx.answer(404, b"not here");
    fails_with(
        &d.cli(&["search", &term]),
        &format!("{e}Unexpected status code 404"),
    );
    idx.answer(200, b"<html><body>a proxy's page</body></html>");
    fails_with(
        &d.cli(&["search", &term]),
        &format!("{e}error decoding registry search results: invalid character '<' looking for beginning of value"),
    );
    idx.answer(200, b"");
    fails_with(
        &d.cli(&["search", &term]),
        &format!("{e}error decoding registry search results: EOF"),
    );
    idx.answer(200, br#"{"results":[{"name":"x","star_count":"lots"}]}"#);
    fails_with(
        &d.cli(&["search", &term]),
        &format!("{e}error decoding registry search results: json: cannot unmarshal string into Go struct field SearchResult.results.star_count of type int"),
    );
    // Nothing listens: both schemes are tried, as for an insecure registry.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    fails_with(
        &d.cli(&["search", &format!("{dead}/app")]),
        &format!("{e}invalid registry endpoint \"http://{dead}/v1/\". HTTPS attempt: Get \"https://{dead}/v1/_ping\": dial tcp {dead}: connect: connection refused. HTTP attempt: Get \"http://{dead}/v1/_ping\": dial tcp {dead}: connect: connection refused"),
    );
}

#[test]
fn credentials_from_login_are_sent_as_basic_auth() {
    dockhand_tests::require_root!();
    let idx = SearchIndex::start(results());
    let d = Daemon::start();
    let host = idx.host();
    let term = format!("{host}/app");
    d.cli_stdin(
        &["login", "-u", "trainer", "--password-stdin", &host],
        Some(b"s3cret\n"),
    )
    .ok();
    d.cli(&["search", &term]).ok();
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("trainer:s3cret")
    );
    let last = idx.searches().pop().unwrap();
    assert_eq!(last.header("Authorization"), Some(basic.as_str()));
    // The ping goes without them, as moby's does.
    let ping = idx
        .requests()
        .into_iter()
        .rfind(|q| q.path == "/v1/_ping")
        .unwrap();
    assert_eq!(ping.header("Authorization"), None);
    if dockhand_tests::docker_cli().is_some() {
        d.docker(&["search", &term]);
        let last = idx.searches().pop().unwrap();
        assert_eq!(
            last.header("Authorization"),
            Some(basic.as_str()),
            "the real docker CLI's credentials reach the index the same"
        );
    } else {
        dockhand_tests::say_skipped(
            "(part) the real docker CLI is not installed at /usr/local/bin/docker",
        );
    }
    d.cli(&["logout", &host]).ok();
    d.cli(&["search", &term]).ok();
    assert_eq!(idx.searches().pop().unwrap().header("Authorization"), None);
}

#[test]
fn an_identity_token_gets_a_catalog_search_token() {
    dockhand_tests::require_root!();
    let idx = SearchIndex::start(results());
    idx.require_token("search-token-1");
    let d = Daemon::start();
    let host = idx.host();
    // What docker keeps after a login whose registry gave an identity token.
    let cfg = d.dir.path().join("docker-config");
    std::fs::create_dir_all(&cfg).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode("dev:");
    std::fs::write(
        cfg.join("config.json"),
        json!({"auths": {&host: {"auth": auth, "identitytoken": "refresh-1"}}}).to_string(),
    )
    .unwrap();
    let r = d.cli(&["search", &format!("{host}/app")]);
    assert_eq!(r.stdout(), TABLE, "{}", r.stderr());
    let reqs = idx.requests();
    let paths: Vec<String> = reqs
        .iter()
        .map(|q| format!("{} {}", q.method, q.path))
        .collect();
    assert_eq!(
        paths,
        ["GET /v1/_ping", "GET /v2/", "POST /token", "GET /v1/search"]
    );
    let mut form = reqs[2].form();
    form.sort();
    let want: Vec<(String, String)> = [
        ("client_id", "docker"),
        ("grant_type", "refresh_token"),
        ("refresh_token", "refresh-1"),
        ("scope", "registry:catalog:search"),
        ("service", SERVICE),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(form, want);
    assert_eq!(
        reqs[3].header("Authorization"),
        Some("Bearer search-token-1")
    );
}

/// The pid of virtual host `name`'s init (its network namespace).
fn vhost_init_pid(d: &Daemon, name: &str) -> i64 {
    std::fs::read_dir(d.root.join("daemons").join(name).join("containers"))
        .expect("containers")
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("config.v2.json")).ok())
        .filter_map(|t| serde_json::from_str::<Value>(&t).ok())
        .find(|v| v["Config"]["Labels"]["dockhand.sandbox"] == "1")
        .and_then(|v| v["State"]["Pid"].as_i64())
        .expect("the host's init")
}

#[test]
fn a_virtual_hosts_search_leaves_from_its_own_network() {
    dockhand_tests::require_root!();
    let d = Daemon::start();
    d.cli(&["host", "create", "--hostname", "srch", "vh-srch"])
        .ok();
    let sock = d
        .cli(&["host", "inspect", "-f", "{{.Socket}}", "vh-srch"])
        .ok();
    let in_host = |args: &[&str]| -> Run {
        let out = Command::new(bin())
            .env("DOCKER_CONFIG", d.dir.path().join("vh-config"))
            .arg("-H")
            .arg(format!("unix://{sock}"))
            .args(args)
            .output()
            .expect("run cli");
        Run { out }
    };
    // An index on the host's own loopback, and one on the machine's.
    let pid = vhost_init_pid(&d, "vh-srch");
    let inside = SearchIndex::start_in(
        std::path::Path::new(&format!("/proc/{pid}/ns/net")),
        results(),
    );
    let outside = SearchIndex::start(results());
    let r = in_host(&["search", &format!("{}/app", inside.host())]);
    assert_eq!(r.code(), 0, "{}", r.stderr());
    assert_eq!(r.stdout(), TABLE);
    assert_eq!(inside.searches().len(), 1);
    // The machine's loopback is not the host's.
    let dead = outside.host();
    let r = in_host(&["search", &format!("{dead}/app")]);
    assert_eq!(r.code(), 1, "{}", r.stdout());
    assert!(
        r.stderr()
            .contains(&format!("dial tcp {dead}: connect: connection refused")),
        "{}",
        r.stderr()
    );
    assert!(outside.requests().is_empty(), "{:?}", outside.requests());
}
