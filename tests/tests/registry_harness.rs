//! The registry harness itself, against the real `docker-registry`: images made
//! by the layout makers and pushed with skopeo come back byte for byte under
//! each auth mode, Basic and token auth refuse and admit as a registry must, and
//! the proxy's faults really corrupt, cut and truncate.

use dockhand_tests::registry::{
    http_request, oci_image, oci_index, percent_encode, sha256_digest, Auth, Compression, Fault,
    ImageSpec, LayerSpec, MediaTypes, Registry,
};
use dockhand_tests::require_registry;
use std::io::Read;

/// An image with the busybox layer, a zstd layer and an uncompressed one.
fn mixed_image() -> ImageSpec {
    ImageSpec::busybox()
        .layer(LayerSpec::random(50_000).compression(Compression::Zstd))
        .layer(LayerSpec::files(&[("/etc/motd", b"hello\n")]).compression(Compression::None))
        .env("GREETING=hi")
        .entrypoint(&["/bin/sh", "-c"])
        .cmd(&["echo $GREETING"])
}

fn decompress(media_type: &str, blob: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    if media_type.ends_with("gzip") {
        flate2::read::GzDecoder::new(blob)
            .read_to_end(&mut out)
            .unwrap();
    } else if media_type.ends_with("zstd") {
        out = zstd::decode_all(blob).unwrap();
    } else {
        out = blob.to_vec();
    }
    out
}

/// The registry holds exactly what the layout holds: manifest under the same
/// digest and media type, config and layers hashing to their digests, layers
/// decompressing to their diff ids.
fn assert_fetches_back(
    reg: &Registry,
    repo: &str,
    tag: &str,
    img: &dockhand_tests::registry::BuiltImage,
) {
    let (bytes, ct) = reg.manifest(repo, tag);
    assert_eq!(sha256_digest(&bytes), img.manifest_digest);
    assert_eq!(bytes, img.manifest);
    assert_eq!(ct, img.manifest_media_type);
    let config = reg.get_blob(repo, &img.config_digest);
    assert_eq!(sha256_digest(&config), img.config_digest);
    for l in &img.layers {
        let blob = reg.get_blob(repo, &l.digest);
        assert_eq!(sha256_digest(&blob), l.digest);
        assert_eq!(blob.len() as u64, l.size);
        assert_eq!(sha256_digest(&decompress(&l.media_type, &blob)), l.diff_id);
    }
}

#[test]
fn no_auth_push_and_fetch_back_counting_fetches() {
    require_registry!();
    let reg = Registry::start(Auth::None);
    let dir = tempfile::tempdir().unwrap();
    let img = oci_image(dir.path(), &mixed_image());
    assert_eq!(img.layers.len(), 3);
    assert!(img.layers[1].media_type.ends_with("+zstd"));
    assert!(img.layers[2].media_type.ends_with(".tar"));
    reg.push_layout(dir.path(), "lib/app:1");
    assert_fetches_back(&reg, "lib/app", "1", &img);
    let v: serde_json::Value = serde_json::from_slice(&img.config).unwrap();
    assert_eq!(
        v["config"]["Entrypoint"],
        serde_json::json!(["/bin/sh", "-c"])
    );
    assert_eq!(v["rootfs"]["diff_ids"].as_array().unwrap().len(), 3);

    // The busybox layer holds a runnable shell.
    let tar = decompress(
        &img.layers[0].media_type,
        &reg.get_blob("lib/app", &img.layers[0].digest),
    );
    let mut names = vec![];
    for e in tar::Archive::new(&tar[..]).entries().unwrap() {
        let e = e.unwrap();
        let p = e.path().unwrap().to_string_lossy().into_owned();
        if p == "bin/sh" {
            assert_eq!(e.link_name().unwrap().unwrap().to_string_lossy(), "busybox");
        }
        names.push(p);
    }
    assert!(names.contains(&"bin/busybox".to_string()), "{names:?}");
    assert!(names.contains(&"bin/sh".to_string()));

    // The direct helpers are not counted; fetches through the proxy are.
    let d = &img.layers[1].digest;
    assert_eq!(reg.blob_fetches(d), 0);
    let r = reg.get(&format!("/v2/lib/app/blobs/{d}"));
    assert_eq!(r.status, 200);
    assert_eq!(sha256_digest(&r.body), *d);
    let head = http_request(
        &reg.host(),
        "HEAD",
        &format!("/v2/lib/app/blobs/{d}"),
        &[],
        b"",
    )
    .unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(reg.blob_fetches(d), 1, "HEAD is no fetch");
    let r = reg.get("/v2/lib/app/manifests/1");
    assert_eq!(r.status, 200);
    assert_eq!(reg.manifest_fetches("1"), 1);
    assert!(
        reg.log().contains("/v2/lib/app/blobs/"),
        "the access log is kept"
    );

    // A client trying HTTPS first gets a plain HTTP answer at once.
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(reg.host()).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    s.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5])
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
}

