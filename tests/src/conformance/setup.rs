//! The suite's configuration (its environment variables) and test data, as
//! `conformance/setup.go` and `conformance/image.go` make them: the per
//! workflow config blobs and image manifests, the layer, the streamed blob A,
//! the chunked blob B, the manifest with no layers, and the referrers
//! artifacts (two config-typed and three layer-typed manifests with a
//! `subject`, one index). JSON documents are serialized as Go's
//! `json.MarshalIndent(v, "", "\t")` does, fields in the Go structs' order
//! (`omitempty` fields left out when empty, `[]byte` fields as base64, a nil
//! `newUnspecifiedField` as `null`).

use super::client::Client;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::{Rng, RngCore, SeedableRng};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::PathBuf;

/// Workflow bits (`pull = 1 << iota` …).
pub const PULL: u32 = 1;
pub const PUSH: u32 = 2;
pub const CONTENT_DISCOVERY: u32 = 4;
pub const CONTENT_MANAGEMENT: u32 = 8;
/// `numWorkflows` is the next value of that `iota` run, 16: the suite makes
/// 16 configs and 16 manifests (only the first five are used).
pub const NUM_WORKFLOWS: usize = 16;

pub const TITLE_PULL: &str = "Pull";
pub const TITLE_PUSH: &str = "Push";
pub const TITLE_CONTENT_DISCOVERY: &str = "Content Discovery";
pub const TITLE_CONTENT_MANAGEMENT: &str = "Content Management";
pub const SUITE_DESCRIPTION: &str = "OCI Distribution Conformance Tests";

pub const EMPTY_LAYER_TEST_TAG: &str = "emptylayer";
pub const TEST_TAG_NAME: &str = "tagtest0";
pub const ARTIFACT_TYPE_FILTER: &str = "artifactType";

/// `layerBase64String`: a gzipped tarball of one text file.
const LAYER_BASE64: &str = "H4sIAAAAAAAAA+3OQQrCMBCF4a49xXgBSUnaHMCTRBptQRNpp6i3t0UEV7oqIv7fYgbmzeJpHHSjVy0\
    WZCa1c/MufWVe94N3RWlrZ72x3k/30nhbFWKWLPU0Dhp6keJ8im//PuU/6pZH2WVtYx8b0Sz7LjWSR5VLG6YRBumSzOlGtjkd+qD\
    jMWiX07Befbs7AAAAAAAAAAAAAAAAAPyzO34MnqoAKAAA";

/// The environment variables the suite reads (`envVar…` in setup.go), in
/// the order its report lists them; the last four are read elsewhere.
pub const ENV_VARS: &[&str] = &[
    "OCI_ROOT_URL",
    "OCI_NAMESPACE",
    "OCI_USERNAME",
    "OCI_PASSWORD",
    "OCI_DEBUG",
    "OCI_TEST_PULL",
    "OCI_TEST_PUSH",
    "OCI_TEST_CONTENT_DISCOVERY",
    "OCI_TEST_CONTENT_MANAGEMENT",
    "OCI_SKIP_EMPTY_LAYER_PUSH_TEST",
    "OCI_BLOB_DIGEST",
    "OCI_MANIFEST_DIGEST",
    "OCI_TAG_NAME",
    "OCI_TAG_LIST",
    "OCI_HIDE_SKIPPED_WORKFLOWS",
    "OCI_AUTH_SCOPE",
    "OCI_CROSSMOUNT_NAMESPACE",
    "OCI_DELETE_MANIFEST_BEFORE_BLOBS",
    "OCI_AUTOMATIC_CROSSMOUNT",
    "OCI_REPORT_DIR",
];

/// The four workflow switches (`testMap`).
pub const WORKFLOW_VARS: &[(&str, u32)] = &[
    ("OCI_TEST_PULL", PULL),
    ("OCI_TEST_PUSH", PUSH),
    ("OCI_TEST_CONTENT_DISCOVERY", CONTENT_DISCOVERY),
    ("OCI_TEST_CONTENT_MANAGEMENT", CONTENT_MANAGEMENT),
];

/// Go's `strconv.ParseBool` (an error counts as false, as the suite ignores it).
pub fn parse_bool(s: &str) -> bool {
    matches!(s, "1" | "t" | "T" | "TRUE" | "true" | "True")
}

