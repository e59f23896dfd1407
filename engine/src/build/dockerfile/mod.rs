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

mod instructions;
mod lines;
mod mount;

use instructions::*;
use lines::*;
pub use mount::parse_mount;

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
mod tests;
