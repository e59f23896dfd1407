//! `03_discovery_test.go`: the Content Discovery workflow (tag listing and
//! the referrers API).

use super::client::Resp;
use super::setup::{
    ARTIFACT_TYPE_FILTER, CONTENT_DISCOVERY, TEST_TAG_NAME, TITLE_CONTENT_DISCOVERY,
};
use super::{decode_index, is, Ctx, IndexEntry, Step, Stop, Suite, OK2XX};

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCTETS: &str = "application/octet-stream";

/// `getTagList(resp)`, keeping Go's distinction between a nil slice (`tags`
/// null or absent: `None`) and an empty one: gomega's `Equal` (reflect's
/// `DeepEqual`) tells them apart.
fn get_tag_list(resp: &Resp) -> Option<Vec<String>> {
    match super::decode_tag_list(&resp.body) {
        Err(_) => Some(vec![]),
        Ok(tags) => {
            let v: serde_json::Value = serde_json::from_slice(&resp.body).unwrap_or_default();
            match super::client::json_get_ci(&v, "tags") {
                None | Some(serde_json::Value::Null) => None,
                Some(_) => Some(tags),
            }
        }
    }
}

/// POST an upload, then PUT `content` as `digest`; expect 2xx.
fn populate_blob(c: &mut Ctx, digest: &str, length: &str, content: &[u8]) -> Step {
    let resp = c.send(c.req("POST", "/v2/<name>/blobs/uploads/"))?;
    let req = c
        .req("PUT", &resp.relative_location())
        .query("digest", digest)
        .header("Content-Type", OCTETS)
        .header("Content-Length", length)
        .body(content);
    let resp = c.send(req)?;
    c.status(&resp, &[OK2XX])
}

/// PUT a manifest by reference; expect 2xx and, when `subject` is given,
/// `OCI-Subject: subject`.
fn put_manifest(
    c: &mut Ctx,
    reference: &str,
    media_type: &str,
    content: &[u8],
    subject: Option<&str>,
) -> Step {
    let req = c
        .req_ref("PUT", "/v2/<name>/manifests/<reference>", reference)
        .header("Content-Type", media_type)
        .body(content);
    let resp = c.send(req)?;
    c.status(&resp, &[OK2XX])?;
    if let Some(want) = subject {
        let got = resp.header("OCI-Subject");
        c.check(got == want, || {
            format!("OCI-Subject: expected {want:?}, got {got:?}")
        })?;
    }
    Ok(())
}

/// GET the referrers of `digest` (with `artifactType` when given); expect
/// 200, the index media type, and a body that decodes as an index.
fn referrers(
    c: &mut Ctx,
    digest: &str,
    artifact_type: Option<&str>,
) -> Result<(Resp, Vec<IndexEntry>), Stop> {
    let mut req = c.req_digest("GET", "/v2/<name>/referrers/<digest>", digest);
    if let Some(t) = artifact_type {
        req = req.query("artifactType", t);
    }
    let resp = c.send(req)?;
    c.status(&resp, &[is(200)])?;
    let ct = resp.header("Content-Type");
    c.check(ct == INDEX, || {
        format!("Content-Type: expected {INDEX:?}, got {ct:?}")
    })?;
    let idx = decode_index(&resp.body);
    c.check(idx.is_ok(), || {
        format!(
            "the body does not decode as an index: {}",
            idx.clone().unwrap_err()
        )
    })?;
    Ok((resp, idx.unwrap_or_default()))
}

fn expect_len(c: &Ctx, got: &[IndexEntry], want: usize) -> Step {
    c.check(got.len() == want, || {
        let digests: Vec<&str> = got.iter().map(|e| e.digest.as_str()).collect();
        format!("expected {want} manifests, got {}: {digests:?}", got.len())
    })
}

