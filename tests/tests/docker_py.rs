//! docker-py's integration suite (the Docker SDK for Python) against our
//! daemon, through `scripts/docker-py-suite`: every test passes, skips itself,
//! or is listed with its reason in `tests/docker-py-known.txt`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

#[test]
fn docker_pys_integration_suite_passes_on_our_daemon() {
    dockhand_tests::require_root!();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let junit = tempfile::Builder::new()
        .prefix("dockhand-docker-py-junit-")
        .tempdir()
        .unwrap();
    let mut cmd = Command::new(repo.join("scripts/docker-py-suite"));
    cmd.env("DOCKHAND_BIN", dockhand_tests::bin())
        .arg("--ours-only")
        .arg("--junit")
        .arg(junit.path());
    let r = dockhand_tests::run_command(cmd, None, Duration::from_secs(45 * 60));
    if r.code() == 3 {
        dockhand_tests::say_skipped(&format!(
            "docker-py's tests could not be fetched: {}",
            r.stderr()
        ));
        return;
    }
    let log = std::fs::read_to_string(junit.path().join("ours.log")).unwrap_or_default();
    let tail: String = log
        .lines()
        .rev()
        .take(80)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(
        r.code(),
        0,
        "docker-py tests failed on our daemon:\n{}\n{}\n{tail}",
        r.stdout(),
        r.stderr()
    );
    // The run really ran the suite: the report names its test cases.
    let xml = std::fs::read_to_string(junit.path().join("ours.xml")).unwrap();
    let cases = xml.matches("<testcase ").count();
    assert!(cases >= 250, "only {cases} test cases ran:\n{tail}");
    println!("{}", r.stdout());
}