/// What the environment asks of a run.
#[derive(Debug, Clone)]
pub struct Config {
    pub root_url: String,
    pub namespace: String,
    /// `OCI_CROSSMOUNT_NAMESPACE`, else `conformance-<uuid>` (made from the seed).
    pub crossmount_namespace: String,
    pub username: String,
    pub password: String,
    pub auth_scope: String,
    pub debug: bool,
    /// Bits of the enabled workflows.
    pub tests_to_run: u32,
    /// `OCI_HIDE_SKIPPED_WORKFLOWS=1`: disabled workflows are left out of the
    /// table and the reports.
    pub hide_skipped_workflows: bool,
    pub delete_manifest_before_blobs: bool,
    /// `OCI_AUTOMATIC_CROSSMOUNT` is set at all.
    pub run_automatic_crossmount_test: bool,
    /// … and is true.
    pub automatic_crossmount_enabled: bool,
    pub tag_name: String,
    pub manifest_digest: String,
    pub blob_digest: String,
    pub tag_list: String,
    pub run_pull_setup: bool,
    pub run_push_setup: bool,
    pub run_content_discovery_setup: bool,
    pub run_content_management_setup: bool,
    /// Where `junit.xml` and `report.txt` go (`OCI_REPORT_DIR`, default the
    /// current directory; `none`: nowhere).
    pub report_dir: Option<PathBuf>,
    /// The run's random seed (`OCI_RANDOM_SEED`, else the Unix time in
    /// seconds, as Ginkgo's default seed).
    pub seed: i64,
    /// The workflow switches as set, for skip messages.
    pub workflow_env: Vec<(String, String)>,
    /// Every suite variable that is set (passwords and users masked), for the
    /// report.
    pub env_summary: Vec<String>,
}

impl Config {
    /// From the process environment.
    pub fn from_env() -> Config {
        Config::from_lookup(|k| std::env::var(k).ok())
    }

    /// From `get` (a test passes its own variables without touching the
    /// process environment).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Config {
        let var = |k: &str| get(k).unwrap_or_default();
        let seed = get("OCI_RANDOM_SEED")
            .and_then(|s| s.trim().parse::<i64>().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0)
            });
        let mut tests_to_run = 0;
        for (k, bit) in WORKFLOW_VARS {
            if parse_bool(&var(k)) {
                tests_to_run |= bit;
            }
        }
        let crossmount_namespace = match var("OCI_CROSSMOUNT_NAMESPACE") {
            s if !s.is_empty() => s,
            _ => format!("conformance-{}", uuid_v4(&mut rng(seed.wrapping_add(3)))),
        };
        let tag_name = var("OCI_TAG_NAME");
        let manifest_digest = var("OCI_MANIFEST_DIGEST");
        let blob_digest = var("OCI_BLOB_DIGEST");
        let tag_list = var("OCI_TAG_LIST");
        let run_pull_setup =
            !(!tag_name.is_empty() && !manifest_digest.is_empty() && !blob_digest.is_empty());
        let delete_manifest_before_blobs = match get("OCI_DELETE_MANIFEST_BEFORE_BLOBS") {
            Some(v) => parse_bool(&v),
            None => true,
        };
        let automatic = get("OCI_AUTOMATIC_CROSSMOUNT");
        let report_dir = match get("OCI_REPORT_DIR") {
            Some(d) if d == "none" => None,
            Some(d) => Some(PathBuf::from(d)),
            None => Some(PathBuf::new()),
        };
        let env_summary = ENV_VARS
            .iter()
            .filter_map(|k| {
                let v = var(k);
                if v.is_empty() {
                    return None;
                }
                let v = if k.contains("PASSWORD") || k.contains("USERNAME") {
                    "*****".to_string()
                } else {
                    v
                };
                Some(format!("{k}={v}"))
            })
            .collect();
        Config {
            root_url: var("OCI_ROOT_URL"),
            namespace: var("OCI_NAMESPACE"),
            crossmount_namespace,
            username: var("OCI_USERNAME"),
            password: var("OCI_PASSWORD"),
            auth_scope: var("OCI_AUTH_SCOPE"),
            debug: parse_bool(&var("OCI_DEBUG")),
            tests_to_run,
            hide_skipped_workflows: var("OCI_HIDE_SKIPPED_WORKFLOWS") == "1",
            delete_manifest_before_blobs,
            run_automatic_crossmount_test: automatic.is_some(),
            automatic_crossmount_enabled: automatic.as_deref().is_some_and(parse_bool),
            run_pull_setup,
            run_push_setup: true,
            run_content_discovery_setup: tag_list.is_empty(),
            run_content_management_setup: true,
            tag_name,
            manifest_digest,
            blob_digest,
            tag_list,
            report_dir,
            seed,
            workflow_env: WORKFLOW_VARS
                .iter()
                .map(|(k, _)| (k.to_string(), var(k)))
                .collect(),
            env_summary,
        }
    }

    /// The client reggie would be (`reggie.NewClient` in setup.go).
    pub fn client(&self) -> Client {
        Client {
            address: self.root_url.trim_end_matches('/').to_string(),
            default_name: self.namespace.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
            auth_scope: self.auth_scope.clone(),
            debug: self.debug,
        }
    }

    /// `userDisabled(test)`.
    pub fn disabled(&self, workflow: u32) -> bool {
        self.tests_to_run & workflow == 0
    }

    /// `generateSkipReport()`.
    pub fn skip_report(&self) -> String {
        let mut s = "you have skipped this test; if this is an error, check your environment variable settings:\n".to_string();
        for (k, v) in &self.workflow_env {
            s.push_str(&format!("\t{k}={v}\n"));
        }
        s
    }
}

