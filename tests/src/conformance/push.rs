//! `02_push_test.go`: the Push workflow.

use super::client::Resp;
use super::setup::{chunked_blob, EMPTY_LAYER_TEST_TAG, PUSH, TITLE_PUSH};
use super::{is, Ctx, Step, Stop, Suite, OK2XX};

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCTETS: &str = "application/octet-stream";

/// A shared `*reggie.Response` the Go code dereferences: nil panics.
fn deref(r: &Option<Resp>) -> Result<&Resp, Stop> {
    r.as_ref().ok_or_else(|| {
        Stop::Fail(
            "Test Panicked: runtime error: invalid memory address or nil pointer dereference (no earlier response)"
                .into(),
        )
    })
}

fn location_not_empty(c: &Ctx, resp: &Resp) -> Step {
    c.check(!resp.header("Location").is_empty(), || {
        "expected a Location header, got none".into()
    })
}

pub(super) fn run(s: &mut Suite) {
    s.workflow(TITLE_PUSH, PUSH);
    let mut last_response: Option<Resp> = None;
    let mut prev_response: Option<Resp> = None;
    let mut empty_layer_manifest_ref = String::new();

    // Setup: none.

    // Blob Upload Streamed
    s.spec(
        "Blob Upload Streamed",
        "PATCH request with blob in body should yield 202 response",
        |c| {
            c.skip_if_disabled(PUSH)?;
            let resp = c.send(c.req("POST", "/v2/<name>/blobs/uploads/"))?;
            location_not_empty(c, &resp)?;
            let req = c
                .req("PATCH", &resp.relative_location())
                .header("Content-Type", OCTETS)
                .body(&c.data.test_blob_a);
            let resp = c.send(req)?;
            c.status(&resp, &[is(202)])?;
            last_response = Some(resp);
            Ok(())
        },
    );
    s.spec(
        "Blob Upload Streamed",
        "PUT request to session URL with digest should yield 201 response",
        |c| {
            c.skip_if_disabled(PUSH)?;
            c.check(last_response.is_some(), || {
                "expected an earlier response, got nil".into()
            })?;
            let last = deref(&last_response)?;
            let req = c
                .req("PUT", &last.relative_location())
                .query("digest", &c.data.test_blob_a_digest)
                .header("Content-Type", OCTETS)
                .header("Content-Length", &c.data.test_blob_a_length);
            let resp = c.send(req)?;
            c.status(&resp, &[is(201)])?;
            location_not_empty(c, &resp)
        },
    );

    // Blob Upload Monolithic
    s.spec(
        "Blob Upload Monolithic",
        "GET nonexistent blob should result in 404 response",
        |c| {
            c.skip_if_disabled(PUSH)?;
            let req = c.req_digest("GET", "/v2/<name>/blobs/<digest>", &c.data.dummy_digest);
            let resp = c.send(req)?;
            c.status(&resp, &[is(404)])
        },
    );
    s.spec(
        "Blob Upload Monolithic",
        "POST request with digest and blob should yield a 201 or 202",
        |c| {
            c.skip_if_disabled(PUSH)?;
            let b = c.data.configs[1].clone();
            let req = c
                .req("POST", "/v2/<name>/blobs/uploads/")
                .header("Content-Length", &b.content_length)
                .header("Content-Type", OCTETS)
                .query("digest", &b.digest)
                .body(&b.content);
            let resp = c.send(req)?;
            location_not_empty(c, &resp)?;
            c.status(&resp, &[is(201), is(202)])?;
            last_response = Some(resp);
            Ok(())
        },
    );
    s.spec(
        "Blob Upload Monolithic",
        "GET request to blob URL from prior request should yield 200 or 404 based on response code",
        |c| {
            c.skip_if_disabled(PUSH)?;
            c.check(last_response.is_some(), || {
                "expected an earlier response, got nil".into()
            })?;
            let d = c.data.configs[1].digest.clone();
            let resp = c.send(c.req_digest("GET", "/v2/<name>/blobs/<digest>", &d))?;
            if deref(&last_response)?.status == 202 {
                c.status(&resp, &[is(404)])
            } else {
                c.status(&resp, &[is(200)])
            }
        },
    );
    s.spec(
        "Blob Upload Monolithic",
        "POST request should yield a session ID",
        |c| {
            c.skip_if_disabled(PUSH)?;
            let resp = c.send(c.req("POST", "/v2/<name>/blobs/uploads/"))?;
            c.status(&resp, &[is(202)])?;
            last_response = Some(resp);
            Ok(())
        },
    );
    s.spec(
        "Blob Upload Monolithic",
        "PUT upload of a blob should yield a 201 Response",
        |c| {
            c.skip_if_disabled(PUSH)?;
            let b = c.data.configs[1].clone();
            let req = c
                .req("PUT", &deref(&last_response)?.relative_location())
                .header("Content-Length", &b.content_length)
                .header("Content-Type", OCTETS)
                .query("digest", &b.digest)
                .body(&b.content);
            let resp = c.send(req)?;
            location_not_empty(c, &resp)?;
            c.status(&resp, &[is(201)])
        },
    );
    s.spec(
        "Blob Upload Monolithic",
        "GET request to existing blob should yield 200 response",
        |c| {
            c.skip_if_disabled(PUSH)?;
            let d = c.data.configs[1].digest.clone();
            let resp = c.send(c.req_digest("GET", "/v2/<name>/blobs/<digest>", &d))?;
            c.status(&resp, &[is(200)])
        },
    );
    s.spec(
        "Blob Upload Monolithic",
        "PUT upload of a layer blob should yield a 201 Response",
        |c| {
            c.skip_if_disabled(PUSH)?;
            let resp = c.send(c.req("POST", "/v2/<name>/blobs/uploads/"))?;
            let req = c
                .req("PUT", &resp.relative_location())
                .header("Content-Length", &c.data.layer_blob_content_length)
                .header("Content-Type", OCTETS)
                .query("digest", &c.data.layer_blob_digest)
                .body(&c.data.layer_blob_data);
            let resp = c.send(req)?;
            location_not_empty(c, &resp)?;
            c.status(&resp, &[is(201)])
        },
    );
    s.spec(
        "Blob Upload Monolithic",
        "GET request to existing layer should yield 200 response",
        |c| {
            c.skip_if_disabled(PUSH)?;
            let d = c.data.layer_blob_digest.clone();
            let resp = c.send(c.req_digest("GET", "/v2/<name>/blobs/<digest>", &d))?;
            c.status(&resp, &[is(200)])
        },
    );

    // Blob Upload Chunked
    s.spec(
        "Blob Upload Chunked",
        "Out-of-order blob upload should return 416",
        |c| {
            c.skip_if_disabled(PUSH)?;
            let req = c
                .req("POST", "/v2/<name>/blobs/uploads/")
                .header("Content-Length", "0");
            let resp = c.send(req)?;
            location_not_empty(c, &resp)?;
            // Rebuild the chunked blob if the registry's minimum chunk is
            // larger than the first chunk.
            let min = resp.header("OCI-Chunk-Min-Length");
            if !min.is_empty() {
                let n = min.parse::<i64>();
                c.check(n.is_ok(), || {
                    format!("OCI-Chunk-Min-Length {min:?} is not a number")
                })?;
                let n = n.unwrap_or_default();
                if n > c.data.chunked.chunk1.len() as i64 {
                    c.data.chunked = chunked_blob((n * 2 - 2) as usize, c.data.seed);
                }
            }
            let ch = c.data.chunked.clone();
            let req = c
                .req("PATCH", &resp.relative_location())
                .header("Content-Type", OCTETS)
                .header("Content-Length", &ch.chunk2_length)
                .header("Content-Range", &ch.chunk2_range)
                .body(&ch.chunk2);
            let resp = c.send(req)?;
            c.status(&resp, &[is(416)])
        },
    );
    s.spec(
        "Blob Upload Chunked",
        "PATCH request with first chunk should return 202",
        |c| {
            c.skip_if_disabled(PUSH)?;
            let req = c
                .req("POST", "/v2/<name>/blobs/uploads/")
                .header("Content-Length", "0");
            let resp = c.send(req)?;
            location_not_empty(c, &resp)?;
            prev_response = Some(resp.clone());
            let ch = c.data.chunked.clone();
            let req = c
                .req("PATCH", &resp.relative_location())
                .header("Content-Type", OCTETS)
                .header("Content-Length", &ch.chunk1_length)
                .header("Content-Range", &ch.chunk1_range)
                .body(&ch.chunk1);
            let resp = c.send(req)?;
            c.status(&resp, &[is(202)])?;
            let range = resp.header("Range");
            c.check(range == ch.chunk1_range, || {
                format!("Range: expected {:?}, got {range:?}", ch.chunk1_range)
            })?;
            last_response = Some(resp);
            Ok(())
        },
    );
    s.spec(
        "Blob Upload Chunked",
        "Retry previous blob chunk should return 416",
        |c| {
            c.skip_if_disabled(PUSH)?;
            let ch = c.data.chunked.clone();
            let req = c
                .req("PATCH", &deref(&prev_response)?.relative_location())
                .header("Content-Type", OCTETS)
                .header("Content-Length", &ch.chunk1_length)
                .header("Content-Range", &ch.chunk1_range)
                .body(&ch.chunk1);
            let resp = c.send(req)?;
            c.status(&resp, &[is(416)])
        },
    );
    s.spec(
        "Blob Upload Chunked",
        "Get on stale blob upload should return 204 with a range and location",
        |c| {
            c.skip_if_disabled(PUSH)?;
            let req = c.req("GET", &deref(&prev_response)?.relative_location());
            let resp = c.send(req)?;
            c.status(&resp, &[is(204)])?;
            location_not_empty(c, &resp)?;
            let range = resp.header("Range");
            let want = c.data.chunked.chunk1_range.clone();
            c.check(range == want, || {
                format!("Range: expected {want:?}, got {range:?}")
            })?;
            last_response = Some(resp);
            Ok(())
        },
    );
    s.spec(
        "Blob Upload Chunked",
        "PATCH request with second chunk should return 202",
        |c| {
            c.skip_if_disabled(PUSH)?;
            let ch = c.data.chunked.clone();
            let req = c
                .req("PATCH", &deref(&last_response)?.relative_location())
                .header("Content-Length", &ch.chunk2_length)
                .header("Content-Range", &ch.chunk2_range)
                .header("Content-Type", OCTETS)
                .body(&ch.chunk2);
            let resp = c.send(req)?;
            c.status(&resp, &[is(202)])?;
            let range = resp.header("Range");
            let want = format!("0-{}", ch.blob.len() - 1);
            c.check(range == want, || {
                format!("Range: expected {want:?}, got {range:?}")
            })?;
            location_not_empty(c, &resp)?;
            last_response = Some(resp);
            Ok(())
        },
    );
    s.spec(
        "Blob Upload Chunked",
        "PUT request with digest should return 201",
        |c| {
            c.skip_if_disabled(PUSH)?;
            let req = c
                .req("PUT", &deref(&last_response)?.relative_location())
                .header("Content-Length", "0")
                .header("Content-Type", OCTETS)
                .query("digest", &c.data.chunked.digest);
            let resp = c.send(req)?;
            c.status(&resp, &[is(201)])?;
            location_not_empty(c, &resp)
        },
    );

    // Cross-Repository Blob Mount
    s.spec(
        "Cross-Repository Blob Mount",
        "Cross-mounting of a blob without the from argument should yield session id",
        |c| {
            c.skip_if_disabled(PUSH)?;
            let req = c
                .req_name(
                    "POST",
                    "/v2/<name>/blobs/uploads/",
                    &c.cfg.crossmount_namespace,
                )
                .query("mount", &c.data.dummy_digest);
            let resp = c.send(req)?;
            c.status(&resp, &[is(202)])?;
            c.check(!resp.absolute_location().is_empty(), || {
                "expected a Location, got none".into()
            })
        },
    );
    s.spec(
        "Cross-Repository Blob Mount",
        "POST request to mount another repository's blob should return 201 or 202",
        |c| {
            c.skip_if_disabled(PUSH)?;
            let req = c
                .req_name(
                    "POST",
                    "/v2/<name>/blobs/uploads/",
                    &c.cfg.crossmount_namespace,
                )
                .query("mount", &c.data.test_blob_a_digest)
                .query("from", &c.client.default_name);
            let resp = c.send(req)?;
            c.status(&resp, &[is(201), is(202)])?;
            last_response = Some(resp);
            Ok(())
        },
    );
    s.spec(
        "Cross-Repository Blob Mount",
        "GET request to test digest within cross-mount namespace should return 200",
        |c| {
            c.skip_if_disabled(PUSH)?;
            let last = deref(&last_response)?.clone();
            c.run_only_if(last.status == 201)?;
            let want = format!(
                "/v2/{}/blobs/{}",
                c.cfg.crossmount_namespace, c.data.test_blob_a_digest
            );
            let got = last.relative_location();
            c.check(got == want, || {
                format!(
                    "mount Location: expected {want:?}, got {got:?}\n  mount exchange: {}",
                    last.evidence()
                )
            })?;
            let resp = c.send(c.req("GET", &got))?;
            c.status(&resp, &[is(200)])
        },
    );
    s.spec(
        "Cross-Repository Blob Mount",
        "Cross-mounting of nonexistent blob should yield session id",
        |c| {
            c.skip_if_disabled(PUSH)?;
            let last = deref(&last_response)?.clone();
            c.run_only_if(last.status == 202)?;
            let prefix = format!("/v2/{}/blobs/uploads/", c.cfg.crossmount_namespace);
            let got = last.relative_location();
            c.check(got.starts_with(&prefix), || {
                format!(
                    "mount Location: expected a prefix {prefix:?}, got {got:?}\n  mount exchange: {}",
                    last.evidence()
                )
            })
        },
    );
    s.spec(
        "Cross-Repository Blob Mount",
        "Cross-mounting without from, and automatic content discovery enabled should return a 201",
        |c| {
            c.skip_if_disabled(PUSH)?;
            c.run_only_if(c.cfg.run_automatic_crossmount_test)?;
            c.run_only_if(deref(&last_response)?.status == 201)?;
            c.run_only_if(c.cfg.automatic_crossmount_enabled)?;
            let req = c
                .req_name(
                    "POST",
                    "/v2/<name>/blobs/uploads/",
                    &c.cfg.crossmount_namespace,
                )
                .query("mount", &c.data.test_blob_a_digest);
            let resp = c.send(req)?;
            c.status(&resp, &[is(201)])
        },
    );
    s.spec(
        "Cross-Repository Blob Mount",
        "Cross-mounting without from, and automatic content discovery disabled should return a 202",
        |c| {
            c.skip_if_disabled(PUSH)?;
            c.run_only_if(c.cfg.run_automatic_crossmount_test)?;
            c.run_only_if(deref(&last_response)?.status == 201)?;
            c.run_only_if_not(c.cfg.automatic_crossmount_enabled)?;
            let req = c
                .req_name(
                    "POST",
                    "/v2/<name>/blobs/uploads/",
                    &c.cfg.crossmount_namespace,
                )
                .query("mount", &c.data.test_blob_a_digest);
            let resp = c.send(req)?;
            c.status(&resp, &[is(202)])
        },
    );

    // Manifest Upload
    s.spec(
        "Manifest Upload",
        "GET nonexistent manifest should return 404",
        |c| {
            c.skip_if_disabled(PUSH)?;
            let req = c.req_ref(
                "GET",
                "/v2/<name>/manifests/<reference>",
                &c.data.nonexistent_manifest,
            );
            let resp = c.send(req)?;
            c.status(&resp, &[is(404)])
        },
    );
    s.spec(
        "Manifest Upload",
        "PUT should accept a manifest upload",
        |c| {
            c.skip_if_disabled(PUSH)?;
            for i in 0..4 {
                let tag = format!("test{i}");
                let req = c
                    .req_ref("PUT", "/v2/<name>/manifests/<reference>", &tag)
                    .header("Content-Type", MANIFEST)
                    .body(&c.data.manifests[1].content);
                let resp = c.send(req)?;
                location_not_empty(c, &resp)?;
                c.status(&resp, &[is(201)])?;
            }
            Ok(())
        },
    );
    s.spec(
        "Manifest Upload",
        "Registry should accept a manifest upload with no layers",
        |c| {
            c.skip_if_disabled(PUSH)?;
            let req = c
                .req_ref(
                    "PUT",
                    "/v2/<name>/manifests/<reference>",
                    EMPTY_LAYER_TEST_TAG,
                )
                .header("Content-Type", MANIFEST)
                .body(&c.data.empty_layer_manifest_content);
            let resp = c.send(req)?;
            if resp.status == 201 {
                let location = resp.header("Location");
                empty_layer_manifest_ref = location.clone();
                location_not_empty(c, &resp)?;
                c.status(&resp, &[is(201)])
            } else {
                c.warn("image manifest with no layers is not supported");
                Ok(())
            }
        },
    );
    s.spec(
        "Manifest Upload",
        "GET request to manifest URL (digest) should yield 200 response",
        |c| {
            c.skip_if_disabled(PUSH)?;
            let d = c.data.manifests[1].digest.clone();
            let req = c
                .req_digest("GET", "/v2/<name>/manifests/<digest>", &d)
                .header("Accept", MANIFEST);
            let resp = c.send(req)?;
            c.status(&resp, &[is(200)])
        },
    );

    // Teardown
    let before = s.ctx.cfg.delete_manifest_before_blobs;
    let delete_manifests = |s: &mut Suite, empty_ref: &str| {
        s.spec("Teardown", "Delete manifest created in tests", |c| {
            c.skip_if_disabled(PUSH)?;
            c.run_only_if(c.cfg.run_push_setup)?;
            let d = c.data.manifests[1].digest.clone();
            let resp = c.send(c.req_digest("DELETE", "/v2/<name>/manifests/<digest>", &d))?;
            c.status(&resp, &[OK2XX, is(405)])?;
            if !empty_ref.is_empty() {
                let d = c.data.empty_layer_manifest_digest.clone();
                let resp = c.send(c.req_ref("DELETE", "/v2/<name>/manifests/<reference>", &d))?;
                c.status(&resp, &[OK2XX, is(405)])?;
            }
            Ok(())
        });
    };
    if before {
        delete_manifests(s, &empty_layer_manifest_ref);
    }
    s.spec("Teardown", "Delete config blob created in tests", |c| {
        c.skip_if_disabled(PUSH)?;
        c.run_only_if(c.cfg.run_push_setup)?;
        let d = c.data.configs[1].digest.clone();
        let resp = c.send(c.req_digest("DELETE", "/v2/<name>/blobs/<digest>", &d))?;
        c.status(&resp, &[OK2XX, is(404), is(405)])
    });
    s.spec("Teardown", "Delete layer blob created in setup", |c| {
        c.skip_if_disabled(PUSH)?;
        c.run_only_if(c.cfg.run_push_setup)?;
        let d = c.data.layer_blob_digest.clone();
        let resp = c.send(c.req_digest("DELETE", "/v2/<name>/blobs/<digest>", &d))?;
        c.status(&resp, &[OK2XX, is(404), is(405)])
    });
    if !before {
        delete_manifests(s, &empty_layer_manifest_ref);
    }
}
