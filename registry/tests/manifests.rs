//! Manifests, tags, catalog, referrers and deletes through the router.

mod common;

use axum::http::StatusCode;
use common::{image_manifest, Reg, OCI_MANIFEST};
use dockhand_registry::reference::Digest;
use serde_json::json;

#[tokio::test]
async fn manifest_push_checks_blobs() {
    let r = Reg::new();
    let c = r.push_blob("img", b"{}").await;
    let missing = Digest::of(b"layer never pushed");
    let m = image_manifest(&c, 2, &missing, 18, None);
    let p = r.put_manifest("img", "v1", OCI_MANIFEST, &m).await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert_eq!(p.error_code(), "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(p.json()["errors"][0]["detail"], json!(missing.to_string()));
    assert_eq!(
        r.get("/v2/img/manifests/v1").await.error_code(),
        "MANIFEST_UNKNOWN"
    );

    // A blob of another repository does not count.
    r.push_blob("elsewhere", b"layer never pushed").await;
    let p = r.put_manifest("img", "v1", OCI_MANIFEST, &m).await;
    assert_eq!(p.error_code(), "MANIFEST_BLOB_UNKNOWN");

    r.push_blob("img", b"layer never pushed").await;
    let bytes = serde_json::to_vec(&m).expect("json");
    let d = Digest::of(&bytes);
    let p = r.put_manifest("img", "v1", OCI_MANIFEST, &m).await;
    assert_eq!(p.status, StatusCode::CREATED);
    assert_eq!(
        p.header("docker-content-digest"),
        Some(d.to_string().as_str())
    );
    assert_eq!(
        p.header("location"),
        Some(format!("/v2/img/manifests/{d}").as_str())
    );

    for reference in ["v1".to_string(), d.to_string()] {
        let g = r.get(&format!("/v2/img/manifests/{reference}")).await;
        assert_eq!(g.status, StatusCode::OK);
        assert_eq!(g.body, bytes, "stored as pushed");
        assert_eq!(g.header("content-type"), Some(OCI_MANIFEST));
        assert_eq!(
            g.header("docker-content-digest"),
            Some(d.to_string().as_str())
        );
    }
    let h = r.req("HEAD", "/v2/img/manifests/v1", &[], vec![]).await;
    assert_eq!(h.status, StatusCode::OK);
    assert_eq!(
        h.header("content-length"),
        Some(bytes.len().to_string().as_str())
    );
    assert!(h.body.is_empty());

    // By digest: must match.
    let wrong = Digest::of(b"x");
    let p = r
        .put_manifest("img", &wrong.to_string(), OCI_MANIFEST, &m)
        .await;
    assert_eq!(p.error_code(), "DIGEST_INVALID");
    let p = r
        .put_manifest("img", &d.to_string(), OCI_MANIFEST, &m)
        .await;
    assert_eq!(p.status, StatusCode::CREATED);

    // Not JSON; bad tag.
    let p = r
        .req(
            "PUT",
            "/v2/img/manifests/v2",
            &[("content-type", OCI_MANIFEST)],
            b"{".to_vec(),
        )
        .await;
    assert_eq!(p.error_code(), "MANIFEST_INVALID");
    let p = r.put_manifest("img", "-bad", OCI_MANIFEST, &m).await;
    assert_eq!(p.error_code(), "TAG_INVALID");

    // An index needs its manifests in the repository.
    let idx = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": d.to_string(), "size": bytes.len()},
                      {"mediaType": OCI_MANIFEST, "digest": wrong.to_string(), "size": 1}]});
    let p = r
        .put_manifest(
            "img",
            "multi",
            "application/vnd.oci.image.index.v1+json",
            &idx,
        )
        .await;
    assert_eq!(p.error_code(), "MANIFEST_BLOB_UNKNOWN");
    let idx = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": OCI_MANIFEST, "digest": d.to_string(), "size": bytes.len()}]});
    let p = r
        .put_manifest(
            "img",
            "multi",
            "application/vnd.oci.image.index.v1+json",
            &idx,
        )
        .await;
    assert_eq!(p.status, StatusCode::CREATED);
    let g = r.get("/v2/img/manifests/multi").await;
    assert_eq!(
        g.header("content-type"),
        Some("application/vnd.oci.image.index.v1+json")
    );
}

#[tokio::test]
async fn tags_and_catalog_pagination() {
    let r = Reg::new();
    let (d, _) = r.push_image("pag/one", "t0", b"l").await;
    let bytes = r.get(&format!("/v2/pag/one/manifests/{d}")).await.body;
    for t in ["b", "a", "d", "c", "e"] {
        let p = r
            .req(
                "PUT",
                &format!("/v2/pag/one/manifests/{t}"),
                &[("content-type", OCI_MANIFEST)],
                bytes.clone(),
            )
            .await;
        assert_eq!(p.status, StatusCode::CREATED);
    }
    let all = r.get("/v2/pag/one/tags/list").await;
    assert_eq!(
        all.json(),
        json!({"name": "pag/one", "tags": ["a", "b", "c", "d", "e", "t0"]})
    );
    assert!(all.header("link").is_none());

    let p1 = r.get("/v2/pag/one/tags/list?n=2").await;
    assert_eq!(p1.json()["tags"], json!(["a", "b"]));
    assert_eq!(
        p1.header("link"),
        Some("</v2/pag/one/tags/list?last=b&n=2>; rel=\"next\"")
    );
    let p2 = r.get("/v2/pag/one/tags/list?n=2&last=b").await;
    assert_eq!(p2.json()["tags"], json!(["c", "d"]));
    let p3 = r.get("/v2/pag/one/tags/list?n=2&last=d").await;
    assert_eq!(p3.json()["tags"], json!(["e", "t0"]));
    assert!(p3.header("link").is_none());

    let unknown = r.get("/v2/nobody/tags/list").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.error_code(), "NAME_UNKNOWN");

    r.push_image("pag/two", "x", b"l").await;
    r.push_image("aaa", "x", b"l").await;
    r.push_blob("blobonly", b"no manifest").await;
    let c = r.get("/v2/_catalog").await;
    assert_eq!(
        c.json(),
        json!({"repositories": ["aaa", "pag/one", "pag/two"]})
    );
    let c = r.get("/v2/_catalog?n=1").await;
    assert_eq!(c.json(), json!({"repositories": ["aaa"]}));
    assert_eq!(
        c.header("link"),
        Some("</v2/_catalog?last=aaa&n=1>; rel=\"next\"")
    );
    let c = r.get("/v2/_catalog?n=5&last=aaa").await;
    assert_eq!(c.json(), json!({"repositories": ["pag/one", "pag/two"]}));
}

