//! Blob pushes and pulls through the router: monolithic and chunked uploads,
//! ranges, cross-repository mounts, upload resume after a restart.

mod common;

use axum::http::StatusCode;
use common::Reg;
use dockhand_registry::reference::Digest;

#[tokio::test]
async fn base_and_monolithic_push() {
    let r = Reg::new();
    let base = r.get("/v2/").await;
    assert_eq!(base.status, StatusCode::OK);
    assert_eq!(base.body, b"{}");

    let content = b"hello registry".to_vec();
    let d = Digest::of(&content);
    let p = r
        .req(
            "POST",
            &format!("/v2/a/b/blobs/uploads/?digest={d}"),
            &[],
            content.clone(),
        )
        .await;
    assert_eq!(p.status, StatusCode::CREATED);
    assert_eq!(
        p.header("location"),
        Some(format!("/v2/a/b/blobs/{d}").as_str())
    );
    assert_eq!(
        p.header("docker-content-digest"),
        Some(d.to_string().as_str())
    );

    let g = r.get(&format!("/v2/a/b/blobs/{d}")).await;
    assert_eq!(g.status, StatusCode::OK);
    assert_eq!(g.body, content);
    assert_eq!(g.header("content-length"), Some("14"));
    let h = r
        .req("HEAD", &format!("/v2/a/b/blobs/{d}"), &[], vec![])
        .await;
    assert_eq!(h.status, StatusCode::OK);
    assert_eq!(h.header("content-length"), Some("14"));
    assert!(h.body.is_empty());

    let part = r
        .req(
            "GET",
            &format!("/v2/a/b/blobs/{d}"),
            &[("range", "bytes=6-9")],
            vec![],
        )
        .await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.body, b"regi");
    assert_eq!(part.header("content-range"), Some("bytes 6-9/14"));
    let bad = r
        .req(
            "GET",
            &format!("/v2/a/b/blobs/{d}"),
            &[("range", "bytes=99-")],
            vec![],
        )
        .await;
    assert_eq!(bad.status, StatusCode::RANGE_NOT_SATISFIABLE);

    // Another repository does not have it.
    let other = r
        .req("HEAD", &format!("/v2/other/blobs/{d}"), &[], vec![])
        .await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    let other = r.get(&format!("/v2/other/blobs/{d}")).await;
    assert_eq!(other.error_code(), "BLOB_UNKNOWN");

    // A wrong digest is refused.
    let wrong = Digest::of(b"something else");
    let p = r
        .req(
            "POST",
            &format!("/v2/a/b/blobs/uploads/?digest={wrong}"),
            &[],
            content,
        )
        .await;
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert_eq!(p.error_code(), "DIGEST_INVALID");
    assert_eq!(
        r.get(&format!("/v2/a/b/blobs/{wrong}")).await.status,
        StatusCode::NOT_FOUND
    );

    // Names are validated.
    let n = r.get("/v2/UPPER/blobs/uploads/x").await;
    assert_eq!(n.status, StatusCode::BAD_REQUEST);
    assert_eq!(n.error_code(), "NAME_INVALID");
}

