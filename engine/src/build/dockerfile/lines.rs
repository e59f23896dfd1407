//! Reading lines into instruction nodes, as buildkit's `parser` package:
//! directives, continuations, comments, heredocs, words and JSON forms.

use super::*;

/// The instruction names, in the order suggestions are searched.
pub(super) const INSTRUCTIONS: [&str; 18] = [
    "add",
    "arg",
    "cmd",
    "copy",
    "entrypoint",
    "env",
    "expose",
    "from",
    "healthcheck",
    "label",
    "maintainer",
    "onbuild",
    "run",
    "shell",
    "stopsignal",
    "user",
    "volume",
    "workdir",
];

/// A heredoc as the line parser reads it.
#[derive(Debug, Clone)]
pub(super) struct RawHeredoc {
    pub(super) name: String,
    pub(super) fd: u32,
    pub(super) expand: bool,
    pub(super) chomp: bool,
    pub(super) content: String,
}

/// buildkit's `parser.Node` for one instruction, flattened.
#[derive(Debug, Clone, Default)]
pub(super) struct Node {
    /// The instruction word as written.
    pub(super) cmd: String,
    /// The joined line.
    pub(super) original: String,
    pub(super) flags: Vec<String>,
    /// buildkit `nodeArgs`.
    pub(super) args: Vec<String>,
    /// The arguments were a JSON array.
    pub(super) json: bool,
    /// `ONBUILD`'s trigger.
    pub(super) sub: Option<Box<Node>>,
    pub(super) heredocs: Vec<RawHeredoc>,
    pub(super) start_line: usize,
    pub(super) end_line: usize,
}

impl Node {
    pub(super) fn can_contain_heredoc(&self) -> bool {
        let node = match (&self.sub, self.cmd.eq_ignore_ascii_case("onbuild")) {
            (Some(sub), true) => sub,
            _ => self,
        };
        let cmd = node.cmd.to_ascii_lowercase();
        matches!(cmd.as_str(), "add" | "copy" | "run") && !node.json
    }
}

/// The parser directives' state (buildkit `DirectiveParser` + `directives`).
pub(super) struct Directives {
    pub(super) warnings: Vec<String>,
    pub(super) escape: char,
    pub(super) done: bool,
    pub(super) seen: Vec<String>,
    pub(super) syntax: Option<String>,
}

impl Directives {
    /// Looks at one line (newline trimmed) for a directive.
    pub(super) fn parse_line(&mut self, line: &str) -> Result<(), String> {
        if self.done {
            return Ok(());
        }
        let Some(rest) = line.strip_prefix('#') else {
            self.done = true;
            return Ok(());
        };
        let rest = rest.trim_start();
        let Some((key, value)) = directive_match(rest) else {
            self.done = true;
            return Ok(());
        };
        let key = key.to_ascii_lowercase();
        if !matches!(key.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(());
        }
        if self.seen.contains(&key) {
            return Err(format!("only one {key} parser directive can be used"));
        }
        self.seen.push(key.clone());
        match key.as_str() {
            "escape" => {
                self.escape = match value {
                    "`" => '`',
                    "\\" => '\\',
                    _ => {
                        return Err(format!(
                            "invalid escape token '{value}' does not match ` or \\"
                        ))
                    }
                }
            }
            "syntax" => self.syntax = Some(value.to_string()),
            _ => {}
        }
        Ok(())
    }
}

/// `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`.
pub(super) fn directive_match(s: &str) -> Option<(&str, &str)> {
    let first = s.chars().next()?;
    if !first.is_ascii_alphabetic() {
        return None;
    }
    let key_len = s
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(s.len());
    let (key, rest) = s.split_at(key_len);
    let rest = rest.trim_start_matches(is_re_space);
    let rest = rest.strip_prefix('=')?;
    let value = rest.trim_matches(is_re_space);
    if value.is_empty() || value.contains('\n') {
        return None;
    }
    Some((key, value))
}