/// A blob with its length (as text, as the suite sends it) and digest.
#[derive(Debug, Clone)]
pub struct TestBlob {
    pub content: Vec<u8>,
    pub content_length: String,
    pub digest: String,
}

/// The chunked blob B and its two chunks (`setupChunkedBlob`).
#[derive(Debug, Clone)]
pub struct Chunked {
    pub blob: Vec<u8>,
    pub digest: String,
    pub chunk1: Vec<u8>,
    pub chunk1_length: String,
    pub chunk1_range: String,
    pub chunk2: Vec<u8>,
    pub chunk2_length: String,
    pub chunk2_range: String,
}

/// Every piece of test data of setup.go.
#[derive(Debug, Clone)]
pub struct Data {
    pub seed: i64,
    pub configs: Vec<TestBlob>,
    pub manifests: Vec<TestBlob>,
    pub layer_blob_data: Vec<u8>,
    pub layer_blob_digest: String,
    pub layer_blob_content_length: String,
    pub empty_layer_manifest_content: Vec<u8>,
    pub empty_layer_manifest_digest: String,
    pub nonexistent_manifest: String,
    pub invalid_manifest_content: Vec<u8>,
    pub test_blob_a: Vec<u8>,
    pub test_blob_a_length: String,
    pub test_blob_a_digest: String,
    pub chunked: Chunked,
    pub empty_json_blob: Vec<u8>,
    pub empty_json_digest: String,
    pub empty_json_size: usize,
    pub test_ref_blob_a: Vec<u8>,
    pub test_ref_blob_a_length: String,
    pub test_ref_blob_a_digest: String,
    pub test_ref_blob_b: Vec<u8>,
    pub test_ref_blob_b_length: String,
    pub test_ref_blob_b_digest: String,
    pub test_ref_artifact_type_a: String,
    pub test_ref_artifact_type_b: String,
    pub test_ref_artifact_type_index: String,
    pub test_annotation_key: String,
    /// Digest of each referrer with an annotation → its annotation value.
    pub test_annotation_values: HashMap<String, String>,
    pub refs_manifest_a_config_artifact_content: Vec<u8>,
    pub refs_manifest_a_config_artifact_digest: String,
    pub refs_manifest_a_layer_artifact_content: Vec<u8>,
    pub refs_manifest_a_layer_artifact_digest: String,
    pub refs_manifest_b_config_artifact_content: Vec<u8>,
    pub refs_manifest_b_config_artifact_digest: String,
    pub refs_manifest_b_layer_artifact_content: Vec<u8>,
    pub refs_manifest_b_layer_artifact_digest: String,
    pub refs_manifest_c_layer_artifact_content: Vec<u8>,
    pub refs_manifest_c_layer_artifact_digest: String,
    pub refs_index_artifact_content: Vec<u8>,
    pub refs_index_artifact_digest: String,
    pub dummy_digest: String,
    /// `errorCodes`: indexed by the codes' `iota` values, which start at 5
    /// (after the workflow bits), so entries 0 to 4 are empty strings, as in
    /// the suite (where `ContainElement` then also takes an empty code).
    pub error_codes: Vec<String>,
}

