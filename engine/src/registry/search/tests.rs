use super::*;

fn term(t: &str) -> (String, String) {
    let s = SearchTerm::parse(t);
    (s.index, s.query)
}

#[test]
fn terms_split_into_index_and_query_as_moby_splits_them() {
    let hub = |q: &str| ("docker.io".to_string(), q.to_string());
    assert_eq!(term("busybox"), hub("busybox"));
    assert_eq!(term("library/busybox"), hub("busybox"));
    assert_eq!(term("docker.io/library/busybox"), hub("busybox"));
    assert_eq!(term("index.docker.io/team/app"), hub("team/app"));
    assert_eq!(term("team/app"), hub("team/app"));
    assert_eq!(term("team/app/more"), hub("team/app/more"));
    assert_eq!(term(""), hub(""));
    let reg = |i: &str, q: &str| (i.to_string(), q.to_string());
    assert_eq!(term("127.0.0.1:5000/foo"), reg("127.0.0.1:5000", "foo"));
    assert_eq!(
        term("localhost/library/foo"),
        reg("localhost", "library/foo"),
        "library/ is Docker Hub's only"
    );
    assert_eq!(term("reg.lan/a/b"), reg("reg.lan", "a/b"));
    assert_eq!(term("host:5000/"), reg("host:5000", ""));
    assert_eq!(
        term("registry-1.docker.io/x"),
        reg("registry-1.docker.io", "x")
    );
    assert!(SearchTerm::parse("docker.io/x").is_hub());
    assert_eq!(
        SearchTerm::parse("ubuntu").auth_key(),
        "https://index.docker.io/v1/"
    );
    assert_eq!(
        SearchTerm::parse("localhost:5000/x").auth_key(),
        "localhost:5000"
    );
}

fn err(r: Result<SearchFilters>) -> String {
    r.expect_err("an error").to_string()
}

#[test]
fn filters_parse_and_fail_in_mobys_words() {
    assert_eq!(SearchFilters::parse("").unwrap(), SearchFilters::default());
    assert_eq!(
        SearchFilters::parse("{}").unwrap(),
        SearchFilters::default()
    );
    let f = SearchFilters::parse(r#"{"stars":{"3":true,"10":true},"is-official":{"true":true}}"#)
        .unwrap();
    assert_eq!((f.stars, f.official), (Some(10), Some(true)));
    let f = SearchFilters::parse(r#"{"is-official":["0"],"stars":["-4"]}"#).unwrap();
    assert_eq!(
        (f.stars, f.official),
        (Some(0), Some(false)),
        "legacy lists"
    );
    assert!(
        SearchFilters::parse(r#"{"is-automated":{"true":true},"stars":{"x":true}}"#)
            .unwrap()
            .automated_only,
        "is-automated=true ends it before stars are read"
    );
    assert_eq!(
        SearchFilters::parse(r#"{"is-automated":{"false":true}}"#).unwrap(),
        SearchFilters::default()
    );
    assert_eq!(err(SearchFilters::parse("nope")), "invalid filter");
    assert_eq!(
        err(SearchFilters::parse(r#"{"colour":{"red":true}}"#)),
        "invalid filter 'colour'"
    );
    assert_eq!(
        err(SearchFilters::parse(r#"{"stars":{"many":true}}"#)),
        "invalid filter 'stars=many': strconv.Atoi: parsing \"many\": invalid syntax"
    );
    assert_eq!(
            err(SearchFilters::parse(r#"{"stars":{"99999999999999999999":true}}"#)),
            "invalid filter 'stars=99999999999999999999': strconv.Atoi: parsing \"99999999999999999999\": value out of range"
        );
    assert_eq!(
        err(SearchFilters::parse(r#"{"is-official":{"maybe":true}}"#)),
        "invalid filter 'is-official=[maybe]'"
    );
    assert_eq!(
        err(SearchFilters::parse(
            r#"{"is-official":{"true":true,"0":true}}"#
        )),
        "invalid filter 'is-official=[0 true]'",
        "conflicting values"
    );
    assert_eq!(
        err(SearchFilters::parse(r#"{"is-automated":{}}"#)),
        "invalid filter 'is-automated'"
    );
    let r = |stars, official| SearchResult {
        star_count: stars,
        is_official: official,
        ..Default::default()
    };
    let f = SearchFilters::parse(r#"{"stars":{"5":true},"is-official":{"1":true}}"#).unwrap();
    assert!(f.keep(&r(5, true)));
    assert!(!f.keep(&r(4, true)));
    assert!(!f.keep(&r(50, false)));
}

#[test]
fn limits_and_terms_are_checked_as_moby_checks_them() {
    assert_eq!(parse_limit("").unwrap(), 0);
    assert_eq!(parse_limit("+7").unwrap(), 7);
    assert_eq!(
        parse_limit("ten").unwrap_err().to_string(),
        "invalid limit specified: strconv.Atoi: parsing \"ten\": invalid syntax"
    );
    assert_eq!(check_limit(0).unwrap(), 25);
    assert_eq!(check_limit(100).unwrap(), 100);
    for bad in [101, -1] {
        let e = check_limit(bad).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("limit {bad} is outside the range of [1, 100]")
        );
        assert_eq!(e.kind(), crate::ErrorKind::InvalidParameter);
    }
    let e = Search::new("http://reg/x", 0, "", AuthConfig::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid repository name: repository name (http://reg/x) should not have a scheme"
    );
    assert_eq!(query_escape("a b/c:d~e"), "a+b%2Fc%3Ad~e");
}

#[test]
fn answers_decode_with_gos_errors() {
    let body = br#"{"num_results":2,"query":"app","results":[
            {"name":"team/app","description":"d","star_count":3,"is_official":false,"is_automated":true,"extra":1},
            {"NAME":"app","Star_Count":9,"is_official":true}]} trailing"#;
    let r = decode_results(body).unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(
        (r[0].name.as_str(), r[0].star_count, r[0].is_automated),
        ("team/app", 3, true)
    );
    assert_eq!(
        (r[1].name.as_str(), r[1].star_count, r[1].is_official),
        ("app", 9, true)
    );
    assert!(decode_results(b"null").unwrap().is_empty());
    assert!(decode_results(br#"{"results":null}"#).unwrap().is_empty());
    assert_eq!(decode_results(b"").unwrap_err(), "EOF");
    assert_eq!(
        decode_results(b"{\"results\":[").unwrap_err(),
        "unexpected EOF"
    );
    assert_eq!(
        decode_results(b"<html>nope</html>").unwrap_err(),
        "invalid character '<' looking for beginning of value"
    );
    assert_eq!(
        decode_results(b"[]").unwrap_err(),
        "json: cannot unmarshal array into Go value of type registry.SearchResults"
    );
    assert_eq!(
            decode_results(br#"{"results":{}}"#).unwrap_err(),
            "json: cannot unmarshal object into Go struct field SearchResults.results of type []registry.SearchResult"
        );
    assert_eq!(
            decode_results(br#"{"results":[{"star_count":"many"}]}"#).unwrap_err(),
            "json: cannot unmarshal string into Go struct field SearchResult.results.star_count of type int"
        );
    assert_eq!(
            decode_results(br#"{"results":[{"star_count":1.5}]}"#).unwrap_err(),
            "json: cannot unmarshal number 1.5 into Go struct field SearchResult.results.star_count of type int"
        );
}