/// RE2's `\s`: `[\t\n\f\r ]`.
pub(super) fn is_re_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// buildkit's `reWhitespace`: `[\t\v\f\r ]`.
pub(super) fn is_ws(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// Splits on runs of `[\t\v\f\r ]` (Go `regexp.Split(s, -1)`, after the
/// caller's trimming); `n` limits the parts as Go's `Split(s, n)`.
pub(super) fn split_ws(s: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while out.len() + 1 < n {
        let Some(start) = rest.find(is_ws) else {
            break;
        };
        let end = rest[start..]
            .find(|c: char| !is_ws(c))
            .map_or(rest.len(), |e| start + e);
        out.push(rest[..start].to_string());
        rest = &rest[end..];
    }
    out.push(rest.to_string());
    out
}

pub(super) fn split_ws_all(s: &str) -> Vec<String> {
    split_ws(s, usize::MAX)
}

/// `bytes.TrimRight(line, "\r\n")`.
pub(super) fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

pub(super) fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Removes a line-continuation escape at the end; `true` when the line ends
/// the instruction (buildkit `trimContinuationCharacter`).
pub(super) fn trim_continuation(line: &str, escape: char) -> (String, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    if let Some(before) = body.strip_suffix(escape) {
        // An escaped escape (`\\`) at the end is not a continuation.
        if before.is_empty() || !before.ends_with(escape) {
            return (before.to_string(), false);
        }
    }
    (line.to_string(), true)
}

/// Scans lines as buildkit's `scanLines`: each with its `\n`.
pub(super) struct Lines<'a> {
    pub(super) lines: Vec<&'a str>,
    pub(super) next: usize,
}

impl<'a> Lines<'a> {
    pub(super) fn next_line(&mut self) -> Option<&'a str> {
        let l = self.lines.get(self.next).copied();
        if l.is_some() {
            self.next += 1;
        }
        l
    }
}

/// Reads the lines into instruction nodes.
pub(super) fn read_nodes(text: &str) -> Result<(Vec<Node>, Directives), ParseError> {
    let mut d = Directives {
        warnings: Vec::new(),
        escape: '\\',
        done: false,
        seen: Vec::new(),
        syntax: None,
    };
    let mut lines = Lines {
        lines: text.split_inclusive('\n').collect(),
        next: 0,
    };
    let mut current = 0usize;
    let mut nodes = Vec::new();
    while let Some(raw) = lines.next_line() {
        let raw = if current == 0 {
            raw.strip_prefix('\u{feff}').unwrap_or(raw)
        } else {
            raw
        };
        let processed = trim_newline(raw).trim_start();
        d.parse_line(processed)
            .map_err(|e| ParseError::syntax(current + 1, e))?;
        let processed = if is_comment(processed) { "" } else { processed };
        current += 1;
        let start = current;
        let (first, mut end_of_line) = trim_continuation(processed, d.escape);
        if end_of_line && first.is_empty() {
            continue;
        }
        let mut buf = first;
        let mut empty_continuation = false;
        while !end_of_line {
            let Some(raw) = lines.next_line() else {
                break;
            };
            let processed = trim_newline(raw);
            d.parse_line(processed)
                .map_err(|e| ParseError::syntax(current + 1, e))?;
            current += 1;
            if is_comment(raw) {
                continue;
            }
            if processed.trim_start().is_empty() {
                empty_continuation = true;
                continue;
            }
            let (part, eol) = trim_continuation(processed, d.escape);
            end_of_line = eol;
            buf.push_str(&part);
        }
        if empty_continuation {
            d.warnings
                .push(format!("Empty continuation line found in: {buf}"));
        }
        let mut node =
            node_from_line(&buf, d.escape, 0).map_err(|e| ParseError::syntax(start, e))?;
        if node.can_contain_heredoc() && buf.contains("<<") {
            let docs = heredocs_from_line(&buf).map_err(|e| ParseError::syntax(start, e))?;
            for mut doc in docs {
                let mut terminated = false;
                let mut content = String::new();
                while let Some(raw) = lines.next_line() {
                    current += 1;
                    let mut candidate = trim_newline(raw);
                    if doc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == doc.name {
                        terminated = true;
                        break;
                    }
                    content.push_str(raw);
                }
                if !terminated {
                    return Err(ParseError::syntax(start, "unterminated heredoc"));
                }
                doc.content = content;
                node.heredocs.push(doc);
            }
        }
        node.start_line = start;
        node.end_line = current;
        nodes.push(node);
    }
    if nodes.is_empty() {
        return Err(ParseError::syntax(current, "file with no instructions"));
    }
    Ok((nodes, d))
}

