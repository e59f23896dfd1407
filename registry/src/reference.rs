//! Names of the distribution-spec: repository names, tags and digests,
//! validated as the spec's regular expressions say (without a regex engine).

use std::fmt;

/// The longest repository name distribution accepts.
pub const MAX_NAME_LEN: usize = 255;

/// A repository name: `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_NAME_LEN && name.split('/').all(valid_component)
}

fn is_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
        return false;
    };
    if !is_alnum(first) || !is_alnum(last) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_alnum(b[i]) {
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

/// A tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
pub fn valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphanumeric() || *c == b'_' => {}
        _ => return false,
    }
    b.len() <= 128
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// A content digest. Only `sha256` is stored; other algorithms parse but are
/// refused by [`Digest::parse`] callers that need to store content.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    /// The algorithm (`sha256`).
    pub algorithm: String,
    /// The lowercase hex encoding.
    pub hex: String,
}

impl Digest {
    /// Parses `sha256:<64 hex>`; anything else is `None`.
    pub fn parse(s: &str) -> Option<Digest> {
        let (alg, enc) = s.split_once(':')?;
        if alg != "sha256" || enc.len() != 64 {
            return None;
        }
        if !enc
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        {
            return None;
        }
        Some(Digest {
            algorithm: alg.to_string(),
            hex: enc.to_string(),
        })
    }

    /// Whether `s` looks like a digest of any algorithm (`alg:encoded`), as
    /// the spec's grammar says; used to tell tags from digests.
    pub fn looks_like(s: &str) -> bool {
        s.split_once(':').is_some_and(|(a, e)| {
            !a.is_empty()
                && !e.is_empty()
                && a.bytes().all(|c| is_alnum(c) || b"+._-".contains(&c))
                && e.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"=_-".contains(&c))
        })
    }

    /// The sha256 digest of bytes.
    pub fn of(bytes: &[u8]) -> Digest {
        use sha2::{Digest as _, Sha256};
        Digest::from_sha256(Sha256::digest(bytes).as_slice())
    }

    /// A sha256 digest from the raw hash.
    pub fn from_sha256(raw: &[u8]) -> Digest {
        Digest {
            algorithm: "sha256".to_string(),
            hex: hex::encode(raw),
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

/// The `<reference>` of a manifest URL: a tag or a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Tag(String),
    Digest(Digest),
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Tag(t) => f.write_str(t),
            Reference::Digest(d) => d.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "library/ubuntu", "a-b/c__d/e.f", "a--b", "x/y/z0"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "", "A", "a/", "/a", "a//b", "-a", "a-", "a..b", "a___b", "a/../b", "a:b",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert!(!valid_name(&"a".repeat(256)));
    }

    #[test]
    fn tags_and_digests() {
        assert!(valid_tag("latest") && valid_tag("_x.Y-1") && valid_tag(&"a".repeat(128)));
        assert!(!valid_tag(".x") && !valid_tag("-x") && !valid_tag(&"a".repeat(129)));
        assert!(!valid_tag("") && !valid_tag("a/b") && !valid_tag("a:b"));
        let d = Digest::of(b"");
        assert_eq!(
            d.to_string(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Digest::parse(&d.to_string()), Some(d));
        assert!(Digest::parse("sha256:abc").is_none());
        assert!(Digest::parse(&format!("sha256:{}", "A".repeat(64))).is_none());
        assert!(Digest::looks_like("sha512:abc") && !Digest::looks_like("latest"));
    }
}
