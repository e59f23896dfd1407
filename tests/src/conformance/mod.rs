//! A Rust port of the OCI distribution-spec conformance suite, the Go and
//! Ginkgo suite of `github.com/opencontainers/distribution-spec/conformance`,
//! which cannot be built here (no Go toolchain, no module proxy).
//!
//! Ported from commit `13a5d3ee28577b88968656ab5b68b54dfef30158` (2026-04-13,
//! "Merge pull request #602"), the last revision of the Ginkgo suite
//! (`setup.go`, `image.go`, `01_pull_test.go`, `02_push_test.go`,
//! `03_discovery_test.go`, `04_management_test.go`, `reporter.go`); the next
//! commit, `a221f940` "Conformance redesign", replaced it with a different
//! program. Its client, `github.com/bloodorangeio/reggie` v0.6.1 (on
//! `go-resty/resty` v2.7.0), is reproduced in [`client`].
//!
//! Every `g.Specify` of the four workflows is a case here, with the same
//! names, in the same order, with the same requests and assertions; a case
//! stops at its first failed expectation (and a panic, say an index out of
//! range, fails it), later cases still run, and the state the Go closures
//! share (`tag`, `lastResponse`, `tagList`, `numTags`, …) is shared the same
//! way. The environment variables are the suite's: `OCI_ROOT_URL`,
//! `OCI_NAMESPACE`, `OCI_CROSSMOUNT_NAMESPACE`, `OCI_USERNAME`,
//! `OCI_PASSWORD`, `OCI_AUTH_SCOPE`, `OCI_TEST_PULL`, `OCI_TEST_PUSH`,
//! `OCI_TEST_CONTENT_DISCOVERY`, `OCI_TEST_CONTENT_MANAGEMENT`,
//! `OCI_HIDE_SKIPPED_WORKFLOWS`, `OCI_DEBUG`,
//! `OCI_DELETE_MANIFEST_BEFORE_BLOBS`, `OCI_AUTOMATIC_CROSSMOUNT`,
//! `OCI_TAG_NAME`, `OCI_MANIFEST_DIGEST`, `OCI_BLOB_DIGEST`, `OCI_TAG_LIST`,
//! `OCI_REPORT_DIR`; plus `OCI_RANDOM_SEED`, standing in for Ginkgo's
//! `--seed` (default: the Unix time, as Ginkgo's).
//!
//! Differences, all outside what is sent and asserted:
//! - Random data comes from the run's seed: the blobs the suite already
//!   derives from Ginkgo's seed (blob A, the chunked blob B), and also the
//!   config authors and the default cross-mount namespace, which the suite
//!   takes from crypto/rand; a run is replayed by giving its seed.
//! - Reports: `junit.xml` (Ginkgo's JUnit layout) and `report.txt` (the
//!   results table, the failures with their exchanges) instead of
//!   `report.html`.
//! - Only `http://` root URLs (the harness's HTTP client has no TLS).

pub mod client;
mod discovery;
mod management;
mod pull;
mod push;
pub mod setup;

use client::{Client, Opts, Request, Resp};
use setup::{Config, Data};
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

/// The suite revision this port follows.
pub const SUITE_COMMIT: &str = "13a5d3ee28577b88968656ab5b68b54dfef30158";

/// Why a case stopped early.
#[derive(Debug, Clone)]
pub enum Stop {
    Fail(String),
    Skip(String),
}

/// What a case body returns (`?` stops it, as a failed `Expect` or `Skip`).
pub type Step = Result<(), Stop>;

/// An accepted status: one code, or any 2xx (`BeNumerically(">=", 200)`
/// and `BeNumerically("<", 300)`).
#[derive(Debug, Clone, Copy)]
pub enum Want {
    Is(u16),
    Success,
}

impl Want {
    fn matches(self, status: u16) -> bool {
        match self {
            Want::Is(c) => status == c,
            Want::Success => (200..300).contains(&status),
        }
    }
}