/// buildkit `newNodeFromLine`: the instruction word, flags and arguments.
pub(super) fn node_from_line(line: &str, escape: char, depth: usize) -> Result<Node, String> {
    let trimmed = line.trim();
    let parts = split_ws(trimmed, 2);
    let cmd = parts.first().cloned().unwrap_or_default();
    let (args, flags) = match parts.get(1) {
        Some(rest) => {
            let (args, flags) = extract_builder_flags(rest, escape);
            (args.trim().to_string(), flags)
        }
        None => (String::new(), Vec::new()),
    };
    let mut node = Node {
        cmd: cmd.clone(),
        original: line.to_string(),
        flags,
        ..Node::default()
    };
    match cmd.to_ascii_lowercase().as_str() {
        "add" | "copy" | "volume" => parse_maybe_json_to_list(&args, &mut node)?,
        "run" | "cmd" | "entrypoint" | "shell" => parse_maybe_json(&args, &mut node)?,
        "arg" => node.args = parse_words(&args, escape),
        "env" => node.args = parse_name_val(&args, "ENV", escape)?,
        "label" => node.args = parse_name_val(&args, "LABEL", escape)?,
        "expose" | "from" if !args.is_empty() => node.args = split_ws_all(&args),
        "maintainer" | "stopsignal" | "user" | "workdir" if !args.is_empty() => {
            node.args = vec![args]
        }
        "healthcheck" => parse_health_config(&args, &mut node)?,
        // Nested ONBUILDs are refused later; a bound keeps any input off the stack.
        "onbuild" if !args.is_empty() && depth > 8 => node.args = split_ws(&args, 2),
        "onbuild" if !args.is_empty() => {
            let sub = node_from_line(&args, escape, depth + 1)?;
            node.args = std::iter::once(sub.cmd.clone())
                .chain(sub.args.iter().cloned())
                .collect();
            node.sub = Some(Box::new(sub));
        }
        _ => {}
    }
    Ok(node)
}

/// buildkit `extractBuilderFlags`: leading `--words` (quotes removed, escapes
/// applied), then the rest of the line.
pub(super) fn extract_builder_flags(line: &str, escape: char) -> (String, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut i = 0;
    while i <= chars.len() {
        let at_end = i == chars.len();
        let (pos, ch) = chars.get(i).copied().unwrap_or((line.len(), '\0'));
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if ch.is_whitespace() {
                i += 1;
                continue;
            }
            let next = chars.get(i + 1).map(|c| c.1);
            if ch != '-' || next != Some('-') {
                return (line[pos..].to_string(), words);
            }
            phase = Phase::Word;
        }
        if at_end {
            if word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if word == "--" {
                    return (line[pos..].to_string(), words);
                }
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                i += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                i += 1;
                continue;
            }
            let mut c = ch;
            if ch == escape {
                if i + 1 == chars.len() {
                    i += 1;
                    continue;
                }
                i += 1;
                c = chars[i].1;
            }
            word.push(c);
            i += 1;
            continue;
        }
        // Phase::Quote
        if ch == quote {
            phase = Phase::Word;
            i += 1;
            continue;
        }
        let mut c = ch;
        if ch == escape {
            if i + 1 == chars.len() {
                phase = Phase::Word;
                i += 1;
                continue;
            }
            i += 1;
            c = chars[i].1;
        }
        word.push(c);
        i += 1;
    }
    (String::new(), words)
}

/// buildkit `parseWords`: words on whitespace, quotes and escapes kept.
pub(super) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut word = String::new();
    let mut i = 0;
    while i <= chars.len() {
        let at_end = i == chars.len();
        let ch = chars.get(i).copied().unwrap_or('\0');
        if phase == Phase::Spaces {
            if at_end {
                break;
            }
            if ch.is_whitespace() {
                i += 1;
                continue;
            }
            phase = Phase::Word;
        }
        if at_end {
            if blank_ok || !word.is_empty() {
                words.push(word);
            }
            break;
        }
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                i += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            let mut c = ch;
            if ch == escape {
                if i + 1 == chars.len() {
                    i += 1;
                    continue;
                }
                word.push(ch);
                i += 1;
                c = chars[i];
            }
            word.push(c);
            i += 1;
            continue;
        }
        // Phase::Quote
        if ch == quote {
            phase = Phase::Word;
        }
        let mut c = ch;
        if ch == escape && quote != '\'' {
            if i + 1 == chars.len() {
                phase = Phase::Word;
                i += 1;
                continue;
            }
            i += 1;
            word.push(ch);
            c = chars[i];
        }
        word.push(c);
        i += 1;
    }
    words
}

/// buildkit `parseNameVal`: `[k, v, sep]` triples; `sep` is `""` for the
/// legacy `KEY value words` form.
pub(super) fn parse_name_val(rest: &str, key: &str, escape: char) -> Result<Vec<String>, String> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let parts = split_ws(rest, 2);
        if parts.len() < 2 {
            return Err(format!("{key} must have two arguments"));
        }
        return Ok(vec![parts[0].clone(), parts[1].clone(), String::new()]);
    }
    let mut out = Vec::new();
    for word in &words {
        let Some((k, v)) = word.split_once('=') else {
            return Err(format!(
                "Syntax error - can't find = in {}. Must be of the form: name=value",
                shared::go::quote(word)
            ));
        };
        out.extend([k.to_string(), v.to_string(), "=".to_string()]);
    }
    Ok(out)
}

