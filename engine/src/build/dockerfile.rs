//! The Dockerfile language: [`parse`] turns a Dockerfile's text into stages of
//! typed instructions, with line numbers, as buildkit's `frontend/dockerfile`
//! `parser` and `instructions` packages do (moby's classic builder uses them).
//!
//! What the parser does, in buildkit's order:
//!
//! 1. Parser directives (`# escape=`` ` ``, `# syntax=`, `# check=`; names in any
//!    case) are read from the comment lines at the very top; the first line that
//!    is not one (a blank line, another comment, an instruction) ends them.
//! 2. Lines are joined on the escape character at their end (trailing blanks
//!    allowed); comment lines and empty lines inside a continued instruction are
//!    dropped. The joined text, trimmed, is the instruction's
//!    [`Instruction::original`]: what `Step N/M : ...` prints
//!    (`RUN a && \` + `    b` gives `RUN a &&     b`).
//! 3. The first word is the instruction (any case), then come the `--flags`,
//!    then the arguments: JSON arrays (exec form) where allowed, else the
//!    instruction's own splitting. `RUN`, `COPY` and `ADD` (also under
//!    `ONBUILD`) in shell form read heredocs (`<<EOF`, `<<-EOF`, `<<"EOF"`)
//!    from the lines that follow.
//! 4. Each instruction is checked: flags (`unknown flag: --foo`), argument
//!    counts, `FROM ... AS name`, `HEALTHCHECK` durations, `RUN --mount`, ...
//!
//! **Words stay raw.** Values that the builder expands (FROM's image, `ENV` and
//! `LABEL` values, `ARG` defaults, `COPY`/`ADD` sources and destination,
//! `WORKDIR`, `USER`, `EXPOSE`, `VOLUME`, `STOPSIGNAL`, `--from`, `--chown`,
//! `--chmod`, `--platform`, mount fields) keep their quotes, escapes and `$`:
//! the executor calls [`crate::build::shell::Lex::process_word`] (with
//! [`Dockerfile::escape`]) at the right moment with the right environment.
//! Flag values (`--from=`, `--chown=`, `--mount=`...) have had their quotes
//! and escapes removed by the flag splitter, as in buildkit, but keep their `$`.
//! Exec-form arrays are already JSON-decoded; shell-form command lines are the
//! text as written (the shell interprets them).
//!
//! The input is text: give a Dockerfile that is not UTF-8 through
//! `String::from_utf8_lossy`. No input makes the parser panic.
//!
//! **Errors** ([`ParseError`]) carry the line and buildkit's message, and print
//! as docker's classic builder (docker 28) reports them: errors found while
//! reading lines print as `failed to parse Dockerfile: MESSAGE` (moby's
//! `readAndParseDockerfile`), errors in an instruction as `dockerfile parse
//! error on line N: MESSAGE` (buildkit's `instructions.Parse`), and a few
//! stand alone (`no build stage in current context`, `NAME stage name already
//! used`); see [`ErrorKind`].

use std::fmt;

use crate::build::shell::Lex;

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The escape character (`\`, or `` ` `` from `# escape=`` ` ``): give it to
    /// [`Lex::new`] when expanding this file's words.
    pub escape: char,
    /// The `# syntax=` directive's value, if any (the classic builder ignores it).
    pub syntax: Option<String>,
    /// `ARG`s before the first `FROM`: usable in `FROM` lines, and (declared
    /// again without a value inside a stage) in that stage.
    pub meta_args: Vec<ArgDecl>,
    /// The stages in order; may be empty when the file has only `ARG`s.
    pub stages: Vec<Stage>,
    /// Parser warnings (`Empty continuation line found in: RUN ...`). moby
    /// prints each to the build's output as `[WARNING]: TEXT`, then, when there
    /// are any, `[WARNING]: Empty continuation lines will become errors in a
    /// future release.`
    pub warnings: Vec<String>,
}

/// One build stage: a `FROM` and the instructions up to the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// `AS name`, lowercased; `None` when unnamed.
    pub name: Option<String>,
    /// The image or earlier stage named by `FROM`, raw (may hold `$ARG`s,
    /// expanded with the meta args).
    pub base: String,
    /// `--platform=`, raw.
    pub platform: Option<String>,
    /// The 1-based line of the `FROM`.
    pub line: usize,
    /// The `FROM` line as `Step` prints it.
    pub original: String,
    /// The stage's instructions after `FROM`.
    pub instructions: Vec<Instruction>,
}

/// One instruction inside a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// The 1-based line where it starts.
    pub line: usize,
    /// The last line it spans (continuations, heredocs included).
    pub end_line: usize,
    /// The instruction as moby's `Step N/M : ...` prints it: continuation lines
    /// joined (escape character removed, the next line's indentation kept),
    /// comments dropped, trimmed; heredoc bodies not included.
    pub original: String,
    /// What it is.
    pub kind: Kind,
}

/// The instructions, with their arguments. All words are raw (see the module
/// documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// `RUN`.
    Run(Run),
    /// `CMD`.
    Cmd(CommandForm),
    /// `ENTRYPOINT`; an empty exec form (`ENTRYPOINT []`) resets it.
    Entrypoint(CommandForm),
    /// `SHELL ["exe", "arg"...]` (JSON only).
    Shell(Vec<String>),
    /// `ENV`: `(name, raw value)` pairs; `ENV NAME value words` gives one pair.
    Env(Vec<(String, String)>),
    /// `LABEL`: `(raw key, raw value)` pairs (keys may be quoted too).
    Label(Vec<(String, String)>),
    /// `ARG` inside a stage.
    Arg(Vec<ArgDecl>),
    /// `EXPOSE` ports, raw, sorted as strings (as buildkit sorts them).
    Expose(Vec<String>),
    /// `VOLUME` paths: JSON array or whitespace-separated, raw, trimmed.
    Volume(Vec<String>),
    /// `WORKDIR path`, raw.
    Workdir(String),
    /// `USER user[:group]`, raw.
    User(String),
    /// `STOPSIGNAL signal`, raw.
    StopSignal(String),
    /// `HEALTHCHECK`.
    Healthcheck(Healthcheck),
    /// `ONBUILD`: the trigger instruction's text (`RUN echo hi`, heredoc
    /// bodies appended as buildkit does), stored in the image's `OnBuild`.
    Onbuild(String),
    /// `MAINTAINER name`, raw.
    Maintainer(String),
    /// `COPY`.
    Copy(Copy),
    /// `ADD` (same shape as `COPY`; `from` is always `None`).
    Add(Copy),
}