fn describe(want: &[Want]) -> String {
    let parts: Vec<String> = want
        .iter()
        .map(|w| match w {
            Want::Is(c) => c.to_string(),
            Want::Success => "2xx".to_string(),
        })
        .collect();
    parts.join(" or ")
}

/// What a case body works with: the configuration, the client, the data, and
/// the exchanges of the case so far (for failure messages).
pub struct Ctx {
    pub cfg: Config,
    pub client: Client,
    pub data: Data,
    exchanges: Vec<Resp>,
    warnings: Vec<String>,
}

impl Ctx {
    /// `SkipIfDisabled(workflow)`.
    pub fn skip_if_disabled(&self, workflow: u32) -> Step {
        if self.cfg.disabled(workflow) {
            return Err(Stop::Skip(self.cfg.skip_report()));
        }
        Ok(())
    }

    /// `RunOnlyIf(v)`.
    pub fn run_only_if(&self, v: bool) -> Step {
        if !v {
            return Err(Stop::Skip("you have skipped this test.".into()));
        }
        Ok(())
    }

    /// `RunOnlyIfNot(v)`.
    pub fn run_only_if_not(&self, v: bool) -> Step {
        self.run_only_if(!v)
    }

    /// `Warn(message)`.
    pub fn warn(&mut self, msg: &str) {
        self.warnings.push(msg.to_string());
    }

    /// `client.NewRequest(method, path)`.
    pub fn req(&self, method: &str, path: &str) -> Request {
        self.client.new_request(method, path)
    }

    /// `client.NewRequest(method, path, reggie.WithDigest(d))`.
    pub fn req_digest(&self, method: &str, path: &str, digest: &str) -> Request {
        self.client.request_with(
            method,
            path,
            Opts {
                digest,
                ..Default::default()
            },
        )
    }

    /// `client.NewRequest(method, path, reggie.WithReference(r))`.
    pub fn req_ref(&self, method: &str, path: &str, reference: &str) -> Request {
        self.client.request_with(
            method,
            path,
            Opts {
                reference,
                ..Default::default()
            },
        )
    }

    /// `client.NewRequest(method, path, reggie.WithName(n))`.
    pub fn req_name(&self, method: &str, path: &str, name: &str) -> Request {
        self.client.request_with(
            method,
            path,
            Opts {
                name,
                ..Default::default()
            },
        )
    }

    /// `resp, err := client.Do(req)` without checking `err`.
    pub fn send_unchecked(&mut self, req: Request) -> Result<Resp, String> {
        let r = self.client.run(&req);
        if let Ok(resp) = &r {
            self.exchanges.push(resp.clone());
        }
        r
    }

    /// `resp, err := client.Do(req); Expect(err).To(BeNil())`.
    pub fn send(&mut self, req: Request) -> Result<Resp, Stop> {
        self.send_unchecked(req)
            .map_err(|e| self.fail(&format!("request failed: {e}")))
    }

    /// A failure: `msg` and the last exchange of the case.
    pub fn fail(&self, msg: &str) -> Stop {
        match self.exchanges.last() {
            Some(r) => Stop::Fail(format!("{msg}\n  last exchange: {}", r.evidence())),
            None => Stop::Fail(msg.to_string()),
        }
    }

    /// `Expect(resp.StatusCode()).To(…)` for the given accepted statuses,
    /// with `resp` as the evidence.
    pub fn status(&self, resp: &Resp, want: &[Want]) -> Step {
        if want.iter().any(|w| w.matches(resp.status)) {
            return Ok(());
        }
        Err(Stop::Fail(format!(
            "expected status {}, got {}\n  exchange: {}",
            describe(want),
            resp.status,
            resp.evidence()
        )))
    }

    /// `Expect(…)` of a condition; `msg` says what was expected and seen.
    pub fn check(&self, cond: bool, msg: impl FnOnce() -> String) -> Step {
        if cond {
            Ok(())
        } else {
            Err(self.fail(&msg()))
        }
    }
}

/// Statuses: `Equal(code)`.
pub const fn is(code: u16) -> Want {
    Want::Is(code)
}
/// Statuses: `SatisfyAll(BeNumerically(">=", 200), BeNumerically("<", 300))`.
pub const OK2XX: Want = Want::Success;

