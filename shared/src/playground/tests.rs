use super::*;

#[test]
fn port_hosts_parse_and_keys_are_per_port() {
    use routes::*;
    let label = port_host_label("abc123xyz0", "node1", 8080);
    assert_eq!(label, "node1-8080-abc123xyz0");
    for host in [
        "node1-8080-abc123xyz0.localhost:8080",
        "NODE1-8080-ABC123XYZ0.Play.Example.org",
        "node1-8080-abc123xyz0.play.example.org.",
    ] {
        let domain = if host.contains("localhost") {
            "localhost"
        } else {
            "play.example.org"
        };
        assert_eq!(
            parse_port_host(host, domain),
            Some(("abc123xyz0".into(), "node1".into(), 8080)),
            "{host}"
        );
    }
    for host in [
        "localhost:8080",
        "node1-8080-abc.other.org",
        "x.node1-8080-abc.localhost",
        "node1-0-abc.localhost",
        "node1-abc.localhost",
        "evil.localhost.attacker.org",
    ] {
        assert_eq!(parse_port_host(host, "localhost"), None, "{host}");
    }
    let k = port_key("tok", &label);
    assert_eq!(k.len(), 32);
    assert_ne!(k, port_key("tok", "node1-8081-abc123xyz0"));
    assert_ne!(k, port_key("other", &label));
    assert_eq!(
        port_host_url(
            "http:",
            "localhost",
            "8080",
            "abc123xyz0",
            "tok",
            "node1",
            8080
        ),
        format!("http://node1-8080-abc123xyz0.localhost:8080/?dh_port_key={k}")
    );
}
use serde_json::json;

#[test]
fn output_frames_round_trip_with_their_offset() {
    for (offset, data) in [
        (0u64, &b""[..]),
        (7, b"hello"),
        (u64::MAX - 3, b"abc"),
        (1 << 40, &[0u8, 0xff, 0x1b, b'['][..]),
    ] {
        let bytes = encode_output(offset, data);
        assert_eq!(bytes.len(), OUTPUT_HEADER_LEN + data.len());
        let frame = decode_output(&bytes).unwrap();
        assert_eq!(frame.offset, offset);
        assert_eq!(frame.data, data);
    }
}

#[test]
fn output_header_is_tag_then_big_endian_offset() {
    assert_eq!(
        encode_output(0x0102, b"x"),
        vec![OUTPUT_TAG, 0, 0, 0, 0, 0, 0, 1, 2, b'x']
    );
}

#[test]
fn short_or_foreign_frames_are_errors() {
    assert_eq!(decode_output(&[]), Err(FrameError::Truncated(0)));
    assert_eq!(
        decode_output(&[OUTPUT_TAG, 0, 0]),
        Err(FrameError::Truncated(3))
    );
    let mut bytes = encode_output(1, b"x");
    bytes[0] = 0x7f;
    assert_eq!(decode_output(&bytes), Err(FrameError::UnknownTag(0x7f)));
}

#[test]
fn cursor_passes_contiguous_output_and_advances() {
    let mut c = OutputCursor::new();
    let a = encode_output(0, b"abc");
    let b = encode_output(3, b"def");
    assert_eq!(c.accept(decode_output(&a).unwrap()).unwrap(), b"abc");
    assert_eq!(c.accept(decode_output(&b).unwrap()).unwrap(), b"def");
    assert_eq!(c.received(), 6);
}

#[test]
fn cursor_drops_repeats_and_keeps_only_the_new_tail_of_an_overlap() {
    let mut c = OutputCursor::new();
    c.reset(10);
    let old = encode_output(4, b"012345");
    assert_eq!(c.accept(decode_output(&old).unwrap()).unwrap(), b"");
    let overlap = encode_output(8, b"89ABCD");
    assert_eq!(c.accept(decode_output(&overlap).unwrap()).unwrap(), b"ABCD");
    assert_eq!(c.received(), 14);
    let empty = encode_output(14, b"");
    assert_eq!(c.accept(decode_output(&empty).unwrap()).unwrap(), b"");
    assert_eq!(c.received(), 14);
}

#[test]
fn cursor_reports_a_hole_without_moving() {
    let mut c = OutputCursor::new();
    let ahead = encode_output(5, b"x");
    assert_eq!(
        c.accept(decode_output(&ahead).unwrap()),
        Err(Gap {
            expected: 0,
            got: 5
        })
    );
    assert_eq!(c.received(), 0);
}

#[test]
fn replay_from_a_buffered_offset_sends_exactly_the_missing_bytes() {
    let mut r = ReplayBuffer::new(100);
    assert_eq!(r.push(b"hello "), 0);
    assert_eq!(r.push(b"world"), 6);
    let replay = r.replay_from(6);
    assert_eq!(replay.reset, None);
    assert_eq!((replay.offset, &replay.data[..]), (6, &b"world"[..]));
    // Boundaries: the very start and the very end are both buffered.
    assert_eq!(r.replay_from(0).data, b"hello world");
    let at_end = r.replay_from(11);
    assert_eq!((at_end.reset, at_end.data.len()), (None, 0));
    assert!(at_end.frames().is_empty());
}

