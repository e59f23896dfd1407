//! Each instruction's arguments and flags, and heredocs.

use super::*;

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