/// How a case ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed(String),
    Skipped(String),
}

/// One case's result.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// `Pull`, `Push`, `Content Discovery`, `Content Management`.
    pub workflow: &'static str,
    /// The workflow bit.
    pub workflow_bit: u32,
    /// The `g.Context` inside the workflow (`Setup`, `Pull blobs`, …).
    pub context: &'static str,
    /// The `g.Specify` text.
    pub name: &'static str,
    /// `workflow / context / name`, with ` #2` … for a repeated name.
    pub id: String,
    pub outcome: Outcome,
    pub warnings: Vec<String>,
    pub duration: Duration,
}

impl CaseResult {
    /// Ginkgo's full text: suite, workflow, context, spec.
    pub fn full_text(&self) -> String {
        format!(
            "{} {} {} {}",
            setup::SUITE_DESCRIPTION,
            self.workflow,
            self.context,
            self.name
        )
    }
}

/// Runs cases one after the other, as Ginkgo runs the specs of one ordered
/// container.
pub struct Suite {
    ctx: Ctx,
    results: Vec<CaseResult>,
    workflow: &'static str,
    workflow_bit: u32,
    /// Print each case's outcome as it ends (on stderr).
    pub progress: bool,
}

impl Suite {
    fn new(cfg: Config, progress: bool) -> Suite {
        let data = Data::new(&cfg);
        let client = cfg.client();
        Suite {
            ctx: Ctx {
                cfg,
                client,
                data,
                exchanges: Vec::new(),
                warnings: Vec::new(),
            },
            results: Vec::new(),
            workflow: "",
            workflow_bit: 0,
            progress,
        }
    }

    /// Start the cases of a workflow (`g.Context(title, …)`).
    fn workflow(&mut self, title: &'static str, bit: u32) {
        self.workflow = title;
        self.workflow_bit = bit;
    }

    /// One `g.Specify(name, body)` in context `context`.
    fn spec(
        &mut self,
        context: &'static str,
        name: &'static str,
        body: impl FnOnce(&mut Ctx) -> Step,
    ) {
        self.ctx.exchanges.clear();
        self.ctx.warnings.clear();
        let start = Instant::now();
        let ctx = &mut self.ctx;
        let outcome = match std::panic::catch_unwind(AssertUnwindSafe(|| body(ctx))) {
            Ok(Ok(())) => Outcome::Passed,
            Ok(Err(Stop::Skip(why))) => Outcome::Skipped(why),
            Ok(Err(Stop::Fail(why))) => Outcome::Failed(why),
            Err(p) => {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panic".into());
                Outcome::Failed(format!("Test Panicked: {msg}"))
            }
        };
        let base = format!("{} / {context} / {name}", self.workflow);
        let same = self
            .results
            .iter()
            .filter(|r| r.workflow == self.workflow && r.context == context && r.name == name)
            .count();
        let id = if same == 0 {
            base
        } else {
            format!("{base} #{}", same + 1)
        };
        let hidden =
            self.ctx.cfg.hide_skipped_workflows && self.ctx.cfg.disabled(self.workflow_bit);
        if self.progress && !hidden {
            let tag = match &outcome {
                Outcome::Passed => "ok  ",
                Outcome::Failed(_) => "FAIL",
                Outcome::Skipped(_) => "skip",
            };
            eprintln!("{tag} {id}");
            for w in &self.ctx.warnings {
                eprintln!("     WARNING: {w}");
            }
        }
        self.results.push(CaseResult {
            workflow: self.workflow,
            workflow_bit: self.workflow_bit,
            context,
            name,
            id,
            outcome,
            warnings: self.ctx.warnings.clone(),
            duration: start.elapsed(),
        });
    }
}

/// Run the four workflows as configured.
pub fn run(cfg: &Config) -> Report {
    run_with_progress(cfg, false)
}

