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

mod instructions;
