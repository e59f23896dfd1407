//! Hostile input, as property tests (proptest: the project builds on stable
//! Rust, where cargo-fuzz cannot run): the parsers that read what a client, an
//! image or a Dockerfile says never panic, and what they accept reads back the
//! same. Layer extraction has its own in `image/layer/tests.rs`.

use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        // Failures are printed with their input; nothing is written to the tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Words of image references, valid and not.
fn reference_text() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        "[a-z0-9]{1,8}",
        "[a-zA-Z0-9._-]{0,6}",
        Just("localhost:5000".to_string()),
        Just("docker.io".to_string()),
        Just("library".to_string()),
        "[0-9a-f]{64}",
        ".{0,6}",
    ];
    (
        prop::collection::vec(part, 1..4),
        prop::option::of("[a-zA-Z0-9._-]{0,12}"),
        prop::option::of(prop_oneof![
            "sha256:[0-9a-f]{64}",
            "[a-z0-9]{1,8}:[0-9a-fA-F]{0,70}"
        ]),
    )
        .prop_map(|(parts, tag, digest)| {
            let mut s = parts.join("/");
            if let Some(t) = tag {
                s.push(':');
                s.push_str(&t);
            }
            if let Some(d) = digest {
                s.push('@');
                s.push_str(&d);
            }
            s
        })
}

/// Lines of Dockerfiles, valid and not: instructions with flags, JSON,
/// continuations, heredocs, directives, comments and noise.
fn dockerfile_text() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("FROM busybox".to_string()),
        Just("FROM busybox AS base".to_string()),
        "FROM [a-z:@$ {}]{0,12}",
        "RUN [a-z &|;$\"'\\\\]{0,16}",
        "RUN \\[\"[a-z]{0,4}\"(, \"[a-z]{0,4}\"){0,2}\\]?",
        "(COPY|ADD) (--from=[a-z0-9]{0,4} |--chown=[0-9:]{0,5} |--chmod=[0-7]{0,4} )?[a-z./*]{0,6} [a-z./]{0,6}",
        "RUN (--mount=[a-z=,/]{0,24} )?[a-z ]{0,8}",
        "(ENV|ARG|LABEL) [A-Za-z_]{0,6}(=[\"a-z $]{0,8})?",
        "(CMD|ENTRYPOINT|SHELL|VOLUME) (\\[[\"a-z, ]{0,12}\\]?|[a-z ]{0,8})",
        "(HEALTHCHECK|ONBUILD|STOPSIGNAL|EXPOSE|WORKDIR|USER|MAINTAINER) [-a-z0-9=/ ]{0,16}",
        Just("RUN <<EOF".to_string()),
        Just("EOF".to_string()),
        Just("# escape=`".to_string()),
        Just("# syntax=docker/dockerfile:1".to_string()),
        "#.{0,10}",
        Just("\\".to_string()),
        Just("`".to_string()),
        Just(String::new()),
        ".{0,20}",
    ];
    prop::collection::vec(line, 0..12).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn references_parse_without_panic_and_read_back_the_same(s in reference_text()) {
        if let Ok(r) = crate::reference::Reference::parse(&s) {
            let again = crate::reference::Reference::parse(&r.to_string());
            prop_assert_eq!(again.map(|a| a.to_string()), Ok(r.to_string()));
        }
    }

    #[test]
    fn dockerfiles_parse_without_panic_and_errors_name_a_line(text in dockerfile_text()) {
        if let Err(e) = crate::build::dockerfile::parse(&text) {
            prop_assert!(e.line <= text.lines().count() + 1, "line {} of {}", e.line, text.lines().count());
            prop_assert!(!e.message.is_empty());
        }
    }

    #[test]
    fn filter_queries_and_timestamps_never_panic(
        json in prop_oneof![
            "\\{(\"[a-z]{0,6}\":(\\{(\"[a-z=!]{0,6}\":(true|false|1),?){0,2}\\}|\\[(\"[a-z]{0,4}\",?){0,2}\\]|null|\"x\"),?){0,3}\\}",
            ".{0,30}",
        ],
        stamp in prop_oneof!["[0-9]{0,12}(\\.[0-9]{0,10})?", "[0-9]{1,3}[smhd]", "[-+:0-9TZ]{0,25}", ".{0,12}"],
    ) {
        let _ = crate::container::parse_filters(&json);
        let _ = crate::filters::parse_timestamp(&stamp, 1_700_000_000_000_000_000);
    }
}

/// Keys of manifests, indexes and image configs (so that generated documents
/// reach deep into the shapes the parsers know), and a few others.
fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "schemaVersion",
            "mediaType",
            "config",
            "layers",
            "manifests",
            "digest",
            "size",
            "platform",
            "architecture",
            "os",
            "variant",
            "rootfs",
            "diff_ids",
            "type",
            "history",
            "created",
            "created_by",
            "empty_layer",
            "Env",
            "Cmd",
            "Entrypoint",
            "Healthcheck",
            "Test",
            "Interval",
            "OnBuild",
            "ExposedPorts",
            "Volumes",
            "Labels",
            "User",
            "WorkingDir",
            "StopSignal",
            "Shell",
            "annotations",
            "urls",
        ])
        .prop_map(String::from),
        "[a-zA-Z_]{0,8}",
    ]
}

/// JSON documents of any shape, a few levels deep.
fn json_document() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "(sha256:[0-9a-f]{0,64}|[a-z0-9/.+:-]{0,24}|.{0,8})".prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(json_key(), inner, 0..7)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A valid image config or manifest with one field, at its top or in its
/// `config`, replaced by anything: past the required fields, into the parts
/// the engine reads.
fn near_valid_document() -> impl Strategy<Value = serde_json::Value> {
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", "a".repeat(64))]},
        "config": {"Env": ["A=1"], "Cmd": ["sh"], "Labels": {"k": "v"}},
        "history": [{"created_by": "x"}], "created": "2024-01-01T00:00:00Z",
    });
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": crate::registry::manifest::OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": format!("sha256:{}", "b".repeat(64)), "size": 10},
        "layers": [],
    });
    (
        prop::bool::ANY,
        prop::bool::ANY,
        json_key(),
        json_document(),
    )
        .prop_map(move |(is_config, inner, key, value)| {
            let mut doc = if is_config {
                config.clone()
            } else {
                manifest.clone()
            };
            let target = if inner {
                doc.get_mut("config").unwrap()
            } else {
                &mut doc
            };
            target[key.as_str()] = value;
            doc
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn manifests_and_image_configs_of_any_shape_never_panic(
        doc in prop_oneof![json_document(), near_valid_document()],
        content_type in prop::sample::select(vec![
            crate::registry::manifest::OCI_MANIFEST,
            crate::registry::manifest::OCI_INDEX,
            crate::registry::manifest::DOCKER_MANIFEST,
            crate::registry::manifest::DOCKER_LIST,
            "application/json",
            "text/plain",
        ]),
    ) {
        let bytes = serde_json::to_vec(&doc).unwrap();
        if let Ok(crate::registry::manifest::Manifest::Index(i)) =
            crate::registry::manifest::parse(&bytes, content_type, "x")
        {
            let _ = crate::registry::manifest::select(&i, &crate::registry::manifest::host_platform());
        }
        if let Ok(c) = crate::image::config::StoredConfig::parse(&bytes) {
            let _ = c.diff_ids();
            let _ = c.container_config();
            let _ = c.created();
            let _ = c.comment();
            let _ = c.docker_version();
        }
    }
}