#[test]
fn multi_arch_index_and_docker_media_types() {
    require_registry!();
    let reg = Registry::start(Auth::None);
    let dir = tempfile::tempdir().unwrap();
    let idx = oci_index(
        dir.path(),
        &[
            ImageSpec::busybox(),
            ImageSpec::new("linux/arm64/v8").layer(LayerSpec::random(10_000)),
        ],
    );
    reg.push_layout(dir.path(), "multi/app:latest");
    let (bytes, ct) = reg.manifest("multi/app", "latest");
    assert_eq!(sha256_digest(&bytes), idx.digest);
    assert_eq!(ct, "application/vnd.oci.image.index.v1+json");
    let arm = idx.image("linux/arm64/v8").expect("arm64 image");
    assert_fetches_back(&reg, "multi/app", &arm.manifest_digest, arm);
    let amd = idx.image("linux/amd64").expect("amd64 image");
    assert_fetches_back(&reg, "multi/app", &amd.manifest_digest, amd);

    // Docker schema 2: a manifest list of schema 2 manifests.
    let dir2 = tempfile::tempdir().unwrap();
    let docker = |p: &str| {
        ImageSpec::new(p)
            .layer(LayerSpec::random(5_000))
            .layer(LayerSpec::random(5_000).compression(Compression::None))
            .media_types(MediaTypes::Docker)
    };
    let list = oci_index(
        dir2.path(),
        &[docker("linux/amd64"), docker("linux/arm/v7")],
    );
    reg.push_layout(dir2.path(), "multi/docker:v2");
    let (bytes, ct) = reg.manifest("multi/docker", "v2");
    assert_eq!(sha256_digest(&bytes), list.digest);
    assert_eq!(
        ct,
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );
    for img in &list.images {
        assert_eq!(
            img.manifest_media_type,
            "application/vnd.docker.distribution.manifest.v2+json"
        );
        assert_fetches_back(&reg, "multi/docker", &img.manifest_digest, img);
    }
}