#[tokio::test]
async fn chunked_push_and_out_of_order_chunk() {
    let r = Reg::new();
    let start = r
        .req("POST", "/v2/chunky/blobs/uploads/", &[], vec![])
        .await;
    assert_eq!(start.status, StatusCode::ACCEPTED);
    assert_eq!(start.header("range"), Some("0-0"));
    let uuid = start
        .header("docker-upload-uuid")
        .expect("uuid")
        .to_string();
    let loc = start.header("location").expect("location").to_string();
    assert_eq!(loc, format!("/v2/chunky/blobs/uploads/{uuid}"));

    let c1 = vec![1u8; 1000];
    let c2 = vec![2u8; 500];
    let p1 = r
        .req(
            "PATCH",
            &loc,
            &[("content-range", "0-999"), ("content-length", "1000")],
            c1.clone(),
        )
        .await;
    assert_eq!(p1.status, StatusCode::ACCEPTED);
    assert_eq!(p1.header("range"), Some("0-999"));

    // Out of order: starts at 2000 instead of 1000.
    let bad = r
        .req(
            "PATCH",
            &loc,
            &[("content-range", "2000-2499"), ("content-length", "500")],
            c2.clone(),
        )
        .await;
    assert_eq!(bad.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(bad.error_code(), "RANGE_INVALID");

    let st = r.get(&loc).await;
    assert_eq!(st.status, StatusCode::NO_CONTENT);
    assert_eq!(st.header("range"), Some("0-999"));

    let p2 = r
        .req(
            "PATCH",
            &loc,
            &[("content-range", "1000-1499"), ("content-length", "500")],
            c2.clone(),
        )
        .await;
    assert_eq!(p2.status, StatusCode::ACCEPTED);
    assert_eq!(p2.header("range"), Some("0-1499"));

    let mut all = c1.clone();
    all.extend(&c2);
    let tail = vec![3u8; 7];
    all.extend(&tail);
    let d = Digest::of(&all);
    let put = r.req("PUT", &format!("{loc}?digest={d}"), &[], tail).await;
    assert_eq!(
        put.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&put.body)
    );
    assert_eq!(
        put.header("docker-content-digest"),
        Some(d.to_string().as_str())
    );
    assert_eq!(r.get(&format!("/v2/chunky/blobs/{d}")).await.body, all);
    // The upload is gone.
    assert_eq!(r.get(&loc).await.error_code(), "BLOB_UPLOAD_UNKNOWN");

    // A finishing digest that does not match: 400 and the upload is dropped.
    let s = r
        .req("POST", "/v2/chunky/blobs/uploads/", &[], vec![])
        .await;
    let loc = s.header("location").expect("location").to_string();
    r.req("PATCH", &loc, &[], b"abc".to_vec()).await;
    let put = r
        .req(
            "PUT",
            &format!("{loc}?digest={}", Digest::of(b"abd")),
            &[],
            vec![],
        )
        .await;
    assert_eq!(put.status, StatusCode::BAD_REQUEST);
    assert_eq!(put.error_code(), "DIGEST_INVALID");

    // Cancel.
    let s = r
        .req("POST", "/v2/chunky/blobs/uploads/", &[], vec![])
        .await;
    let loc = s.header("location").expect("location").to_string();
    assert_eq!(
        r.req("DELETE", &loc, &[], vec![]).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        r.req("DELETE", &loc, &[], vec![]).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn cross_repository_mount() {
    let r = Reg::new();
    let d = r.push_blob("src/repo", b"shared layer").await;
    assert_eq!(
        r.get(&format!("/v2/dst/blobs/{d}")).await.status,
        StatusCode::NOT_FOUND
    );

    // Mount from a repository that lacks it: a new upload instead.
    let m = r
        .req(
            "POST",
            &format!("/v2/dst/blobs/uploads/?mount={d}&from=nothere"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(m.status, StatusCode::ACCEPTED);
    assert!(m.header("docker-upload-uuid").is_some());

    let m = r
        .req(
            "POST",
            &format!("/v2/dst/blobs/uploads/?mount={d}&from=src/repo"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(m.status, StatusCode::CREATED);
    assert_eq!(
        m.header("location"),
        Some(format!("/v2/dst/blobs/{d}").as_str())
    );
    assert_eq!(
        r.get(&format!("/v2/dst/blobs/{d}")).await.body,
        b"shared layer"
    );

    // Without `from`: mounted when the registry has the blob anywhere.
    let m = r
        .req(
            "POST",
            &format!("/v2/auto/blobs/uploads/?mount={d}"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(m.status, StatusCode::CREATED);
    assert_eq!(
        r.get(&format!("/v2/auto/blobs/{d}")).await.status,
        StatusCode::OK
    );
    let unknown = Digest::of(b"nope");
    let m = r
        .req(
            "POST",
            &format!("/v2/auto/blobs/uploads/?mount={unknown}"),
            &[],
            vec![],
        )
        .await;
    assert_eq!(m.status, StatusCode::ACCEPTED);
}

#[tokio::test]
async fn upload_survives_a_restart() {
    let mut r = Reg::new();
    let s = r
        .req("POST", "/v2/resume/blobs/uploads/", &[], vec![])
        .await;
    let loc = s.header("location").expect("location").to_string();
    let first = vec![7u8; 4096];
    let p = r
        .req("PATCH", &loc, &[("content-range", "0-4095")], first.clone())
        .await;
    assert_eq!(p.status, StatusCode::ACCEPTED);

    r.restart(|_| {});
    let st = r.get(&loc).await;
    assert_eq!(st.status, StatusCode::NO_CONTENT);
    assert_eq!(st.header("range"), Some("0-4095"));
    let second = vec![8u8; 100];
    let p = r
        .req(
            "PATCH",
            &loc,
            &[("content-range", "4096-4195")],
            second.clone(),
        )
        .await;
    assert_eq!(p.status, StatusCode::ACCEPTED);
    assert_eq!(p.header("range"), Some("0-4195"));

    r.restart(|_| {});
    let mut all = first;
    all.extend(second);
    let d = Digest::of(&all);
    let put = r
        .req("PUT", &format!("{loc}?digest={d}"), &[], vec![])
        .await;
    assert_eq!(put.status, StatusCode::CREATED);
    assert_eq!(r.get(&format!("/v2/resume/blobs/{d}")).await.body, all);
}

#[tokio::test]
async fn many_uploads_at_once() {
    let r = std::sync::Arc::new(Reg::new());
    let mut tasks = Vec::new();
    for i in 0..16u8 {
        let r = r.clone();
        tasks.push(tokio::spawn(async move {
            // Half of them push the same content.
            let content = vec![i % 2; 100_000];
            r.push_blob(&format!("conc/r{i}"), &content).await
        }));
    }
    for t in tasks {
        let d = t.await.expect("task");
        assert!(d == Digest::of(&vec![0u8; 100_000]) || d == Digest::of(&vec![1u8; 100_000]));
    }
    let g = r
        .get(&format!(
            "/v2/conc/r3/blobs/{}",
            Digest::of(&vec![1u8; 100_000])
        ))
        .await;
    assert_eq!(g.body.len(), 100_000);
}