/// `UNSUPPORTED`'s index in [`Data::error_codes`].
pub const UNSUPPORTED: usize = 19;

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

fn rng(seed: i64) -> rand::rngs::StdRng {
    rand::rngs::StdRng::seed_from_u64(seed as u64)
}

fn uuid_v4(r: &mut impl RngCore) -> String {
    let mut b = [0u8; 16];
    r.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// `randomString(n)` (the suite uses crypto/rand; here it comes from the
/// run's seed so a run can be replayed).
fn random_string(r: &mut impl Rng, n: usize) -> String {
    const LETTERS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-";
    (0..n)
        .map(|_| LETTERS[r.gen_range(0..LETTERS.len())] as char)
        .collect()
}

/// `randomBlob(size, seed)`: reproducible bytes from the seed.
pub fn random_blob(size: usize, seed: i64) -> (String, Vec<u8>) {
    let mut b = vec![0u8; size];
    rng(seed).fill_bytes(&mut b);
    (sha256(&b), b)
}

/// `setupChunkedBlob(size)`.
pub fn chunked_blob(size: usize, seed: i64) -> Chunked {
    let (digest, blob) = random_blob(size, seed.wrapping_add(2));
    let chunk1 = blob[..size / 2 + 1].to_vec();
    let chunk2 = blob[size / 2 + 1..].to_vec();
    Chunked {
        chunk1_length: chunk1.len().to_string(),
        chunk1_range: format!("0-{}", chunk1.len() - 1),
        chunk2_length: chunk2.len().to_string(),
        chunk2_range: format!("{}-{}", chunk1.len(), blob.len() - 1),
        chunk1,
        chunk2,
        blob,
        digest,
    }
}

/// Go's `json.MarshalIndent(v, "", "\t")`.
pub fn marshal_indent(v: &Value) -> Vec<u8> {
    // serde_json indents by two spaces; JSON text has no raw newline inside a
    // string, so each line's leading spaces are indentation only.
    let pretty = serde_json::to_string_pretty(v).expect("serialize JSON");
    let lines: Vec<String> = pretty
        .lines()
        .map(|l| {
            let body = l.trim_start_matches(' ');
            let depth = (l.len() - body.len()) / 2;
            format!("{}{body}", "\t".repeat(depth))
        })
        .collect();
    // Go escapes <, > and & in strings (none of which JSON syntax uses).
    lines
        .join("\n")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .into_bytes()
}

/// A `descriptor` of image.go, in its field order.
#[derive(Debug, Clone, Default)]
struct Desc {
    media_type: String,
    digest: String,
    size: usize,
    annotations: Vec<(String, String)>,
    data: Option<Vec<u8>>,
    new_unspecified_field: Option<Vec<u8>>,
}

impl Desc {
    fn new(media_type: &str, digest: &str, size: usize) -> Desc {
        Desc {
            media_type: media_type.into(),
            digest: digest.into(),
            size,
            ..Default::default()
        }
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("mediaType".into(), json!(self.media_type));
        m.insert("digest".into(), json!(self.digest));
        m.insert("size".into(), json!(self.size));
        if !self.annotations.is_empty() {
            m.insert("annotations".into(), annotations(&self.annotations));
        }
        if let Some(d) = self.data.as_ref().filter(|d| !d.is_empty()) {
            m.insert("data".into(), json!(STANDARD.encode(d)));
        }
        m.insert(
            "newUnspecifiedField".into(),
            match &self.new_unspecified_field {
                Some(b) => json!(STANDARD.encode(b)),
                None => Value::Null,
            },
        );
        Value::Object(m)
    }
}

/// A Go `map[string]string`: keys sorted.
fn annotations(a: &[(String, String)]) -> Value {
    let mut a = a.to_vec();
    a.sort();
    let mut m = Map::new();
    for (k, v) in a {
        m.insert(k, json!(v));
    }
    Value::Object(m)
}

/// A `manifest` (or, with `manifests`, an `index`) of image.go.
struct Doc<'a> {
    media_type: &'a str,
    artifact_type: &'a str,
    config: Option<Desc>,
    layers: Vec<Desc>,
    manifests: Option<Vec<Desc>>,
    subject: Option<Desc>,
    annotations: Vec<(String, String)>,
}

