//! Image references as docker writes them: `[domain[:port]/]path[:tag][@sha256:hex]`.
//!
//! The grammar and the normalization follow distribution/reference (what the docker
//! CLI and moby use): a first component holding `.` or `:`, the name `localhost`, or an
//! uppercase letter is a registry domain; otherwise the domain is `docker.io` and a
//! single-component path gets the `library/` namespace. `familiar_*` undo that for
//! display ("busybox:latest"). Errors carry docker's exact texts.

use std::fmt;

/// Docker Hub's canonical domain.
pub const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
const OFFICIAL_REPO_PREFIX: &str = "library/";
/// Tag used when a reference names neither a tag nor a digest.
pub const DEFAULT_TAG: &str = "latest";
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// Why a reference did not parse. `Display` is docker's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference format")]
    InvalidFormat,
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    Uppercase(String),
    #[error("repository name must be lowercase")]
    NameContainsUppercase,
    #[error("repository name must have at least one component")]
    NameEmpty,
    #[error("repository name must not be more than 255 characters")]
    NameTooLong,
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexName(String),
    #[error("invalid checksum digest format")]
    DigestFormat,
    #[error("invalid checksum digest length")]
    DigestLength,
    #[error("unsupported digest algorithm")]
    DigestUnsupported,
}

/// A parsed, normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    /// `sha256:<64 hex>`, checked.
    digest: Option<String>,
}