/// Each entry has one annotation, the one the suite gave that artifact.
fn expect_annotations(c: &Ctx, got: &[IndexEntry]) -> Step {
    let key = c.data.test_annotation_key.clone();
    for e in got {
        c.check(e.annotations.len() == 1, || {
            format!(
                "{}: expected 1 annotation, got {:?}",
                e.digest, e.annotations
            )
        })?;
        let want = c
            .data
            .test_annotation_values
            .get(&e.digest)
            .cloned()
            .unwrap_or_default();
        let v = e.annotation(&key);
        c.check(v == want, || {
            format!(
                "{}: annotation {key}: expected {want:?}, got {v:?}",
                e.digest
            )
        })?;
    }
    Ok(())
}

pub(super) fn run(s: &mut Suite) {
    s.workflow(TITLE_CONTENT_DISCOVERY, CONTENT_DISCOVERY);
    let mut num_tags: usize = 4;
    let mut tag_list: Option<Vec<String>> = None;

    // Setup
    s.spec("Setup", "Populate registry with test blob", |c| {
        c.skip_if_disabled(CONTENT_DISCOVERY)?;
        c.run_only_if(c.cfg.run_content_discovery_setup)?;
        let b = c.data.configs[2].clone();
        populate_blob(c, &b.digest, &b.content_length, &b.content)
    });
    s.spec("Setup", "Populate registry with test layer", |c| {
        c.skip_if_disabled(CONTENT_DISCOVERY)?;
        c.run_only_if(c.cfg.run_content_discovery_setup)?;
        let d = c.data.clone();
        populate_blob(
            c,
            &d.layer_blob_digest,
            &d.layer_blob_content_length,
            &d.layer_blob_data,
        )
    });
    s.spec("Setup", "Populate registry with test tags", |c| {
        c.skip_if_disabled(CONTENT_DISCOVERY)?;
        c.run_only_if(c.cfg.run_content_discovery_setup)?;
        for i in 0..num_tags {
            for tag in [format!("test{i}"), format!("TEST{i}")] {
                tag_list.get_or_insert_with(Vec::new).push(tag.clone());
                let content = c.data.manifests[2].content.clone();
                let req = c
                    .req_ref("PUT", "/v2/<name>/manifests/<reference>", &tag)
                    .header("Content-Type", MANIFEST)
                    .body(&content);
                let resp = c.send(req)?;
                c.status(&resp, &[OK2XX])?;
            }
        }
        // The error is not checked; a nil response panics in getTagList.
        match c.send_unchecked(c.req("GET", "/v2/<name>/tags/list")) {
            Ok(resp) => tag_list = get_tag_list(&resp),
            Err(e) => {
                return Err(Stop::Fail(format!(
                    "Test Panicked: runtime error: invalid memory address or nil pointer dereference ({e})"
                )))
            }
        }
        Ok(())
    });
    s.spec("Setup", "Populate registry with test tags (no push)", |c| {
        c.skip_if_disabled(CONTENT_DISCOVERY)?;
        c.run_only_if_not(c.cfg.run_content_discovery_setup)?;
        tag_list = Some(c.cfg.tag_list.split(',').map(str::to_string).collect());
        Ok(())
    });
    s.spec("Setup", "References setup", |c| {
        c.skip_if_disabled(CONTENT_DISCOVERY)?;
        c.run_only_if(c.cfg.run_content_discovery_setup)?;
        let d = c.data.clone();
        c.check(
            d.empty_json_digest
                == "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
            || format!("unexpected empty JSON digest {}", d.empty_json_digest),
        )?;
        // The empty JSON blob.
        populate_blob(
            c,
            &d.empty_json_digest,
            &d.empty_json_size.to_string(),
            &d.empty_json_blob,
        )?;
        // Reference blob A, before the image manifest is pushed.
        populate_blob(
            c,
            &d.test_ref_blob_a_digest,
            &d.test_ref_blob_a_length,
            &d.test_ref_blob_a,
        )?;
        let subject4 = d.manifests[4].digest.clone();
        // References manifest (config.MediaType = artifactType).
        put_manifest(
            c,
            &d.refs_manifest_a_config_artifact_digest,
            MANIFEST,
            &d.refs_manifest_a_config_artifact_content,
            Some(&subject4),
        )?;
        // References manifest (ArtifactType, config.MediaType = empty JSON).
        put_manifest(
            c,
            &d.refs_manifest_a_layer_artifact_digest,
            MANIFEST,
            &d.refs_manifest_a_layer_artifact_content,
            Some(&subject4),
        )?;
        // The index.
        put_manifest(
            c,
            &d.refs_index_artifact_digest,
            INDEX,
            &d.refs_index_artifact_content,
            Some(&subject4),
        )?;
        // The subject's config and layer, then the subject.
        let cfg4 = d.configs[4].clone();
        populate_blob(c, &cfg4.digest, &cfg4.content_length, &cfg4.content)?;
        populate_blob(
            c,
            &d.layer_blob_digest,
            &d.layer_blob_content_length,
            &d.layer_blob_data,
        )?;
        put_manifest(c, TEST_TAG_NAME, MANIFEST, &d.manifests[4].content, None)?;
        // Reference blob B, after the image manifest is pushed.
        populate_blob(
            c,
            &d.test_ref_blob_b_digest,
            &d.test_ref_blob_b_length,
            &d.test_ref_blob_b,
        )?;
        put_manifest(
            c,
            &d.refs_manifest_b_config_artifact_digest,
            MANIFEST,
            &d.refs_manifest_b_config_artifact_content,
            Some(&subject4),
        )?;
        put_manifest(
            c,
            &d.refs_manifest_b_layer_artifact_digest,
            MANIFEST,
            &d.refs_manifest_b_layer_artifact_content,
            Some(&subject4),
        )?;
        // A references manifest whose subject is never pushed.
        put_manifest(
            c,
            &d.refs_manifest_c_layer_artifact_digest,
            MANIFEST,
            &d.refs_manifest_c_layer_artifact_content,
            Some(&d.manifests[3].digest),
        )
    });

    // Test content discovery endpoints (listing tags)
    const TAGS: &str = "Test content discovery endpoints (listing tags)";
    s.spec(
        TAGS,
        "GET request to list tags should yield 200 response and be in sorted order",
        |c| {
            c.skip_if_disabled(CONTENT_DISCOVERY)?;
            let resp = c.send(c.req("GET", "/v2/<name>/tags/list"))?;
            c.status(&resp, &[is(200)])?;
            tag_list = get_tag_list(&resp);
            let list = tag_list.clone();
            num_tags = list.as_ref().map_or(0, Vec::len);
            let mut lexical = list.clone().unwrap_or_default();
            lexical.sort_by_key(|t| t.to_lowercase());
            let mut ascii = list.clone().unwrap_or_default();
            ascii.sort();
            // reflect.DeepEqual: a nil slice equals neither (both are empty,
            // not nil, copies).
            let ok = list
                .as_ref()
                .is_some_and(|l| *l == lexical || *l == ascii);
            c.check(ok, || match &list {
                None => "expected a sorted tag list, got tags null (a nil slice, which gomega's Equal tells from an empty one)".into(),
                Some(l) => format!("expected the tags in lexical or ASCII order, got {l:?}"),
            })
        },
    );
    s.spec(
        TAGS,
        "GET number of tags should be limitable by `n` query parameter",
        |c| {
            c.skip_if_disabled(CONTENT_DISCOVERY)?;
            let num_results = num_tags / 2;
            let req = c
                .req("GET", "/v2/<name>/tags/list")
                .query("n", &num_results.to_string());
            let resp = c.send(req)?;
            c.status(&resp, &[is(200)])?;
            tag_list = get_tag_list(&resp);
            let got = tag_list.clone().unwrap_or_default();
            c.check(got.len() == num_results, || {
                format!("expected {num_results} tags, got {got:?}")
            })
        },
    );
    s.spec(
        TAGS,
        "GET start of tag is set by `last` query parameter",
        |c| {
            c.skip_if_disabled(CONTENT_DISCOVERY)?;
            let num_results = num_tags / 2;
            let req = c
                .req("GET", "/v2/<name>/tags/list")
                .query("n", &num_results.to_string());
            let resp = c.send(req)?;
            c.status(&resp, &[is(200)])?;
            tag_list = get_tag_list(&resp);
            let got = tag_list.clone().unwrap_or_default();
            if num_results == 0 || got.len() < num_results {
                return Err(c.fail(&format!(
                    "Test Panicked: runtime error: index out of range [{}] with length {}",
                    num_results as i64 - 1,
                    got.len()
                )));
            }
            let last = got[num_results - 1].clone();
            let req = c
                .req("GET", "/v2/<name>/tags/list")
                .query("n", &num_results.to_string())
                .query("last", &last);
            let resp = c.send(req)?;
            c.status(&resp, &[is(200)])?;
            tag_list = get_tag_list(&resp);
            let got = tag_list.clone().unwrap_or_default();
            c.check(got.len() <= num_results, || {
                format!("expected at most {num_results} tags, got {got:?}")
            })?;
            c.check(!got.contains(&last), || {
                format!("expected the page after {last:?} not to hold it, got {got:?}")
            })
        },
    );

    // Test content discovery endpoints (listing references)
    const REFS: &str = "Test content discovery endpoints (listing references)";
    s.spec(
        REFS,
        "GET request to nonexistent blob should result in empty 200 response",
        |c| {
            c.skip_if_disabled(CONTENT_DISCOVERY)?;
            let d = c.data.dummy_digest.clone();
            let (_, idx) = referrers(c, &d, None)?;
            expect_len(c, &idx, 0)
        },
    );
    s.spec(REFS, "GET request to existing blob should yield 200", |c| {
        c.skip_if_disabled(CONTENT_DISCOVERY)?;
        let d = c.data.manifests[4].digest.clone();
        let (_, idx) = referrers(c, &d, None)?;
        expect_len(c, &idx, 5)?;
        c.check(idx[0].digest != idx[1].digest, || {
            format!(
                "expected two different digests, got {} twice",
                idx[0].digest
            )
        })?;
        expect_annotations(c, &idx)
    });
    s.spec(
        REFS,
        "GET request to existing blob with filter should yield 200",
        |c| {
            c.skip_if_disabled(CONTENT_DISCOVERY)?;
            let d = c.data.manifests[4].digest.clone();
            let t = c.data.test_ref_artifact_type_a.clone();
            let (resp, idx) = referrers(c, &d, Some(&t))?;
            let applied = resp.header("OCI-Filters-Applied");
            if !applied.is_empty() {
                expect_len(c, &idx, 2)?;
                c.check(applied == ARTIFACT_TYPE_FILTER, || {
                    format!(
                        "OCI-Filters-Applied: expected {ARTIFACT_TYPE_FILTER:?}, got {applied:?}"
                    )
                })?;
                expect_annotations(c, &idx)
            } else {
                expect_len(c, &idx, 5)?;
                expect_annotations(c, &idx)?;
                c.warn("filtering by artifact-type is not implemented");
                Ok(())
            }
        },
    );
    s.spec(
        REFS,
        "GET request to missing manifest should yield 200",
        |c| {
            c.skip_if_disabled(CONTENT_DISCOVERY)?;
            let d = c.data.manifests[3].digest.clone();
            let (_, idx) = referrers(c, &d, None)?;
            expect_len(c, &idx, 1)?;
            let want = c.data.refs_manifest_c_layer_artifact_digest.clone();
            c.check(idx[0].digest == want, || {
                format!("expected {want}, got {}", idx[0].digest)
            })
        },
    );

    // Teardown
    let before = s.ctx.cfg.delete_manifest_before_blobs;
    let delete_manifests = |s: &mut Suite| {
        s.spec(
            "Teardown",
            "Delete created manifest & associated tags",
            |c| {
                c.skip_if_disabled(CONTENT_DISCOVERY)?;
                c.run_only_if(c.cfg.run_content_discovery_setup)?;
                let d = c.data.clone();
                for r in [
                    &d.refs_index_artifact_digest,
                    &d.manifests[2].digest,
                    &d.manifests[4].digest,
                    &d.refs_manifest_a_config_artifact_digest,
                    &d.refs_manifest_a_layer_artifact_digest,
                    &d.refs_manifest_b_config_artifact_digest,
                    &d.refs_manifest_b_layer_artifact_digest,
                    &d.refs_manifest_c_layer_artifact_digest,
                ] {
                    let resp =
                        c.send(c.req_digest("DELETE", "/v2/<name>/manifests/<digest>", r))?;
                    c.status(&resp, &[OK2XX, is(404), is(405)])?;
                }
                Ok(())
            },
        );
    };
    if before {
        delete_manifests(s);
    }
    s.spec("Teardown", "Delete config blob created in tests", |c| {
        c.skip_if_disabled(CONTENT_DISCOVERY)?;
        c.run_only_if(c.cfg.run_content_discovery_setup)?;
        let d = c.data.configs[2].digest.clone();
        let resp = c.send(c.req_digest("DELETE", "/v2/<name>/blobs/<digest>", &d))?;
        c.status(&resp, &[OK2XX, is(404), is(405)])
    });
    s.spec("Teardown", "Delete layer blob created in setup", |c| {
        c.skip_if_disabled(CONTENT_DISCOVERY)?;
        c.run_only_if(c.cfg.run_content_discovery_setup)?;
        let d = c.data.layer_blob_digest.clone();
        let resp = c.send(c.req_digest("DELETE", "/v2/<name>/blobs/<digest>", &d))?;
        c.status(&resp, &[OK2XX, is(404), is(405)])
    });
    if !before {
        delete_manifests(s);
    }
    s.spec("Teardown", "References teardown", |c| {
        c.skip_if_disabled(CONTENT_DISCOVERY)?;
        c.run_only_if(c.cfg.run_content_discovery_setup)?;
        let d = c.data.clone();
        let delete = |c: &mut Ctx, path: &str, reference: &str, by_digest: bool| -> Step {
            let req = if by_digest {
                c.req_digest("DELETE", path, reference)
            } else {
                c.req_ref("DELETE", path, reference)
            };
            let resp = c.send(req)?;
            c.status(&resp, &[OK2XX, is(404), is(405)])
        };
        const M_REF: &str = "/v2/<name>/manifests/<reference>";
        const M_DIG: &str = "/v2/<name>/manifests/<digest>";
        const B_DIG: &str = "/v2/<name>/blobs/<digest>";
        let manifests = |c: &mut Ctx| -> Step {
            delete(c, M_REF, &d.refs_index_artifact_digest, false)?;
            delete(c, M_REF, &d.refs_manifest_a_config_artifact_digest, false)?;
            delete(c, M_REF, &d.refs_manifest_a_layer_artifact_digest, false)?;
            delete(c, M_DIG, &d.manifests[4].digest, true)?;
            delete(c, M_REF, &d.refs_manifest_b_config_artifact_digest, false)?;
            delete(c, M_REF, &d.refs_manifest_b_layer_artifact_digest, false)
        };
        if c.cfg.delete_manifest_before_blobs {
            manifests(c)?;
        }
        // Config blob, reference blobs, empty JSON blob.
        delete(c, B_DIG, &d.configs[4].digest, true)?;
        delete(c, B_DIG, &d.test_ref_blob_a_digest, true)?;
        delete(c, B_DIG, &d.test_ref_blob_b_digest, true)?;
        delete(c, B_DIG, &d.empty_json_digest, true)?;
        if !c.cfg.delete_manifest_before_blobs {
            manifests(c)?;
        }
        Ok(())
    });
}