impl Kind {
    /// The instruction's name in capitals (`RUN`, `COPY`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Kind::Run(_) => "RUN",
            Kind::Cmd(_) => "CMD",
            Kind::Entrypoint(_) => "ENTRYPOINT",
            Kind::Shell(_) => "SHELL",
            Kind::Env(_) => "ENV",
            Kind::Label(_) => "LABEL",
            Kind::Arg(_) => "ARG",
            Kind::Expose(_) => "EXPOSE",
            Kind::Volume(_) => "VOLUME",
            Kind::Workdir(_) => "WORKDIR",
            Kind::User(_) => "USER",
            Kind::StopSignal(_) => "STOPSIGNAL",
            Kind::Healthcheck(_) => "HEALTHCHECK",
            Kind::Onbuild(_) => "ONBUILD",
            Kind::Maintainer(_) => "MAINTAINER",
            Kind::Copy(_) => "COPY",
            Kind::Add(_) => "ADD",
        }
    }
}

/// The two forms of a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandForm {
    /// JSON array: run as is.
    Exec(Vec<String>),
    /// Anything else: run with the stage's `SHELL` (default `/bin/sh -c`). The
    /// text is the arguments as written (a bare `RUN`/`CMD` gives `""`).
    Shell(String),
}

/// `RUN [--mount=...] [--network=...] [--security=...] command`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The command. With heredocs, see [`Run::heredoc_command`].
    pub command: CommandForm,
    /// Heredocs read after the line, in order (content raw, see [`Heredoc`]).
    pub heredocs: Vec<Heredoc>,
    /// `--mount` flags, parsed from the raw text (see [`Mount`]).
    pub mounts: Vec<Mount>,
    /// `--network=default|none|host`; `None` when not given.
    pub network: Option<String>,
    /// `--security=sandbox|insecure`; `None` when not given.
    pub security: Option<String>,
    /// `--device` values, raw.
    pub devices: Vec<String>,
    /// The flags given, in order, without `--` (moby's classic builder refuses
    /// a RUN with any: "the --mount option requires BuildKit...").
    pub flags_used: Vec<String>,
}

/// What a `RUN` with heredocs runs, as buildkit resolves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeredocRun {
    /// No heredocs: [`Run::command`] as it is.
    Plain,
    /// `RUN <<EOF` whose body starts with `#!`: write the body (tabs stripped
    /// for `<<-`) as an executable file named `name` and run it directly.
    File {
        /// The heredoc's name (the file name).
        name: String,
        /// The body.
        content: String,
    },
    /// `RUN <<EOF` otherwise: the body is the shell script (run with the
    /// stage's shell, as a shell-form command).
    Script(String),
    /// `RUN cmd <<EOF ...`: the line and the bodies joined back
    /// (`line\nbody EOF...`), for the shell to read as a heredoc.
    Shell(String),
}

/// A heredoc (`<<NAME` ... `NAME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The terminator word, quotes removed (`EOF`); for `COPY`/`ADD` also the
    /// file name the content is written to.
    pub name: String,
    /// The lines between the instruction and the terminator, each with its
    /// line ending. For `RUN` raw (see [`Heredoc::chomped`]); for `COPY`/`ADD`
    /// already without leading tabs when `chomp`.
    pub content: String,
    /// `false` when the name was quoted (`<<"EOF"`, `<<'EOF'`): the content is
    /// not expanded.
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from the content lines.
    pub chomp: bool,
    /// The file descriptor written before `<<` (`3<<EOF`), else 0.
    pub fd: u32,
}

impl Heredoc {
    /// The content with leading tabs removed from every line when `chomp`.
    pub fn chomped(&self) -> String {
        if self.chomp {
            chomp_content(&self.content)
        } else {
            self.content.clone()
        }
    }
}

/// `COPY`/`ADD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    /// Source paths (or URLs, for ADD), raw; heredoc sources are in `heredocs`.
    pub sources: Vec<String>,
    /// The destination (the last argument), raw.
    pub dest: String,
    /// `--from=stage|index|image` (COPY), raw.
    pub from: Option<String>,
    /// `--chown=`, raw.
    pub chown: Option<String>,
    /// `--chmod=`, raw.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--checksum=` (ADD), raw.
    pub checksum: Option<String>,
    /// `--keep-git-dir[=bool]` (ADD), when given.
    pub keep_git_dir: Option<bool>,
    /// `--unpack[=bool]` (ADD), when given.
    pub unpack: Option<bool>,
    /// `--parents` (COPY).
    pub parents: bool,
    /// `--exclude=` patterns, raw.
    pub exclude: Vec<String>,
    /// Inline sources (`COPY <<EOF /dest`): `name` is the file name.
    pub heredocs: Vec<Heredoc>,
    /// The flags given, in order, without `--`.
    pub flags_used: Vec<String>,
}

/// `RUN --mount=type=...,target=...`.
///
/// Parsed from the raw flag text at parse time. buildkit expands each field's
/// value first; when the text holds a `$`, parse it again with
/// [`parse_mount`] and an expander once the build args are known (errors at
/// parse time are then not reported for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The flag's value as written (after the flag word's quote removal).
    pub raw: String,
    /// `type=` (default `bind`).
    pub kind: MountKind,
    /// `target=` / `dst=` / `destination=`; empty when not given.
    pub target: String,
    /// `source=` / `src=`.
    pub source: Option<String>,
    /// `from=` (stage, index or image).
    pub from: Option<String>,
    /// `id=` (cache id, secret id).
    pub id: Option<String>,
    /// `readonly`/`ro`/`rw` given or defaulted: bind, secret and ssh mounts
    /// are read-only by default, cache and tmpfs writable.
    pub readonly: bool,
    /// `sharing=` (cache mounts; default shared).
    pub sharing: Sharing,
    /// `required` (secret/ssh).
    pub required: bool,
    /// `mode=` (octal).
    pub mode: Option<u32>,
    /// `uid=`.
    pub uid: Option<u32>,
    /// `gid=`.
    pub gid: Option<u32>,
    /// `size=` (tmpfs, bytes, go-units RAMInBytes).
    pub size: Option<u64>,
    /// `env=` (secret: the variable to set).
    pub env: Option<String>,
}

/// `--mount type=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountKind {
    /// `bind` (the default): a directory of the context or of `from`.
    Bind,
    /// `cache`: a persistent cache directory.
    Cache,
    /// `tmpfs`.
    Tmpfs,
    /// `secret`.
    Secret,
    /// `ssh`.
    Ssh,
}

