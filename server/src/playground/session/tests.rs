use super::instance::Tabs;
use super::*;

fn pg(f: impl FnOnce(&mut PlaygroundOptions)) -> Arc<Playground> {
    let mut o = PlaygroundOptions::default();
    f(&mut o);
    Playground::new(o, None)
}

#[test]
fn instances_take_the_lowest_free_number() {
    let taken: BTreeSet<u32> = [1, 3].into();
    assert_eq!(lowest_free(&taken, 5), Some(2));
    assert_eq!(lowest_free(&BTreeSet::new(), 5), Some(1));
    let all: BTreeSet<u32> = (1..=5).collect();
    assert_eq!(lowest_free(&all, 5), None);
}

#[test]
fn tab_numbers_grow_and_are_never_reused() {
    let mut t = Tabs {
        next: 1,
        ..Default::default()
    };
    assert_eq!(t.reserve(2), Some(1));
    assert_eq!(t.reserve(2), Some(2));
    assert_eq!(t.reserve(2), None);
    // Tab 1 failed to start, so there is room again, but not its number.
    t.starting -= 1;
    assert_eq!(t.reserve(2), Some(3));
}

#[test]
fn sessions_have_url_safe_ids_and_tokens_and_check_them() {
    let p = pg(|_| {});
    let c = p.create_session(None).unwrap();
    assert!(shared::playground::is_url_safe_id(&c.id));
    assert!(shared::playground::is_url_safe_id(&c.token));
    assert!(p.authorize(&c.id, Some(&c.token)).is_ok());
    let e = p.authorize(&c.id, Some("nope")).unwrap_err();
    assert_eq!(e.status, StatusCode::UNAUTHORIZED);
    assert_eq!(close_code_for(&e), close_code::UNAUTHORIZED);
    let e = p.authorize(&c.id, None).unwrap_err();
    assert_eq!(e.status, StatusCode::UNAUTHORIZED);
    let e = p.authorize("nosuch", Some(&c.token)).unwrap_err();
    assert_eq!(close_code_for(&e), close_code::NOT_FOUND);
}

#[test]
fn the_access_code_is_required_when_set() {
    let p = pg(|o| o.access_code = Some("dock".into()));
    for wrong in [None, Some("Dock"), Some("")] {
        let e = p.create_session(wrong).unwrap_err();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert_eq!(e.message, shared::playground::WRONG_CODE_MESSAGE);
    }
    assert!(p.create_session(Some(" dock ")).is_ok());
}

#[test]
fn a_full_server_answers_politely_with_503() {
    let p = pg(|o| o.max_sessions = 2);
    p.create_session(None).unwrap();
    assert!(p.accepting());
    p.create_session(None).unwrap();
    assert!(!p.accepting());
    let e = p.create_session(None).unwrap_err();
    assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(e.message, shared::playground::FULL_MESSAGE);
}

#[tokio::test]
async fn a_closed_session_answers_gone_and_tells_its_readers() {
    let p = pg(|_| {});
    let c = p.create_session(None).unwrap();
    let s = p.authorize(&c.id, Some(&c.token)).unwrap();
    let mut rx = s.subscribe();
    p.close_session(&c.id, CloseReason::Deleted).await;
    assert_eq!(
        rx.recv().await.unwrap(),
        SessionEvent::Closed {
            reason: CloseReason::Deleted
        }
    );
    let e = p.authorize(&c.id, Some(&c.token)).unwrap_err();
    assert_eq!(e.status, StatusCode::GONE);
    assert_eq!(close_code_for(&e), close_code::GONE);
    assert_eq!(p.session_count(), 0);
}

#[test]
fn the_clock_warns_once_then_ends_sessions() {
    let p = pg(|o| {
        o.session_ttl = 3600;
        o.idle_timeout = 600;
        o.warn_before = 60;
    });
    let c = p.create_session(None).unwrap();
    let s = p.authorize(&c.id, Some(&c.token)).unwrap();
    let t0 = s.created;
    assert_eq!(p.due(&s, t0 + 10), (None, vec![]));
    let (close, notes) = p.due(&s, t0 + 550);
    assert_eq!(close, None);
    assert_eq!(
        notes,
        vec![SessionEvent::Expiring {
            secs_left: 50,
            idle: true
        }]
    );
    assert_eq!(p.due(&s, t0 + 560), (None, vec![]));
    assert_eq!(p.due(&s, t0 + 600).0, Some(CloseReason::Idle));
    // Activity starts the idle time again, and a later warning may come.
    s.touch();
    let t1 = s.last_active();
    assert_eq!(p.due(&s, t1 + 100).0, None);
    assert_eq!(p.due(&s, t1 + 545).1.len(), 1);
    assert_eq!(p.due(&s, s.expires_at).0, Some(CloseReason::Expired));
}

#[test]
fn the_ttl_warning_comes_when_the_end_is_near() {
    let p = pg(|o| {
        o.session_ttl = 100;
        o.idle_timeout = 0;
        o.warn_before = 30;
    });
    let c = p.create_session(None).unwrap();
    let s = p.authorize(&c.id, Some(&c.token)).unwrap();
    let (_, notes) = p.due(&s, s.created + 80);
    assert_eq!(
        notes,
        vec![SessionEvent::Expiring {
            secs_left: 20,
            idle: false
        }]
    );
    assert!(p.due(&s, s.created + 90).1.is_empty());
}
