//! The OCI distribution-spec conformance suite (the Rust port in
//! `dockhand_tests::conformance`, every case of the four workflows) against:
//!
//! - distribution's `docker-registry` 2.8 (deletes enabled), with no auth,
//!   htpasswd Basic auth and token auth: it predates distribution-spec v1.1,
//!   so the cases it fails are listed with the reason, and exactly those must
//!   fail (this also checks the runner: every other case passes, and the
//!   runner's auth handshakes work);
//! - `dockhand registry serve` (deletes enabled), without auth and with
//!   htpasswd: every case must pass.
//!
//! The results table is printed on stderr; `junit.xml` and `report.txt` of
//! each run go to `target/conformance/<test>/`.

use dockhand_tests::conformance::{self, setup::Config, Outcome, Report};
use dockhand_tests::own_registry::OwnRegistry;
use dockhand_tests::registry::{http_request, Auth, Registry};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// The cases distribution 2.8.2 fails, and why (checked against its
/// answers: see each reason).
const DISTRIBUTION_2_8_FAILURES: &[(&str, &str)] = &[
    (
        "Pull / Error codes / 400 response body should contain OCI-conforming JSON message",
        "GET /manifests/sha256:totallywrong is 500 UNKNOWN: the reference is taken for a tag, whose path the filesystem driver refuses",
    ),
    (
        "Push / Blob Upload Chunked / Out-of-order blob upload should return 416",
        "2.8 ignores Content-Range on PATCH: the second chunk first is appended (202)",
    ),
    (
        "Push / Blob Upload Chunked / Retry previous blob chunk should return 416",
        "a PATCH to a stale upload location (_state offset 0) is 404 BLOB_UPLOAD_INVALID",
    ),
    (
        "Push / Blob Upload Chunked / Get on stale blob upload should return 204 with a range and location",
        "a GET of a stale upload location is 404 BLOB_UPLOAD_INVALID",
    ),
    (
        "Content Discovery / Setup / References setup",
        "no OCI-Subject header on a manifest PUT with a subject (v1.1)",
    ),
    (
        "Content Discovery / Test content discovery endpoints (listing tags) / GET request to list tags should yield 200 response and be in sorted order",
        "tags come in directory order, unsorted",
    ),
    (
        "Content Discovery / Test content discovery endpoints (listing tags) / GET number of tags should be limitable by `n` query parameter",
        "no tag pagination in 2.8: n is ignored",
    ),
    (
        "Content Discovery / Test content discovery endpoints (listing tags) / GET start of tag is set by `last` query parameter",
        "no tag pagination in 2.8: n and last are ignored",
    ),
    (
        "Content Discovery / Test content discovery endpoints (listing references) / GET request to nonexistent blob should result in empty 200 response",
        "no referrers API (v1.1): 404 page not found",
    ),
    (
        "Content Discovery / Test content discovery endpoints (listing references) / GET request to existing blob should yield 200",
        "no referrers API (v1.1): 404 page not found",
    ),
    (
        "Content Discovery / Test content discovery endpoints (listing references) / GET request to existing blob with filter should yield 200",
        "no referrers API (v1.1): 404 page not found",
    ),
    (
        "Content Discovery / Test content discovery endpoints (listing references) / GET request to missing manifest should yield 200",
        "no referrers API (v1.1): 404 page not found",
    ),
    (
        "Content Management / Manifest delete / DELETE request to manifest tag should return 202, unless tag deletion is disallowed (400/405)",
        "DELETE by tag is 400 DIGEST_INVALID, where the suite wants 202, 405, or 400 UNSUPPORTED",
    ),
];

const MOUNT_GET: &str = "Push / Cross-Repository Blob Mount / GET request to test digest within cross-mount namespace should return 200";
const MOUNT_SESSION: &str =
    "Push / Cross-Repository Blob Mount / Cross-mounting of nonexistent blob should yield session id";