#[test]
fn replay_from_an_evicted_or_future_offset_resets_to_the_buffer_start() {
    let mut r = ReplayBuffer::new(8);
    r.push(b"0123456789abcdef"); // no newline: plain eviction
    assert_eq!((r.start(), r.end()), (8, 16));
    let old = r.replay_from(7);
    assert_eq!(old.reset, Some(8));
    assert_eq!((old.offset, &old.data[..]), (8, &b"89abcdef"[..]));
    assert_eq!(r.replay_from(8).reset, None);
    let future = r.replay_from(17);
    assert_eq!(future.reset, Some(8));
    assert_eq!(future.data, b"89abcdef");
}

#[test]
fn eviction_moves_the_start_to_a_line_boundary() {
    let mut r = ReplayBuffer::new(6);
    r.push(b"aaaa\nbbbb\ncc");
    // 12 bytes, capacity 6: dropping 6 would start at "bbb\ncc", mid-line, so
    // the start moves on past the next newline.
    assert_eq!((r.start(), r.end()), (10, 12));
    assert_eq!(r.replay_from(0).data, b"cc");
}

#[test]
fn eviction_that_ends_on_a_newline_keeps_the_next_line() {
    let mut r = ReplayBuffer::new(10);
    r.push(b"aaaa\nbbbb\ncccc\n");
    assert_eq!((r.start(), r.end()), (5, 15));
    assert_eq!(r.replay_from(0).data, b"bbbb\ncccc\n");
}

#[test]
fn client_and_server_agree_across_a_reconnect() {
    let mut server = ReplayBuffer::new(1024);
    let mut client = OutputCursor::new();
    let mut screen = Vec::new();
    let live = |server: &mut ReplayBuffer, data: &[u8]| {
        let offset = server.push(data);
        encode_output(offset, data)
    };
    let f1 = live(&mut server, b"$ ls\r\n");
    screen.extend_from_slice(client.accept(decode_output(&f1).unwrap()).unwrap());
    // The connection drops: these two are produced while nobody listens.
    live(&mut server, b"a b c\r\n");
    live(&mut server, b"$ ");
    let replay = server.replay_from(client.received());
    assert_eq!(replay.reset, None);
    for frame in replay.frames() {
        screen.extend_from_slice(client.accept(decode_output(&frame).unwrap()).unwrap());
    }
    // A live frame the server also sent before the client subscribed repeats.
    let repeat = encode_output(6, b"a b c\r\n$ ");
    screen.extend_from_slice(client.accept(decode_output(&repeat).unwrap()).unwrap());
    assert_eq!(screen, b"$ ls\r\na b c\r\n$ ");
    assert_eq!(client.received(), server.end());
}

#[test]
fn replay_frames_are_chunked_with_running_offsets() {
    let mut r = ReplayBuffer::new(3 * MAX_OUTPUT_CHUNK);
    let data = vec![b'x'; 2 * MAX_OUTPUT_CHUNK + 5];
    r.push(&data);
    let frames = r.replay_from(3).frames();
    let decoded: Vec<_> = frames.iter().map(|f| decode_output(f).unwrap()).collect();
    assert_eq!(decoded.len(), 3);
    assert_eq!(decoded[0].offset, 3);
    assert_eq!(decoded[1].offset, 3 + MAX_OUTPUT_CHUNK as u64);
    assert_eq!(decoded[2].end(), r.end());
}

#[test]
fn session_events_are_tagged_json() {
    let ev = SessionEvent::Expiring {
        secs_left: 60,
        idle: false,
    };
    assert_eq!(
        serde_json::to_value(&ev).unwrap(),
        json!({"type": "expiring", "secs_left": 60, "idle": false})
    );
    let closed: SessionEvent =
        serde_json::from_value(json!({"type": "closed", "reason": "idle"})).unwrap();
    assert_eq!(
        closed,
        SessionEvent::Closed {
            reason: CloseReason::Idle
        }
    );
}