/// True for a bare 64-character lowercase hex string: an image ID, never a name.
pub fn is_full_hex_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Reference {
    /// Parse a reference as `docker` does (`ParseNormalizedNamed`).
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        if is_full_hex_id(s) {
            return Err(ReferenceError::HexName(s.to_string()));
        }
        let (domain, remainder) = split_docker_domain(s);
        let remote = match remainder.find(':') {
            Some(i) => &remainder[..i],
            None => remainder.as_str(),
        };
        if remote.to_lowercase() != remote {
            return Err(ReferenceError::Uppercase(remote.to_string()));
        }
        parse_full(&domain, &remainder)
    }

    /// The registry domain: `docker.io`, `localhost:5000`, ...
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path inside the domain: `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// `docker.io/library/busybox`
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// `busybox`, `myorg/app`, `registry.example.com:5000/org/name`.
    pub fn familiar_name(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            if let Some(rest) = self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                if !rest.contains('/') {
                    return rest.to_string();
                }
            }
            return self.path.clone();
        }
        self.full_name()
    }

    /// The tag; `latest` when the reference has neither tag nor digest, `None` for a
    /// digest-only reference.
    pub fn tag(&self) -> Option<&str> {
        match (&self.tag, &self.digest) {
            (Some(t), _) => Some(t),
            (None, None) => Some(DEFAULT_TAG),
            (None, Some(_)) => None,
        }
    }

    /// The tag exactly as written, if any.
    pub fn explicit_tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest (`sha256:...`), if any.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// A copy with the default tag added when there is neither tag nor digest
    /// (distribution's `TagNameOnly`).
    pub fn with_default_tag(&self) -> Reference {
        let mut r = self.clone();
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_string());
        }
        r
    }

    /// A copy with `tag` as its tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if !is_valid_tag(tag) {
            return Err(ReferenceError::InvalidFormat);
        }
        Ok(Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        })
    }

    /// A copy naming `digest` (`sha256:<hex>`, checked) and no tag: the digest
    /// reference `NAME@DIGEST` (distribution's `WithDigest(TrimNamed(r), d)`).
    pub fn with_digest(&self, digest: &str) -> Result<Reference, ReferenceError> {
        if !is_digest_syntax(digest) {
            return Err(ReferenceError::InvalidFormat);
        }
        Ok(Reference {
            tag: None,
            digest: Some(validate_digest(digest)?),
            ..self.clone()
        })
    }

    /// The key of the per-daemon reference index: a reference with a digest keeps
    /// only its digest (moby's `favorDigest`: `busybox:1@sha256:..` is stored and
    /// looked up as `docker.io/library/busybox@sha256:..`), one without gets the
    /// default tag.
    pub fn index_key(&self) -> String {
        match &self.digest {
            Some(d) => format!("{}@{d}", self.full_name()),
            None => self.canonical_string(),
        }
    }

    /// `busybox:latest` (default tag added), `busybox@sha256:...`.
    pub fn familiar_string(&self) -> String {
        let r = self.with_default_tag();
        let mut s = r.familiar_name();
        if let Some(t) = &r.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &r.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// The normalized full form, default tag added: `docker.io/library/busybox:latest`
    /// (the key of the reference index for a tag; see [`Reference::index_key`]).
    pub fn canonical_string(&self) -> String {
        let r = self.with_default_tag();
        let mut s = r.full_name();
        if let Some(t) = &r.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &r.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }
}

impl fmt::Display for Reference {
    /// As written after normalization, without a default tag.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full_name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Split off the registry domain the way docker guesses it.
fn split_docker_domain(name: &str) -> (String, String) {
    let Some((maybe_domain, maybe_remote)) = name.split_once('/') else {
        return (
            DEFAULT_DOMAIN.to_string(),
            format!("{OFFICIAL_REPO_PREFIX}{name}"),
        );
    };
    let (domain, mut remote) = if maybe_domain == "localhost"
        || maybe_domain.contains(['.', ':'])
        || maybe_domain.to_lowercase() != maybe_domain
    {
        let d = if maybe_domain == LEGACY_DEFAULT_DOMAIN {
            DEFAULT_DOMAIN
        } else {
            maybe_domain
        };
        (d.to_string(), maybe_remote.to_string())
    } else {
        (DEFAULT_DOMAIN.to_string(), name.to_string())
    };
    if domain == DEFAULT_DOMAIN && !remote.contains('/') {
        remote = format!("{OFFICIAL_REPO_PREFIX}{remote}");
    }
    (domain, remote)
}

/// distribution's `Parse` on `domain/remainder`, with the domain already split off.
fn parse_full(domain: &str, remainder: &str) -> Result<Reference, ReferenceError> {
    let whole = format!("{domain}/{remainder}");
    match match_reference(domain, remainder) {
        Some((path, tag, digest)) => {
            if domain.len() + 1 + path.len() > NAME_TOTAL_LENGTH_MAX {
                return Err(ReferenceError::NameTooLong);
            }
            let digest = match digest {
                Some(d) => Some(validate_digest(d)?),
                None => None,
            };
            Ok(Reference {
                domain: domain.to_string(),
                path: path.to_string(),
                tag: tag.map(str::to_string),
                digest,
            })
        }
        None => {
            if whole.is_empty() {
                Err(ReferenceError::NameEmpty)
            } else if match_reference(&domain.to_lowercase(), &remainder.to_lowercase()).is_some() {
                Err(ReferenceError::NameContainsUppercase)
            } else {
                Err(ReferenceError::InvalidFormat)
            }
        }
    }
}

/// Match `remainder` as `path[:tag][@digest]` under a valid `domain`.
fn match_reference<'a>(
    domain: &str,
    remainder: &'a str,
) -> Option<(&'a str, Option<&'a str>, Option<&'a str>)> {
    if !is_valid_domain(domain) {
        return None;
    }
    let (name_tag, digest) = match remainder.split_once('@') {
        Some((a, d)) => (a, Some(d)),
        None => (remainder, None),
    };
    if let Some(d) = digest {
        if !is_digest_syntax(d) {
            return None;
        }
    }
    let (path, tag) = match name_tag.split_once(':') {
        Some((p, t)) => (p, Some(t)),
        None => (name_tag, None),
    };
    if let Some(t) = tag {
        if !is_valid_tag(t) {
            return None;
        }
    }
    if path.is_empty() || !path.split('/').all(is_valid_path_component) {
        return None;
    }
    Some((path, tag, digest))
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`
pub fn is_valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`
pub fn is_valid_tag(t: &str) -> bool {
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b[1..].iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

/// A host name or bracketed IPv6 address, with an optional `:port`.
fn is_valid_domain(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return false;
        };
        let addr = &rest[..end];
        if addr.is_empty() || !addr.bytes().all(|x| x.is_ascii_hexdigit() || x == b':') {
            return false;
        }
        let after = &rest[end + 1..];
        match after.strip_prefix(':') {
            Some(p) => ("ipv6", Some(p)),
            None if after.is_empty() => ("ipv6", None),
            None => return false,
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|x| x.is_ascii_digit()) {
            return false;
        }
    }
    if host == "ipv6" && d.starts_with('[') {
        return true;
    }
    !host.is_empty()
        && host.split('.').all(|comp| {
            let b = comp.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
        })
}

/// `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`
fn is_digest_syntax(d: &str) -> bool {
    let Some((alg, hex)) = d.split_once(':') else {
        return false;
    };
    let alg_ok = alg.split(['-', '_', '+', '.']).all(|part| {
        let b = part.as_bytes();
        !b.is_empty() && b[0].is_ascii_alphabetic() && b.iter().all(|x| x.is_ascii_alphanumeric())
    });
    alg_ok && hex.len() >= 32 && hex.bytes().all(|x| x.is_ascii_hexdigit())
}

/// go-digest's validation; only sha256 is supported here.
fn validate_digest(d: &str) -> Result<String, ReferenceError> {
    let (alg, hex) = d.split_once(':').ok_or(ReferenceError::DigestFormat)?;
    if alg != "sha256" {
        return Err(ReferenceError::DigestUnsupported);
    }
    if hex.len() != 64 {
        return Err(ReferenceError::DigestLength);
    }
    if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(ReferenceError::DigestFormat);
    }
    Ok(d.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa";

    fn p(s: &str) -> Reference {
        Reference::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn official_images_get_docker_io_and_library() {
        let r = p("busybox");
        assert_eq!(r.domain(), "docker.io");
        assert_eq!(r.path(), "library/busybox");
        assert_eq!(r.full_name(), "docker.io/library/busybox");
        assert_eq!(r.familiar_name(), "busybox");
        assert_eq!(r.tag(), Some("latest"));
        assert_eq!(r.explicit_tag(), None);
        assert_eq!(r.familiar_string(), "busybox:latest");
        assert_eq!(r.canonical_string(), "docker.io/library/busybox:latest");
    }

    #[test]
    fn user_repositories_and_registries() {
        let r = p("myorg/app:1.2");
        assert_eq!(
            (r.domain(), r.path(), r.tag()),
            ("docker.io", "myorg/app", Some("1.2"))
        );
        assert_eq!(r.familiar_name(), "myorg/app");
        let r = p("registry.example.com:5000/org/name:v1");
        assert_eq!(r.domain(), "registry.example.com:5000");
        assert_eq!(r.path(), "org/name");
        assert_eq!(r.familiar_name(), "registry.example.com:5000/org/name");
        assert_eq!(r.familiar_string(), "registry.example.com:5000/org/name:v1");
        let r = p("localhost/foo");
        assert_eq!((r.domain(), r.path()), ("localhost", "foo"));
        let r = p("localhost:5000/foo");
        assert_eq!((r.domain(), r.path()), ("localhost:5000", "foo"));
        let r = p("[::1]:5000/foo/bar:t");
        assert_eq!((r.domain(), r.path()), ("[::1]:5000", "foo/bar"));
        let r = p("127.0.0.1:5000/x");
        assert_eq!(r.domain(), "127.0.0.1:5000");
    }

    #[test]
    fn docker_io_forms_normalize_to_the_same_name() {
        for s in [
            "busybox",
            "docker.io/busybox",
            "docker.io/library/busybox",
            "index.docker.io/busybox",
            "library/busybox",
            "busybox:latest",
        ] {
            assert_eq!(
                p(s).canonical_string(),
                "docker.io/library/busybox:latest",
                "{s}"
            );
            assert_eq!(p(s).familiar_string(), "busybox:latest", "{s}");
        }
        // a nested library path keeps its prefix
        assert_eq!(p("library/a/b").familiar_name(), "library/a/b");
    }

    #[test]
    fn digests_are_kept_and_suppress_the_default_tag() {
        let r = p(&format!("busybox@sha256:{HEX}"));
        assert_eq!(r.digest(), Some(format!("sha256:{HEX}").as_str()));
        assert_eq!(r.tag(), None);
        assert_eq!(r.familiar_string(), format!("busybox@sha256:{HEX}"));
        let r = p(&format!("busybox:1.36@sha256:{HEX}"));
        assert_eq!(r.tag(), Some("1.36"));
        assert_eq!(r.familiar_string(), format!("busybox:1.36@sha256:{HEX}"));
    }

    #[test]
    fn path_component_separators() {
        for ok in [
            "a",
            "a.b",
            "a_b",
            "a__b",
            "a-b",
            "a---b",
            "a1.b2-c3__d4",
            "0",
        ] {
            assert!(is_valid_path_component(ok), "{ok}");
        }
        for bad in [
            "", "-a", "a-", ".a", "a.", "a..b", "a___b", "a._b", "A", "a b", "_a",
        ] {
            assert!(!is_valid_path_component(bad), "{bad}");
        }
    }

    #[test]
    fn tags() {
        assert!(is_valid_tag("latest"));
        assert!(is_valid_tag("_x.Y-1"));
        assert!(is_valid_tag(&"a".repeat(128)));
        assert!(!is_valid_tag(&"a".repeat(129)));
        assert!(!is_valid_tag(".x"));
        assert!(!is_valid_tag("-x"));
        assert!(!is_valid_tag(""));
    }

    #[test]
    fn invalid_references_give_docker_texts() {
        let err = |s: &str| Reference::parse(s).unwrap_err().to_string();
        assert_eq!(
            err("Busybox"),
            "invalid reference format: repository name (library/Busybox) must be lowercase"
        );
        assert_eq!(
            err("myorg/App:1"),
            "invalid reference format: repository name (myorg/App) must be lowercase"
        );
        assert_eq!(err(""), "invalid reference format");
        assert_eq!(err("busybox:"), "invalid reference format");
        assert_eq!(err("busybox:-x"), "invalid reference format");
        assert_eq!(err("a/b//c"), "invalid reference format");
        assert_eq!(err("-busybox"), "invalid reference format");
        assert_eq!(err("busy box"), "invalid reference format");
        assert_eq!(err("busybox:a:b"), "invalid reference format");
        assert_eq!(err("foo/bar:"), "invalid reference format");
        assert_eq!(err("busybox@sha256:abc"), "invalid reference format");
        assert_eq!(
            err(&format!("busybox@sha256:{}", &HEX[..40])),
            "invalid checksum digest length"
        );
        assert_eq!(
            err(&format!("busybox@md5:{HEX}")),
            "unsupported digest algorithm"
        );
        assert_eq!(
            err(HEX),
            format!("invalid repository name ({HEX}), cannot specify 64-byte hexadecimal strings")
        );
        let long = format!("a/{}", "b".repeat(260));
        assert_eq!(
            err(&long),
            "repository name must not be more than 255 characters"
        );
    }

    #[test]
    fn uppercase_first_component_is_a_domain() {
        let r = p("Foo/bar");
        assert_eq!((r.domain(), r.path()), ("Foo", "bar"));
        assert_eq!(r.familiar_name(), "Foo/bar");
    }

    #[test]
    fn digest_references_are_keyed_by_their_digest_only() {
        let d = format!("sha256:{HEX}");
        let r = p("busybox:1.36").with_digest(&d).unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.familiar_string(), format!("busybox@{d}"));
        assert_eq!(r.index_key(), format!("docker.io/library/busybox@{d}"));
        assert_eq!(
            p(&format!("busybox:1.36@{d}")).index_key(),
            format!("docker.io/library/busybox@{d}")
        );
        assert_eq!(p("busybox").index_key(), "docker.io/library/busybox:latest");
        assert_eq!(
            p("127.0.0.1:5000/app/x:1")
                .with_digest(&d)
                .unwrap()
                .familiar_string(),
            format!("127.0.0.1:5000/app/x@{d}")
        );
        assert!(p("busybox").with_digest("sha256:abc").is_err());
        assert!(p("busybox").with_digest(&format!("md5:{HEX}")).is_err());
    }

    #[test]
    fn with_tag_replaces_tag_and_digest() {
        let r = p(&format!("busybox:1@sha256:{HEX}")).with_tag("2").unwrap();
        assert_eq!(r.familiar_string(), "busybox:2");
        assert!(p("busybox").with_tag("-bad").is_err());
    }

    #[test]
    fn hex_ids_are_recognised() {
        assert!(is_full_hex_id(HEX));
        assert!(!is_full_hex_id(&HEX[..63]));
        assert!(!is_full_hex_id(&HEX.to_uppercase()));
    }
}