/// Run the four workflows, printing each case's outcome as it ends when
/// `progress`.
pub fn run_with_progress(cfg: &Config, progress: bool) -> Report {
    let started = Instant::now();
    let mut s = Suite::new(cfg.clone(), progress);
    pull::run(&mut s);
    push::run(&mut s);
    discovery::run(&mut s);
    management::run(&mut s);
    Report {
        cfg: cfg.clone(),
        results: s.results,
        duration: started.elapsed(),
    }
}

/// The results of a run.
#[derive(Debug, Clone)]
pub struct Report {
    pub cfg: Config,
    pub results: Vec<CaseResult>,
    pub duration: Duration,
}

/// The workflows in order.
pub const WORKFLOWS: &[(&str, u32)] = &[
    (setup::TITLE_PULL, setup::PULL),
    (setup::TITLE_PUSH, setup::PUSH),
    (setup::TITLE_CONTENT_DISCOVERY, setup::CONTENT_DISCOVERY),
    (setup::TITLE_CONTENT_MANAGEMENT, setup::CONTENT_MANAGEMENT),
];

impl Report {
    /// Whether a workflow is shown (`OCI_HIDE_SKIPPED_WORKFLOWS=1` hides the
    /// disabled ones).
    fn shown(&self, bit: u32) -> bool {
        !(self.cfg.hide_skipped_workflows && self.cfg.disabled(bit))
    }

    /// The results shown.
    pub fn shown_results(&self) -> impl Iterator<Item = &CaseResult> {
        self.results.iter().filter(|r| self.shown(r.workflow_bit))
    }