#[tokio::test]
async fn referrers_with_filter() {
    let r = Reg::new();
    let (subject, blobs) = r.push_image("ref", "v1", b"base layer").await;
    let mut pushed = Vec::new();
    for (kind, layer) in [
        ("application/vnd.example.sig", b"sig".as_slice()),
        ("application/vnd.example.sbom", b"sbom"),
    ] {
        let l = r.push_blob("ref", layer).await;
        let m = image_manifest(&blobs[0], 20, &l, layer.len(), Some((&subject, kind)));
        let p = r
            .put_manifest(
                "ref",
                &Digest::of(&serde_json::to_vec(&m).expect("json")).to_string(),
                OCI_MANIFEST,
                &m,
            )
            .await;
        assert_eq!(
            p.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&p.body)
        );
        assert_eq!(p.header("oci-subject"), Some(subject.to_string().as_str()));
        pushed.push(Digest::of(&serde_json::to_vec(&m).expect("json")));
    }
    let all = r.get(&format!("/v2/ref/referrers/{subject}")).await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(
        all.header("content-type"),
        Some("application/vnd.oci.image.index.v1+json")
    );
    let v = all.json();
    assert_eq!(v["schemaVersion"], 2);
    let ms = v["manifests"].as_array().expect("manifests");
    assert_eq!(ms.len(), 2);
    for m in ms {
        assert_eq!(m["mediaType"], OCI_MANIFEST);
        assert!(pushed.iter().any(|d| m["digest"] == d.to_string()));
        assert!(m["size"].as_u64().is_some_and(|s| s > 0));
        assert_eq!(m["annotations"]["k"], m["artifactType"]);
    }
    assert!(all.header("oci-filters-applied").is_none());

    let f = r
        .get(&format!(
            "/v2/ref/referrers/{subject}?artifactType=application/vnd.example.sbom"
        ))
        .await;
    assert_eq!(f.header("oci-filters-applied"), Some("artifactType"));
    let ms = f.json()["manifests"]
        .as_array()
        .cloned()
        .expect("manifests");
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0]["artifactType"], "application/vnd.example.sbom");

    let none = r
        .get(&format!("/v2/ref/referrers/{}", Digest::of(b"nothing")))
        .await;
    assert_eq!(none.status, StatusCode::OK);
    assert_eq!(none.json()["manifests"], json!([]));
    assert_eq!(
        r.get("/v2/ref/referrers/notadigest").await.error_code(),
        "DIGEST_INVALID"
    );
}

#[tokio::test]
async fn deletes_disabled_by_default() {
    let r = Reg::new();
    let (d, blobs) = r.push_image("del", "v1", b"x").await;
    for uri in [
        format!("/v2/del/manifests/{d}"),
        format!("/v2/del/blobs/{}", blobs[1]),
        "/v2/del/manifests/v1".into(),
    ] {
        let x = r.req("DELETE", &uri, &[], vec![]).await;
        assert_eq!(x.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(x.error_code(), "UNSUPPORTED");
    }
    assert_eq!(r.get("/v2/del/manifests/v1").await.status, StatusCode::OK);
}

#[tokio::test]
async fn deletes_when_enabled() {
    let r = Reg::with(|c| c.delete_enabled = true);
    let (d, blobs) = r.push_image("del", "v1", b"x").await;
    let bytes = r.get("/v2/del/manifests/v1").await.body;
    r.req(
        "PUT",
        "/v2/del/manifests/v2",
        &[("content-type", OCI_MANIFEST)],
        bytes,
    )
    .await;

    // A tag.
    assert_eq!(
        r.req("DELETE", "/v2/del/manifests/v2", &[], vec![])
            .await
            .status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        r.get("/v2/del/manifests/v2").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(r.get("/v2/del/manifests/v1").await.status, StatusCode::OK);

    // A blob.
    let b = format!("/v2/del/blobs/{}", blobs[1]);
    assert_eq!(
        r.req("DELETE", &b, &[], vec![]).await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(r.get(&b).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        r.req("DELETE", &b, &[], vec![]).await.error_code(),
        "BLOB_UNKNOWN"
    );

    // A manifest by digest takes its tags along.
    let m = format!("/v2/del/manifests/{d}");
    assert_eq!(
        r.req("DELETE", &m, &[], vec![]).await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(r.get(&m).await.error_code(), "MANIFEST_UNKNOWN");
    assert_eq!(
        r.get("/v2/del/manifests/v1").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(r.get("/v2/del/tags/list").await.json()["tags"], json!([]));
    assert_eq!(
        r.req("DELETE", &m, &[], vec![]).await.status,
        StatusCode::NOT_FOUND
    );
}
