//! `01_pull_test.go`: the Pull workflow.

use super::setup::{PULL, TEST_TAG_NAME, TITLE_PULL, UNSUPPORTED};
use super::{is, Ctx, Step, Suite, OK2XX};

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// POST an upload, then PUT `content` as `digest` to its location; expect 2xx.
fn populate_blob(c: &mut Ctx, digest: &str, length: &str, content: &[u8]) -> Step {
    let resp = c.send(c.req("POST", "/v2/<name>/blobs/uploads/"))?;
    let req = c
        .req("PUT", &resp.relative_location())
        .query("digest", digest)
        .header("Content-Type", "application/octet-stream")
        .header("Content-Length", length)
        .body(content);
    let resp = c.send(req)?;
    c.status(&resp, &[OK2XX])
}

/// DELETE a manifest by digest: 2xx or 405.
fn delete_manifest(c: &mut Ctx, digest: &str) -> Step {
    let resp = c.send(c.req_digest("DELETE", "/v2/<name>/manifests/<digest>", digest))?;
    c.status(&resp, &[OK2XX, is(405)])
}

/// DELETE a blob: 2xx, 404 or 405.
fn delete_blob(c: &mut Ctx, digest: &str) -> Step {
    let resp = c.send(c.req_digest("DELETE", "/v2/<name>/blobs/<digest>", digest))?;
    c.status(&resp, &[OK2XX, is(404), is(405)])
}

/// If `Docker-Content-Digest` is set, it must be `want`.
fn digest_header(c: &Ctx, resp: &super::client::Resp, want: &str) -> Step {
    let h = resp.header("Docker-Content-Digest");
    c.check(h.is_empty() || h == want, || {
        format!("Docker-Content-Digest: expected {want:?}, got {h:?}")
    })
}