#[test]
fn instance_state_event_round_trips_with_port_links() {
    let ev = SessionEvent::InstanceState(InstanceState {
        instance: "node1".into(),
        containers: vec![ContainerRow {
            id: "0123456789ab".into(),
            name: "web".into(),
            image: "nginx".into(),
            state: "running".into(),
            status: "Up 3 seconds".into(),
            ports: vec![PortLink {
                private: 80,
                public: Some(8080),
                proto: Proto::Tcp,
                url: Some(routes::port_url("abc", "node1", 8080)),
            }],
        }],
        images: vec![ImageRow {
            id: "fedcba987654".into(),
            tags: vec!["nginx:latest".into()],
            size: 1234,
            created: 1,
        }],
        networks: vec![NetworkRow {
            id: "n1".into(),
            name: "bridge".into(),
            driver: "bridge".into(),
            subnet: Some("172.17.0.0/16".into()),
        }],
        volumes: vec![VolumeRow {
            name: "data".into(),
            driver: "local".into(),
        }],
    });
    let text = serde_json::to_string(&ev).unwrap();
    assert!(text.starts_with(r#"{"type":"instance_state","instance":"node1""#));
    assert_eq!(serde_json::from_str::<SessionEvent>(&text).unwrap(), ev);
}

#[test]
fn session_event_carries_the_whole_session() {
    let info = SessionInfo {
        id: "abc".into(),
        created: 100,
        expires_at: 3700,
        server_time: 160,
        max_instances: 5,
        instances: vec![InstanceInfo {
            name: "node1".into(),
            hostname: "node1".into(),
            ip: "10.0.0.11".into(),
            created: 101,
            terminals: vec![1, 2],
        }],
    };
    let text = serde_json::to_string(&SessionEvent::Session(info.clone())).unwrap();
    assert_eq!(
        serde_json::from_str::<SessionEvent>(&text).unwrap(),
        SessionEvent::Session(info.clone())
    );
    assert_eq!(info.instance("node1").unwrap().terminals, vec![1, 2]);
    assert!(info.instance("node2").is_none());
}

#[test]
fn terminal_control_messages_are_tagged_json() {
    assert_eq!(
        serde_json::to_string(&TerminalCommand::Resize { cols: 80, rows: 24 }).unwrap(),
        r#"{"type":"resize","cols":80,"rows":24}"#
    );
    assert_eq!(
        serde_json::from_str::<TerminalEvent>(r#"{"type":"reset","start":42}"#).unwrap(),
        TerminalEvent::Reset { start: 42 }
    );
    assert_eq!(
        serde_json::from_str::<TerminalEvent>(r#"{"type":"exited","code":0}"#).unwrap(),
        TerminalEvent::Exited { code: Some(0) }
    );
}

#[test]
fn config_fills_optional_fields_with_defaults() {
    let cfg: PlaygroundConfig = serde_json::from_value(json!({
        "access_code_required": true,
        "max_instances": 5,
        "session_ttl_secs": 14400,
        "idle_timeout_secs": 1800,
        "upload_limit_bytes": 10485760
    }))
    .unwrap();
    assert_eq!(cfg.title, "Dockhand");
    assert!(cfg.accepting_sessions);
    assert_eq!(cfg.max_terminals_per_instance, 4);
    let create: CreateSession = serde_json::from_str("{}").unwrap();
    assert_eq!(create.access_code, None);
}

#[test]
fn routes_are_the_documented_paths() {
    assert_eq!(routes::session("s1"), "/api/sessions/s1");
    assert_eq!(
        routes::terminal_ws("s1", "node2", 3, "tok", 1024),
        "/api/sessions/s1/instances/node2/terminals/3?token=tok&offset=1024"
    );
    assert_eq!(
        routes::session_ws("s1", "tok"),
        "/api/sessions/s1/ws?token=tok"
    );
    assert_eq!(
        routes::upload("s1", "node1", 2, "my file&.txt", false),
        "/api/sessions/s1/instances/node1/upload?terminal=2&name=my%20file%26.txt&tar=0"
    );
    assert_eq!(routes::port_url("s1", "node1", 8080), "/s/s1/node1/8080/");
    assert_eq!(routes::ws_url("https:", "h:8", "/x"), "wss://h:8/x");
    assert_eq!(routes::ws_url("http:", "h", "/x"), "ws://h/x");
}

#[test]
fn share_links_parse_back_and_reject_foreign_hashes() {
    let path = routes::share_path("abc-1", "T0k_en");
    assert_eq!(path, "/#/s/abc-1/T0k_en");
    let hash = &path[1..];
    assert_eq!(
        routes::parse_share_fragment(hash),
        Some(("abc-1".into(), "T0k_en".into()))
    );
    assert_eq!(
        routes::parse_share_fragment("/s/a/b/"),
        Some(("a".into(), "b".into()))
    );
    for bad in [
        "",
        "#/",
        "#/s/abc",
        "#/s//tok",
        "#/s/a/b/c",
        "#/s/a b/t",
        "#/x/a/b",
    ] {
        assert_eq!(routes::parse_share_fragment(bad), None, "{bad:?}");
    }
}

#[test]
fn query_values_are_percent_encoded_bytewise() {
    assert_eq!(encode_query_value("a-b_c.d~e"), "a-b_c.d~e");
    assert_eq!(encode_query_value("ä/?"), "%C3%A4%2F%3F");
}

#[test]
fn only_reconnectable_close_codes_are_retried() {
    assert!(close_code::is_final(close_code::UNAUTHORIZED));
    assert!(close_code::is_final(close_code::GONE));
    assert!(!close_code::is_final(close_code::ABNORMAL));
    assert!(!close_code::is_final(close_code::GOING_AWAY));
}
