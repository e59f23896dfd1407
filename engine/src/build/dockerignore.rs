//! `.dockerignore`, as moby's `ignorefile.ReadAll` reads it and its
//! `patternmatcher` matches it.
//!
//! Lines starting with `#` are comments; each line is trimmed, `!` makes it an
//! exception, the pattern is cleaned (`filepath.Clean`) and loses a leading `/`.
//! A pattern is Go's `filepath.Match` syntax plus `**` (any number of
//! directories). A path is excluded when the last pattern that matches it, or one
//! of its parent directories, is not an exception.

use regex::Regex;

/// One pattern.
#[derive(Debug, Clone)]
struct Pattern {
    text: String,
    exclusion: bool,
    re: Regex,
}

/// The patterns of a `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
}

/// Go's `filepath.Clean` on a `/`-separated relative or absolute path.
fn clean(p: &str) -> String {
    let abs = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !abs {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    let joined = out.join("/");
    match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// The regular expression moby's `patternmatcher` compiles a pattern to.
fn compile(pattern: &str) -> Result<Regex, String> {
    let mut re = String::from("^");
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut in_class = false;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        if in_class {
            match ch {
                ']' => {
                    in_class = false;
                    re.push(']');
                }
                '-' => re.push('-'),
                '\\' => {
                    if let Some(c) = chars.get(i) {
                        re.push_str(&regex::escape(&c.to_string()));
                        i += 1;
                    }
                }
                c if c.is_alphanumeric() => re.push(c),
                c => re.push_str(&format!("\\x{{{:x}}}", c as u32)),
            }
            continue;
        }
        match ch {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                // `**/` is `**`.
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= chars.len() {
                    // `**` at the end: anything, as .gitignore.
                    re.push_str(".*");
                } else {
                    re.push_str("(.*/)?");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '\\' => match chars.get(i) {
                Some(c) => {
                    re.push_str(&regex::escape(&c.to_string()));
                    i += 1;
                }
                None => re.push_str("\\\\"),
            },
            '[' => {
                in_class = true;
                re.push('[');
                if chars.get(i) == Some(&'^') {
                    re.push('^');
                    i += 1;
                }
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    Regex::new(&re).map_err(|e| format!("invalid pattern {pattern:?}: {e}"))
}

impl DockerIgnore {
    /// Read a `.dockerignore`. A pattern Go's `filepath.Match` refuses is an error.
    pub fn parse(text: &str) -> Result<DockerIgnore, String> {
        let mut patterns = Vec::new();
        for line in text.lines() {
            if line.starts_with('#') {
                continue;
            }
            let mut p = line.trim();
            if p.is_empty() {
                continue;
            }
            let exclusion = p.starts_with('!');
            if exclusion {
                p = p[1..].trim();
            }
            if p.is_empty() {
                continue;
            }
            let mut cleaned = clean(p);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            shared::go::path_match(&cleaned, "")
                .map_err(|e| format!("syntax error in pattern {cleaned:?}: {e}"))?;
            let re = compile(&cleaned)?;
            patterns.push(Pattern {
                text: cleaned,
                exclusion,
                re,
            });
        }
        Ok(DockerIgnore { patterns })
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether some pattern is an exception (`!`): then an excluded directory
    /// may still hold included files, and a walk must enter it.
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// moby's `MatchesOrParentMatches`: `rel` (a `/`-separated path relative to
    /// the context) or one of its parent directories matches, the last matching
    /// pattern deciding.
    pub fn excluded(&self, rel: &str) -> bool {
        let file = clean(rel.trim_start_matches('/'));
        let dirs: Vec<&str> = file.split('/').collect();
        let mut matched = false;
        for p in &self.patterns {
            let mut m = p.re.is_match(&file);
            if !m && dirs.len() > 1 {
                for n in 1..dirs.len() {
                    if p.re.is_match(&dirs[..n].join("/")) {
                        m = true;
                        break;
                    }
                }
            }
            if m {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// The patterns as read (cleaned, `!` for exceptions).
    pub fn patterns(&self) -> Vec<String> {
        self.patterns
            .iter()
            .map(|p| {
                if p.exclusion {
                    format!("!{}", p.text)
                } else {
                    p.text.clone()
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ig(text: &str) -> DockerIgnore {
        DockerIgnore::parse(text).unwrap()
    }

    #[test]
    fn reads_like_mobys_ignorefile() {
        let d = ig("# comment\n\n  *.md \n!README.md\n/abs/path\n./dot/../x\n");
        assert_eq!(d.patterns(), ["*.md", "!README.md", "abs/path", "x"]);
        assert!(DockerIgnore::parse("[").is_err());
    }

    #[test]
    fn matches_like_mobys_patternmatcher() {
        let d = ig("*.md\n!README.md\nbuild\ndocs/**/*.png\n**/tmp\n");
        assert!(d.excluded("a.md"));
        assert!(!d.excluded("README.md"));
        assert!(!d.excluded("sub/a.md"), "* does not cross /");
        assert!(d.excluded("build"));
        assert!(d.excluded("build/out/x.o"), "a parent matches");
        assert!(d.excluded("docs/a.png"));
        assert!(d.excluded("docs/x/y/a.png"));
        assert!(!d.excluded("docs/a.jpg"));
        assert!(d.excluded("tmp"));
        assert!(d.excluded("a/b/tmp/c"));
        assert!(!d.excluded("src/main.rs"));
        assert!(d.has_exceptions());
        // The last matching pattern wins.
        let d = ig("!keep\n*\n");
        assert!(d.excluded("keep"));
        let d = ig("*\n!keep\n");
        assert!(!d.excluded("keep") && d.excluded("other"));
        // `**` alone and at the end.
        assert!(ig("**").excluded("a/b"));
        assert!(ig("a/**").excluded("a/b/c"));
        assert!(!ig("a/**").excluded("ab"));
        // `?`, classes and escapes.
        assert!(ig("a?c").excluded("abc") && !ig("a?c").excluded("a/c"));
        assert!(ig("[a-c]x").excluded("bx") && !ig("[a-c]x").excluded("dx"));
        assert!(ig("[^a]x").excluded("bx") && !ig("[^a]x").excluded("ax"));
        assert!(ig("a\\*b").excluded("a*b") && !ig("a\\*b").excluded("axb"));
        assert!(ig("a.b").excluded("a.b") && !ig("a.b").excluded("axb"));
    }
}
