//! Variable substitution in Dockerfile words, as buildkit's `shell.Lex` does it
//! (the classic builder uses the same package).
//!
//! A word is processed once, with the environment of the moment (build args and
//! `ENV` values): quotes are removed (single quotes are literal, double quotes
//! allow `$` expansion and escaping `"`, `$` and the escape character), the escape
//! character (`\` or `` ` `` from the `# escape=` directive) escapes the next
//! character, and `$VAR`, `${VAR}` and the modifiers below are replaced:
//!
//! | form | value |
//! |---|---|
//! | `${V:-w}` / `${V-w}` | `w` when V is unset or empty / unset, else V |
//! | `${V:+w}` / `${V+w}` | `w` when V is set and not empty / set, else empty |
//! | `${V:?m}` / `${V?m}` | error `V: m` when V is unset or empty / unset |
//! | `${V#p}` `${V##p}` | V without its shortest / longest prefix matching the pattern `p` |
//! | `${V%p}` `${V%%p}` | V without its shortest / longest suffix matching `p` |
//! | `${V/p/r}` `${V//p/r}` | the first / every match of `p` replaced by `r` |
//!
//! Patterns know `*`, `?` and `\` (escaping `*`, `?`, `\`, `}` and `/`).
//! Unknown variables expand to the empty string. Errors carry buildkit's text,
//! wrapped as buildkit wraps them: `failed to process "${a": syntax error:
//! missing '}'`.

use std::collections::BTreeSet;

/// The shell-word processor; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lex {
    /// The escape character: `\` (the default) or `` ` ``.
    pub escape: char,
    /// Keep the quote characters in the result (buildkit `RawQuotes`).
    pub raw_quotes: bool,
    /// Keep the escape characters in the result (buildkit `RawEscapes`).
    pub raw_escapes: bool,
    /// Treat quotes as ordinary characters (buildkit `SkipProcessQuotes`).
    pub skip_process_quotes: bool,
    /// Leave references to unset variables as written (`$X`, `${X:-y}`)
    /// instead of expanding them (buildkit `SkipUnsetEnv`).
    pub skip_unset_env: bool,
}

/// Everything one processing of a word produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Processed {
    /// The word with quotes removed and variables expanded.
    pub result: String,
    /// The same, split into words on unquoted whitespace (as `process_words`).
    pub words: Vec<String>,
    /// Variables looked up that were set.
    pub matched: BTreeSet<String>,
    /// Variables looked up that were not set.
    pub unmatched: BTreeSet<String>,
}

impl Default for Lex {
    fn default() -> Self {
        Lex::new('\\')
    }
}

impl Lex {
    /// A processor with the given escape character and buildkit's defaults.
    pub fn new(escape: char) -> Lex {
        Lex {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_process_quotes: false,
            skip_unset_env: false,
        }
    }