impl Doc<'_> {
    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("schemaVersion".into(), json!(2));
        if !self.media_type.is_empty() {
            m.insert("mediaType".into(), json!(self.media_type));
        }
        if !self.artifact_type.is_empty() {
            m.insert("artifactType".into(), json!(self.artifact_type));
        }
        if let Some(ms) = &self.manifests {
            m.insert(
                "manifests".into(),
                Value::Array(ms.iter().map(Desc::to_json).collect()),
            );
        } else {
            m.insert(
                "config".into(),
                self.config
                    .as_ref()
                    .map(Desc::to_json)
                    .unwrap_or(Value::Null),
            );
            m.insert(
                "layers".into(),
                Value::Array(self.layers.iter().map(Desc::to_json).collect()),
            );
        }
        if let Some(s) = &self.subject {
            m.insert("subject".into(), s.to_json());
        }
        if !self.annotations.is_empty() {
            m.insert("annotations".into(), annotations(&self.annotations));
        }
        Value::Object(m)
    }

    fn bytes(&self) -> Vec<u8> {
        marshal_indent(&self.to_json())
    }
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

impl Data {
    /// setup.go's `init()` for this configuration.
    pub fn new(cfg: &Config) -> Data {
        let seed = cfg.seed;
        let mut author_rng = rng(seed.wrapping_add(4));
        let mut configs = Vec::new();
        for _ in 0..NUM_WORKFLOWS {
            // A unique config per workflow: a random author each.
            let author = random_string(&mut author_rng, 16);
            let config = json!({
                "author": author,
                "architecture": "amd64",
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": []},
            });
            let content = marshal_indent(&config);
            let digest = if cfg.blob_digest.is_empty() {
                sha256(&content)
            } else {
                cfg.blob_digest.clone()
            };
            configs.push(TestBlob {
                content_length: content.len().to_string(),
                content,
                digest,
            });
        }
        let layer_blob_data = STANDARD.decode(LAYER_BASE64).expect("layer base64");
        let layer_blob_digest = sha256(&layer_blob_data);
        let layer = Desc::new(OCI_LAYER_GZIP, &layer_blob_digest, layer_blob_data.len());
        // The config descriptor carries the config as `data` and an unknown
        // field, which registries must keep.
        let config_desc = |c: &TestBlob| Desc {
            data: Some(c.content.clone()),
            new_unspecified_field: Some(b"hello world".to_vec()),
            ..Desc::new(OCI_CONFIG, &c.digest, c.content.len())
        };
        let mut manifests = Vec::new();
        for c in configs.iter() {
            let content = Doc {
                media_type: OCI_MANIFEST,
                artifact_type: "",
                config: Some(config_desc(c)),
                layers: vec![layer.clone()],
                manifests: None,
                subject: None,
                annotations: vec![],
            }
            .bytes();
            let digest = if cfg.manifest_digest.is_empty() {
                sha256(&content)
            } else {
                cfg.manifest_digest.clone()
            };
            manifests.push(TestBlob {
                content_length: content.len().to_string(),
                content,
                digest,
            });
        }
        // Used in the push test: no mediaType, no layers.
        let empty_layer_manifest_content = Doc {
            media_type: "",
            artifact_type: "",
            config: Some(config_desc(&configs[1])),
            layers: vec![],
            manifests: None,
            subject: None,
            annotations: vec![],
        }
        .bytes();
        let empty_layer_manifest_digest = sha256(&empty_layer_manifest_content);

        let (test_blob_a_digest, test_blob_a) = random_blob(42, seed.wrapping_add(1));
        let chunked = chunked_blob(42, seed);

        let empty_json_blob = b"{}".to_vec();
        let empty_json_digest = sha256(&empty_json_blob);
        let empty_json = Desc::new(OCI_EMPTY, &empty_json_digest, empty_json_blob.len());

        let test_ref_blob_a = b"NHL Peanut Butter on my NHL bagel".to_vec();
        let test_ref_blob_a_digest = sha256(&test_ref_blob_a);
        let type_a = "application/vnd.nhl.peanut.butter.bagel".to_string();
        let test_ref_blob_b = b"NBA Strawberry Jam on my NBA croissant".to_vec();
        let test_ref_blob_b_digest = sha256(&test_ref_blob_b);
        let type_b = "application/vnd.nba.strawberry.jam.croissant".to_string();
        let key = "org.opencontainers.conformance.test".to_string();
        let mut values = HashMap::new();

        let subject_of =
            |m: &TestBlob| Desc::new(OCI_MANIFEST, &sha256(&m.content), m.content.len());
        let subject4 = subject_of(&manifests[4]);
        let subject3 = subject_of(&manifests[3]);
        let ann = |v: &str| vec![(key.clone(), v.to_string())];

        // Artifacts with a subject, config.mediaType = artifact type.
        let config_artifact = |blob: &[u8], blob_digest: &str, ty: &str, note: &str| Doc {
            media_type: OCI_MANIFEST,
            artifact_type: "",
            config: Some(Desc::new(ty, blob_digest, blob.len())),
            layers: vec![empty_json.clone()],
            manifests: None,
            subject: Some(subject4.clone()),
            annotations: ann(note),
        };
        // Artifacts with a subject, artifactType set, config the empty JSON.
        let layer_artifact =
            |blob: &[u8], blob_digest: &str, ty: &str, subject: &Desc, note: Option<&str>| Doc {
                media_type: OCI_MANIFEST,
                artifact_type: "",
                config: Some(empty_json.clone()),
                layers: vec![Desc::new(ty, blob_digest, blob.len())],
                manifests: None,
                subject: Some(subject.clone()),
                annotations: note.map(ann).unwrap_or_default(),
            };

        let a_config = config_artifact(
            &test_ref_blob_a,
            &test_ref_blob_a_digest,
            &type_a,
            "test config a",
        )
        .bytes();
        let a_config_digest = sha256(&a_config);
        values.insert(a_config_digest.clone(), "test config a".to_string());

        let b_config = config_artifact(
            &test_ref_blob_b,
            &test_ref_blob_b_digest,
            &type_b,
            "test config b",
        )
        .bytes();
        let b_config_digest = sha256(&b_config);
        values.insert(b_config_digest.clone(), "test config b".to_string());

        let a_layer = Doc {
            artifact_type: &type_a,
            ..layer_artifact(
                &test_ref_blob_a,
                &test_ref_blob_a_digest,
                &type_a,
                &subject4,
                Some("test layer a"),
            )
        }
        .bytes();
        let a_layer_digest = sha256(&a_layer);
        values.insert(a_layer_digest.clone(), "test layer a".to_string());

        let b_layer = Doc {
            artifact_type: &type_b,
            ..layer_artifact(
                &test_ref_blob_b,
                &test_ref_blob_b_digest,
                &type_b,
                &subject4,
                Some("test layer b"),
            )
        }
        .bytes();
        let b_layer_digest = sha256(&b_layer);
        values.insert(b_layer_digest.clone(), "test layer b".to_string());

        // C: as B, with a subject that is never pushed (manifests[3]), no
        // annotations.
        let c_layer = Doc {
            artifact_type: &type_b,
            ..layer_artifact(
                &test_ref_blob_b,
                &test_ref_blob_b_digest,
                &type_b,
                &subject3,
                None,
            )
        }
        .bytes();
        let c_layer_digest = sha256(&c_layer);

        let type_index = "application/vnd.food.stand".to_string();
        let index = Doc {
            media_type: OCI_INDEX,
            artifact_type: &type_index,
            config: None,
            layers: vec![],
            manifests: Some(vec![
                Desc::new(OCI_MANIFEST, &a_config_digest, a_config.len()),
                Desc::new(OCI_MANIFEST, &a_layer_digest, a_layer.len()),
            ]),
            subject: Some(subject4.clone()),
            annotations: ann("test index"),
        }
        .bytes();
        let index_digest = sha256(&index);
        values.insert(index_digest.clone(), "test index".to_string());

        let mut error_codes = vec![String::new(); 5];
        for c in [
            "BLOB_UNKNOWN",
            "BLOB_UPLOAD_INVALID",
            "BLOB_UPLOAD_UNKNOWN",
            "DIGEST_INVALID",
            "MANIFEST_BLOB_UNKNOWN",
            "MANIFEST_INVALID",
            "MANIFEST_UNKNOWN",
            "MANIFEST_UNVERIFIED",
            "NAME_INVALID",
            "NAME_UNKNOWN",
            "SIZE_INVALID",
            "TAG_INVALID",
            "UNAUTHORIZED",
            "DENIED",
            "UNSUPPORTED",
        ] {
            error_codes.push(c.to_string());
        }
        debug_assert_eq!(error_codes[UNSUPPORTED], "UNSUPPORTED");

        Data {
            seed,
            layer_blob_content_length: layer_blob_data.len().to_string(),
            layer_blob_data,
            layer_blob_digest,
            configs,
            manifests,
            empty_layer_manifest_content,
            empty_layer_manifest_digest,
            nonexistent_manifest: ".INVALID_MANIFEST_NAME".into(),
            invalid_manifest_content: b"blablabla".to_vec(),
            test_blob_a_length: test_blob_a.len().to_string(),
            test_blob_a,
            test_blob_a_digest,
            chunked,
            empty_json_size: empty_json_blob.len(),
            empty_json_blob,
            empty_json_digest,
            test_ref_blob_a_length: test_ref_blob_a.len().to_string(),
            test_ref_blob_a,
            test_ref_blob_a_digest,
            test_ref_blob_b_length: test_ref_blob_b.len().to_string(),
            test_ref_blob_b,
            test_ref_blob_b_digest,
            test_ref_artifact_type_a: type_a,
            test_ref_artifact_type_b: type_b,
            test_ref_artifact_type_index: type_index,
            test_annotation_key: key,
            test_annotation_values: values,
            refs_manifest_a_config_artifact_content: a_config,
            refs_manifest_a_config_artifact_digest: a_config_digest,
            refs_manifest_a_layer_artifact_content: a_layer,
            refs_manifest_a_layer_artifact_digest: a_layer_digest,
            refs_manifest_b_config_artifact_content: b_config,
            refs_manifest_b_config_artifact_digest: b_config_digest,
            refs_manifest_b_layer_artifact_content: b_layer,
            refs_manifest_b_layer_artifact_digest: b_layer_digest,
            refs_manifest_c_layer_artifact_content: c_layer,
            refs_manifest_c_layer_artifact_digest: c_layer_digest,
            refs_index_artifact_content: index,
            refs_index_artifact_digest: index_digest,
            dummy_digest: sha256(b"hello world"),
            error_codes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_as_go_marshals_them() {
        let cfg = Config::from_lookup(|k| (k == "OCI_RANDOM_SEED").then(|| "7".to_string()));
        let d = Data::new(&cfg);
        assert_eq!(d.configs.len(), 16);
        assert_eq!(
            d.empty_json_digest,
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
        let c = String::from_utf8(d.configs[0].content.clone()).unwrap();
        assert!(c.starts_with("{\n\t\"author\": \""), "{c}");
        assert!(
            c.ends_with("\"rootfs\": {\n\t\t\"type\": \"layers\",\n\t\t\"diff_ids\": []\n\t}\n}"),
            "{c}"
        );
        let m = String::from_utf8(d.manifests[0].content.clone()).unwrap();
        assert!(m.starts_with("{\n\t\"schemaVersion\": 2,\n\t\"mediaType\": \"application/vnd.oci.image.manifest.v1+json\",\n\t\"config\": {\n\t\t\"mediaType\": \"application/vnd.oci.image.config.v1+json\",\n"), "{m}");
        assert!(m.contains("\"newUnspecifiedField\": \"aGVsbG8gd29ybGQ=\"\n\t},\n\t\"layers\": [\n\t\t{\n\t\t\t\"mediaType\": \"application/vnd.oci.image.layer.v1.tar+gzip\","), "{m}");
        assert!(
            m.contains("\"newUnspecifiedField\": null\n\t\t}\n\t]\n}"),
            "{m}"
        );
        let e = String::from_utf8(d.empty_layer_manifest_content.clone()).unwrap();
        assert!(
            e.starts_with("{\n\t\"schemaVersion\": 2,\n\t\"config\": {"),
            "{e}"
        );
        assert!(e.ends_with("\"layers\": []\n}"), "{e}");
        let i = String::from_utf8(d.refs_index_artifact_content.clone()).unwrap();
        assert!(
            i.contains("\"artifactType\": \"application/vnd.food.stand\",\n\t\"manifests\": ["),
            "{i}"
        );
        assert_eq!(d.test_annotation_values.len(), 5);
        // Same seed, same data.
        let d2 = Data::new(&cfg);
        assert_eq!(d2.manifests[3].digest, d.manifests[3].digest);
        assert_eq!(d2.chunked.digest, d.chunked.digest);
        assert_eq!(d.chunked.chunk1_range, "0-21");
        assert_eq!(d.chunked.chunk2_range, "22-41");
        assert!(cfg.crossmount_namespace.starts_with("conformance-"));
    }
}