#[test]
fn basic_auth_refuses_without_credentials_and_admits_with() {
    require_registry!();
    let reg = Registry::start(Auth::basic("alice", "s3cret"));
    let dir = tempfile::tempdir().unwrap();
    let img = oci_image(
        dir.path(),
        &ImageSpec::default().layer(LayerSpec::random(2_000)),
    );
    reg.push_layout(dir.path(), "priv/app:1");
    assert_fetches_back(&reg, "priv/app", "1", &img);

    let path = "/v2/priv/app/manifests/1";
    let anon = http_request(&reg.host(), "GET", path, &[], b"").unwrap();
    assert_eq!(anon.status, 401);
    let challenge = anon.header("www-authenticate").unwrap_or_default();
    assert!(challenge.starts_with("Basic "), "{challenge}");
    let wrong = format!("Basic {}", b64("alice:wrong"));
    let r = http_request(&reg.host(), "GET", path, &[("Authorization", &wrong)], b"").unwrap();
    assert_eq!(r.status, 401);
    let right = format!("Basic {}", b64("alice:s3cret"));
    let accept = ("Accept", img.manifest_media_type.as_str());
    let r = http_request(
        &reg.host(),
        "GET",
        path,
        &[("Authorization", &right), accept],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(sha256_digest(&r.body), img.manifest_digest);
    let v2 = http_request(
        &reg.host(),
        "GET",
        "/v2/",
        &[("Authorization", &right)],
        b"",
    )
    .unwrap();
    assert_eq!(v2.status, 200);
    let rec = reg.requests();
    assert!(rec
        .iter()
        .any(|r| r.path == path && r.status == 401 && !r.authorized));
    assert!(rec
        .iter()
        .any(|r| r.path == path && r.status == 200 && r.authorized));
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// `Bearer realm="…",service="…",scope="…"` as (realm, service, scope).
fn bearer_challenge(h: &str) -> (String, String, String) {
    let rest = h
        .strip_prefix("Bearer ")
        .unwrap_or_else(|| panic!("not a Bearer challenge: {h}"));
    let mut realm = String::new();
    let mut service = String::new();
    let mut scope = String::new();
    // Values are quoted and may hold commas (scope actions).
    let mut s = rest;
    while let Some(eq) = s.find("=\"") {
        let key = s[..eq].trim_start_matches(',').trim().to_string();
        let after = &s[eq + 2..];
        let end = after.find('"').unwrap();
        let val = after[..end].to_string();
        match key.as_str() {
            "realm" => realm = val,
            "service" => service = val,
            "scope" => scope = val,
            _ => {}
        }
        s = &after[end + 1..];
    }
    (realm, service, scope)
}

/// Ask the realm for a token as a client does; the status and the JSON.
fn fetch_token(
    realm: &str,
    service: &str,
    scope: &str,
    creds: Option<&str>,
) -> (u16, serde_json::Value) {
    let url = realm.strip_prefix("http://").unwrap();
    let (addr, path) = url.split_at(url.find('/').unwrap());
    let target = format!(
        "{path}?service={}&scope={}",
        percent_encode(service),
        percent_encode(scope)
    );
    let auth = creds.map(|c| format!("Basic {}", b64(c)));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let r = http_request(addr, "GET", &target, &headers, b"").unwrap();
    let v = serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null);
    (r.status, v)
}

#[test]
fn token_auth_flow_as_docker_hub() {
    require_registry!();
    let reg = Registry::start(Auth::token("bob", "hunter2"));
    let dir = tempfile::tempdir().unwrap();
    let img = oci_image(
        dir.path(),
        &ImageSpec::default().layer(LayerSpec::random(3_000)),
    );
    reg.push_layout(dir.path(), "team/app:1");
    assert!(
        reg.token_scope_asked("team/app", "push"),
        "{:?}",
        reg.token_requests()
    );
    assert!(reg.token_scope_asked("team/app", "pull"));
    assert!(reg
        .token_requests()
        .iter()
        .all(|t| t.status == 200 && t.user.as_deref() == Some("bob")));
    assert_fetches_back(&reg, "team/app", "1", &img);

    // The client's flow: 401 with a Bearer challenge, a token from the realm,
    // the request again with it.
    let before = reg.token_requests().len();
    let path = "/v2/team/app/manifests/1";
    let anon = http_request(&reg.host(), "GET", path, &[], b"").unwrap();
    assert_eq!(anon.status, 401);
    let (realm, service, scope) = bearer_challenge(anon.header("www-authenticate").unwrap());
    assert_eq!(service, dockhand_tests::registry::SERVICE);
    assert_eq!(scope, "repository:team/app:pull");
    let (status, body) = fetch_token(&realm, &service, &scope, None);
    assert_eq!(status, 401, "anonymous clients get nothing here");
    let (status, _) = fetch_token(&realm, &service, &scope, Some("bob:nope"));
    assert_eq!(status, 401, "{body}");
    let (status, body) = fetch_token(&realm, &service, &scope, Some("bob:hunter2"));
    assert_eq!(status, 200);
    let token = body["token"].as_str().unwrap().to_string();
    assert_eq!(body["access_token"], body["token"]);
    assert_eq!(body["expires_in"], dockhand_tests::registry::EXPIRES_IN);
    assert!(body["issued_at"].as_str().unwrap().ends_with('Z'), "{body}");
    let bearer = format!("Bearer {token}");
    let accept = ("Accept", img.manifest_media_type.as_str());
    let r = http_request(
        &reg.host(),
        "GET",
        path,
        &[("Authorization", &bearer), accept],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}\n{}", r.text(), reg.log());
    assert_eq!(sha256_digest(&r.body), img.manifest_digest);
    // The token grants pull on this repository only.
    let other = http_request(
        &reg.host(),
        "GET",
        "/v2/team/other/manifests/1",
        &[("Authorization", &bearer)],
        b"",
    )
    .unwrap();
    assert_eq!(other.status, 401);
    let push = http_request(
        &reg.host(),
        "POST",
        "/v2/team/app/blobs/uploads/",
        &[("Authorization", &bearer)],
        b"",
    )
    .unwrap();
    assert_eq!(push.status, 401);

    let seen = &reg.token_requests()[before..];
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].user, None);
    assert_eq!(seen[2].user.as_deref(), Some("bob"));
    assert_eq!(seen[2].scopes, ["repository:team/app:pull"]);
    assert!(seen[2].asked("team/app", "pull") && !seen[2].asked("team/app", "push"));

    // A real client pushes through the proxy too (uploads stream through it).
    let out = std::process::Command::new("skopeo")
        .args(["--insecure-policy", "copy", "--preserve-digests"])
        .args(["--dest-tls-verify=false", "--dest-creds", "bob:hunter2"])
        .arg(format!("oci:{}", dir.path().display()))
        .arg(format!("docker://{}/team/via-proxy:1", reg.host()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_fetches_back(&reg, "team/via-proxy", "1", &img);
    let rec = reg.requests();
    assert!(rec.iter().any(|r| r.method == "PUT"
        && r.path == "/v2/team/via-proxy/manifests/1"
        && r.status == 201));
    assert!(reg.token_scope_asked("team/via-proxy", "push"));
}

#[test]
fn token_auth_anonymous_pull_only() {
    require_registry!();
    let reg = Registry::start(Auth::token_anonymous_pull("bob", "hunter2"));
    let dir = tempfile::tempdir().unwrap();
    let img = oci_image(
        dir.path(),
        &ImageSpec::default().layer(LayerSpec::random(3_000)),
    );
    reg.push_layout(dir.path(), "library/pub:1");
    let path = "/v2/library/pub/manifests/1";
    let anon = http_request(&reg.host(), "GET", path, &[], b"").unwrap();
    let (realm, service, _) = bearer_challenge(anon.header("www-authenticate").unwrap());
    let (status, body) = fetch_token(&realm, &service, "repository:library/pub:pull,push", None);
    assert_eq!(status, 200);
    let bearer = format!("Bearer {}", body["token"].as_str().unwrap());
    let accept = ("Accept", img.manifest_media_type.as_str());
    let r = http_request(
        &reg.host(),
        "GET",
        path,
        &[("Authorization", &bearer), accept],
        b"",
    )
    .unwrap();
    assert_eq!(r.status, 200);
    let push = http_request(
        &reg.host(),
        "POST",
        "/v2/library/pub/blobs/uploads/",
        &[("Authorization", &bearer)],
        b"",
    )
    .unwrap();
    assert_eq!(push.status, 401, "anonymous tokens do not push");
    let last = reg.token_requests().pop().unwrap();
    assert_eq!(last.user, None);
    assert!(last.asked("library/pub", "push"));
}

#[test]
fn proxy_corrupts_cuts_truncates_and_fails() {
    require_registry!();
    let mut reg = Registry::start(Auth::basic("alice", "s3cret"));
    let dir = tempfile::tempdir().unwrap();
    let img = oci_image(
        dir.path(),
        &ImageSpec::default().layer(LayerSpec::random(300_000).compression(Compression::None)),
    );
    reg.push_layout(dir.path(), "f/app:1");
    let d = img.layers[0].digest.clone();
    let size = img.layers[0].size as usize;
    let path = format!("/v2/f/app/blobs/{d}");

    reg.inject_times(&d, Fault::Corrupt, 1);
    let r = reg.get(&path);
    assert_eq!((r.status, r.complete, r.body.len()), (200, true, size));
    assert_ne!(sha256_digest(&r.body), d, "corrupted");
    let r = reg.get(&path);
    assert_eq!(
        sha256_digest(&r.body),
        d,
        "intact once the fault is used up"
    );

    reg.inject(&d, Fault::CutAfter(1000));
    for _ in 0..2 {
        let r = reg.get(&path);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-length"), Some(size.to_string().as_str()));
        assert!(!r.complete, "cut");
        assert_eq!(r.body.len(), 1000);
    }
    reg.clear_faults();

    reg.inject_times(&d, Fault::Truncate(500), 1);
    let r = reg.get(&path);
    assert_eq!((r.status, r.complete, r.body.len()), (200, true, 500));
    assert_eq!(r.body[..], reg.get_blob("f/app", &d)[..500]);

    reg.inject_times(&d, Fault::Status(503), 1);
    assert_eq!(reg.get(&path).status, 503);

    // Faults leave ranges and other blobs alone; a range of a faulted blob is
    // cut relative to the range.
    let auth = reg.authorization("repository:f/app:pull").unwrap();
    let ranged = |reg: &Registry| {
        http_request(
            &reg.host(),
            "GET",
            &path,
            &[("Authorization", &auth), ("Range", "bytes=1000-")],
            b"",
        )
        .unwrap()
    };
    let r = ranged(&reg);
    assert_eq!((r.status, r.body.len()), (206, size - 1000));
    reg.inject_times(&d, Fault::CutAfter(10), 1);
    let r = ranged(&reg);
    assert_eq!((r.status, r.complete, r.body.len()), (206, false, 10));

    // 200/206 GETs count, faulted ones included; the 503 does not.
    assert_eq!(reg.blob_fetches(&d), 7);
    let faults: Vec<_> = reg.requests().into_iter().filter_map(|r| r.fault).collect();
    assert_eq!(faults.len(), 6);

    reg.kill();
    assert!(
        http_request(&reg.host(), "GET", &path, &[], b"").is_err(),
        "the registry is gone"
    );
}

#[test]
fn drop_stops_the_registry_and_removes_its_files() {
    require_registry!();
    let reg = Registry::start(Auth::None);
    let dir = reg.dir().to_path_buf();
    let direct = reg.direct_host();
    let proxy = reg.host();
    assert!(dir.join("storage").exists() || dir.join("config.yml").exists());
    assert!(direct.starts_with("127.0.0.1:") && proxy.starts_with("127.0.0.1:"));
    drop(reg);
    assert!(!dir.exists());
    assert!(http_request(&direct, "GET", "/v2/", &[], b"").is_err());
    assert!(http_request(&proxy, "GET", "/v2/", &[], b"").is_err());
}