    /// buildkit `ProcessWord`: the word with quotes removed and variables
    /// expanded, whitespace kept as it is.
    pub fn process_word(
        &self,
        word: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<String, String> {
        self.process(word, env).map(|p| p.result)
    }

    /// buildkit `ProcessWords`: as [`Lex::process_word`], then split on
    /// whitespace that was not quoted (expanded values are split too), as
    /// `EXPOSE`, `VOLUME` and the shell forms of similar instructions need.
    pub fn process_words(
        &self,
        word: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<String>, String> {
        self.process(word, env).map(|p| p.words)
    }

    /// As [`Lex::process_word`], also returning every variable name looked up
    /// (set or not): the build args a step uses, for the build cache.
    pub fn process_word_with_matches(
        &self,
        word: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(String, BTreeSet<String>), String> {
        let p = self.process(word, env)?;
        let mut names = p.matched;
        names.extend(p.unmatched);
        Ok((p.result, names))
    }

    /// The whole result of processing `word`: the word, its split, and the
    /// variables looked up.
    pub fn process(
        &self,
        word: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Processed, String> {
        let mut sw = ShellWord {
            lex: *self,
            chars: word.chars().collect(),
            pos: 0,
            env,
            raw_escapes: self.raw_escapes,
            matched: BTreeSet::new(),
            unmatched: BTreeSet::new(),
            depth: 0,
        };
        let raw = sw.raw_escapes;
        match sw.process_stop_on(None, raw) {
            Ok((result, words)) => Ok(Processed {
                result,
                words,
                matched: sw.matched,
                unmatched: sw.unmatched,
            }),
            Err(e) => Err(format!(
                "failed to process {}: {e}",
                shared::go::quote(word)
            )),
        }
    }
}

struct ShellWord<'a> {
    lex: Lex,
    chars: Vec<char>,
    pos: usize,
    env: &'a dyn Fn(&str) -> Option<String>,
    raw_escapes: bool,
    matched: BTreeSet<String>,
    unmatched: BTreeSet<String>,
    /// How many `${...}` are open: bounded so that no input exhausts the stack.
    depth: usize,
}

/// Deeper `${...}` nesting than this is refused (buildkit has no limit; no
/// real Dockerfile comes near it).
const MAX_DEPTH: usize = 200;

/// buildkit's `wordsStruct`: the word split as characters arrive.
#[derive(Default)]
struct Words {
    buf: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() && self.in_word {
            if !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else if !ch.is_whitespace() {
            self.add_raw_char(ch);
        }
    }

    fn add_raw_char(&mut self, ch: char) {
        self.buf.push(ch);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str) {
        for ch in s.chars() {
            self.add_char(ch);
        }
    }

    fn add_raw_string(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(std::mem::take(&mut self.buf));
        }
        self.words
    }
}

impl ShellWord<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn get_env(&mut self, name: &str) -> Option<String> {
        match (self.env)(name) {
            Some(v) => {
                self.matched.insert(name.to_string());
                Some(v)
            }
            None => {
                self.unmatched.insert(name.to_string());
                None
            }
        }
    }

    /// Processes up to `stop` (consumed) or the end of the word.
    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), String> {
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let r = self.process_stop_on_inner(stop);
        self.raw_escapes = saved;
        r
    }