    /// (passed, failed, skipped) of a workflow.
    pub fn counts(&self, workflow: &str) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for r in self.results.iter().filter(|r| r.workflow == workflow) {
            match r.outcome {
                Outcome::Passed => c.0 += 1,
                Outcome::Failed(_) => c.1 += 1,
                Outcome::Skipped(_) => c.2 += 1,
            }
        }
        c
    }

    /// The failed cases.
    pub fn failures(&self) -> Vec<&CaseResult> {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
            .collect()
    }

    /// Ids of the failed cases.
    pub fn failed_ids(&self) -> Vec<String> {
        self.failures().iter().map(|r| r.id.clone()).collect()
    }

    /// Ids of the skipped cases.
    pub fn skipped_ids(&self) -> Vec<String> {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Skipped(_)))
            .map(|r| r.id.clone())
            .collect()
    }

    /// The results table, then each failure with its reason, then warnings.
    pub fn table(&self) -> String {
        let mut s = format!(
            "OCI distribution-spec conformance (suite {}), {} (namespace {:?}, cross-mount {:?}), seed {}\n",
            &SUITE_COMMIT[..12],
            self.cfg.root_url,
            self.cfg.namespace,
            self.cfg.crossmount_namespace,
            self.cfg.seed
        );
        s.push_str(&format!(
            "{:<22}{:>8}{:>8}{:>9}\n",
            "Workflow", "Passed", "Failed", "Skipped"
        ));
        let mut total = (0, 0, 0);
        for (title, bit) in WORKFLOWS {
            if !self.shown(*bit) {
                continue;
            }
            let (p, f, k) = self.counts(title);
            total = (total.0 + p, total.1 + f, total.2 + k);
            s.push_str(&format!("{title:<22}{p:>8}{f:>8}{k:>9}\n"));
        }
        s.push_str(&format!(
            "{:<22}{:>8}{:>8}{:>9}\n",
            "Total", total.0, total.1, total.2
        ));
        let failures: Vec<&CaseResult> = self
            .shown_results()
            .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
            .collect();
        if !failures.is_empty() {
            s.push_str(&format!("\n{} failed:\n", failures.len()));
            for r in failures {
                if let Outcome::Failed(why) = &r.outcome {
                    s.push_str(&format!("\nFAIL {}\n  {}\n", r.id, why));
                }
            }
        }
        let warned: Vec<&CaseResult> = self
            .shown_results()
            .filter(|r| !r.warnings.is_empty())
            .collect();
        if !warned.is_empty() {
            s.push('\n');
            for r in warned {
                for w in &r.warnings {
                    s.push_str(&format!("WARNING {}: {w}\n", r.id));
                }
            }
        }
        s
    }

    /// Ginkgo's JUnit report (`OmitLeafNodeType`), of the shown results.
    pub fn junit(&self) -> String {
        let shown: Vec<&CaseResult> = self.shown_results().collect();
        let failures = shown
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
            .count();
        let skipped = shown
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Skipped(_)))
            .count();
        let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        s.push_str(&format!(
            "  <testsuites tests=\"{}\" disabled=\"{skipped}\" errors=\"0\" failures=\"{failures}\" time=\"{:.6}\">\n",
            shown.len(),
            self.duration.as_secs_f64()
        ));
        s.push_str(&format!(
            "      <testsuite name=\"conformance tests\" package=\"conformance\" tests=\"{}\" disabled=\"0\" skipped=\"{skipped}\" errors=\"0\" failures=\"{failures}\" time=\"{:.6}\">\n",
            shown.len(),
            self.duration.as_secs_f64()
        ));
        s.push_str("          <properties>\n");
        s.push_str(&format!(
            "              <property name=\"SuiteSucceeded\" value=\"{}\"></property>\n",
            failures == 0
        ));
        s.push_str(&format!(
            "              <property name=\"SuiteCommit\" value=\"{SUITE_COMMIT}\"></property>\n"
        ));
        s.push_str(&format!(
            "              <property name=\"RandomSeed\" value=\"{}\"></property>\n",
            self.cfg.seed
        ));
        for e in &self.cfg.env_summary {
            s.push_str(&format!(
                "              <property name=\"env\" value=\"{}\"></property>\n",
                xml(e)
            ));
        }
        s.push_str("          </properties>\n");
        for r in shown {
            let (status, inner) = match &r.outcome {
                Outcome::Passed => ("passed", String::new()),
                Outcome::Failed(why) => (
                    "failed",
                    format!(
                        "\n              <failure message=\"{}\" type=\"failed\">{}</failure>\n          ",
                        xml(why.lines().next().unwrap_or_default()),
                        xml(why)
                    ),
                ),
                Outcome::Skipped(why) => (
                    "skipped",
                    format!(
                        "\n              <skipped message=\"{}\"></skipped>\n          ",
                        xml(why.lines().next().unwrap_or_default())
                    ),
                ),
            };
            s.push_str(&format!(
                "          <testcase name=\"{}\" classname=\"conformance tests\" status=\"{status}\" time=\"{:.6}\">{inner}</testcase>\n",
                xml(&r.full_text()),
                r.duration.as_secs_f64()
            ));
        }
        s.push_str("      </testsuite>\n  </testsuites>\n");
        s
    }

    /// Write `junit.xml` and `report.txt` to `OCI_REPORT_DIR` (nothing when
    /// it is `none`); returns the paths written.
    pub fn write_files(&self) -> std::io::Result<Vec<std::path::PathBuf>> {
        let Some(dir) = &self.cfg.report_dir else {
            return Ok(vec![]);
        };
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
        let junit = dir.join("junit.xml");
        std::fs::write(&junit, self.junit())?;
        let txt = dir.join("report.txt");
        let mut text = self.table();
        text.push_str("\nEnvironment:\n");
        for e in &self.cfg.env_summary {
            text.push_str(&format!("  {e}\n"));
        }
        text.push_str("\nCases:\n");
        for r in self.shown_results() {
            let tag = match r.outcome {
                Outcome::Passed => "passed ",
                Outcome::Failed(_) => "FAILED ",
                Outcome::Skipped(_) => "skipped",
            };
            text.push_str(&format!("  {tag} {}\n", r.id));
        }
        std::fs::write(&txt, text)?;
        Ok(vec![junit, txt])
    }
}

fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#xA;"),
            c if (c as u32) < 0x20 && c != '\t' && c != '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// `getTagList(resp)`: the `tags` of a tag list, or empty when the body does