const AUTO_MOUNT_ENABLED: &str = "Push / Cross-Repository Blob Mount / Cross-mounting without from, and automatic content discovery enabled should return a 201";
const AUTO_MOUNT_DISABLED: &str = "Push / Cross-Repository Blob Mount / Cross-mounting without from, and automatic content discovery disabled should return a 202";

/// The cases a full run skips by design: the no-setup alternatives, and of
/// the cross-mount cases those for the other answer to a mount with `from`
/// (201: the blob was mounted, 202: an upload session) and for the other
/// `OCI_AUTOMATIC_CROSSMOUNT`.
fn skipped_by_design(report: &Report) -> BTreeSet<String> {
    let mut s: BTreeSet<String> = [
        "Pull / Setup / Get tag name from environment",
        "Content Discovery / Setup / Populate registry with test tags (no push)",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // The mount answered 201 when the GET in the cross-mount namespace ran.
    let mounted = report
        .results
        .iter()
        .any(|r| r.id == MOUNT_GET && !matches!(r.outcome, Outcome::Skipped(_)));
    let cfg = &report.cfg;
    if mounted {
        s.insert(MOUNT_SESSION.into());
        if !cfg.run_automatic_crossmount_test || !cfg.automatic_crossmount_enabled {
            s.insert(AUTO_MOUNT_ENABLED.into());
        }
        if !cfg.run_automatic_crossmount_test || cfg.automatic_crossmount_enabled {
            s.insert(AUTO_MOUNT_DISABLED.into());
        }
    } else {
        s.insert(MOUNT_GET.into());
        s.insert(AUTO_MOUNT_ENABLED.into());
        s.insert(AUTO_MOUNT_DISABLED.into());
    }
    s
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The suite's configuration for a registry at `addr`: every workflow, and
/// `extra` variables on top (`OCI_AUTOMATIC_CROSSMOUNT` is set by each test
/// to what the registry does: distribution 2.8 does not mount without
/// `from`, ours does).
fn config(test: &str, addr: &str, extra: &[(&str, &str)]) -> Config {
    let report_dir = workspace().join("target/conformance").join(test);
    let mut vars: HashMap<String, String> = [
        ("OCI_ROOT_URL", format!("http://{addr}")),
        ("OCI_NAMESPACE", "conformance/test".to_string()),
        ("OCI_TEST_PULL", "1".into()),
        ("OCI_TEST_PUSH", "1".into()),
        ("OCI_TEST_CONTENT_DISCOVERY", "1".into()),
        ("OCI_TEST_CONTENT_MANAGEMENT", "1".into()),
        ("OCI_REPORT_DIR", report_dir.display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in extra {
        vars.insert(k.to_string(), v.to_string());
    }
    Config::from_lookup(|k| vars.get(k).cloned())
}

/// Run the suite, print the table, write the reports.
fn run_suite(cfg: &Config) -> Report {
    let report = conformance::run(cfg);
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{}", report.table());
    if let Err(e) = report.write_files() {
        let _ = writeln!(std::io::stderr(), "cannot write the reports: {e}");
    }
    report
}

/// Assert that the skipped cases are the ones skipped by design.
fn assert_skips(report: &Report) {
    let got: BTreeSet<String> = report.skipped_ids().into_iter().collect();
    assert_eq!(
        got,
        skipped_by_design(report),
        "skipped cases\n{}",
        report.table()
    );
}

/// Assert that exactly distribution 2.8's known failures failed.
fn assert_distribution_failures(report: &Report) {
    assert_eq!(report.results.len(), 79, "cases run");
    let got: BTreeSet<String> = report.failed_ids().into_iter().collect();
    let want: BTreeSet<String> = DISTRIBUTION_2_8_FAILURES
        .iter()
        .map(|(id, _)| id.to_string())
        .collect();
    let unexpected: Vec<&String> = got.difference(&want).collect();
    let passed: Vec<&String> = want.difference(&got).collect();
    assert!(
        unexpected.is_empty() && passed.is_empty(),
        "distribution 2.8: unexpected failures {unexpected:#?}\nexpected failures that did not fail {passed:#?}\n{}",
        report.table()
    );
    assert_skips(report);
}

#[test]
fn distribution_2_8_fails_only_its_known_cases() {
    dockhand_tests::require_registry!();
    let reg = Registry::start(Auth::None);
    let report = run_suite(&config(
        "distribution-2.8",
        &reg.direct_host(),
        &[("OCI_AUTOMATIC_CROSSMOUNT", "0")],
    ));
    assert_distribution_failures(&report);
}

#[test]
fn distribution_2_8_with_basic_auth_and_blobs_deleted_first() {
    dockhand_tests::require_registry!();
    let reg = Registry::start(Auth::basic("conformance", "s3cret pass"));
    let report = run_suite(&config(
        "distribution-2.8-basic",
        &reg.direct_host(),
        &[
            ("OCI_USERNAME", "conformance"),
            ("OCI_PASSWORD", "s3cret pass"),
            ("OCI_DELETE_MANIFEST_BEFORE_BLOBS", "0"),
            ("OCI_AUTOMATIC_CROSSMOUNT", "0"),
        ],
    ));
    assert_distribution_failures(&report);
}

#[test]
fn distribution_2_8_with_token_auth() {
    dockhand_tests::require_registry!();
    let reg = Registry::start(Auth::token("conformance", "s3cret"));
    let report = run_suite(&config(
        "distribution-2.8-token",
        &reg.direct_host(),
        &[
            ("OCI_USERNAME", "conformance"),
            ("OCI_PASSWORD", "s3cret"),
            ("OCI_AUTOMATIC_CROSSMOUNT", "0"),
        ],
    ));
    assert_distribution_failures(&report);
    assert!(
        !reg.token_requests().is_empty(),
        "the suite never asked the token server"
    );
}

/// Assert that every case passed (skips only by design).
fn assert_all_pass(report: &Report, reg: &OwnRegistry) {
    assert_eq!(report.results.len(), 79, "cases run");
    let failed = report.failed_ids();
    assert!(
        failed.is_empty(),
        "dockhand registry: {} cases failed: {failed:#?}\n{}\n--- registry.log (tail) ---\n{}",
        failed.len(),
        report.table(),
        reg.log_tail(60)
    );
    assert_skips(report);
}

#[test]
fn dockhand_registry_passes_every_case() {
    let reg = OwnRegistry::start(&[]);
    let report = run_suite(&config(
        "dockhand",
        &reg.addr,
        &[("OCI_AUTOMATIC_CROSSMOUNT", "1")],
    ));
    assert_all_pass(&report, &reg);
}

#[test]
fn dockhand_registry_with_htpasswd_passes_every_case() {
    let (user, password) = ("conformance", "s3cret pass");
    let htpasswd_dir = tempfile::tempdir().expect("tempdir");
    let file = htpasswd_dir.path().join("htpasswd");
    let hash = bcrypt::hash_with_result(password, 5)
        .expect("bcrypt")
        .format_for_version(bcrypt::Version::TwoY);
    std::fs::write(&file, format!("{user}:{hash}\n")).expect("htpasswd");
    let reg = OwnRegistry::start(&[
        ("REGISTRY_AUTH_HTPASSWD_REALM", "conformance".to_string()),
        ("REGISTRY_AUTH_HTPASSWD_PATH", file.display().to_string()),
    ]);
    // Auth is on: an anonymous client gets a Basic challenge.
    let anon = http_request(&reg.addr, "GET", "/v2/", &[], b"").expect("GET /v2/");
    assert_eq!(anon.status, 401, "anonymous GET /v2/: {}", anon.text());
    let challenge = anon.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.to_ascii_lowercase().starts_with("basic"),
        "challenge {challenge:?}"
    );
    let report = run_suite(&config(
        "dockhand-htpasswd",
        &reg.addr,
        &[
            ("OCI_USERNAME", user),
            ("OCI_PASSWORD", password),
            ("OCI_AUTOMATIC_CROSSMOUNT", "1"),
        ],
    ));
    assert_all_pass(&report, &reg);
}
