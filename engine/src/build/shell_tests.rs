use super::*;

fn env(name: &str) -> Option<String> {
    match name {
        "PWD" => Some("/home".into()),
        "SHELL" => Some("bash".into()),
        "KOREAN" => Some("한국어".into()),
        "NULL" => Some(String::new()),
        "space" => Some("abc  def".into()),
        "leading" => Some("  ab c".into()),
        "trailing" => Some("ab c   ".into()),
        "path" => Some("/usr/local/bin/app.tar.gz".into()),
        _ => None,
    }
}

fn word(w: &str) -> Result<String, String> {
    Lex::new('\\').process_word(w, &env)
}

fn words(w: &str) -> Result<Vec<String>, String> {
    Lex::new('\\').process_words(w, &env)
}

#[test]
fn quotes_and_escapes() {
    let ok = [
        ("hello", "hello"),
        ("he'll'o", "hello"),
        (r"he\'llo", "he'llo"),
        (r"abc\tdef", "abctdef"),
        (r#""abc\tdef""#, r"abc\tdef"),
        (r#""abc\\tdef""#, r"abc\tdef"),
        (r"'abc\tdef'", r"abc\tdef"),
        (r"hello\", "hello"),
        (r"hello\\", r"hello\"),
        (r#""hel'lo""#, "hel'lo"),
        (r"'hello\'", r"hello\"),
        (r#""''""#, "''"),
        (r#"'"hello"'"#, r#""hello""#),
        ("안'녕'하세요", "안녕하세요"),
    ];
    for (input, want) in ok {
        assert_eq!(word(input).as_deref(), Ok(want), "{input}");
    }
    for bad in ["he'llo", r"he\\'llo", r#""hello"#, r#""hello\""#, "'hello"] {
        assert!(word(bad).is_err(), "{bad}");
    }
}

#[test]
fn variables() {
    let ok = [
        ("$.", "$."),
        ("he$1x", "hex"),
        ("he$.x", "he$.x"),
        ("he$pwd.", "he."),
        ("he$PWD", "he/home"),
        (r"he\$PWD", "he$PWD"),
        (r"he\\$PWD", r"he\/home"),
        (r#""he\$PWD""#, "he$PWD"),
        (r#""he\\$PWD""#, r"he\/home"),
        (r"\${}", "${}"),
        ("he${hi}xx", "hexx"),
        ("he${PWD}", "he/home"),
        ("he${XXX:-000}xx", "he000xx"),
        ("he${PWD:-000}xx", "he/homexx"),
        ("he${XXX:-$PWD}xx", "he/homexx"),
        ("he${XXX:-${YYY:-yyy}}xx", "heyyyxx"),
        ("he${PWD?}", "he/home"),
        ("he${NULL?}", "he"),
        ("he${NULL-x}", "he"),
        ("he${NULL:-x}", "hex"),
        ("he${NULL+x}", "hex"),
        ("he${NULL:+x}", "he"),
        ("he${XXX:+000}xx", "hexx"),
        ("he${PWD:+${SHELL}}xx", "hebashxx"),
        ("'he${XX}'", "he${XX}"),
        (r#""he'$PWD'""#, "he'/home'"),
        ("he${PWD:+${PWD}:}xx", "he/home:xx"),
        (r"he${XXX:-\$PWD:}xx", "he$PWD:xx"),
        (r"he${XXX:-\${PWD}z}xx", "he${PWDz}xx"),
        ("안녕$KOREAN", "안녕한국어"),
        ("${aaa}}", "}"),
        ("${aaa:-bbb}}", "bbb}"),
        ("${aaa:-bbb {foo}", "bbb {foo"),
        ("${1:-bbb}", "bbb"),
        ("$1", ""),
        ("a<<  b", "a<<  b"),
    ];
    for (input, want) in ok {
        assert_eq!(word(input).as_deref(), Ok(want), "{input}");
    }
    for bad in [
        "${}",
        "he${.}",
        "he${XXX:YYY}",
        "he${XXX?}",
        "he${XXX:?}",
        "he${NULL:?}",
        "he${PWD",
        "he${PWD:=000}xx",
        "${{aaa}",
        "${aaa:-bbb",
        "${aaa:-bbb ${foo}",
        "${:}",
        "${:-bbb}",
        "${",
        "${a:",
    ] {
        assert!(word(bad).is_err(), "{bad}");
    }
}

#[test]
fn error_texts() {
    assert_eq!(
        word("${a").unwrap_err(),
        "failed to process \"${a\": unsupported modifier (\u{fffd}) in substitution"
    );
    assert_eq!(
        word("${a:-b").unwrap_err(),
        "failed to process \"${a:-b\": syntax error: missing '}'"
    );
    assert_eq!(
        word("${}").unwrap_err(),
        "failed to process \"${}\": syntax error: bad substitution"
    );
    assert_eq!(
        word("'x").unwrap_err(),
        "failed to process \"'x\": unexpected end of statement while looking for matching single-quote"
    );
    assert_eq!(
        word("\"x").unwrap_err(),
        "failed to process \"\\\"x\": unexpected end of statement while looking for matching double-quote"
    );
    assert_eq!(
        word("${X:?}").unwrap_err(),
        "failed to process \"${X:?}\": X: is not allowed to be unset"
    );
    assert_eq!(
        word("${NULL:?}").unwrap_err(),
        "failed to process \"${NULL:?}\": NULL: is not allowed to be empty"
    );
    assert_eq!(
        word("${X?need X}").unwrap_err(),
        "failed to process \"${X?need X}\": X: need X"
    );
    assert_eq!(
        word("${X:=y}").unwrap_err(),
        "failed to process \"${X:=y}\": unsupported modifier (:=) in substitution"
    );
    assert_eq!(
        word("${X:#y}").unwrap_err(),
        "failed to process \"${X:#y}\": unsupported modifier (:#) in substitution"
    );
}

#[test]
fn patterns() {
    let ok = [
        ("${path#*/}", "usr/local/bin/app.tar.gz"),
        ("${path##*/}", "app.tar.gz"),
        ("${path%.*}", "/usr/local/bin/app.tar"),
        ("${path%%.*}", "/usr/local/bin/app"),
        ("${path%nomatch}", "/usr/local/bin/app.tar.gz"),
        ("${path#/usr}", "/local/bin/app.tar.gz"),
        ("${path#?}", "usr/local/bin/app.tar.gz"),
        ("${path/local/opt}", "/usr/opt/bin/app.tar.gz"),
        ("${path//\\//_}", "_usr_local_bin_app.tar.gz"),
        ("${path/a/A}", "/usr/locAl/bin/app.tar.gz"),
        ("${path//a/A}", "/usr/locAl/bin/App.tAr.gz"),
        ("${unset#x}", ""),
    ];
    for (input, want) in ok {
        assert_eq!(word(input).as_deref(), Ok(want), "{input}");
    }
    assert!(word("${path#\\x}").is_err());
    assert!(word("${path/x").is_err());
}

#[test]
fn word_splitting() {
    let cases: [(&str, &[&str]); 18] = [
        ("hello", &["hello"]),
        ("hello${hi}bye", &["hellobye"]),
        ("hello${space}bye", &["helloabc", "defbye"]),
        ("hello\"${space}\"bye", &["helloabc  defbye"]),
        ("hello \"${space}\"bye", &["hello", "abc  defbye"]),
        ("hello${leading}def", &["hello", "ab", "cdef"]),
        ("hello\"${leading}\" def", &["hello  ab c", "def"]),
        ("hello${trailing}", &["helloab", "c"]),
        ("hello${trailing}d", &["helloab", "c", "d"]),
        ("hello\"${trailing}\"d", &["helloab c   d"]),
        ("hello\" there  \"", &["hello there  "]),
        ("hello there     ", &["hello", "there"]),
        ("hello\\ there", &["hello there"]),
        ("hello\\\" there", &["hello\"", "there"]),
        ("hello'$there'", &["hello$there"]),
        ("/a /b  /c", &["/a", "/b", "/c"]),
        ("cat << EOF", &["cat", "<< EOF"]),
        ("", &[]),
    ];
    for (input, want) in cases {
        assert_eq!(words(input).unwrap(), want, "{input}");
    }
    assert!(words("hello\" there").is_err());
}

#[test]
fn backtick_escape() {
    let lex = Lex::new('`');
    assert_eq!(lex.process_word(r"C:\dir\x", &env).unwrap(), r"C:\dir\x");
    assert_eq!(lex.process_word("a`$PWD", &env).unwrap(), "a$PWD");
    assert_eq!(lex.process_word("\"a`\"b\"", &env).unwrap(), "a\"b");
    assert_eq!(lex.process_word("$PWD", &env).unwrap(), "/home");
}

#[test]
fn matches_are_reported() {
    let lex = Lex::new('\\');
    let (out, names) = lex
        .process_word_with_matches("${PWD}/$NOPE:${X:-$SHELL}", &env)
        .unwrap();
    assert_eq!(out, "/home/:bash");
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(names, ["NOPE", "PWD", "SHELL", "X"]);
    let p = lex.process("$PWD $NOPE", &env).unwrap();
    assert!(p.matched.contains("PWD") && p.unmatched.contains("NOPE"));
    // Single-quoted text is not looked at.
    let (_, names) = lex.process_word_with_matches("'$PWD'", &env).unwrap();
    assert!(names.is_empty());
}

#[test]
fn raw_modes_keep_text() {
    let lex = Lex {
        raw_quotes: true,
        raw_escapes: true,
        skip_unset_env: true,
        ..Lex::new('\\')
    };
    let w = lex
        .process_words("cat <<\"EOF\" > $OUT ${X:-y} 'a b' \\n", &env)
        .unwrap();
    assert_eq!(
        w,
        ["cat", "<<\"EOF\"", ">", "$OUT", "${X:-y}", "'a b'", "\\n"]
    );
}

#[test]
fn never_panics() {
    let lex = Lex::new('\\');
    let samples = [
        "${",
        "${a",
        "${a:",
        "${a:-",
        "${a/",
        "${a//",
        "${a/b",
        "${a#",
        "${a%%",
        "$",
        "\\",
        "\"\\",
        "'",
        "${a#\\",
        "${path/\\",
        "${path%\\}",
        "${path#*\\}}",
        "${path//}",
    ];
    for s in samples {
        let _ = lex.process(s, &env);
    }
    let mut seed = 0x1234_5678_u64;
    let alphabet: Vec<char> = "${}:-+?#%/\\'\" ab*?\t\n<".chars().collect();
    for _ in 0..3000 {
        let mut s = String::new();
        for _ in 0..(seed % 12) {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            s.push(alphabet[(seed >> 33) as usize % alphabet.len()]);
        }
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        let _ = lex.process(&s, &env);
        let _ = Lex::new('`').process(&s, &env);
    }
}

#[test]
fn deep_nesting_and_long_values_are_bounded() {
    let lex = Lex::new('\\');
    let deep = "${a:-".repeat(100_000) + &"}".repeat(100_000);
    assert!(lex.process_word(&deep, &env).is_err());
    let ok_nesting = "${a:-".repeat(50) + "x" + &"}".repeat(50);
    assert_eq!(lex.process_word(&ok_nesting, &env).unwrap(), "x");
    let long = "ab".repeat(2_000);
    let big = |n: &str| (n == "L").then(|| long.clone());
    assert_eq!(lex.process_word("${L//*b/x}", &big).unwrap(), "x");
    assert_eq!(
        lex.process_word("${L//a/}", &big).unwrap(),
        "b".repeat(2_000)
    );
    assert_eq!(lex.process_word("${L%%b*}", &big).unwrap(), "a");
}