/// not decode as one (as Go's `json.Unmarshal` into `TagList`).
pub fn tag_list(body: &[u8]) -> Vec<String> {
    decode_tag_list(body).unwrap_or_default()
}

/// `json.Unmarshal(body, &TagList{})`: Err when Go's would fail.
pub fn decode_tag_list(body: &[u8]) -> Result<Vec<String>, String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if v.is_null() {
        return Ok(vec![]);
    }
    if !v.is_object() {
        return Err(format!("cannot unmarshal {v} into TagList"));
    }
    match client::json_get_ci(&v, "name") {
        None | Some(serde_json::Value::Null) | Some(serde_json::Value::String(_)) => {}
        Some(other) => return Err(format!("name: cannot unmarshal {other} into string")),
    }
    match client::json_get_ci(&v, "tags") {
        None | Some(serde_json::Value::Null) => Ok(vec![]),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|t| match t {
                serde_json::Value::String(s) => Ok(s.clone()),
                serde_json::Value::Null => Ok(String::new()),
                other => Err(format!("tags: cannot unmarshal {other} into string")),
            })
            .collect(),
        Some(other) => Err(format!("tags: cannot unmarshal {other} into []string")),
    }
}

/// `resp.Errors()`: the `errors` of an error body (Err when the body is not
/// JSON, or has no errors).
pub fn error_codes(body: &[u8]) -> Result<Vec<String>, String> {
    let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let errors = match client::json_get_ci(&v, "errors") {
        None | Some(serde_json::Value::Null) => vec![],
        Some(serde_json::Value::Array(a)) => a.clone(),
        Some(other) => return Err(format!("errors: cannot unmarshal {other} into []ErrorInfo")),
    };
    if errors.is_empty() {
        return Err("body was valid json but could not be parsed".into());
    }
    errors
        .iter()
        .map(|e| match e {
            serde_json::Value::Null => Ok(String::new()),
            serde_json::Value::Object(_) => match client::json_get_ci(e, "code") {
                None | Some(serde_json::Value::Null) => Ok(String::new()),
                Some(serde_json::Value::String(s)) => Ok(s.clone()),
                Some(other) => Err(format!("code: cannot unmarshal {other} into string")),
            },
            other => Err(format!("cannot unmarshal {other} into ErrorInfo")),
        })
        .collect()
}

/// A descriptor of an index as the suite decodes it (`json.Unmarshal` into
/// image.go's `index`): the fields it asserts on.
#[derive(Debug, Clone, Default)]
pub struct IndexEntry {
    pub digest: String,
    pub annotations: Vec<(String, String)>,
}