impl MountKind {
    /// The name as written in Dockerfiles.
    pub fn as_str(self) -> &'static str {
        match self {
            MountKind::Bind => "bind",
            MountKind::Cache => "cache",
            MountKind::Tmpfs => "tmpfs",
            MountKind::Secret => "secret",
            MountKind::Ssh => "ssh",
        }
    }
}

/// Cache mount `sharing=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sharing {
    /// `shared` (the default).
    #[default]
    Shared,
    /// `private`.
    Private,
    /// `locked`.
    Locked,
}

/// One `ARG` declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    /// The name as written.
    pub name: String,
    /// `=default`, raw; `Some("")` for `ARG A=`.
    pub default: Option<String>,
}

/// `HEALTHCHECK`. Durations are nanoseconds; `None` for a flag not given or
/// zero (Docker's "inherit").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", args...]` (exec form) or `["CMD-SHELL", "line"]`.
    pub test: Vec<String>,
    /// `--interval`.
    pub interval: Option<i64>,
    /// `--timeout`.
    pub timeout: Option<i64>,
    /// `--start-period`.
    pub start_period: Option<i64>,
    /// `--start-interval`.
    pub start_interval: Option<i64>,
    /// `--retries` (when not zero).
    pub retries: Option<i64>,
}

/// What a stage needs before it can run (see [`Dockerfile::stage_dependencies`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum StageRef {
    /// An earlier stage, by index (named or numbered: `--from=0`). A number is
    /// given as written; the executor checks it is below the current stage.
    Stage(usize),
    /// An image (`FROM ubuntu`, `COPY --from=nginx:latest`); `scratch` is left out.
    Image(String),
    /// A reference with `$`: expand it (meta args for `FROM`, the stage's
    /// args for `--from`), then resolve it with [`Dockerfile::resolve_ref`].
    Unexpanded(String),
}

/// Which way a [`ParseError`] is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Found while reading lines (buildkit `parser.Parse`): `failed to parse
    /// Dockerfile: MESSAGE` (moby wraps it with the file's name).
    Syntax,
    /// Found in an instruction (buildkit `instructions.Parse`): `dockerfile
    /// parse error on line N: MESSAGE`.
    Instruction,
    /// Printed as the message alone (`no build stage in current context`,
    /// `NAME stage name already used`).
    Plain,
    /// The file is empty: `the Dockerfile (Dockerfile) cannot be empty`.
    Empty,
}

/// A Dockerfile that cannot be built. Display is docker 28's classic builder's
/// text for a file named `Dockerfile` (see [`ParseError::display_for`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The 1-based line (the instruction's first line), 0 when none.
    pub line: usize,
    /// buildkit's message.
    pub message: String,
    /// How it is printed.
    pub kind: ErrorKind,
}

impl ParseError {
    fn syntax(line: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            line,
            message: message.into(),
            kind: ErrorKind::Syntax,
        }
    }

    /// The error as moby prints it for a Dockerfile called `name` (`-f`).
    pub fn display_for(&self, name: &str) -> String {
        match self.kind {
            ErrorKind::Syntax => format!("failed to parse {name}: {}", self.message),
            ErrorKind::Instruction => {
                format!(
                    "dockerfile parse error on line {}: {}",
                    self.line, self.message
                )
            }
            ErrorKind::Plain => self.message.clone(),
            ErrorKind::Empty => format!("the Dockerfile ({name}) cannot be empty"),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_for("Dockerfile"))
    }
}

impl std::error::Error for ParseError {}

// ---------------------------------------------------------------------------
// Reading lines (buildkit `parser`)
// ---------------------------------------------------------------------------

