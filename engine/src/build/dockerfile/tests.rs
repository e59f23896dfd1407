use super::*;

fn ok(text: &str) -> Dockerfile {
    match parse(text) {
        Ok(d) => d,
        Err(e) => panic!("{text:?}: {e}"),
    }
}

fn err(text: &str) -> ParseError {
    match parse(text) {
        Ok(d) => panic!("{text:?} parsed: {d:?}"),
        Err(e) => e,
    }
}

/// The instructions of the only (or last) stage.
fn kinds(text: &str) -> Vec<Kind> {
    let d = ok(text);
    d.stages
        .last()
        .map(|s| s.instructions.iter().map(|i| i.kind.clone()).collect())
        .unwrap_or_default()
}

fn one(text: &str) -> Kind {
    let mut k = kinds(text);
    assert_eq!(k.len(), 1, "{text:?}: {k:?}");
    k.remove(0)
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn course_nginx() {
    let d = ok("FROM ubuntu:latest\n\
                RUN apt-get update\n\
                RUN apt-get install -y nginx\n\
                ENTRYPOINT [\"/usr/sbin/nginx\",\"-g\",\"daemon off;\"]\n\
                EXPOSE 80\n");
    assert_eq!(d.escape, '\\');
    assert!(d.meta_args.is_empty());
    assert_eq!(d.stages.len(), 1);
    let s = &d.stages[0];
    assert_eq!(s.base, "ubuntu:latest");
    assert_eq!(s.name, None);
    assert_eq!(s.line, 1);
    assert_eq!(s.original, "FROM ubuntu:latest");
    let lines: Vec<usize> = s.instructions.iter().map(|i| i.line).collect();
    assert_eq!(lines, [2, 3, 4, 5]);
    assert_eq!(s.instructions[0].original, "RUN apt-get update");
    assert_eq!(
        s.instructions[1].kind,
        Kind::Run(Run {
            command: CommandForm::Shell("apt-get install -y nginx".into()),
            heredocs: vec![],
            mounts: vec![],
            network: None,
            security: None,
            devices: vec![],
            flags_used: vec![],
        })
    );
    assert_eq!(
        s.instructions[2].kind,
        Kind::Entrypoint(CommandForm::Exec(strings(&[
            "/usr/sbin/nginx",
            "-g",
            "daemon off;"
        ])))
    );
    assert_eq!(
        s.instructions[2].original,
        "ENTRYPOINT [\"/usr/sbin/nginx\",\"-g\",\"daemon off;\"]"
    );
    assert_eq!(s.instructions[3].kind, Kind::Expose(strings(&["80"])));
    assert_eq!(
        d.stage_dependencies(0),
        [StageRef::Image("ubuntu:latest".into())]
    );
}

#[test]
fn course_multi_stage() {
    let text = "FROM golang:1.22 AS builder\n\
                WORKDIR /app\n\
                COPY . .\n\
                RUN go build -o x .\n\
                \n\
                FROM alpine\n\
                COPY --from=builder /app/x /x\n\
                COPY --from=0 /app/x /y\n\
                COPY --from=nginx:latest /etc/nginx/nginx.conf /z\n\
                CMD [\"/x\"]\n";
    let d = ok(text);
    assert_eq!(d.stages.len(), 2);
    assert_eq!(d.stages[0].name.as_deref(), Some("builder"));
    assert_eq!(d.stages[0].base, "golang:1.22");
    assert_eq!(d.stages[1].line, 6);
    assert_eq!(d.stage_index("BUILDER"), Some(0));
    match &d.stages[1].instructions[0].kind {
        Kind::Copy(c) => {
            assert_eq!(c.from.as_deref(), Some("builder"));
            assert_eq!(c.sources, ["/app/x"]);
            assert_eq!(c.dest, "/x");
            assert_eq!(c.flags_used, ["from"]);
        }
        k => panic!("{k:?}"),
    }
    assert_eq!(
        d.stage_dependencies(1),
        [
            StageRef::Image("alpine".into()),
            StageRef::Stage(0),
            StageRef::Image("nginx:latest".into())
        ]
    );
    assert_eq!(
        d.stage_dependencies(0),
        [StageRef::Image("golang:1.22".into())]
    );
    assert!(d.stage_dependencies(7).is_empty());
}

#[test]
fn stage_dependencies_from_stage_and_mounts() {
    let d = ok("ARG BASE=alpine\n\
                FROM $BASE AS base\n\
                FROM base AS second\n\
                RUN --mount=from=base,target=/b --mount=type=cache,target=/c make\n\
                COPY --from=${X} a b\n\
                COPY --from=later a b\n\
                FROM scratch AS later\n");
    assert_eq!(
        d.stage_dependencies(0),
        [StageRef::Unexpanded("$BASE".into())]
    );
    assert_eq!(
        d.stage_dependencies(1),
        [
            StageRef::Stage(0),
            StageRef::Unexpanded("${X}".into()),
            StageRef::Image("later".into())
        ]
    );
    assert!(d.stage_dependencies(2).is_empty());
    assert_eq!(d.resolve_ref(2, "Second", true), Some(StageRef::Stage(1)));
    assert_eq!(d.resolve_ref(2, "1", true), Some(StageRef::Stage(1)));
    assert_eq!(
        d.resolve_ref(2, "1", false),
        Some(StageRef::Image("1".into()))
    );
}

#[test]
fn meta_args() {
    let d = ok("ARG A=1 B\nARG C=\"x y\"\nFROM img:$A\nARG B\nRUN echo $B\n");
    assert_eq!(
        d.meta_args,
        [
            ArgDecl {
                name: "A".into(),
                default: Some("1".into())
            },
            ArgDecl {
                name: "B".into(),
                default: None
            },
            ArgDecl {
                name: "C".into(),
                default: Some("\"x y\"".into())
            },
        ]
    );
    assert_eq!(d.stages[0].base, "img:$A");
    assert_eq!(
        d.stages[0].instructions[0].kind,
        Kind::Arg(vec![ArgDecl {
            name: "B".into(),
            default: None
        }])
    );
    let only_args = ok("ARG A\n");
    assert!(only_args.stages.is_empty());
    assert_eq!(
        err("FROM a\nARG =x\n").message,
        "ARG names can not be blank"
    );
    assert_eq!(
        err("FROM a\nARG\n").message,
        "ARG requires at least one argument"
    );
}

#[test]
fn directives() {
    let d = ok("# syntax=docker/dockerfile:1\n# ESCAPE = `\n# check=skip=all\nFROM a\nRUN dir c:\\ `\n  && echo\n");
    assert_eq!(d.escape, '`');
    assert_eq!(d.syntax.as_deref(), Some("docker/dockerfile:1"));
    assert_eq!(
        d.stages[0].instructions[0].original,
        "RUN dir c:\\   && echo"
    );
    // After a blank line, a comment or an instruction, no more directives.
    for text in [
        "\n# escape=`\nFROM a\nRUN a `\n",
        "# hello\n# escape=`\nFROM a\nRUN a `\n",
        "FROM a\n# escape=`\nRUN a `\n",
    ] {
        let d = ok(text);
        assert_eq!(d.escape, '\\', "{text:?}");
        assert_eq!(d.stages[0].instructions[0].original, "RUN a `", "{text:?}");
    }
    let e = err("# escape=x\nFROM a\n");
    assert_eq!(
        e.to_string(),
        "failed to parse Dockerfile: invalid escape token 'x' does not match ` or \\"
    );
    let e = err("# escape=`\n# escape=\\\nFROM a\n");
    assert_eq!(e.message, "only one escape parser directive can be used");
    assert_eq!(e.line, 2);
    // Unknown directive names are comments and end the directives.
    assert_eq!(ok("# foo=bar\n# escape=`\nFROM a\n").escape, '\\');
}

#[test]
fn continuations_and_comments() {
    let text = "FROM a\r\n\
                RUN apt-get update && \\\r\n\
                \x20   # a comment inside\r\n\
                \r\n\
                \x20   apt-get install -y x \\  \r\n\
                \x20   && rm -rf /var/lib/apt\r\n\
                \x20 # trailing comment\n\
                \x20 CMD x\n";
    let d = ok(text);
    let ins = &d.stages[0].instructions;
    assert_eq!(ins.len(), 2);
    assert_eq!(ins[0].line, 2);
    assert_eq!(ins[0].end_line, 6);
    assert_eq!(
        ins[0].original,
        "RUN apt-get update &&     apt-get install -y x     && rm -rf /var/lib/apt"
    );
    assert_eq!(ins[1].line, 8);
    assert_eq!(ins[1].kind, Kind::Cmd(CommandForm::Shell("x".into())));
    assert_eq!(ins[1].kind.name(), "CMD");
    assert_eq!(
        d.warnings,
        ["Empty continuation line found in: RUN apt-get update &&     apt-get install -y x     && rm -rf /var/lib/apt"]
    );
    assert!(ok("FROM a\nRUN a \\\n  b\n").warnings.is_empty());
    // An escaped escape at the end does not continue; continuation at EOF ends.
    let k = kinds("FROM a\nRUN echo \\\\\nRUN b \\");
    assert_eq!(k[0], run_shell("echo \\\\"));
    assert_eq!(k[1], run_shell("b"));
    // BOM on the first line; instructions in any case; leading blanks.
    let d = ok("\u{feff}from a AS B\n   run x\n");
    assert_eq!(d.stages[0].name.as_deref(), Some("b"));
    assert_eq!(d.stages[0].instructions[0].original, "run x");
}

fn run_shell(s: &str) -> Kind {
    Kind::Run(Run {
        command: CommandForm::Shell(s.into()),
        heredocs: vec![],
        mounts: vec![],
        network: None,
        security: None,
        devices: vec![],
        flags_used: vec![],
    })
}

#[test]
fn exec_and_shell_forms() {
    assert_eq!(
        one("FROM a\nCMD [\"a\", \"b c\"]"),
        Kind::Cmd(CommandForm::Exec(strings(&["a", "b c"])))
    );
    assert_eq!(one("FROM a\nCMD []"), Kind::Cmd(CommandForm::Exec(vec![])));
    assert_eq!(
        one("FROM a\nENTRYPOINT []"),
        Kind::Entrypoint(CommandForm::Exec(vec![]))
    );
    // Malformed JSON falls back to the shell form.
    assert_eq!(
        one("FROM a\nCMD [\"a\", 'b']"),
        Kind::Cmd(CommandForm::Shell("[\"a\", 'b']".into()))
    );
    assert_eq!(
        one("FROM a\nCMD [\"a\""),
        Kind::Cmd(CommandForm::Shell("[\"a\"".into()))
    );
    assert_eq!(one("FROM a\nRUN [\"a\"] x"), run_shell("[\"a\"] x"));
    assert_eq!(one("FROM a\nRUN"), run_shell(""));
    let e = err("FROM a\nCMD [\"a\", 1]");
    assert_eq!(
        e.to_string(),
        "failed to parse Dockerfile: when using JSON array syntax, arrays must be comprised of strings only"
    );
    assert_eq!(e.line, 2);
    assert_eq!(
        one("FROM a\nSHELL [\"/bin/bash\", \"-c\"]"),
        Kind::Shell(strings(&["/bin/bash", "-c"]))
    );
    let e = err("FROM a\nSHELL /bin/bash -c");
    assert_eq!(
        e.to_string(),
        "dockerfile parse error on line 2: SHELL requires the arguments to be in JSON form"
    );
    assert_eq!(
        err("FROM a\nSHELL []").message,
        "SHELL requires at least one argument"
    );
}

#[test]
fn volume_expose_workdir_user() {
    assert_eq!(
        one("FROM a\nVOLUME [\"/a\",\"/b\"]"),
        Kind::Volume(strings(&["/a", "/b"]))
    );
    assert_eq!(
        one("FROM a\nVOLUME /a  /b"),
        Kind::Volume(strings(&["/a", "/b"]))
    );
    assert_eq!(one("FROM a\nVOLUME $X"), Kind::Volume(strings(&["$X"])));
    assert_eq!(
        err("FROM a\nVOLUME [\"\"]").message,
        "VOLUME specified can not be an empty string"
    );
    assert_eq!(
        err("FROM a\nVOLUME []").message,
        "VOLUME requires at least one argument"
    );
    assert_eq!(
        one("FROM a\nEXPOSE 8080/tcp 80 443"),
        Kind::Expose(strings(&["443", "80", "8080/tcp"]))
    );
    assert_eq!(
        err("FROM a\nEXPOSE").message,
        "EXPOSE requires at least one argument"
    );
    assert_eq!(
        one("FROM a\nWORKDIR /my dir"),
        Kind::Workdir("/my dir".into())
    );
    assert_eq!(
        err("FROM a\nWORKDIR").message,
        "WORKDIR requires exactly one argument"
    );
    assert_eq!(one("FROM a\nUSER app:app"), Kind::User("app:app".into()));
    assert_eq!(
        err("FROM a\nUSER").message,
        "USER requires exactly one argument"
    );
    assert_eq!(
        one("FROM a\nSTOPSIGNAL SIGKILL"),
        Kind::StopSignal("SIGKILL".into())
    );
    assert_eq!(
        one("FROM a\nMAINTAINER Jane <j@x>"),
        Kind::Maintainer("Jane <j@x>".into())
    );
    assert_eq!(
        err("FROM a\nMAINTAINER").message,
        "MAINTAINER requires exactly one argument"
    );
}

#[test]
fn env_and_label() {
    assert_eq!(
        one("FROM a\nENV A=1 B=\"two words\" C=$A\\ x D="),
        Kind::Env(pairs(&[
            ("A", "1"),
            ("B", "\"two words\""),
            ("C", "$A\\ x"),
            ("D", "")
        ]))
    );
    assert_eq!(
        one("FROM a\nENV PATH /usr/bin:$PATH  more"),
        Kind::Env(pairs(&[("PATH", "/usr/bin:$PATH  more")]))
    );
    assert_eq!(
        one("FROM a\nLABEL \"com.example.vendor\"=\"ACME Inc\" version=1.0"),
        Kind::Label(pairs(&[
            ("\"com.example.vendor\"", "\"ACME Inc\""),
            ("version", "1.0")
        ]))
    );
    let e = err("FROM a\nENV A");
    assert_eq!(
        e.to_string(),
        "failed to parse Dockerfile: ENV must have two arguments"
    );
    assert_eq!(
        err("FROM a\nLABEL a").message,
        "LABEL must have two arguments"
    );
    assert_eq!(
        err("FROM a\nENV A=1 B").message,
        "Syntax error - can't find = in \"B\". Must be of the form: name=value"
    );
    let e = err("FROM a\nENV =x");
    assert_eq!(
        e.to_string(),
        "dockerfile parse error on line 2: ENV names can not be blank"
    );
    assert_eq!(
        err("FROM a\nLABEL").message,
        "LABEL requires at least one argument"
    );
    assert_eq!(
        err("FROM a\nENV").message,
        "ENV requires at least one argument"
    );
}

#[test]
fn from_lines() {
    let d = ok("FROM --platform=$BUILDPLATFORM golang AS Build-1.x\nFROM build-1.x\n");
    assert_eq!(d.stages[0].platform.as_deref(), Some("$BUILDPLATFORM"));
    assert_eq!(d.stages[0].name.as_deref(), Some("build-1.x"));
    assert_eq!(
        d.stages[0].original,
        "FROM --platform=$BUILDPLATFORM golang AS Build-1.x"
    );
    assert_eq!(d.stage_dependencies(1), [StageRef::Stage(0)]);
    let e = err("FROM a\nFROM b AS 1abc");
    assert_eq!(
        e.to_string(),
        "dockerfile parse error on line 2: invalid name for build stage: \"1abc\", name can't start with a number or contain symbols"
    );
    assert_eq!(
        err("FROM a b").message,
        "FROM requires either one or three arguments"
    );
    assert_eq!(
        err("FROM a AT b").message,
        "FROM requires either one or three arguments"
    );
    assert_eq!(
        err("FROM").message,
        "FROM requires either one or three arguments"
    );
    let e = err("FROM a AS x\nFROM b AS X\n");
    assert_eq!(e.to_string(), "x stage name already used");
    assert_eq!(e.line, 2);
    assert_eq!(err("FROM --foo=bar a").message, "unknown flag: --foo");
}

#[test]
fn no_from() {
    let e = err("# comment\nRUN echo hi\nFROM a\n");
    assert_eq!(e.to_string(), "no build stage in current context");
    assert_eq!(e.line, 2);
    assert_eq!(e.kind, ErrorKind::Plain);
    let e = err("# only comments\n\n");
    assert_eq!(
        e.to_string(),
        "failed to parse Dockerfile: file with no instructions"
    );
    let e = err("");
    assert_eq!(e.to_string(), "the Dockerfile (Dockerfile) cannot be empty");
    assert_eq!(
        e.display_for("prod.Dockerfile"),
        "the Dockerfile (prod.Dockerfile) cannot be empty"
    );
}

#[test]
fn unknown_instruction() {
    let e = err("FROM a\nRUN x\nFOOBAR bar\n");
    assert_eq!(e.line, 3);
    assert_eq!(
        e.to_string(),
        "dockerfile parse error on line 3: unknown instruction: FOOBAR"
    );
    assert_eq!(
        err("FROM a\nFOO bar").message,
        "unknown instruction: FOO (did you mean FROM?)"
    );
    assert_eq!(
        err("FROM a\nFRM b").message,
        "unknown instruction: FRM (did you mean FROM?)"
    );
    assert_eq!(
        err("FROM a\ncopx b c").message,
        "unknown instruction: copx (did you mean copy?)"
    );
    // Checked before the missing FROM.
    assert_eq!(
        err("BAD x\n").message,
        "unknown instruction: BAD (did you mean ADD?)"
    );
}

#[test]
fn flags() {
    let e = err("FROM a\nCOPY --bogus=bar a b");
    assert_eq!(
        e.to_string(),
        "dockerfile parse error on line 2: unknown flag: --bogus"
    );
    assert_eq!(
        err("FROM a\nCOPY --foo=bar a b").message,
        "unknown flag: --foo (did you mean from?)"
    );
    assert_eq!(
        err("FROM a\nCOPY --chwn=1 a b").message,
        "unknown flag: --chwn (did you mean chown?)"
    );
    assert_eq!(
        err("FROM a\nCOPY --from a b").message,
        "missing a value on flag: --from"
    );
    assert_eq!(
        err("FROM a\nCOPY --link= a b").message,
        "missing a value on flag: --link"
    );
    assert_eq!(
        err("FROM a\nCOPY --link=yes a b").message,
        "expecting boolean value for flag --link, not: yes"
    );
    assert_eq!(
        err("FROM a\nCOPY --from=a --from=b a b").message,
        "duplicate flag specified: --from"
    );
    assert_eq!(
        err("FROM a\nADD --from=x a b").message,
        "unknown flag: --from"
    );
    assert_eq!(err("FROM a\nENV --x=1 A=1").message, "unknown flag: --x");
    assert_eq!(
        err("FROM a\nCOPY --chown=1 a").message,
        "COPY requires at least two arguments, but only one was provided. Destination could not be determined"
    );
    // `--` ends flags; quotes in flag words are removed.
    match one("FROM a\nCOPY --chown=\"app user\" --chmod=755 --link -- --weird /d") {
        Kind::Copy(c) => {
            assert_eq!(c.chown.as_deref(), Some("app user"));
            assert_eq!(c.chmod.as_deref(), Some("755"));
            assert!(c.link);
            assert_eq!(c.sources, ["--weird"]);
            assert_eq!(c.dest, "/d");
        }
        k => panic!("{k:?}"),
    }
    match one("FROM a\nCOPY --parents --exclude=*.md --exclude=x [\"a b\", \"c\", \"/d/\"]") {
        Kind::Copy(c) => {
            assert!(c.parents);
            assert_eq!(c.exclude, ["*.md", "x"]);
            assert_eq!(c.sources, ["a b", "c"]);
            assert_eq!(c.dest, "/d/");
        }
        k => panic!("{k:?}"),
    }
    match one(
        "FROM a\nADD --checksum=sha256:abc --keep-git-dir=false --chown=1:2 https://x/y.tgz /z",
    ) {
        Kind::Add(c) => {
            assert_eq!(c.checksum.as_deref(), Some("sha256:abc"));
            assert_eq!(c.keep_git_dir, Some(false));
            assert_eq!(c.unpack, None);
            assert_eq!(c.chown.as_deref(), Some("1:2"));
            assert_eq!(c.sources, ["https://x/y.tgz"]);
        }
        k => panic!("{k:?}"),
    }
}

#[test]
fn run_flags_and_mounts() {
    let k = one("FROM a\nRUN --mount=type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0755,uid=1 \\\n  --mount=type=bind,from=builder,src=/out,dst=/in,rw \\\n  --mount=type=tmpfs,destination=/t,size=64m \\\n  --mount=type=secret,id=tok,required \\\n  --network=none --security=insecure pip install x");
    let Kind::Run(r) = k else { panic!("{k:?}") };
    assert_eq!(r.command, CommandForm::Shell("pip install x".into()));
    assert_eq!(r.network.as_deref(), Some("none"));
    assert_eq!(r.security.as_deref(), Some("insecure"));
    assert_eq!(
        r.flags_used,
        ["mount", "mount", "mount", "mount", "network", "security"]
    );
    let m = &r.mounts;
    assert_eq!(m.len(), 4);
    assert_eq!(m[0].kind, MountKind::Cache);
    assert_eq!(m[0].target, "/root/.cache");
    assert_eq!(m[0].id.as_deref(), Some("pip"));
    assert_eq!(m[0].sharing, Sharing::Locked);
    assert_eq!(m[0].mode, Some(0o755));
    assert_eq!(m[0].uid, Some(1));
    assert!(!m[0].readonly);
    assert_eq!(m[1].kind, MountKind::Bind);
    assert_eq!(m[1].from.as_deref(), Some("builder"));
    assert_eq!(m[1].source.as_deref(), Some("/out"));
    assert_eq!(m[1].target, "/in");
    assert!(!m[1].readonly);
    assert_eq!(m[2].kind, MountKind::Tmpfs);
    assert_eq!(m[2].size, Some(64 << 20));
    assert_eq!(m[3].kind, MountKind::Secret);
    assert!(m[3].required && m[3].readonly);
    // Bind mounts are read-only by default.
    assert!(parse_mount("target=/x", None).unwrap().readonly);

    for (spec, msg) in [
        ("type=foo,target=/x", "unsupported mount type \"foo\""),
        (
            "type=cahe,target=/x",
            "unsupported mount type \"cahe\" (did you mean cache?)",
        ),
        ("target=/x,bogus=1", "unexpected key 'bogus' in 'bogus=1'"),
        ("target=/x,ro=maybe", "invalid value for ro: maybe"),
        (
            "type=bind,target=/x,mode=0700",
            "mode not allowed for \"bind\" type mounts",
        ),
        ("type=cache,target=/x,mode=9", "invalid value 9 for mode"),
        (
            "type=bind,target=/x,size=1m",
            "unexpected key 'size' for mount type 'bind'",
        ),
        (
            "type=bind,target=/x,sharing=locked",
            "invalid cache sharing set for bind mount",
        ),
        (
            "type=cache,target=/x,sharing=nope",
            "unsupported sharing value \"nope\"",
        ),
        (
            "type=secret",
            "invalid secret mount. one of source, target required",
        ),
        (
            "type=secret,id=a,from=b",
            "secret mount should not have a from",
        ),
        (
            "target=/x,noval",
            "invalid field 'noval' must be a key=value pair",
        ),
        (
            "type=bind,required",
            "unexpected key 'required' for mount type 'bind'",
        ),
        (
            "from=$X,target=/x",
            "'from' doesn't support variable expansion, define alias stage instead",
        ),
        (
            "target=\"/x",
            "failed to parse csv mounts: bare \" in non-quoted-field",
        ),
        (
            "\"target=/x",
            "failed to parse csv mounts: extraneous or missing \" in quoted-field",
        ),
    ] {
        assert_eq!(parse_mount(spec, None).unwrap_err(), msg, "{spec}");
    }
    let e = err("FROM a\nRUN --mount=type=foo,target=/x true");
    assert_eq!(
        e.to_string(),
        "dockerfile parse error on line 2: unsupported mount type \"foo\""
    );
    assert_eq!(
        err("FROM a\nRUN --network=bridge true").message,
        "invalid network mode \"bridge\""
    );
    assert_eq!(
        err("FROM a\nRUN --security=x true").message,
        "security \"x\" is not valid"
    );
    assert_eq!(err("FROM a\nRUN --foo true").message, "unknown flag: --foo");
    // Values with `$` are checked once expanded.
    let k = one("FROM a\nRUN --mount=type=cache,target=/c,uid=$UID,from=base true");
    let Kind::Run(r) = k else { panic!() };
    assert_eq!(r.mounts[0].raw, "type=cache,target=/c,uid=$UID,from=base");
    assert_eq!(r.mounts[0].from.as_deref(), Some("base"));
    let expand = |s: &str| -> Result<String, String> { Ok(s.replace("$UID", "1000")) };
    let m = parse_mount(&r.mounts[0].raw, Some(&expand)).unwrap();
    assert_eq!(m.uid, Some(1000));
    assert_eq!(m.kind, MountKind::Cache);
}

#[test]
fn healthcheck() {
    let k = one("FROM a\nHEALTHCHECK --interval=5m --timeout=3s --start-period=1.5s --start-interval=100ms --retries=3 CMD curl -f http://localhost/ || exit 1");
    assert_eq!(
        k,
        Kind::Healthcheck(Healthcheck {
            test: strings(&["CMD-SHELL", "curl -f http://localhost/ || exit 1"]),
            interval: Some(300_000_000_000),
            timeout: Some(3_000_000_000),
            start_period: Some(1_500_000_000),
            start_interval: Some(100_000_000),
            retries: Some(3),
        })
    );
    let k = one("FROM a\nhealthcheck cmd [\"/bin/check\", \"-q\"]");
    let Kind::Healthcheck(h) = k else { panic!() };
    assert_eq!(h.test, ["CMD", "/bin/check", "-q"]);
    assert_eq!(h.interval, None);
    let k = one("FROM a\nHEALTHCHECK NONE");
    let Kind::Healthcheck(h) = k else { panic!() };
    assert_eq!(h.test, ["NONE"]);
    for (text, msg) in [
        ("HEALTHCHECK", "HEALTHCHECK requires at least one argument"),
        ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
        ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
        (
            "HEALTHCHECK FOO x",
            "Unknown type \"FOO\" in HEALTHCHECK (try CMD)",
        ),
        (
            "HEALTHCHECK --interval=10us CMD x",
            "Interval \"interval\" cannot be less than 1ms",
        ),
        (
            "HEALTHCHECK --timeout=-1s CMD x",
            "Interval \"timeout\" cannot be less than 1ms",
        ),
        (
            "HEALTHCHECK --interval=5 CMD x",
            "time: missing unit in duration \"5\"",
        ),
        (
            "HEALTHCHECK --retries=-1 CMD x",
            "--retries cannot be negative (-1)",
        ),
        (
            "HEALTHCHECK --retries=x CMD x",
            "strconv.ParseInt: parsing \"x\": invalid syntax",
        ),
        (
            "HEALTHCHECK --retries=9999999999 CMD x",
            "strconv.ParseInt: parsing \"9999999999\": value out of range",
        ),
        ("HEALTHCHECK --bogus=1 CMD x", "unknown flag: --bogus"),
    ] {
        let e = err(&format!("FROM a\n{text}\n"));
        assert_eq!(e.message, msg, "{text}");
        assert_eq!(e.line, 2);
        assert_eq!(e.kind, ErrorKind::Instruction);
    }
}

#[test]
fn onbuild() {
    assert_eq!(
        one("FROM a\nONBUILD RUN echo hi"),
        Kind::Onbuild("RUN echo hi".into())
    );
    assert_eq!(
        one("FROM a\n  onbuild   COPY --chown=1 . /app"),
        Kind::Onbuild("COPY --chown=1 . /app".into())
    );
    assert_eq!(
        err("FROM a\nONBUILD ONBUILD RUN x").message,
        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
    );
    assert_eq!(
        err("FROM a\nONBUILD FROM x").message,
        "FROM isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(
        err("FROM a\nONBUILD maintainer x").message,
        "MAINTAINER isn't allowed as an ONBUILD trigger"
    );
    assert_eq!(
        err("FROM a\nONBUILD").message,
        "ONBUILD requires at least one argument"
    );
    // The trigger is checked when it runs, not here.
    assert_eq!(
        one("FROM a\nONBUILD BOGUS x"),
        Kind::Onbuild("BOGUS x".into())
    );
    // Heredocs under ONBUILD are read and appended.
    assert_eq!(
        one("FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\n"),
        Kind::Onbuild("RUN <<EOF\necho hi\nEOF".into())
    );
}

#[test]
fn heredocs_run() {
    let d = ok("FROM a\nRUN <<EOF\napt-get update\napt-get install -y x\nEOF\nRUN echo after\n");
    let ins = &d.stages[0].instructions;
    assert_eq!(ins.len(), 2);
    assert_eq!(ins[0].line, 2);
    assert_eq!(ins[0].end_line, 5);
    assert_eq!(ins[0].original, "RUN <<EOF");
    assert_eq!(ins[1].line, 6);
    let Kind::Run(r) = &ins[0].kind else { panic!() };
    assert_eq!(r.command, CommandForm::Shell("<<EOF".into()));
    assert_eq!(
        r.heredocs,
        [Heredoc {
            name: "EOF".into(),
            content: "apt-get update\napt-get install -y x\n".into(),
            expand: true,
            chomp: false,
            fd: 0,
        }]
    );
    assert_eq!(
        r.heredoc_command().unwrap(),
        HeredocRun::Script("apt-get update\napt-get install -y x\n".into())
    );

    // Stdin of a command; quoted names do not expand; <<- strips tabs.
    let k = one(
        "FROM a\nRUN python3 <<'PY' && cat <<-\"END\"\nprint('$HOME')\nPY\n\tindented\n\tEND\n",
    );
    let Kind::Run(r) = k else { panic!() };
    assert_eq!(r.heredocs.len(), 2);
    assert_eq!(r.heredocs[0].name, "PY");
    assert!(!r.heredocs[0].expand);
    assert_eq!(r.heredocs[1].name, "END");
    assert!(r.heredocs[1].chomp && !r.heredocs[1].expand);
    assert_eq!(r.heredocs[1].content, "\tindented\n");
    assert_eq!(r.heredocs[1].chomped(), "indented\n");
    assert_eq!(
        r.heredoc_command().unwrap(),
        HeredocRun::Shell(
            "python3 <<'PY' && cat <<-\"END\"\nprint('$HOME')\nPY\n\tindented\nEND".into()
        )
    );

    // Shebang: run as a file.
    let k = one("FROM a\nRUN <<-EOT\n\t#!/usr/bin/env python3\n\tprint(1)\nEOT\n");
    let Kind::Run(r) = k else { panic!() };
    assert_eq!(
        r.heredoc_command().unwrap(),
        HeredocRun::File {
            name: "EOT".into(),
            content: "#!/usr/bin/env python3\nprint(1)\n".into()
        }
    );
    assert_eq!(run_shell("x").clone(), run_shell("x"));
    if let Kind::Run(r) = run_shell("x") {
        assert_eq!(r.heredoc_command().unwrap(), HeredocRun::Plain);
    }

    // fd prefix; exec form does not read heredocs; CRLF terminators.
    let k = one("FROM a\nRUN cat 3<<EOF\nx\r\nEOF\r\n");
    let Kind::Run(r) = k else { panic!() };
    assert_eq!(r.heredocs[0].fd, 3);
    assert_eq!(r.heredocs[0].content, "x\r\n");
    assert_eq!(
        err("FROM a\nRUN [\"cat\", \"<<EOF\"]\nEOF\n").message,
        "unknown instruction: EOF (did you mean ENV?)"
    );

    let e = err("FROM a\nRUN <<EOF\necho\n");
    assert_eq!(
        e.to_string(),
        "failed to parse Dockerfile: unterminated heredoc"
    );
    assert_eq!(e.line, 2);
}

#[test]
fn heredocs_copy() {
    let k = one("FROM a\nCOPY <<EOF <<-\"CONF\" /etc/\nhello $USER\nEOF\n\tkey=1\nCONF\n");
    let Kind::Copy(c) = k else { panic!() };
    assert!(c.sources.is_empty());
    assert_eq!(c.dest, "/etc/");
    assert_eq!(c.heredocs.len(), 2);
    assert_eq!(c.heredocs[0].name, "EOF");
    assert_eq!(c.heredocs[0].content, "hello $USER\n");
    assert!(c.heredocs[0].expand);
    assert_eq!(c.heredocs[1].name, "CONF");
    assert_eq!(c.heredocs[1].content, "key=1\n");
    assert!(!c.heredocs[1].expand);
    let k = one("FROM a\nCOPY file.txt <<EOF /dst/\nx\nEOF\n");
    let Kind::Copy(c) = k else { panic!() };
    assert_eq!(c.sources, ["file.txt"]);
    assert_eq!(c.heredocs.len(), 1);
    assert_eq!(
        err("FROM a\nCOPY a <<EOF\nx\nEOF\n").message,
        "COPY cannot accept a heredoc as a destination"
    );
}

#[test]
fn backtick_escape_in_words() {
    let d = ok("# escape=`\nFROM a\nENV A=x` y B=\"q`\"q\"\nCOPY --chown=`\"a` b`\" c d\n");
    assert_eq!(
        d.stages[0].instructions[0].kind,
        Kind::Env(pairs(&[("A", "x` y"), ("B", "\"q`\"q\"")]))
    );
    let Kind::Copy(c) = &d.stages[0].instructions[1].kind else {
        panic!()
    };
    assert_eq!(c.chown.as_deref(), Some("\"a b\""));
}

#[test]
fn error_display() {
    let e = ParseError {
        line: 4,
        message: "x".into(),
        kind: ErrorKind::Instruction,
    };
    assert_eq!(e.to_string(), "dockerfile parse error on line 4: x");
    let e = ParseError {
        line: 4,
        message: "x".into(),
        kind: ErrorKind::Syntax,
    };
    assert_eq!(
        e.display_for("Dockerfile.dev"),
        "failed to parse Dockerfile.dev: x"
    );
}

#[test]
fn garbage_never_panics() {
    let samples: [&[u8]; 14] = [
        b"FROM",
        b"FROM a\nRUN <<",
        b"FROM a\nRUN <<EOF",
        b"FROM a\nCOPY <<EOF",
        b"FROM a\nRUN --mount=",
        b"FROM a\nHEALTHCHECK --interval= CMD",
        b"\\",
        b"# escape=`\n`",
        b"FROM a\nONBUILD ONBUILD",
        b"FROM a\nRUN \"\\",
        b"FROM a\nCOPY --\"",
        b"\xef\xbb\xbf",
        b"FROM a\nENV \"",
        b"FROM a\nRUN [\"\\u0000\"]",
    ];
    for s in samples {
        let _ = parse(&String::from_utf8_lossy(s));
    }
    let corpus = "# escape=`\nARG A=1\nFROM --platform=x a:$A AS b\nRUN --mount=type=cache,target=/c <<EOF cat\nhi\nEOF\n\
                  COPY --from=b <<-X /d\n\tq\nX\nENV A=\"1 2\" B='x'\nHEALTHCHECK --retries=2 CMD [\"a\"]\n\
                  ONBUILD RUN x \\\n  y\nLABEL a=b\nEXPOSE 1 2\nVOLUME [\"/v\"]\nSHELL [\"sh\"]\n";
    // Every prefix, at every char boundary.
    for (i, _) in corpus.char_indices() {
        let _ = parse(&corpus[..i]);
    }
    // Random bytes and random mixes of Dockerfile tokens.
    let tokens = [
        "FROM ",
        "RUN ",
        "COPY ",
        "ADD ",
        "ENV ",
        "ARG ",
        "ONBUILD ",
        "HEALTHCHECK ",
        "LABEL ",
        "--mount=",
        "--from=",
        "type=cache,",
        "<<EOF",
        "<<-'E'",
        "EOF",
        "\n",
        "\\\n",
        "`",
        "\"",
        "'",
        "[",
        "]",
        "$",
        "{",
        "}",
        "=",
        " ",
        "\t",
        "#",
        "# escape=`\n",
        ",",
        "a",
        "\r\n",
    ];
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..2000 {
        let mut s = String::new();
        for _ in 0..(next() % 24) {
            s.push_str(tokens[(next() % tokens.len() as u64) as usize]);
        }
        let _ = parse(&s);
        let bytes: Vec<u8> = (0..(next() % 64)).map(|_| next() as u8).collect();
        let _ = parse(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn heredoc_names_and_quoting() {
    let text = "FROM a\n\
RUN \"<<NOHEREDOC\"\n\
RUN 3<<EMPTY2\n\
EMPTY2\n\
RUN <<-UNINDENT2\n\tbaz\n\tUNINDENT2\n\
COPY <<X <<Y /dest\nY\nX\nX\nY\n\
RUN <<eo'f'\necho foo\neof\n\
RUN <<eo\\'f\necho foo\neo'f\n\
RUN <<'e'o\\'f\necho foo\neo'f\n\
RUN <<'one two'\necho bar\none two\n\
RUN <<$EOF\n$EOF\n\
RUN <<  EOF  > foo\nEOF\n\
RUN --mount=type=cache,target=/foo <<MOUNT\necho hello\nMOUNT\n";
    let d = ok(text);
    let docs: Vec<Vec<Heredoc>> = d.stages[0]
        .instructions
        .iter()
        .map(|i| match &i.kind {
            Kind::Run(r) => r.heredocs.clone(),
            Kind::Copy(c) => c.heredocs.clone(),
            _ => vec![],
        })
        .collect();
    let h = |n: &str, c: &str, e: bool, ch: bool, fd: u32| Heredoc {
        name: n.to_string(),
        content: c.to_string(),
        expand: e,
        chomp: ch,
        fd,
    };
    assert_eq!(
        docs,
        vec![
            vec![],
            vec![h("EMPTY2", "", true, false, 3)],
            vec![h("UNINDENT2", "\tbaz\n", true, true, 0)],
            vec![h("X", "Y\n", true, false, 0), h("Y", "X\n", true, false, 0)],
            vec![h("eof", "echo foo\n", false, false, 0)],
            vec![h("eo'f", "echo foo\n", true, false, 0)],
            vec![h("eo'f", "echo foo\n", false, false, 0)],
            vec![h("one two", "echo bar\n", false, false, 0)],
            vec![h("$EOF", "", true, false, 0)],
            vec![h("EOF", "", true, false, 0)],
            vec![h("MOUNT", "echo hello\n", true, false, 0)],
        ]
    );
    // USER does not read heredocs: the next line is an instruction.
    assert_eq!(
        ok("FROM a\nUSER <<X\nRUN y\n").stages[0].instructions.len(),
        2
    );

    for src in [
        "<<EOF",
        "<<'EOF'",
        "<<\"EOF\"",
        "<<-EOF",
        "<<-'EOF'",
        "<<EO\"F\"",
        "<< EOF",
        "<<- EOF",
    ] {
        assert_eq!(parse_heredoc(src).unwrap().unwrap().name, "EOF", "{src}");
    }
    for src in ["<<'EOF", "<<\"EOF", "<<EOF'", "<<EOF\""] {
        assert!(parse_heredoc(src).is_err(), "{src}");
    }
    for src in ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"] {
        assert!(parse_heredoc(src).unwrap().is_none(), "{src}");
    }
}

#[test]
fn node_layer_matches_buildkit_dumps() {
    // Spot checks of buildkit's parser test files (testfiles/*/result).
    let dump = |text: &str| -> Vec<(String, Vec<String>, Vec<String>)> {
        let (nodes, _) = read_nodes(text).unwrap();
        nodes
            .into_iter()
            .map(|n| (n.cmd.to_lowercase(), n.flags, n.args))
            .collect()
    };
    let s = |v: &[&str]| strings(v);
    assert_eq!(
        dump("FROM scratch\nCOPY --doit=true -- foo /tmp/\nCMD --doit -- [ ]\n"),
        vec![
            ("from".into(), vec![], s(&["scratch"])),
            ("copy".into(), s(&["--doit=true"]), s(&["foo", "/tmp/"])),
            ("cmd".into(), s(&["--doit"]), vec![]),
        ]
    );
    assert_eq!(
        dump("LABEL maintainer Erik \\\\Hollensbe <erik@hollensbe.org>\\\"\n\nRUN apt-get \\update && \\\n  apt-get \\\"install znc -y\nRUN foo \\\n\nbar \\\n\nbaz\n"),
        vec![
            ("label".into(), vec![], s(&["maintainer", "Erik \\\\Hollensbe <erik@hollensbe.org>\\\"", ""])),
            ("run".into(), vec![], s(&["apt-get \\update &&   apt-get \\\"install znc -y"])),
            ("run".into(), vec![], s(&["foo bar baz"])),
        ]
    );
    assert_eq!(
        dump("HEALTHCHECK   CMD   a b\nHEALTHCHECK CONNECT TCP 7000\nHEALTHCHECK --timeout=3s CMD [\"foo\"]\n"),
        vec![
            ("healthcheck".into(), vec![], s(&["CMD", "a b"])),
            ("healthcheck".into(), vec![], s(&["CONNECT", "TCP 7000"])),
            ("healthcheck".into(), s(&["--timeout=3s"]), s(&["CMD", "foo"])),
        ]
    );
}

#[test]
fn long_inputs_are_bounded() {
    let chain = format!("FROM a\n{}RUN x\n", "ONBUILD ".repeat(50_000));
    assert_eq!(
        err(&chain).message,
        "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
    );
    let deep = format!("FROM a\nENV A={}\n", "${a:-".repeat(50_000));
    assert!(parse(&deep).is_ok(), "ENV values are expanded later");
    let nested_json = format!("FROM a\nCMD {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    let _ = parse(&nested_json);
    let heredocs = format!("FROM a\nRUN {}\n", "<<A ".repeat(5_000));
    assert_eq!(err(&heredocs).message, "unterminated heredoc");
}