pub(super) enum JsonResult {
    Ok(Vec<String>),
    NotStrings,
    NotJson,
}

/// buildkit `parseJSON`.
pub(super) fn parse_json(rest: &str) -> JsonResult {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return JsonResult::NotJson;
    }
    match serde_json::from_str::<Vec<serde_json::Value>>(rest) {
        Ok(values) => {
            let mut out = Vec::with_capacity(values.len());
            for v in values {
                match v {
                    serde_json::Value::String(s) => out.push(s),
                    _ => return JsonResult::NotStrings,
                }
            }
            JsonResult::Ok(out)
        }
        Err(_) => JsonResult::NotJson,
    }
}

pub(super) const NOT_STRING_ARRAY: &str =
    "when using JSON array syntax, arrays must be comprised of strings only";

pub(super) fn parse_maybe_json(rest: &str, node: &mut Node) -> Result<(), String> {
    if rest.is_empty() {
        return Ok(());
    }
    match parse_json(rest) {
        JsonResult::Ok(args) => {
            node.args = args;
            node.json = true;
        }
        JsonResult::NotStrings => return Err(NOT_STRING_ARRAY.to_string()),
        JsonResult::NotJson => node.args = vec![rest.to_string()],
    }
    Ok(())
}

pub(super) fn parse_maybe_json_to_list(rest: &str, node: &mut Node) -> Result<(), String> {
    match parse_json(rest) {
        JsonResult::Ok(args) => {
            node.args = args;
            node.json = true;
        }
        JsonResult::NotStrings => return Err(NOT_STRING_ARRAY.to_string()),
        JsonResult::NotJson => {
            if !rest.is_empty() {
                node.args = split_ws_all(rest);
            }
        }
    }
    Ok(())
}

/// buildkit `parseHealthConfig`: the type word, then a maybe-JSON command.
pub(super) fn parse_health_config(rest: &str, node: &mut Node) -> Result<(), String> {
    let sep = rest.find(char::is_whitespace).unwrap_or(rest.len());
    if sep == 0 {
        return Ok(());
    }
    let typ = &rest[..sep];
    let cmd = rest[sep..].trim_start();
    let mut sub = Node::default();
    parse_maybe_json(cmd, &mut sub)?;
    node.args = std::iter::once(typ.to_string()).chain(sub.args).collect();
    node.json = sub.json;
    Ok(())
}

/// buildkit `heredocsFromLine`: the heredoc words of a line.
pub(super) fn heredocs_from_line(line: &str) -> Result<Vec<RawHeredoc>, String> {
    let lex = Lex {
        raw_quotes: true,
        raw_escapes: true,
        skip_unset_env: true,
        ..Lex::new('\\')
    };
    let words = lex.process_words(line, &|_| None).unwrap_or_default();
    let mut docs = Vec::new();
    for word in words {
        if let Some(doc) = parse_heredoc(&word)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// buildkit `ParseHeredoc`: `^(\d*)<<(-?)\s*([^<]*)$`, then the name's quotes.
pub(super) fn parse_heredoc(src: &str) -> Result<Option<RawHeredoc>, String> {
    let digits = src.find(|c: char| !c.is_ascii_digit()).unwrap_or(src.len());
    let (fd, rest) = src.split_at(digits);
    let Some(rest) = rest.strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let rest = rest.trim_start_matches(is_re_space);
    if rest.contains('<') || rest.is_empty() {
        return Ok(None);
    }
    let mut lex = Lex {
        skip_unset_env: true,
        ..Lex::new('\\')
    };
    let words = lex.process_words(rest, &|_| None)?;
    if words.len() != 1 {
        return Ok(None);
    }
    lex.raw_quotes = true;
    let raw_words = lex.process_words(rest, &|_| None)?;
    if raw_words.len() != words.len() {
        return Err(format!(
            "internal lexing of heredoc produced inconsistent results: {rest}"
        ));
    }
    let quotes = |s: &str| s.matches(['\'', '"']).count();
    let name = words[0].clone();
    let expand = quotes(&name) == quotes(&raw_words[0]);
    Ok(Some(RawHeredoc {
        name,
        // Go's ParseUint error (overflow) gives 0.
        fd: fd.parse().unwrap_or(0),
        expand,
        chomp,
        content: String::new(),
    }))
}

/// buildkit `ChompHeredocContent`: leading tabs removed from every line.
pub(super) fn chomp_content(s: &str) -> String {
    s.split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}
