//! Test helpers: the router in-process on a temporary root.
#![allow(dead_code)]

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use dockhand_registry::config::Config;
use dockhand_registry::reference::Digest;
use dockhand_registry::AppState;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

pub struct Reg {
    pub app: Router,
    pub dir: tempfile::TempDir,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, n: &str) -> Option<&str> {
        self.headers.get(n).and_then(|v| v.to_str().ok())
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("json body")
    }
    pub fn error_code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

pub fn config(root: &std::path::Path) -> Config {
    Config {
        root: root.to_path_buf(),
        ..Config::default()
    }
}

impl Reg {
    pub fn new() -> Reg {
        Self::with(|_| {})
    }

    pub fn with(f: impl FnOnce(&mut Config)) -> Reg {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = config(dir.path());
        c.access_log = false;
        f(&mut c);
        let app = dockhand_registry::router(AppState::new(&c).expect("state"));
        Reg { app, dir }
    }

    /// A fresh router on the same root (a restarted registry).
    pub fn restart(&mut self, f: impl FnOnce(&mut Config)) {
        let mut c = config(self.dir.path());
        c.access_log = false;
        f(&mut c);
        self.app = dockhand_registry::router(AppState::new(&c).expect("state"));
    }

    pub async fn req(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Resp {
        let mut b = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).expect("method"))
            .uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let r = self
            .app
            .clone()
            .oneshot(b.body(Body::from(body)).expect("request"))
            .await
            .expect("response");
        let status = r.status();
        let headers = r.headers().clone();
        let body = r
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes()
            .to_vec();
        assert_eq!(
            headers
                .get("docker-distribution-api-version")
                .and_then(|v| v.to_str().ok()),
            Some("registry/2.0")
        );
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, uri: &str) -> Resp {
        self.req("GET", uri, &[], Vec::new()).await
    }

    /// A monolithic blob push; the digest.
    pub async fn push_blob(&self, repo: &str, content: &[u8]) -> Digest {
        let d = Digest::of(content);
        let r = self
            .req(
                "POST",
                &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
                &[],
                content.to_vec(),
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        d
    }

    /// Pushes a manifest; the response.
    pub async fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        m: &Value,
    ) -> Resp {
        self.req(
            "PUT",
            &format!("/v2/{repo}/manifests/{reference}"),
            &[("content-type", media_type)],
            serde_json::to_vec(m).expect("json"),
        )
        .await
    }

    /// Pushes an image (config + one layer + manifest) tagged `tag`; the
    /// manifest digest and the blob digests.
    pub async fn push_image(&self, repo: &str, tag: &str, layer: &[u8]) -> (Digest, Vec<Digest>) {
        let config = format!("{{\"layer\":{}}}", layer.len());
        let c = self.push_blob(repo, config.as_bytes()).await;
        let l = self.push_blob(repo, layer).await;
        let m = image_manifest(&c, config.len(), &l, layer.len(), None);
        let r = self.put_manifest(repo, tag, OCI_MANIFEST, &m).await;
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        let d = Digest::of(&serde_json::to_vec(&m).expect("json"));
        (d, vec![c, l])
    }
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

pub fn image_manifest(
    c: &Digest,
    cs: usize,
    l: &Digest,
    ls: usize,
    subject: Option<(&Digest, &str)>,
) -> Value {
    let mut m = json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": c.to_string(), "size": cs},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": l.to_string(), "size": ls}],
    });
    if let Some((s, artifact_type)) = subject {
        m["subject"] = json!({"mediaType": OCI_MANIFEST, "digest": s.to_string(), "size": 1});
        m["artifactType"] = json!(artifact_type);
        m["annotations"] = json!({"k": artifact_type});
    }
    m
}