    fn process_stop_on_inner(
        &mut self,
        stop: Option<char>,
    ) -> Result<(String, Vec<String>), String> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if stop == Some(ch) {
                self.next();
                return Ok((result, words.finish()));
            }
            let special = match ch {
                '$' => Some(self.process_dollar()?),
                '<' => Some(self.process_possible_heredoc()),
                '\'' if !self.lex.skip_process_quotes => Some(self.process_single_quote()?),
                '"' if !self.lex.skip_process_quotes => Some(self.process_double_quote()?),
                _ => None,
            };
            if let Some(tmp) = special {
                result.push_str(&tmp);
                if ch == '$' {
                    words.add_string(&tmp);
                } else {
                    words.add_raw_string(&tmp);
                }
                continue;
            }
            self.next();
            let mut ch = ch;
            if ch == self.lex.escape {
                if self.raw_escapes {
                    words.add_raw_char(ch);
                    result.push(ch);
                }
                match self.next() {
                    None => break,
                    Some(c) => ch = c,
                }
                words.add_raw_char(ch);
            } else {
                words.add_char(ch);
            }
            result.push(ch);
        }
        if let Some(stop) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            ));
        }
        Ok((result, words.finish()))
    }

    fn process_single_quote(&mut self) -> Result<String, String> {
        let mut result = String::new();
        let open = self.next();
        if self.lex.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .to_string(),
                    )
                }
                Some('\'') => {
                    if self.lex.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn process_double_quote(&mut self) -> Result<String, String> {
        let mut result = String::new();
        let open = self.next();
        if self.lex.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .to_string(),
                    )
                }
                Some('"') => {
                    self.next();
                    if self.lex.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let v = self.process_dollar()?;
                    result.push_str(&v);
                }
                Some(mut ch) => {
                    self.next();
                    if ch == self.lex.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some(c) if c == '"' || c == '$' || c == self.lex.escape => {
                                self.next();
                                ch = c;
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn process_dollar(&mut self) -> Result<String, String> {
        if self.depth >= MAX_DEPTH {
            return Err("syntax error: substitutions nested too deeply".to_string());
        }
        self.depth += 1;
        let r = self.process_dollar_inner();
        self.depth -= 1;
        r
    }

    fn process_dollar_inner(&mut self) -> Result<String, String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            let value = self.get_env(&name);
            if value.is_none() && self.lex.skip_unset_env {
                return Ok(format!("${name}"));
            }
            return Ok(value.unwrap_or_default());
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".to_string()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".to_string()),
            Some(_) => {}
        }
        let name = self.process_name();
        let Some(mut ch) = self.next() else {
            // Go's scanner returns EOF (-1), printed as U+FFFD.
            return Err("unsupported modifier (\u{fffd}) in substitution".to_string());
        };
        let mut chs = ch.to_string();
        match ch {
            '}' => {
                let value = self.get_env(&name);
                if value.is_none() && self.lex.skip_unset_env {
                    return Ok(format!("${{{name}}}"));
                }
                Ok(value.unwrap_or_default())
            }
            ':' | '+' | '-' | '?' | '#' | '%' => {
                let null_is_unset = ch == ':';
                if null_is_unset {
                    match self.next() {
                        Some(c) => {
                            ch = c;
                            chs.push(c);
                        }
                        // Go reads EOF here, then fails looking for the '}'.
                        None => return Err("syntax error: missing '}'".to_string()),
                    }
                }
                let raw_escapes = ch == '#' || ch == '%';
                if null_is_unset && raw_escapes {
                    return Err(format!("unsupported modifier ({chs}) in substitution"));
                }
                if !matches!(ch, '+' | '-' | '?' | '#' | '%') {
                    // buildkit reads the word first and fails after; the word's
                    // own errors win.
                    let word = match self.process_stop_on(Some('}'), raw_escapes) {
                        Ok((w, _)) => w,
                        Err(e) => {
                            if self.peek().is_none() {
                                return Err("syntax error: missing '}'".to_string());
                            }
                            return Err(e);
                        }
                    };
                    if self.get_env(&name).is_none() && self.lex.skip_unset_env {
                        return Ok(format!("${{{name}{chs}{word}}}"));
                    }
                    return Err(format!("unsupported modifier ({chs}) in substitution"));
                }
                let word = match self.process_stop_on(Some('}'), raw_escapes) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err("syntax error: missing '}'".to_string());
                        }
                        return Err(e);
                    }
                };
                let value = self.get_env(&name);
                if self.lex.skip_unset_env && value.is_none() {
                    return Ok(format!("${{{name}{chs}{word}}}"));
                }
                let set = value.is_some();
                let value = value.unwrap_or_default();
                let empty_as_unset = !set || (null_is_unset && value.is_empty());
                match ch {
                    '-' => Ok(if empty_as_unset { word } else { value }),
                    '+' => Ok(if empty_as_unset { String::new() } else { word }),
                    '?' => {
                        if !set {
                            let m = if word.is_empty() {
                                "is not allowed to be unset".to_string()
                            } else {
                                word
                            };
                            return Err(format!("{name}: {m}"));
                        }
                        if null_is_unset && value.is_empty() {
                            let m = if word.is_empty() {
                                "is not allowed to be empty".to_string()
                            } else {
                                word
                            };
                            return Err(format!("{name}: {m}"));
                        }
                        Ok(value)
                    }
                    _ => {
                        let (greedy, pattern) = match word.strip_prefix(ch) {
                            Some(rest) => (true, rest.to_string()),
                            None => (false, word),
                        };
                        if ch == '%' {
                            trim_suffix(&pattern, &value, greedy)
                        } else {
                            trim_prefix(&pattern, &value, greedy)
                        }
                    }
                }
            }
            '/' => {
                let replace_all = self.peek() == Some('/');
                if replace_all {
                    self.next();
                }
                let pattern = match self.process_stop_on(Some('/'), true) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err("syntax error: missing '/' in ${}".to_string());
                        }
                        return Err(e);
                    }
                };
                let replacement = match self.process_stop_on(Some('}'), true) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err("syntax error: missing '}'".to_string());
                        }
                        return Err(e);
                    }
                };
                let value = self.get_env(&name);
                if self.lex.skip_unset_env && value.is_none() {
                    return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
                }
                let value = value.unwrap_or_default();
                let pat = compile_pattern(&pattern)
                    .map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))?;
                Ok(replace(&pat, &value, &replacement, replace_all))
            }
            _ => Err(format!("unsupported modifier ({chs}) in substitution")),
        }
    }

    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_numeric() {
                while let Some(c) = self.peek() {
                    if !c.is_numeric() {
                        break;
                    }
                    self.next();
                    name.push(c);
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphanumeric() && ch != '_' {
                break;
            }
            self.next();
            name.push(ch);
        }
        name
    }

    fn process_possible_heredoc(&mut self) -> String {
        self.next();
        if self.peek() != Some('<') {
            return "<".to_string();
        }
        self.next();
        let mut result = "<<".to_string();
        while let Some(c @ ('\t' | '\r' | ' ')) = self.peek() {
            result.push(c);
            self.next();
        }
        result
    }
}

