//! Authentication, garbage collection and configuration.

mod common;

use std::collections::HashMap;

use axum::http::StatusCode;
use base64::Engine as _;
use common::Reg;
use dockhand_registry::config::{Config, Htpasswd, LoadOptions};
use dockhand_registry::log::Level;
use dockhand_registry::{garbage_collect, GcOptions};

#[tokio::test]
async fn htpasswd_auth() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("htpasswd");
    let hash = bcrypt::hash("s3cret", 4).expect("bcrypt");
    std::fs::write(&path, format!("alice:{hash}\nbob:{{SHA}}notbcrypt\n")).expect("write");
    let r = Reg::with(|c| {
        c.htpasswd = Some(Htpasswd {
            realm: "test-realm".into(),
            path: path.clone(),
        })
    });
    let anon = r.get("/v2/").await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        anon.header("www-authenticate"),
        Some("Basic realm=\"test-realm\"")
    );
    assert_eq!(anon.error_code(), "UNAUTHORIZED");

    let basic = |u: &str, p: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )
    };
    for (u, p) in [
        ("alice", "wrong"),
        ("bob", "notbcrypt"),
        ("carol", "s3cret"),
    ] {
        let x = r
            .req("GET", "/v2/", &[("authorization", &basic(u, p))], vec![])
            .await;
        assert_eq!(x.status, StatusCode::UNAUTHORIZED, "{u}");
    }
    for _ in 0..2 {
        let ok = r
            .req(
                "GET",
                "/v2/",
                &[("authorization", &basic("alice", "s3cret"))],
                vec![],
            )
            .await;
        assert_eq!(ok.status, StatusCode::OK);
    }
    let x = r.req("GET", "/v2/_catalog", &[], vec![]).await;
    assert_eq!(x.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn garbage_collect_sweeps_exactly_the_unreferenced() {
    let r = Reg::with(|c| c.delete_enabled = true);
    let (kept, kept_blobs) = r.push_image("gc/keep", "v1", b"kept layer").await;
    let (gone, gone_blobs) = r.push_image("gc/gone", "v1", b"gone layer").await;
    let (untagged, untagged_blobs) = r.push_image("gc/keep", "old", b"old layer").await;
    let orphan = r.push_blob("gc/keep", b"orphan blob").await;
    assert_eq!(
        r.req(
            "DELETE",
            &format!("/v2/gc/gone/manifests/{gone}"),
            &[],
            vec![]
        )
        .await
        .status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        r.req("DELETE", "/v2/gc/keep/manifests/old", &[], vec![])
            .await
            .status,
        StatusCode::ACCEPTED
    );
    // An upload in progress is left alone.
    let up = r
        .req("POST", "/v2/gc/keep/blobs/uploads/", &[], vec![])
        .await;
    let loc = up.header("location").expect("location").to_string();
    r.req("PATCH", &loc, &[], b"partial".to_vec()).await;

    let blob_exists = |d: &dockhand_registry::reference::Digest| {
        r.dir
            .path()
            .join("docker/registry/v2/blobs/sha256")
            .join(&d.hex[..2])
            .join(&d.hex)
            .join("data")
            .is_file()
    };

    // Dry run: reports, deletes nothing.
    let mut out = Vec::new();
    let dry = garbage_collect(
        r.dir.path(),
        GcOptions {
            dry_run: true,
            ..Default::default()
        },
        &mut out,
    )
    .expect("gc");
    assert_eq!(
        dry.deleted_blobs.len(),
        3,
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert!(blob_exists(&orphan));

    let mut out = Vec::new();
    let rep = garbage_collect(r.dir.path(), GcOptions::default(), &mut out).expect("gc");
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.contains(&format!("blob eligible for deletion: {orphan}")),
        "{text}"
    );
    // Without -m the untagged manifest still counts.
    for d in [&kept, &untagged]
        .into_iter()
        .chain(&kept_blobs)
        .chain(&untagged_blobs)
    {
        assert!(blob_exists(d), "{d} kept");
        assert!(rep.marked.contains(d));
    }
    let mut deleted = rep.deleted_blobs.clone();
    deleted.sort();
    // gc/gone's config is the same blob as gc/keep's (same content): kept.
    assert_eq!(gone_blobs[0], kept_blobs[0]);
    let mut want = vec![gone.clone(), gone_blobs[1].clone(), orphan.clone()];
    want.sort();
    assert_eq!(deleted, want);
    for d in &want {
        assert!(!blob_exists(d), "{d} swept");
    }
    assert_eq!(
        r.get(&format!("/v2/gc/keep/manifests/{kept}")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        r.get(&format!("/v2/gc/keep/blobs/{}", kept_blobs[1]))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        r.get(&format!("/v2/gc/keep/blobs/{orphan}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        r.get(&loc).await.status,
        StatusCode::NO_CONTENT,
        "upload kept"
    );

    // -m: the untagged manifest goes, with its own config and layer.
    let mut out = Vec::new();
    let rep = garbage_collect(
        r.dir.path(),
        GcOptions {
            delete_untagged: true,
            ..Default::default()
        },
        &mut out,
    )
    .expect("gc");
    assert_eq!(
        rep.deleted_manifests,
        vec![("gc/keep".to_string(), untagged.clone())]
    );
    assert!(
        !blob_exists(&untagged)
            && !blob_exists(&untagged_blobs[0])
            && !blob_exists(&untagged_blobs[1])
    );
    assert!(blob_exists(&kept) && blob_exists(&kept_blobs[0]) && blob_exists(&kept_blobs[1]));
    assert_eq!(
        r.get(&format!("/v2/gc/keep/manifests/{untagged}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[test]
fn config_yaml_and_env() {
    let yaml = r#"
version: 0.1
log:
  level: debug
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /data/reg
  delete:
    enabled: true
http:
  addr: :6000
  headers:
    X-Content-Type-Options: [nosniff]
  surprise: 1
auth:
  htpasswd:
    realm: r1
    path: /auth/htpasswd
unknowntop: x
"#;
    let none = |_: &str| None;
    let (c, warnings) = Config::from_yaml(yaml, none).expect("config");
    assert_eq!(c.addr, ":6000");
    assert_eq!(c.root, std::path::PathBuf::from("/data/reg"));
    assert!(c.delete_enabled);
    assert_eq!(c.log_level, Level::Debug);
    assert_eq!(
        c.headers,
        vec![("X-Content-Type-Options".into(), "nosniff".into())]
    );
    assert_eq!(c.htpasswd.as_ref().map(|h| h.realm.as_str()), Some("r1"));
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("http.surprise")));
    assert!(warnings.iter().any(|w| w.contains("unknowntop")));

    let env: HashMap<&str, &str> = [
        ("REGISTRY_HTTP_ADDR", "127.0.0.1:7000"),
        ("REGISTRY_STORAGE_DELETE_ENABLED", "false"),
        ("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", "/env/root"),
        ("REGISTRY_AUTH_HTPASSWD_PATH", "/env/htpasswd"),
        ("REGISTRY_LOG_LEVEL", "warn"),
    ]
    .into_iter()
    .collect();
    let lookup = |k: &str| env.get(k).map(|v| v.to_string());
    let (c, _) = Config::from_yaml(yaml, lookup).expect("config");
    assert_eq!(c.addr, "127.0.0.1:7000");
    assert!(!c.delete_enabled);
    assert_eq!(c.root, std::path::PathBuf::from("/env/root"));
    assert_eq!(c.log_level, Level::Warn);
    let h = c.htpasswd.expect("htpasswd");
    assert_eq!(
        (h.realm.as_str(), h.path.to_str()),
        ("r1", Some("/env/htpasswd"))
    );

    // Defaults, env-only config, flags over everything.
    let (d, w) = Config::from_yaml("", none).expect("empty");
    assert_eq!(d, Config::default());
    assert!(w.is_empty());
    assert_eq!(d.addr, ":5000");
    let (c, _) = Config::from_yaml("", |k: &str| {
        (k == "REGISTRY_STORAGE_DELETE_ENABLED").then(|| "true".to_string())
    })
    .expect("env");
    assert!(c.delete_enabled);

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("config.yml");
    std::fs::write(&file, yaml).expect("write");
    let opts = LoadOptions {
        path: Some(file),
        addr: Some("127.0.0.1:1".into()),
        root: Some("/flag/root".into()),
    };
    let (c, _) = Config::load_with_env(&opts, none).expect("load");
    assert_eq!(
        (c.addr.as_str(), c.root.to_str()),
        ("127.0.0.1:1", Some("/flag/root"))
    );
    let missing = LoadOptions {
        path: Some(dir.path().join("missing.yml")),
        ..Default::default()
    };
    assert!(Config::load_with_env(&missing, none).is_err());
    assert!(Config::from_yaml("storage:\n  s3:\n    bucket: x\n", none).is_err());
    assert!(Config::from_yaml("log:\n  level: loud\n", none).is_err());
}