/// The instruction names, in the order suggestions are searched.
const INSTRUCTIONS: [&str; 18] = [
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
struct RawHeredoc {
    name: String,
    fd: u32,
    expand: bool,
    chomp: bool,
    content: String,
}

/// buildkit's `parser.Node` for one instruction, flattened.
#[derive(Debug, Clone, Default)]
struct Node {
    /// The instruction word as written.
    cmd: String,
    /// The joined line.
    original: String,
    flags: Vec<String>,
    /// buildkit `nodeArgs`.
    args: Vec<String>,
    /// The arguments were a JSON array.
    json: bool,
    /// `ONBUILD`'s trigger.
    sub: Option<Box<Node>>,
    heredocs: Vec<RawHeredoc>,
    start_line: usize,
    end_line: usize,
}

impl Node {
    fn can_contain_heredoc(&self) -> bool {
        let node = match (&self.sub, self.cmd.eq_ignore_ascii_case("onbuild")) {
            (Some(sub), true) => sub,
            _ => self,
        };
        let cmd = node.cmd.to_ascii_lowercase();
        matches!(cmd.as_str(), "add" | "copy" | "run") && !node.json
    }
}

/// The parser directives' state (buildkit `DirectiveParser` + `directives`).
struct Directives {
    warnings: Vec<String>,
    escape: char,
    done: bool,
    seen: Vec<String>,
    syntax: Option<String>,
}

impl Directives {
    /// Looks at one line (newline trimmed) for a directive.
    fn parse_line(&mut self, line: &str) -> Result<(), String> {
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
fn directive_match(s: &str) -> Option<(&str, &str)> {
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
fn is_re_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// buildkit's `reWhitespace`: `[\t\v\f\r ]`.
fn is_ws(c: char) -> bool {
    matches!(c, '\t' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// Splits on runs of `[\t\v\f\r ]` (Go `regexp.Split(s, -1)`, after the
/// caller's trimming); `n` limits the parts as Go's `Split(s, n)`.
fn split_ws(s: &str, n: usize) -> Vec<String> {
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

fn split_ws_all(s: &str) -> Vec<String> {
    split_ws(s, usize::MAX)
}

/// `bytes.TrimRight(line, "\r\n")`.
fn trim_newline(s: &str) -> &str {
    s.trim_end_matches(['\r', '\n'])
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Removes a line-continuation escape at the end; `true` when the line ends
/// the instruction (buildkit `trimContinuationCharacter`).
fn trim_continuation(line: &str, escape: char) -> (String, bool) {
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
struct Lines<'a> {
    lines: Vec<&'a str>,
    next: usize,
}

impl<'a> Lines<'a> {
    fn next_line(&mut self) -> Option<&'a str> {
        let l = self.lines.get(self.next).copied();
        if l.is_some() {
            self.next += 1;
        }
        l
    }
}

/// Reads the lines into instruction nodes.
fn read_nodes(text: &str) -> Result<(Vec<Node>, Directives), ParseError> {
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
fn node_from_line(line: &str, escape: char, depth: usize) -> Result<Node, String> {
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
fn extract_builder_flags(line: &str, escape: char) -> (String, Vec<String>) {
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
fn parse_words(rest: &str, escape: char) -> Vec<String> {
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
fn parse_name_val(rest: &str, key: &str, escape: char) -> Result<Vec<String>, String> {
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

enum JsonResult {
    Ok(Vec<String>),
    NotStrings,
    NotJson,
}

/// buildkit `parseJSON`.
fn parse_json(rest: &str) -> JsonResult {
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

const NOT_STRING_ARRAY: &str =
    "when using JSON array syntax, arrays must be comprised of strings only";

fn parse_maybe_json(rest: &str, node: &mut Node) -> Result<(), String> {
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

fn parse_maybe_json_to_list(rest: &str, node: &mut Node) -> Result<(), String> {
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
fn parse_health_config(rest: &str, node: &mut Node) -> Result<(), String> {
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
fn heredocs_from_line(line: &str) -> Result<Vec<RawHeredoc>, String> {
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
fn parse_heredoc(src: &str) -> Result<Option<RawHeredoc>, String> {
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
fn chomp_content(s: &str) -> String {
    s.split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}

// ---------------------------------------------------------------------------
// Instructions (buildkit `instructions`)
// ---------------------------------------------------------------------------

/// buildkit's `BFlags`: the flags an instruction accepts, checked in order.
struct Flags<'a> {
    args: &'a [String],
    defs: Vec<(&'static str, FlagType)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FlagType {
    Bool,
    Str,
    Strings,
}

/// Parsed flag values.
#[derive(Default)]
struct FlagValues {
    strings: Vec<(String, String)>,
    bools: Vec<(String, bool)>,
    used: Vec<String>,
}

impl FlagValues {
    fn string(&self, name: &str) -> Option<String> {
        self.strings
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    fn strings(&self, name: &str) -> Vec<String> {
        self.strings
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    fn boolean(&self, name: &str) -> Option<bool> {
        self.bools
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
    }
}

impl<'a> Flags<'a> {
    fn new(args: &'a [String]) -> Self {
        Flags {
            args,
            defs: Vec::new(),
        }
    }

    fn add(mut self, name: &'static str, t: FlagType) -> Self {
        self.defs.push((name, t));
        self
    }

    fn parse(&self) -> Result<FlagValues, String> {
        let mut out = FlagValues::default();
        for a in self.args {
            if a == "--" {
                return Ok(out);
            }
            let Some(body) = a.strip_prefix("--") else {
                return Err(format!("arg should start with -- : {a}"));
            };
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let flag_name = format!("--{name}");
            let Some(&(_, t)) = self.defs.iter().find(|(n, _)| *n == name) else {
                let names: Vec<&str> = self.defs.iter().map(|(n, _)| *n).collect();
                let msg = format!("unknown flag: {flag_name}");
                return Err(suggest(msg, name, &names, true));
            };
            if out.used.iter().any(|u| u == name) && t != FlagType::Strings {
                return Err(format!("duplicate flag specified: {flag_name}"));
            }
            out.used.push(name.to_string());
            match t {
                FlagType::Bool => {
                    if value == Some("") {
                        return Err(format!("missing a value on flag: {flag_name}"));
                    }
                    let v = match value.map(str::to_ascii_lowercase).as_deref() {
                        None | Some("true") => true,
                        Some("false") => false,
                        Some(_) => {
                            return Err(format!(
                                "expecting boolean value for flag {flag_name}, not: {}",
                                value.unwrap_or_default()
                            ))
                        }
                    };
                    out.bools.push((name.to_string(), v));
                }
                FlagType::Str | FlagType::Strings => {
                    let Some(v) = value else {
                        return Err(format!("missing a value on flag: {flag_name}"));
                    };
                    out.strings.push((name.to_string(), v.to_string()));
                }
            }
        }
        Ok(out)
    }
}

/// Levenshtein distance (unit costs), over characters.
fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// buildkit `suggest.WrapError`: ` (did you mean X?)` for an option within
/// distance 2.
fn suggest(msg: String, val: &str, options: &[&str], case_sensitive: bool) -> String {
    let v = if case_sensitive {
        val.to_string()
    } else {
        val.to_lowercase()
    };
    let mut best: Option<String> = None;
    let mut min = 3;
    for opt in options {
        let o = if case_sensitive {
            opt.to_string()
        } else {
            opt.to_lowercase()
        };
        if o == v {
            return msg;
        }
        let d = levenshtein(&v, &o);
        if d < min {
            min = d;
            // buildkit matchCase: an all-uppercase value gets an uppercase
            // suggestion, anything else the option lowercased.
            let upper = !case_sensitive && val != val.to_lowercase() && val == val.to_uppercase();
            best = Some(if upper { o.to_uppercase() } else { o });
        }
    }
    match best {
        Some(m) => format!("{msg} (did you mean {m}?)"),
        None => msg,
    }
}

fn at_least_one(cmd: &str) -> String {
    format!("{cmd} requires at least one argument")
}

fn exactly_one(cmd: &str) -> String {
    format!("{cmd} requires exactly one argument")
}

fn no_destination(cmd: &str) -> String {
    format!(
        "{cmd} requires at least two arguments, but only one was provided. Destination could not be determined"
    )
}

/// buildkit `handleJSONArgs`, as a [`CommandForm`].
fn command_form(args: &[String], json: bool) -> CommandForm {
    if json {
        CommandForm::Exec(args.to_vec())
    } else {
        CommandForm::Shell(args.join(" "))
    }
}

/// A parsed instruction, or a stage start.
enum Parsed {
    From(Stage),
    Meta(Kind),
}

fn parse_instruction(node: &Node) -> Result<Parsed, String> {
    let lower = node.cmd.to_ascii_lowercase();
    let args = &node.args;
    let kind = match lower.as_str() {
        "env" | "label" => {
            let name = if lower == "env" { "ENV" } else { "LABEL" };
            Flags::new(&node.flags).parse()?;
            if args.is_empty() {
                return Err(at_least_one(name));
            }
            if !args.chunks_exact(3).remainder().is_empty() {
                return Err(format!("Bad input to {name}, too many arguments"));
            }
            let mut pairs = Vec::new();
            for kv in args.chunks(3) {
                if kv[0].is_empty() {
                    return Err(format!("{name} names can not be blank"));
                }
                pairs.push((kv[0].clone(), kv[1].clone()));
            }
            if lower == "env" {
                Kind::Env(pairs)
            } else {
                Kind::Label(pairs)
            }
        }
        "maintainer" => {
            if args.len() != 1 {
                return Err(exactly_one("MAINTAINER"));
            }
            Flags::new(&node.flags).parse()?;
            Kind::Maintainer(args[0].clone())
        }
        "add" | "copy" => parse_copy(node, lower == "add")?,
        "from" => return parse_from(node).map(Parsed::From),
        "onbuild" => {
            if args.is_empty() {
                return Err(at_least_one("ONBUILD"));
            }
            Flags::new(&node.flags).parse()?;
            let trigger = args[0].trim().to_uppercase();
            match trigger.as_str() {
                "ONBUILD" => {
                    return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into())
                }
                "MAINTAINER" | "FROM" => {
                    return Err(format!("{trigger} isn't allowed as an ONBUILD trigger"))
                }
                _ => {}
            }
            let mut expr = strip_onbuild(&node.original);
            for h in &node.heredocs {
                expr.push('\n');
                expr.push_str(&h.content);
                expr.push_str(&h.name);
            }
            Kind::Onbuild(expr)
        }
        "workdir" => {
            if args.len() != 1 {
                return Err(exactly_one("WORKDIR"));
            }
            Flags::new(&node.flags).parse()?;
            Kind::Workdir(args[0].clone())
        }
        "run" => Kind::Run(parse_run(node)?),
        "cmd" => {
            Flags::new(&node.flags).parse()?;
            Kind::Cmd(command_form(args, node.json))
        }
        "entrypoint" => {
            Flags::new(&node.flags).parse()?;
            Kind::Entrypoint(command_form(args, node.json))
        }
        "healthcheck" => Kind::Healthcheck(parse_healthcheck(node)?),
        "expose" => {
            if args.is_empty() {
                return Err(at_least_one("EXPOSE"));
            }
            Flags::new(&node.flags).parse()?;
            let mut ports = args.clone();
            ports.sort();
            Kind::Expose(ports)
        }
        "user" => {
            if args.len() != 1 {
                return Err(exactly_one("USER"));
            }
            Flags::new(&node.flags).parse()?;
            Kind::User(args[0].clone())
        }
        "volume" => {
            if args.is_empty() {
                return Err(at_least_one("VOLUME"));
            }
            Flags::new(&node.flags).parse()?;
            let mut vols = Vec::new();
            for v in args {
                let v = v.trim();
                if v.is_empty() {
                    return Err("VOLUME specified can not be an empty string".into());
                }
                vols.push(v.to_string());
            }
            Kind::Volume(vols)
        }
        "stopsignal" => {
            if args.len() != 1 {
                return Err(exactly_one("STOPSIGNAL"));
            }
            Kind::StopSignal(args[0].clone())
        }
        "arg" => {
            if args.is_empty() {
                return Err(at_least_one("ARG"));
            }
            let mut decls = Vec::new();
            for a in args {
                match a.split_once('=') {
                    Some(("", _)) => return Err("ARG names can not be blank".into()),
                    Some((k, v)) => decls.push(ArgDecl {
                        name: k.to_string(),
                        default: Some(v.to_string()),
                    }),
                    None => decls.push(ArgDecl {
                        name: a.clone(),
                        default: None,
                    }),
                }
            }
            Kind::Arg(decls)
        }
        "shell" => {
            Flags::new(&node.flags).parse()?;
            if args.is_empty() {
                return Err(at_least_one("SHELL"));
            }
            if !node.json {
                return Err("SHELL requires the arguments to be in JSON form".into());
            }
            Kind::Shell(args.clone())
        }
        _ => {
            let msg = format!("unknown instruction: {}", node.cmd);
            let upper: Vec<String> = INSTRUCTIONS.iter().map(|s| s.to_uppercase()).collect();
            let opts: Vec<&str> = upper.iter().map(String::as_str).collect();
            return Err(suggest(msg, &node.cmd, &opts, false));
        }
    };
    Ok(Parsed::Meta(kind))
}

/// `(?i)^\s*ONBUILD\s*` removed.
fn strip_onbuild(original: &str) -> String {
    let s = original.trim_start_matches(is_re_space);
    let s = match s.get(..7) {
        Some(w) if w.eq_ignore_ascii_case("onbuild") => &s[7..],
        _ => s,
    };
    s.trim_start_matches(is_re_space).to_string()
}

fn parse_from(node: &Node) -> Result<Stage, String> {
    let args = &node.args;
    let name = if args.len() == 3 && args[1].eq_ignore_ascii_case("as") {
        let name = args[2].to_lowercase();
        if !valid_stage_name(&name) {
            return Err(format!(
                "invalid name for build stage: {}, name can't start with a number or contain symbols",
                shared::go::quote(&args[2])
            ));
        }
        Some(name)
    } else if args.len() != 1 {
        return Err("FROM requires either one or three arguments".into());
    } else {
        None
    };
    let flags = Flags::new(&node.flags)
        .add("platform", FlagType::Str)
        .parse()?;
    Ok(Stage {
        name,
        base: args[0].clone(),
        platform: flags.string("platform").filter(|p| !p.is_empty()),
        line: node.start_line,
        original: node.original.trim().to_string(),
        instructions: Vec::new(),
    })
}

/// `^[a-z][a-z0-9-_.]*$`.
fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_' | '.'))
}

fn parse_copy(node: &Node, add: bool) -> Result<Kind, String> {
    let cmd = if add { "ADD" } else { "COPY" };
    let args = &node.args;
    if args.len() < 2 {
        return Err(no_destination(cmd));
    }
    let mut flags = Flags::new(&node.flags)
        .add("chown", FlagType::Str)
        .add("chmod", FlagType::Str)
        .add("link", FlagType::Bool);
    flags = if add {
        flags
            .add("keep-git-dir", FlagType::Bool)
            .add("checksum", FlagType::Str)
            .add("unpack", FlagType::Bool)
            .add("exclude", FlagType::Strings)
    } else {
        flags
            .add("from", FlagType::Str)
            .add("exclude", FlagType::Strings)
            .add("parents", FlagType::Bool)
    };
    let fl = flags.parse()?;
    let (srcs, dest) = args.split_at(args.len() - 1);
    let dest = dest[0].clone();
    if matches!(parse_heredoc(&dest), Ok(Some(_))) {
        return Err(format!("{cmd} cannot accept a heredoc as a destination"));
    }
    let mut sources = Vec::new();
    let mut heredocs = Vec::new();
    for src in srcs {
        match parse_heredoc(src) {
            Ok(Some(h)) => {
                let content = node
                    .heredocs
                    .iter()
                    .rev()
                    .find(|d| d.name == h.name)
                    .map(|d| d.content.clone())
                    .unwrap_or_default();
                let content = if h.chomp {
                    chomp_content(&content)
                } else {
                    content
                };
                heredocs.push(Heredoc {
                    name: h.name,
                    content,
                    expand: h.expand,
                    chomp: h.chomp,
                    fd: h.fd,
                });
            }
            _ => sources.push(src.clone()),
        }
    }
    let non_empty = |v: Option<String>| v.filter(|s| !s.is_empty());
    let c = Copy {
        sources,
        dest,
        from: if add {
            None
        } else {
            non_empty(fl.string("from"))
        },
        chown: non_empty(fl.string("chown")),
        chmod: non_empty(fl.string("chmod")),
        link: fl.boolean("link").unwrap_or(false),
        checksum: if add {
            non_empty(fl.string("checksum"))
        } else {
            None
        },
        keep_git_dir: if add {
            fl.boolean("keep-git-dir")
        } else {
            None
        },
        unpack: if add { fl.boolean("unpack") } else { None },
        parents: fl.boolean("parents").unwrap_or(false),
        exclude: fl.strings("exclude"),
        heredocs,
        flags_used: fl.used.clone(),
    };
    Ok(if add { Kind::Add(c) } else { Kind::Copy(c) })
}

fn parse_run(node: &Node) -> Result<Run, String> {
    let fl = Flags::new(&node.flags)
        .add("device", FlagType::Strings)
        .add("mount", FlagType::Strings)
        .add("network", FlagType::Str)
        .add("security", FlagType::Str)
        .parse()?;
    let command = command_form(&node.args, node.json);
    let devices = fl.strings("device");
    let mut mounts = Vec::new();
    for spec in fl.strings("mount") {
        match parse_mount(&spec, None) {
            Ok(m) => mounts.push(m),
            Err(e) if !spec.contains('$') => return Err(e),
            Err(_) => {
                // Fields hold `$`: kept for parse_mount with an expander; the
                // `from=` (which may not hold a `$`) is still known.
                let mut m = Mount::unparsed(&spec);
                m.from = csv_fields(&spec).ok().and_then(|fields| {
                    fields.iter().find_map(|f| {
                        let (k, v) = f.split_once('=')?;
                        k.eq_ignore_ascii_case("from").then(|| v.to_string())
                    })
                });
                mounts.push(m);
            }
        }
    }
    let network = fl.string("network");
    if let Some(n) = &network {
        if !matches!(n.as_str(), "default" | "none" | "host") {
            return Err(format!("invalid network mode {}", shared::go::quote(n)));
        }
    }
    let security = fl.string("security");
    if let Some(s) = &security {
        if !matches!(s.as_str(), "sandbox" | "insecure") {
            return Err(format!("security {} is not valid", shared::go::quote(s)));
        }
    }
    let heredocs = node
        .heredocs
        .iter()
        .map(|h| Heredoc {
            name: h.name.clone(),
            content: h.content.clone(),
            expand: h.expand,
            chomp: h.chomp,
            fd: h.fd,
        })
        .collect();
    Ok(Run {
        command,
        heredocs,
        mounts,
        network,
        security,
        devices,
        flags_used: fl.used,
    })
}

impl Run {
    /// What to run once heredocs are taken into account, as buildkit's
    /// `dispatchRun` does: a bare `RUN <<EOF` runs the body (as a file when it
    /// starts with `#!`), anything else hands line and bodies to the shell.
    pub fn heredoc_command(&self) -> Result<HeredocRun, String> {
        let Some(first) = self.heredocs.first() else {
            return Ok(HeredocRun::Plain);
        };
        let CommandForm::Shell(line) = &self.command else {
            return Err("parsing produces more than one command".into());
        };
        if matches!(parse_heredoc(line), Ok(Some(_))) {
            let body = first.chomped();
            if body.starts_with("#!") {
                return Ok(HeredocRun::File {
                    name: first.name.clone(),
                    content: body,
                });
            }
            return Ok(HeredocRun::Script(body));
        }
        let mut full = line.clone();
        for h in &self.heredocs {
            full.push('\n');
            full.push_str(&h.content);
            full.push_str(&h.name);
        }
        Ok(HeredocRun::Shell(full))
    }
}

impl Mount {
    fn unparsed(raw: &str) -> Mount {
        Mount {
            raw: raw.to_string(),
            kind: MountKind::Bind,
            target: String::new(),
            source: None,
            from: None,
            id: None,
            readonly: true,
            sharing: Sharing::Shared,
            required: false,
            mode: None,
            uid: None,
            gid: None,
            size: None,
            env: None,
        }
    }
}

/// Splits one CSV record (go-csvvalue: `,` separated, `"` quoting with `""`).
fn csv_fields(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    if s.is_empty() {
        return Ok(out);
    }
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    loop {
        let mut field = String::new();
        if chars.get(i) == Some(&'"') {
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("extraneous or missing \" in quoted-field".into()),
                    Some('"') if chars.get(i + 1) == Some(&'"') => {
                        field.push('"');
                        i += 2;
                    }
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        field.push(c);
                        i += 1;
                    }
                }
            }
            match chars.get(i) {
                None => {
                    out.push(field);
                    return Ok(out);
                }
                Some(',') => {
                    out.push(field);
                    i += 1;
                }
                Some(_) => return Err("extraneous or missing \" in quoted-field".into()),
            }
        } else {
            while let Some(&c) = chars.get(i) {
                if c == ',' {
                    break;
                }
                if c == '"' {
                    return Err("bare \" in non-quoted-field".into());
                }
                field.push(c);
                i += 1;
            }
            out.push(field);
            if i >= chars.len() {
                return Ok(out);
            }
            i += 1;
        }
    }
}

/// Go's `strconv.ParseBool`.
fn go_parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Expands one word (a build-arg-aware [`Lex::process_word`], usually).
pub type Expander<'a> = &'a dyn Fn(&str) -> Result<String, String>;

/// Parses one `--mount` value as buildkit's `parseMount`, with buildkit's
/// error texts. `expand`, when given, is applied to every `key=value` value
/// first (buildkit expands them with the build args); without it the values
/// are taken as written (except that `from=` may not hold a `$`).
pub fn parse_mount(spec: &str, expand: Option<Expander<'_>>) -> Result<Mount, String> {
    let fields = csv_fields(spec).map_err(|e| format!("failed to parse csv mounts: {e}"))?;
    let mut m = Mount::unparsed(spec);
    let mut ro_auto = true;
    let mut sharing_set = false;
    for field in &fields {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_lowercase(), Some(v)),
            None => (field.to_lowercase(), None),
        };
        let Some(value) = value else {
            match key.as_str() {
                "readonly" | "ro" => {
                    m.readonly = true;
                    ro_auto = false;
                }
                "readwrite" | "rw" => {
                    m.readonly = false;
                    ro_auto = false;
                }
                "required" => {
                    if matches!(m.kind, MountKind::Secret | MountKind::Ssh) {
                        m.required = true;
                    } else {
                        return Err(format!(
                            "unexpected key '{key}' for mount type '{}'",
                            m.kind.as_str()
                        ));
                    }
                }
                _ => return Err(format!("invalid field '{field}' must be a key=value pair")),
            }
            continue;
        };
        let value = match expand {
            Some(f) => f(value)?,
            None => {
                if key == "from" {
                    if let Some(idx) = value.find('$') {
                        if idx != value.len() - 1 {
                            return Err(format!(
                                "'{key}' doesn't support variable expansion, define alias stage instead"
                            ));
                        }
                    }
                }
                value.to_string()
            }
        };
        let bad_value = || format!("invalid value for {key}: {value}");
        let wrong_type = |m: &Mount| {
            format!(
                "unexpected key '{key}' for mount type '{}'",
                m.kind.as_str()
            )
        };
        match key.as_str() {
            "type" => {
                m.kind = match value.to_lowercase().as_str() {
                    "bind" => MountKind::Bind,
                    "cache" => MountKind::Cache,
                    "tmpfs" => MountKind::Tmpfs,
                    "secret" => MountKind::Secret,
                    "ssh" => MountKind::Ssh,
                    _ => {
                        let msg = format!("unsupported mount type {}", shared::go::quote(&value));
                        return Err(suggest(
                            msg,
                            &value,
                            &["bind", "cache", "tmpfs", "secret", "ssh"],
                            true,
                        ));
                    }
                }
            }
            "from" => m.from = Some(value),
            "source" | "src" => m.source = Some(value),
            "target" | "dst" | "destination" => m.target = value,
            "readonly" | "ro" => {
                m.readonly = go_parse_bool(&value).ok_or_else(bad_value)?;
                ro_auto = false;
            }
            "readwrite" | "rw" => {
                m.readonly = !go_parse_bool(&value).ok_or_else(bad_value)?;
                ro_auto = false;
            }
            "required" => {
                if !matches!(m.kind, MountKind::Secret | MountKind::Ssh) {
                    return Err(wrong_type(&m));
                }
                m.required = go_parse_bool(&value).ok_or_else(bad_value)?;
            }
            "size" => {
                if m.kind != MountKind::Tmpfs {
                    return Err(wrong_type(&m));
                }
                let n = shared::units::ram_in_bytes(&value).map_err(|_| bad_value())?;
                m.size = Some(u64::try_from(n).map_err(|_| bad_value())?);
            }
            "id" => m.id = Some(value),
            "sharing" => {
                m.sharing = match value.to_lowercase().as_str() {
                    "shared" => Sharing::Shared,
                    "private" => Sharing::Private,
                    "locked" => Sharing::Locked,
                    _ => {
                        let msg =
                            format!("unsupported sharing value {}", shared::go::quote(&value));
                        return Err(suggest(msg, &value, &["shared", "private", "locked"], true));
                    }
                };
                sharing_set = true;
            }
            "mode" => {
                m.mode = Some(
                    u32::from_str_radix(&value, 8)
                        .map_err(|_| format!("invalid value {value} for mode"))?,
                )
            }
            "uid" => {
                m.uid = Some(
                    value
                        .parse::<u32>()
                        .map_err(|_| format!("invalid value {value} for uid"))?,
                )
            }
            "gid" => {
                m.gid = Some(
                    value
                        .parse::<u32>()
                        .map_err(|_| format!("invalid value {value} for gid"))?,
                )
            }
            "env" => m.env = Some(value),
            _ => {
                let all = [
                    "type",
                    "from",
                    "source",
                    "target",
                    "readonly",
                    "id",
                    "sharing",
                    "required",
                    "size",
                    "mode",
                    "uid",
                    "gid",
                    "src",
                    "dst",
                    "destination",
                    "ro",
                    "rw",
                    "readwrite",
                    "env",
                ];
                let msg = format!("unexpected key '{key}' in '{field}'");
                return Err(suggest(msg, &key, &all, true));
            }
        }
    }
    let kind = m.kind.as_str();
    if !matches!(
        m.kind,
        MountKind::Secret | MountKind::Ssh | MountKind::Cache
    ) {
        for (set, what) in [
            (m.mode.is_some(), "mode"),
            (m.uid.is_some(), "uid"),
            (m.gid.is_some(), "gid"),
        ] {
            if set {
                return Err(format!("{what} not allowed for \"{kind}\" type mounts"));
            }
        }
    }
    if ro_auto {
        m.readonly = !matches!(m.kind, MountKind::Cache | MountKind::Tmpfs);
    }
    if m.kind == MountKind::Secret {
        if m.from.as_deref().is_some_and(|f| !f.is_empty()) {
            return Err("secret mount should not have a from".into());
        }
        if sharing_set {
            return Err("secret mount should not define sharing".into());
        }
        let empty = |o: &Option<String>| o.as_deref().unwrap_or("").is_empty();
        if empty(&m.source) && m.target.is_empty() && empty(&m.id) {
            return Err("invalid secret mount. one of source, target required".into());
        }
        if !empty(&m.source) && !empty(&m.id) {
            return Err("both source and id can't be set".into());
        }
    }
    if sharing_set && m.kind != MountKind::Cache {
        return Err(format!("invalid cache sharing set for {kind} mount"));
    }
    Ok(m)
}

/// buildkit `parseOptInterval`: nanoseconds, `None` for empty or zero.
fn parse_interval(name: &str, value: Option<String>) -> Result<Option<i64>, String> {
    let Some(v) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let d = shared::units::parse_duration(&v)?.as_nanos();
    if d == 0 {
        return Ok(None);
    }
    if d < 1_000_000 {
        return Err(format!(
            "Interval {} cannot be less than 1ms",
            shared::go::quote(name)
        ));
    }
    Ok(Some(d))
}

fn parse_healthcheck(node: &Node) -> Result<Healthcheck, String> {
    let args = &node.args;
    let Some(typ) = args.first() else {
        return Err(at_least_one("HEALTHCHECK"));
    };
    let typ = typ.to_uppercase();
    let rest = &args[1..];
    if typ == "NONE" {
        if !rest.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        return Ok(Healthcheck {
            test: vec![typ],
            interval: None,
            timeout: None,
            start_period: None,
            start_interval: None,
            retries: None,
        });
    }
    let fl = Flags::new(&node.flags)
        .add("interval", FlagType::Str)
        .add("timeout", FlagType::Str)
        .add("start-period", FlagType::Str)
        .add("start-interval", FlagType::Str)
        .add("retries", FlagType::Str)
        .parse()?;
    if typ != "CMD" {
        return Err(format!(
            "Unknown type {} in HEALTHCHECK (try CMD)",
            shared::go::quote(&typ)
        ));
    }
    if rest.is_empty() {
        return Err("Missing command after HEALTHCHECK CMD".into());
    }
    let test = if node.json {
        std::iter::once("CMD".to_string())
            .chain(rest.iter().cloned())
            .collect()
    } else {
        vec!["CMD-SHELL".to_string(), rest.join(" ")]
    };
    let interval = parse_interval("interval", fl.string("interval"))?;
    let timeout = parse_interval("timeout", fl.string("timeout"))?;
    let start_period = parse_interval("start-period", fl.string("start-period"))?;
    let start_interval = parse_interval("start-interval", fl.string("start-interval"))?;
    let retries = match fl.string("retries").filter(|r| !r.is_empty()) {
        None => None,
        Some(r) => {
            let n = go_parse_int32(&r)?;
            if n < 0 {
                return Err(format!("--retries cannot be negative ({n})"));
            }
            Some(n).filter(|n| *n != 0)
        }
    };
    Ok(Healthcheck {
        test,
        interval,
        timeout,
        start_period,
        start_interval,
        retries,
    })
}

/// Go's `strconv.ParseInt(s, 10, 32)` with its error texts.
fn go_parse_int32(s: &str) -> Result<i64, String> {
    let err = |why: &str| format!("strconv.ParseInt: parsing {}: {why}", shared::go::quote(s));
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err("invalid syntax"));
    }
    match s.parse::<i64>() {
        Ok(n) if i32::try_from(n).is_ok() => Ok(n),
        _ => Err(err("value out of range")),
    }
}

// ---------------------------------------------------------------------------
// The whole file
// ---------------------------------------------------------------------------

/// Parses a Dockerfile. See the module documentation for what is checked and
/// what stays raw.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    if text.is_empty() {
        return Err(ParseError {
            line: 0,
            message: "the Dockerfile cannot be empty".into(),
            kind: ErrorKind::Empty,
        });
    }
    let (nodes, directives) = read_nodes(text)?;
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for node in &nodes {
        let parsed = parse_instruction(node).map_err(|message| ParseError {
            line: node.start_line,
            message,
            kind: ErrorKind::Instruction,
        })?;
        match parsed {
            Parsed::From(stage) => stages.push(stage),
            Parsed::Meta(Kind::Arg(decls)) if stages.is_empty() => meta_args.extend(decls),
            Parsed::Meta(kind) => {
                let Some(stage) = stages.last_mut() else {
                    return Err(ParseError {
                        line: node.start_line,
                        message: "no build stage in current context".into(),
                        kind: ErrorKind::Plain,
                    });
                };
                stage.instructions.push(Instruction {
                    line: node.start_line,
                    end_line: node.end_line,
                    original: node.original.trim().to_string(),
                    kind,
                });
            }
        }
    }
    // moby's classic builder refuses a name used twice when the second stage
    // starts (stagesBuildResults.checkStageNameAvailable).
    for (i, stage) in stages.iter().enumerate() {
        if let Some(name) = &stage.name {
            if stages[..i].iter().any(|s| s.name.as_ref() == Some(name)) {
                return Err(ParseError {
                    line: stage.line,
                    message: format!("{name} stage name already used"),
                    kind: ErrorKind::Plain,
                });
            }
        }
    }
    Ok(Dockerfile {
        escape: directives.escape,
        syntax: directives.syntax,
        meta_args,
        stages,
        warnings: directives.warnings,
    })
}

impl Dockerfile {
    /// The index of the stage called `name` (case-insensitive), if any.
    pub fn stage_index(&self, name: &str) -> Option<usize> {
        let name = name.to_lowercase();
        self.stages
            .iter()
            .position(|s| s.name.as_deref() == Some(name.as_str()))
    }

    /// Resolves an expanded reference as seen from stage `stage`: a name of an
    /// earlier stage, or (for `--from`, when `allow_index`) a number, is a
    /// stage; anything else an image. `scratch` gives `None`.
    pub fn resolve_ref(&self, stage: usize, name: &str, allow_index: bool) -> Option<StageRef> {
        if name.eq_ignore_ascii_case("scratch") {
            return None;
        }
        if let Some(i) = self.stage_index(name).filter(|&i| i < stage) {
            return Some(StageRef::Stage(i));
        }
        if allow_index && !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(i) = name.parse::<usize>() {
                return Some(StageRef::Stage(i));
            }
        }
        Some(StageRef::Image(name.to_string()))
    }

    /// What stage `stage` needs: its `FROM`, `COPY --from=` and `RUN
    /// --mount=from=` references, in order, without repeats. References with
    /// `$` come back as [`StageRef::Unexpanded`] (expand, then
    /// [`Dockerfile::resolve_ref`]); names of stages that come later are
    /// images, as in the classic builder. Out of range gives an empty list.
    pub fn stage_dependencies(&self, stage: usize) -> Vec<StageRef> {
        let Some(st) = self.stages.get(stage) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut push = |r: Option<StageRef>| {
            if let Some(r) = r {
                if !out.contains(&r) {
                    out.push(r);
                }
            }
        };
        let resolve = |name: &str, allow_index: bool| {
            if name.contains('$') {
                Some(StageRef::Unexpanded(name.to_string()))
            } else {
                self.resolve_ref(stage, name, allow_index)
            }
        };
        push(resolve(&st.base, false));
        for ins in &st.instructions {
            match &ins.kind {
                Kind::Copy(c) => {
                    if let Some(from) = &c.from {
                        push(resolve(from, true));
                    }
                }
                Kind::Run(r) => {
                    for m in &r.mounts {
                        if let Some(from) = m.from.as_deref().filter(|f| !f.is_empty()) {
                            push(resolve(from, true));
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }
}

#[cfg(test)]
#[path = "dockerfile_tests.rs"]
mod tests;