impl IndexEntry {
    /// `Annotations[key]` ("" when absent).
    pub fn annotation(&self, key: &str) -> String {
        self.annotations
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
}

/// `json.Unmarshal(body, &index)`: the manifests, or Err when Go's decoding
/// into image.go's types would fail (a field of the wrong JSON type, `data`
/// not base64).
pub fn decode_index(body: &[u8]) -> Result<Vec<IndexEntry>, String> {
    use serde_json::Value as V;
    let v: V = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if v.is_null() {
        return Ok(vec![]);
    }
    if !v.is_object() {
        return Err(format!("cannot unmarshal {v} into index"));
    }
    let string = |field: &str, x: Option<&V>| match x {
        None | Some(V::Null) | Some(V::String(_)) => Ok(()),
        Some(o) => Err(format!("{field}: cannot unmarshal {o} into string")),
    };
    let int = |field: &str, x: Option<&V>| match x {
        None | Some(V::Null) => Ok(()),
        Some(V::Number(n)) if n.is_i64() => Ok(()),
        Some(o) => Err(format!("{field}: cannot unmarshal {o} into int")),
    };
    let bytes = |field: &str, x: Option<&V>| match x {
        None | Some(V::Null) => Ok(()),
        Some(V::String(s)) => STANDARD
            .decode(s)
            .map(|_| ())
            .map_err(|e| format!("{field}: illegal base64: {e}")),
        Some(o) => Err(format!("{field}: cannot unmarshal {o} into []byte")),
    };
    let strmap = |field: &str, x: Option<&V>| -> Result<Vec<(String, String)>, String> {
        match x {
            None | Some(V::Null) => Ok(vec![]),
            Some(V::Object(m)) => m
                .iter()
                .map(|(k, v)| match v {
                    V::String(s) => Ok((k.clone(), s.clone())),
                    V::Null => Ok((k.clone(), String::new())),
                    o => Err(format!("{field}: cannot unmarshal {o} into string")),
                })
                .collect(),
            Some(o) => Err(format!("{field}: cannot unmarshal {o} into map")),
        }
    };
    let strs = |field: &str, x: Option<&V>| match x {
        None | Some(V::Null) => Ok(()),
        Some(V::Array(a)) if a.iter().all(|s| s.is_string() || s.is_null()) => Ok(()),
        Some(o) => Err(format!("{field}: cannot unmarshal {o} into []string")),
    };
    let get = client::json_get_ci;
    let descriptor = |d: &V| -> Result<IndexEntry, String> {
        if d.is_null() {
            return Ok(IndexEntry::default());
        }
        if !d.is_object() {
            return Err(format!("cannot unmarshal {d} into descriptor"));
        }
        string("mediaType", get(d, "mediaType"))?;
        string("digest", get(d, "digest"))?;
        int("size", get(d, "size"))?;
        strs("urls", get(d, "urls"))?;
        bytes("data", get(d, "data"))?;
        string("artifactType", get(d, "artifactType"))?;
        bytes("newUnspecifiedField", get(d, "newUnspecifiedField"))?;
        match get(d, "platform") {
            None | Some(V::Null) | Some(V::Object(_)) => {}
            Some(o) => return Err(format!("platform: cannot unmarshal {o} into platform")),
        }
        Ok(IndexEntry {
            digest: get(d, "digest")
                .and_then(V::as_str)
                .unwrap_or_default()
                .to_string(),
            annotations: strmap("annotations", get(d, "annotations"))?,
        })
    };
    int("schemaVersion", get(&v, "schemaVersion"))?;
    string("mediaType", get(&v, "mediaType"))?;
    string("artifactType", get(&v, "artifactType"))?;
    strmap("annotations", get(&v, "annotations"))?;
    if let Some(s) = get(&v, "subject").filter(|s| !s.is_null()) {
        descriptor(s)?;
    }
    match get(&v, "manifests") {
        None | Some(V::Null) => Ok(vec![]),
        Some(V::Array(a)) => a.iter().map(descriptor).collect(),
        Some(o) => Err(format!("manifests: cannot unmarshal {o} into []descriptor")),
    }
}

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoders_fail_where_go_does() {
        assert_eq!(
            tag_list(br#"{"name":"a","tags":["x","y"]}"#),
            vec!["x", "y"]
        );
        assert_eq!(
            tag_list(br#"{"name":"a","tags":null}"#),
            Vec::<String>::new()
        );
        assert_eq!(tag_list(b"not json"), Vec::<String>::new());
        assert_eq!(tag_list(br#"{"Tags":["x"]}"#), vec!["x"]);
        assert!(decode_tag_list(br#"{"tags":[1]}"#).is_err());
        assert_eq!(
            error_codes(br#"{"errors":[{"code":"UNSUPPORTED","message":"m"}]}"#).unwrap(),
            vec!["UNSUPPORTED"]
        );
        assert!(error_codes(br#"{"errors":[]}"#).is_err());
        assert!(error_codes(b"").is_err());
        let idx = decode_index(
            br#"{"schemaVersion":2,"manifests":[{"digest":"sha256:a","size":3,"annotations":{"k":"v"}}]}"#,
        )
        .unwrap();
        assert_eq!(idx[0].annotation("k"), "v");
        assert_eq!(idx[0].annotation("x"), "");
        assert!(decode_index(br#"{"manifests":[{"size":"3"}]}"#).is_err());
        assert!(decode_index(br#"{"manifests":[{"data":"!!"}]}"#).is_err());
    }
}
