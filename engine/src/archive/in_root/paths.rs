//! Go's `path/filepath` on `/` paths, as moby's copy code uses it.

/// Go's `filepath.Clean` on bytes.
pub fn clean_bytes(p: &[u8]) -> Vec<u8> {
    if p.is_empty() {
        return b".".to_vec();
    }
    let rooted = p[0] == b'/';
    let mut out: Vec<&[u8]> = Vec::new();
    for c in p.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if out.last().is_some_and(|l| *l != b"..") {
                    out.pop();
                } else if !rooted {
                    out.push(c);
                }
            }
            _ => out.push(c),
        }
    }
    let mut s = Vec::with_capacity(p.len());
    if rooted {
        s.push(b'/');
    }
    s.extend_from_slice(&out.join(&b'/'));
    if s.is_empty() {
        s.push(b'.');
    }
    s
}

/// Go's `filepath.Clean`.
pub fn clean(p: &str) -> String {
    String::from_utf8_lossy(&clean_bytes(p.as_bytes())).into_owned()
}

/// Go's `filepath.Base`.
pub fn base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

/// Go's `filepath.Dir`.
pub fn dir(p: &str) -> String {
    let i = p.rfind('/').map(|i| i + 1).unwrap_or(0);
    clean(&p[..i])
}

/// Go's `filepath.Join` of two elements.
pub fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => String::new(),
        (true, false) => clean(b),
        (false, true) => clean(a),
        (false, false) => clean(&format!("{a}/{b}")),
    }
}

pub fn has_trailing_separator(p: &str) -> bool {
    p.ends_with('/')
}

/// The last element is `.`.
pub fn specifies_current_dir(p: &str) -> bool {
    base(p) == "."
}

/// The path says it is a directory (`dir/` or `dir/.`).
pub fn asserts_directory(p: &str) -> bool {
    has_trailing_separator(p) || specifies_current_dir(p)
}

/// go-archive's `PreserveTrailingDotOrSeparator`: give a cleaned path back the
/// trailing `/.` or `/` the original had.
pub fn preserve_trailing_dot_or_separator(cleaned: &str, original: &str) -> String {
    let mut c = cleaned.to_string();
    if !specifies_current_dir(&c) && specifies_current_dir(original) {
        if !has_trailing_separator(&c) {
            c.push('/');
        }
        c.push('.');
    }
    if !has_trailing_separator(&c) && has_trailing_separator(original) {
        c.push('/');
    }
    c
}

/// go-archive's `SplitPathDirEntry`: directory and base name, a trailing `.`
/// kept as the base.
pub fn split_path_dir_entry(p: &str) -> (String, String) {
    let mut c = clean(p);
    if specifies_current_dir(p) {
        c.push_str("/.");
    }
    (dir(&c), base(&c))
}

pub(super) fn components(p: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    p.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
}

pub(super) fn replace_first(s: &[u8], old: &[u8], new: &[u8]) -> Vec<u8> {
    if old.is_empty() {
        let mut v = new.to_vec();
        v.extend_from_slice(s);
        return v;
    }
    match s.windows(old.len()).position(|w| w == old) {
        Some(i) => {
            let mut v = s[..i].to_vec();
            v.extend_from_slice(new);
            v.extend_from_slice(&s[i + old.len()..]);
            v
        }
        None => s.to_vec(),
    }
}

pub(super) fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub(super) fn quote(b: &[u8]) -> String {
    shared::go::quote(&show(b))
}