pub(super) fn run(s: &mut Suite) {
    s.workflow(TITLE_PULL, PULL);
    let mut tag = String::new();

    // Setup
    s.spec("Setup", "Populate registry with test blob", |c| {
        c.skip_if_disabled(PULL)?;
        c.run_only_if(c.cfg.run_pull_setup)?;
        let b = c.data.configs[0].clone();
        populate_blob(c, &b.digest, &b.content_length, &b.content)
    });
    s.spec("Setup", "Populate registry with test blob", |c| {
        c.skip_if_disabled(PULL)?;
        c.run_only_if(c.cfg.run_pull_setup)?;
        let b = c.data.configs[1].clone();
        populate_blob(c, &b.digest, &b.content_length, &b.content)
    });
    s.spec("Setup", "Populate registry with test layer", |c| {
        c.skip_if_disabled(PULL)?;
        c.run_only_if(c.cfg.run_pull_setup)?;
        let d = c.data.clone();
        populate_blob(
            c,
            &d.layer_blob_digest,
            &d.layer_blob_content_length,
            &d.layer_blob_data,
        )
    });
    s.spec("Setup", "Populate registry with test manifest", |c| {
        c.skip_if_disabled(PULL)?;
        c.run_only_if(c.cfg.run_pull_setup)?;
        tag = TEST_TAG_NAME.to_string();
        let req = c
            .req_ref("PUT", "/v2/<name>/manifests/<reference>", &tag)
            .header("Content-Type", MANIFEST)
            .body(&c.data.manifests[0].content);
        let resp = c.send(req)?;
        c.status(&resp, &[OK2XX])
    });
    s.spec("Setup", "Populate registry with test manifest", |c| {
        c.skip_if_disabled(PULL)?;
        c.run_only_if(c.cfg.run_pull_setup)?;
        let m = c.data.manifests[1].clone();
        let req = c
            .req_ref("PUT", "/v2/<name>/manifests/<reference>", &m.digest)
            .header("Content-Type", MANIFEST)
            .body(&m.content);
        let resp = c.send(req)?;
        c.status(&resp, &[OK2XX])
    });
    s.spec("Setup", "Get tag name from environment", |c| {
        c.skip_if_disabled(PULL)?;
        c.run_only_if_not(c.cfg.run_pull_setup)?;
        if !c.cfg.tag_name.is_empty() {
            tag = c.cfg.tag_name.clone();
        }
        Ok(())
    });

    // Pull blobs
    s.spec(
        "Pull blobs",
        "HEAD request to nonexistent blob should result in 404 response",
        |c| {
            c.skip_if_disabled(PULL)?;
            let req = c.req_digest("HEAD", "/v2/<name>/blobs/<digest>", &c.data.dummy_digest);
            let resp = c.send(req)?;
            c.status(&resp, &[is(404)])
        },
    );
    s.spec(
        "Pull blobs",
        "HEAD request to existing blob should yield 200",
        |c| {
            c.skip_if_disabled(PULL)?;
            let d = c.data.configs[0].digest.clone();
            let resp = c.send(c.req_digest("HEAD", "/v2/<name>/blobs/<digest>", &d))?;
            c.status(&resp, &[is(200)])?;
            digest_header(c, &resp, &d)
        },
    );
    s.spec(
        "Pull blobs",
        "GET nonexistent blob should result in 404 response",
        |c| {
            c.skip_if_disabled(PULL)?;
            let req = c.req_digest("GET", "/v2/<name>/blobs/<digest>", &c.data.dummy_digest);
            let resp = c.send(req)?;
            c.status(&resp, &[is(404)])
        },
    );
    s.spec(
        "Pull blobs",
        "GET request to existing blob URL should yield 200",
        |c| {
            c.skip_if_disabled(PULL)?;
            let d = c.data.configs[0].digest.clone();
            let resp = c.send(c.req_digest("GET", "/v2/<name>/blobs/<digest>", &d))?;
            c.status(&resp, &[is(200)])
        },
    );

    // Pull manifests
    s.spec(
        "Pull manifests",
        "HEAD request to nonexistent manifest should return 404",
        |c| {
            c.skip_if_disabled(PULL)?;
            let req = c.req_ref(
                "HEAD",
                "/v2/<name>/manifests/<reference>",
                &c.data.nonexistent_manifest,
            );
            let resp = c.send(req)?;
            c.status(&resp, &[is(404)])
        },
    );
    for (i, name) in [
        (
            0,
            "HEAD request to manifest[0] path (digest) should yield 200 response",
        ),
        (
            1,
            "HEAD request to manifest[1] path (digest) should yield 200 response",
        ),
    ] {
        s.spec("Pull manifests", name, |c| {
            c.skip_if_disabled(PULL)?;
            let d = c.data.manifests[i].digest.clone();
            let req = c
                .req_digest("HEAD", "/v2/<name>/manifests/<digest>", &d)
                .header("Accept", MANIFEST);
            let resp = c.send(req)?;
            c.status(&resp, &[is(200)])?;
            digest_header(c, &resp, &d)
        });
    }
    s.spec(
        "Pull manifests",
        "HEAD request to manifest path (tag) should yield 200 response",
        |c| {
            c.skip_if_disabled(PULL)?;
            c.check(!tag.is_empty(), || "expected a tag, got none".into())?;
            let req = c
                .req_ref("HEAD", "/v2/<name>/manifests/<reference>", &tag)
                .header("Accept", MANIFEST);
            let resp = c.send(req)?;
            c.status(&resp, &[is(200)])?;
            let d = c.data.manifests[0].digest.clone();
            digest_header(c, &resp, &d)
        },
    );
    s.spec(
        "Pull manifests",
        "GET nonexistent manifest should return 404",
        |c| {
            c.skip_if_disabled(PULL)?;
            let req = c.req_ref(
                "GET",
                "/v2/<name>/manifests/<reference>",
                &c.data.nonexistent_manifest,
            );
            let resp = c.send(req)?;
            c.status(&resp, &[is(404)])
        },
    );
    for (i, name) in [
        (
            0,
            "GET request to manifest[0] path (digest) should yield 200 response",
        ),
        (
            1,
            "GET request to manifest[1] path (digest) should yield 200 response",
        ),
    ] {
        s.spec("Pull manifests", name, |c| {
            c.skip_if_disabled(PULL)?;
            let d = c.data.manifests[i].digest.clone();
            let req = c
                .req_digest("GET", "/v2/<name>/manifests/<digest>", &d)
                .header("Accept", MANIFEST);
            let resp = c.send(req)?;
            c.status(&resp, &[is(200)])
        });
    }
    s.spec(
        "Pull manifests",
        "GET request to manifest path (tag) should yield 200 response",
        |c| {
            c.skip_if_disabled(PULL)?;
            c.check(!tag.is_empty(), || "expected a tag, got none".into())?;
            let req = c
                .req_ref("GET", "/v2/<name>/manifests/<reference>", &tag)
                .header("Accept", MANIFEST);
            let resp = c.send(req)?;
            c.status(&resp, &[is(200)])
        },
    );

    // Error codes
    s.spec(
        "Error codes",
        "400 response body should contain OCI-conforming JSON message",
        |c| {
            c.skip_if_disabled(PULL)?;
            // The body is set but not sent: resty drops a GET's body.
            let req = c
                .req_ref(
                    "GET",
                    "/v2/<name>/manifests/<reference>",
                    "sha256:totallywrong",
                )
                .header("Content-Type", MANIFEST)
                .body(&c.data.invalid_manifest_content);
            let resp = c.send(req)?;
            c.status(&resp, &[is(400), is(404)])?;
            if resp.status == 400 {
                let codes = super::error_codes(&resp.body);
                c.check(codes.is_ok(), || {
                    format!(
                        "expected an error body, got: {}",
                        codes.clone().unwrap_err()
                    )
                })?;
                let codes = codes.unwrap_or_default();
                c.check(!codes.is_empty(), || "expected errors, got none".into())?;
                c.check(c.data.error_codes.contains(&codes[0]), || {
                    format!(
                        "expected a code among {:?}, got {:?}",
                        &c.data.error_codes[5..=UNSUPPORTED],
                        codes[0]
                    )
                })?;
            }
            Ok(())
        },
    );

    // Teardown
    let manifest_deletes = |s: &mut Suite| {
        for (i, name) in [
            (0, "Delete manifest[0] created in setup"),
            (1, "Delete manifest[1] created in setup"),
        ] {
            s.spec("Teardown", name, |c| {
                c.skip_if_disabled(PULL)?;
                c.run_only_if(c.cfg.run_pull_setup)?;
                let d = c.data.manifests[i].digest.clone();
                delete_manifest(c, &d)
            });
        }
    };
    let before = s.ctx.cfg.delete_manifest_before_blobs;
    if before {
        manifest_deletes(s);
    }
    for (i, name) in [
        (0, "Delete config[0] blob created in setup"),
        (1, "Delete config[1] blob created in setup"),
    ] {
        s.spec("Teardown", name, |c| {
            c.skip_if_disabled(PULL)?;
            c.run_only_if(c.cfg.run_pull_setup)?;
            let d = c.data.configs[i].digest.clone();
            delete_blob(c, &d)
        });
    }
    s.spec("Teardown", "Delete layer blob created in setup", |c| {
        c.skip_if_disabled(PULL)?;
        c.run_only_if(c.cfg.run_pull_setup)?;
        let d = c.data.layer_blob_digest.clone();
        delete_blob(c, &d)
    });
    if !before {
        manifest_deletes(s);
    }
}
