//! The OCI distribution-spec conformance suite (a Rust port, see
//! `dockhand_tests::conformance`) against the registry at `OCI_ROOT_URL`,
//! configured by the suite's environment variables:
//!
//! ```text
//! OCI_ROOT_URL=http://127.0.0.1:5000 OCI_NAMESPACE=myorg/myrepo \
//! OCI_TEST_PULL=1 OCI_TEST_PUSH=1 OCI_TEST_CONTENT_DISCOVERY=1 OCI_TEST_CONTENT_MANAGEMENT=1 \
//!   cargo run --offline -p dockhand-tests --bin oci-conformance
//! ```
//!
//! Prints each case as it ends (stderr), then the results table (workflow,
//! passed, failed, skipped) and each failure with its reason; writes
//! `junit.xml` and `report.txt` to `OCI_REPORT_DIR` (default the current
//! directory, `none` for no files). Exits 1 when a case failed, 2 when the
//! configuration is unusable.

use dockhand_tests::conformance::{self, setup::Config};

fn main() {
    let cfg = Config::from_env();
    if cfg.root_url.is_empty() {
        eprintln!("OCI_ROOT_URL is not set (say http://127.0.0.1:5000)");
        std::process::exit(2);
    }
    if !cfg.root_url.starts_with("http://") {
        eprintln!(
            "OCI_ROOT_URL {:?}: only http:// registries can be tested by this runner",
            cfg.root_url
        );
        std::process::exit(2);
    }
    if cfg.tests_to_run == 0 {
        eprintln!("no workflow enabled: set OCI_TEST_PULL, OCI_TEST_PUSH, OCI_TEST_CONTENT_DISCOVERY and/or OCI_TEST_CONTENT_MANAGEMENT to 1");
    }
    let report = conformance::run_with_progress(&cfg, true);
    println!("{}", report.table());
    match report.write_files() {
        Ok(paths) => {
            for p in paths {
                eprintln!("wrote {}", p.display());
            }
        }
        Err(e) => eprintln!("WARNING: cannot write the reports: {e}"),
    }
    if !report.failures().is_empty() {
        std::process::exit(1);
    }
}
