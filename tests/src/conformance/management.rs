//! `04_management_test.go`: the Content Management workflow (deletes).

use super::setup::{CONTENT_MANAGEMENT, TITLE_CONTENT_MANAGEMENT, UNSUPPORTED};
use super::{decode_tag_list, error_codes, is, Ctx, Step, Suite, OK2XX};

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCTETS: &str = "application/octet-stream";
const DEFAULT_TAG_NAME: &str = "tagtest0";

/// POST an upload, then PUT `content` as `digest`; expect 2xx.
fn populate_blob(c: &mut Ctx, digest: &str, length: &str, content: &[u8]) -> Step {
    let resp = c.send(c.req("POST", "/v2/<name>/blobs/uploads/"))?;
    let req = c
        .req("PUT", &resp.relative_location())
        .header("Content-Length", length)
        .header("Content-Type", OCTETS)
        .query("digest", digest)
        .body(content);
    let resp = c.send(req)?;
    c.status(&resp, &[OK2XX])
}

pub(super) fn run(s: &mut Suite) {
    s.workflow(TITLE_CONTENT_MANAGEMENT, CONTENT_MANAGEMENT);
    let mut tag_to_delete = String::new();
    let mut num_tags: i64 = 0;
    let mut blob_delete_allowed = true;

    // Setup
    s.spec("Setup", "Populate registry with test config blob", |c| {
        c.skip_if_disabled(CONTENT_MANAGEMENT)?;
        c.run_only_if(c.cfg.run_content_management_setup)?;
        let b = c.data.configs[3].clone();
        populate_blob(c, &b.digest, &b.content_length, &b.content)
    });
    s.spec("Setup", "Populate registry with test layer", |c| {
        c.skip_if_disabled(CONTENT_MANAGEMENT)?;
        c.run_only_if(c.cfg.run_content_management_setup)?;
        let d = c.data.clone();
        populate_blob(
            c,
            &d.layer_blob_digest,
            &d.layer_blob_content_length,
            &d.layer_blob_data,
        )
    });
    s.spec("Setup", "Populate registry with test tag", |c| {
        c.skip_if_disabled(CONTENT_MANAGEMENT)?;
        c.run_only_if(c.cfg.run_content_management_setup)?;
        tag_to_delete = DEFAULT_TAG_NAME.to_string();
        let req = c
            .req_ref("PUT", "/v2/<name>/manifests/<reference>", &tag_to_delete)
            .header("Content-Type", MANIFEST)
            .body(&c.data.manifests[3].content);
        let resp = c.send(req)?;
        c.status(&resp, &[OK2XX])
    });
    s.spec(
        "Setup",
        "Check how many tags there are before anything gets deleted",
        |c| {
            c.skip_if_disabled(CONTENT_MANAGEMENT)?;
            c.run_only_if(c.cfg.run_content_management_setup)?;
            let resp = c.send(c.req("GET", "/v2/<name>/tags/list"))?;
            c.status(&resp, &[is(200)])?;
            let tags = decode_tag_list(&resp.body);
            c.check(tags.is_ok(), || {
                format!(
                    "the tag list does not decode: {}",
                    tags.clone().unwrap_err()
                )
            })?;
            num_tags = tags.unwrap_or_default().len() as i64;
            Ok(())
        },
    );

    // Manifest delete
    s.spec(
        "Manifest delete",
        "DELETE request to manifest tag should return 202, unless tag deletion is disallowed (400/405)",
        |c| {
            c.skip_if_disabled(CONTENT_MANAGEMENT)?;
            let req = c.req_ref("DELETE", "/v2/<name>/manifests/<reference>", &tag_to_delete);
            let resp = c.send(req)?;
            c.status(&resp, &[is(400), is(202), is(405)])?;
            if resp.status == 400 {
                let codes = error_codes(&resp.body);
                c.check(codes.is_ok(), || {
                    format!("expected an error body, got: {}", codes.clone().unwrap_err())
                })?;
                let codes = codes.unwrap_or_default();
                c.check(!codes.is_empty(), || "expected errors, got none".into())?;
                let want = &c.data.error_codes[UNSUPPORTED];
                c.check(&codes[0] == want, || {
                    format!("expected the code {want:?} with a 400, got {:?}", codes[0])
                })?;
            }
            Ok(())
        },
    );
    s.spec(
        "Manifest delete",
        "DELETE request to manifest (digest) should yield 202 response unless already deleted",
        |c| {
            c.skip_if_disabled(CONTENT_MANAGEMENT)?;
            let d = c.data.manifests[3].digest.clone();
            let resp = c.send(c.req_digest("DELETE", "/v2/<name>/manifests/<digest>", &d))?;
            // If the tag delete was accepted this one may or may not fail.
            c.status(&resp, &[is(202), is(404)])
        },
    );
    s.spec(
        "Manifest delete",
        "GET request to deleted manifest URL should yield 404 response, unless delete is disallowed",
        |c| {
            c.skip_if_disabled(CONTENT_MANAGEMENT)?;
            let d = c.data.manifests[3].digest.clone();
            let resp = c.send(c.req_digest("GET", "/v2/<name>/manifests/<digest>", &d))?;
            c.status(&resp, &[is(404), is(200)])
        },
    );
    s.spec(
        "Manifest delete",
        "GET request to tags list should reflect manifest deletion",
        |c| {
            c.skip_if_disabled(CONTENT_MANAGEMENT)?;
            let resp = c.send(c.req("GET", "/v2/<name>/tags/list"))?;
            c.status(&resp, &[is(404), is(200)])?;
            let expect_tags = num_tags - 1;
            if resp.status == 200 {
                let tags = decode_tag_list(&resp.body);
                c.check(tags.is_ok(), || {
                    format!(
                        "the tag list does not decode: {}",
                        tags.clone().unwrap_err()
                    )
                })?;
                let tags = tags.unwrap_or_default();
                c.check(tags.len() as i64 == expect_tags, || {
                    format!("expected {expect_tags} tags, got {}: {tags:?}", tags.len())
                })?;
            }
            if resp.status == 404 {
                c.check(expect_tags == 0, || {
                    format!("expected {expect_tags} tags left, got a 404")
                })?;
            }
            Ok(())
        },
    );

    // Blob delete
    s.spec(
        "Blob delete",
        "DELETE request to blob URL should yield 202 response",
        |c| {
            c.skip_if_disabled(CONTENT_MANAGEMENT)?;
            c.run_only_if(c.cfg.run_content_management_setup)?;
            // The config blob.
            let d = c.data.configs[3].digest.clone();
            let resp = c.send(c.req_digest("DELETE", "/v2/<name>/blobs/<digest>", &d))?;
            c.status(&resp, &[is(202), is(404), is(405)])?;
            // The layer blob.
            let d = c.data.layer_blob_digest.clone();
            let resp = c.send(c.req_digest("DELETE", "/v2/<name>/blobs/<digest>", &d))?;
            c.status(&resp, &[is(202), is(404), is(405)])?;
            if resp.status == 405 {
                blob_delete_allowed = false;
            }
            Ok(())
        },
    );
    s.spec(
        "Blob delete",
        "GET request to deleted blob URL should yield 404 response",
        |c| {
            c.skip_if_disabled(CONTENT_MANAGEMENT)?;
            c.run_only_if(c.cfg.run_content_management_setup)?;
            c.run_only_if(blob_delete_allowed)?;
            let d = c.data.configs[3].digest.clone();
            let resp = c.send(c.req_digest("GET", "/v2/<name>/blobs/<digest>", &d))?;
            c.status(&resp, &[is(404)])
        },
    );

    // Teardown: none.
}