/// One element of a shell pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pat {
    Star,
    Any,
    Lit(char),
}

/// buildkit `convertShellPatternToRegex`, as a token list: `*`, `?`, `\`
/// escaping `*`, `?` or `\`; `\}` and `\/` are the plain characters.
fn compile_pattern(pattern: &str) -> Result<Vec<Pat>, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => out.push(Pat::Star),
            '?' => out.push(Pat::Any),
            '\\' => {
                if matches!(chars.get(i), Some('}' | '/')) {
                    continue;
                }
                match chars.get(i) {
                    Some(&n @ ('*' | '?' | '\\')) => {
                        out.push(Pat::Lit(n));
                        i += 1;
                    }
                    Some(&n) => return Err(format!("invalid escape '\\{n}'")),
                    // Go's scanner yields EOF (-1), printed as U+FFFD.
                    None => return Err("invalid escape '\\\u{fffd}'".to_string()),
                }
            }
            c => out.push(Pat::Lit(c)),
        }
    }
    Ok(out)
}

/// The length of the shortest (or longest, `greedy`) prefix of `s` that `pat`
/// matches entirely: one pass over `s`, tracking the pattern positions reached.
fn prefix_match(pat: &[Pat], s: &[char], greedy: bool) -> Option<usize> {
    let m = pat.len();
    // Positions reachable without consuming: a star may match nothing.
    let close = |states: &mut Vec<bool>| {
        for p in 0..m {
            if states[p] && pat[p] == Pat::Star {
                states[p + 1] = true;
            }
        }
    };
    let mut states = vec![false; m + 1];
    states[0] = true;
    close(&mut states);
    let mut best = states[m].then_some(0);
    if best.is_some() && !greedy {
        return best;
    }
    for (i, &c) in s.iter().enumerate() {
        let mut next = vec![false; m + 1];
        let mut any = false;
        for p in 0..m {
            if !states[p] {
                continue;
            }
            match pat[p] {
                Pat::Star => next[p] = true,
                Pat::Any => next[p + 1] = true,
                Pat::Lit(x) if x == c => next[p + 1] = true,
                Pat::Lit(_) => {}
            }
        }
        close(&mut next);
        for &v in &next {
            any |= v;
        }
        if next[m] {
            best = Some(i + 1);
            if !greedy {
                return best;
            }
        }
        if !any {
            break;
        }
        states = next;
    }
    best
}

fn trim_prefix(pattern: &str, value: &str, greedy: bool) -> Result<String, String> {
    let pat = compile_pattern(pattern)
        .map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))?;
    let chars: Vec<char> = value.chars().collect();
    Ok(match prefix_match(&pat, &chars, greedy) {
        Some(l) => chars[l..].iter().collect(),
        None => value.to_string(),
    })
}

fn trim_suffix(pattern: &str, value: &str, greedy: bool) -> Result<String, String> {
    let mut pat = compile_pattern(pattern)
        .map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))?;
    pat.reverse();
    let mut chars: Vec<char> = value.chars().collect();
    chars.reverse();
    let rest: Vec<char> = match prefix_match(&pat, &chars, greedy) {
        Some(l) => chars[l..].to_vec(),
        None => chars,
    };
    Ok(rest.iter().rev().collect())
}

/// `${V/p/r}` and `${V//p/r}`: leftmost, longest matches replaced.
fn replace(pat: &[Pat], value: &str, replacement: &str, all: bool) -> String {
    let chars: Vec<char> = value.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut last_match_end: Option<usize> = None;
    while i <= chars.len() {
        let m = prefix_match(pat, &chars[i..], true);
        match m {
            // An empty match right after a match is skipped, as Go's regexp does.
            Some(0) if last_match_end == Some(i) => {}
            Some(l) => {
                out.push_str(replacement);
                last_match_end = Some(i + l);
                if !all {
                    out.extend(&chars[i + l..]);
                    return out;
                }
                if l > 0 {
                    i += l;
                    continue;
                }
            }
            None => {}
        }
        if let Some(&c) = chars.get(i) {
            out.push(c);
        }
        i += 1;
    }
    out
}

#[cfg(test)]
#[path = "shell_tests.rs"]
mod tests;
