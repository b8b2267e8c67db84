//! Watches on real ensembles: ordering against reads, one-shot semantics,
//! persistent-recursive streams, and sessions and watches that survive the loss of
//! the member a client is connected to.
mod common;

use std::time::{Duration, Instant};

use common::{client_at, raw_call, raw_next, raw_session, Ensemble};
use futures::{FutureExt, SinkExt, StreamExt};
use paddock::codec;
use paddock::proto::paddock as pb;
use paddock::{Client, ClientConfig, CreateMode, EventKind};

const T: Duration = Duration::from_secs(30);
const TICK: &[&str] = &["--session-tick-ms", "200"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_event_comes_before_a_read_that_sees_the_change() {
    let e = Ensemble::start(3, TICK);
    let leader = e.wait_leader(T);
    let reader_at = (leader + 1) % 3;
    let writer_at = (leader + 2) % 3;
    let reader = client_at(&e.members[reader_at].client, T).await;
    let writer = client_at(&e.members[writer_at].client, T).await;
    writer
        .create("/w", b"0", CreateMode::Persistent)
        .await
        .expect("create");
    reader.sync("/").await.expect("sync");
    for round in 1..=20 {
        let (_, _, mut fired) = reader.get_watch("/w").await.expect("get_watch");
        let value = round.to_string();
        writer.set("/w", value.as_bytes(), None).await.expect("set");
        // Poll the reader's member until it serves the new value: by then the event
        // must already have been delivered.
        let deadline = Instant::now() + T;
        loop {
            let (data, _) = reader.get("/w").await.expect("get");
            if data == value.as_bytes() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the change never reached the reader's member"
            );
        }
        let ev = (&mut fired)
            .now_or_never()
            .expect("event delivered before the read's answer")
            .expect("event");
        assert_eq!(
            (ev.kind, ev.path.as_str()),
            (EventKind::NodeDataChanged, "/w")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_shot_watch_fires_exactly_once() {
    let e = Ensemble::start(1, TICK);
    e.wait_leader(T);
    let c = client_at(&e.members[0].client, T).await;
    c.create("/once", b"", CreateMode::Persistent)
        .await
        .expect("create");
    let mut framed = raw_session(&e.members[0].client, 4000).await;
    let mut g = pb::GetDataRequest::new();
    g.path = "/once".into();
    g.watch = true;
    let answer = raw_call(&mut framed, 1, pb::Request_oneof_op::get_data(g)).await;
    assert_eq!(answer.err, pb::ErrorCode::OK);
    for i in 0..3 {
        c.set("/once", format!("{i}").as_bytes(), None)
            .await
            .expect("set");
    }
    // Then a ping: everything the member sends before its answer is what fired.
    let mut req = pb::Request::new();
    req.xid = 2;
    req.set_ping(pb::PingRequest::new());
    let mut f = pb::ClientFrame::new();
    f.set_request(req);
    framed.send(codec::encode(&f)).await.expect("send");
    let mut events = Vec::new();
    loop {
        match raw_next(&mut framed).await.kind {
            Some(pb::ServerFrame_oneof_kind::event(ev)) => events.push(ev),
            Some(pb::ServerFrame_oneof_kind::response(r)) if r.xid == 2 => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].field_type, pb::EventType::NODE_DATA_CHANGED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_recursive_watch_sees_every_change_below_in_order() {
    let e = Ensemble::start(3, TICK);
    e.wait_leader(T);
    let watcher = client_at(&e.members[0].client, T).await;
    let writer = client_at(&e.members[1].client, T).await;
    writer
        .create("/tree", b"", CreateMode::Persistent)
        .await
        .expect("create");
    watcher.sync("/").await.expect("sync");
    let mut stream = watcher.add_watch("/tree", true).await.expect("add_watch");
    let mut expected = Vec::new();
    for i in 0..10 {
        let p = format!("/tree/n{i}");
        writer
            .create(&p, b"", CreateMode::Persistent)
            .await
            .expect("create");
        expected.push((EventKind::NodeCreated, p.clone()));
        writer
            .create(&format!("{p}/leaf"), b"", CreateMode::Persistent)
            .await
            .expect("create");
        expected.push((EventKind::NodeCreated, format!("{p}/leaf")));
        writer
            .set(&format!("{p}/leaf"), b"x", None)
            .await
            .expect("set");
        expected.push((EventKind::NodeDataChanged, format!("{p}/leaf")));
        writer
            .delete(&format!("{p}/leaf"), None)
            .await
            .expect("delete");
        expected.push((EventKind::NodeDeleted, format!("{p}/leaf")));
    }
    writer
        .create("/elsewhere", b"", CreateMode::Persistent)
        .await
        .expect("outside");
    let mut got = Vec::new();
    let mut last_zxid = 0;
    while got.len() < expected.len() {
        let ev = tokio::time::timeout(T, stream.next())
            .await
            .expect("in time")
            .expect("stream open")
            .expect("an event, not the end of the watch");
        assert!(ev.zxid > last_zxid, "events in zxid order");
        last_zxid = ev.zxid;
        got.push((ev.kind, ev.path));
    }
    assert_eq!(got, expected);
    // Nothing from outside the watched subtree.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), stream.next())
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_and_watches_move_when_the_member_is_killed() {
    let mut e = Ensemble::start(3, TICK);
    e.wait_leader(T);
    // The client prefers member 1 and moves on to the others in order.
    let c = in_order_client(&e, 0, Duration::from_millis(2000)).await;
    c.create("/moving", b"", CreateMode::Persistent)
        .await
        .expect("create");
    c.create("/moving/me", b"", CreateMode::Ephemeral)
        .await
        .expect("ephemeral");
    let (_, _, data_watch) = c.get_watch("/moving").await.expect("get_watch");
    let mut stream = c.add_watch("/moving", true).await.expect("add_watch");
    let session = c.session_id();
    e.kill(0);
    // Well past the session timeout: the session lives on through another member.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(c.session_id(), session);
    assert!(!c.state().is_terminal(), "{:?}", c.state());
    let other = client_at(&e.members[2].client, T).await;
    other.sync("/").await.expect("sync");
    assert!(
        other.exists("/moving/me").await.expect("exists").is_some(),
        "the ephemeral survives"
    );
    // Watches registered before the move still fire.
    other.set("/moving", b"changed", None).await.expect("set");
    let ev = tokio::time::timeout(T, data_watch)
        .await
        .expect("in time")
        .expect("event");
    assert_eq!(
        (ev.kind, ev.path.as_str()),
        (EventKind::NodeDataChanged, "/moving")
    );
    let ev = tokio::time::timeout(T, stream.next())
        .await
        .expect("in time")
        .expect("stream")
        .expect("an event, not the end of the watch");
    assert_eq!(
        (ev.kind, ev.path.as_str()),
        (EventKind::NodeDataChanged, "/moving")
    );
    other
        .create("/moving/new", b"", CreateMode::Persistent)
        .await
        .expect("create");
    let ev = tokio::time::timeout(T, stream.next())
        .await
        .expect("in time")
        .expect("stream")
        .expect("an event, not the end of the watch");
    assert_eq!(
        (ev.kind, ev.path.as_str()),
        (EventKind::NodeCreated, "/moving/new")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_set_before_a_disconnect_fire_for_changes_made_while_away() {
    let mut e = Ensemble::start(3, TICK);
    e.wait_leader(T);
    let c = in_order_client(&e, 0, Duration::from_millis(4000)).await;
    c.create("/away", b"", CreateMode::Persistent)
        .await
        .expect("create");
    let (_, _, watch) = c.get_watch("/away").await.expect("get_watch");
    let (_, gone) = c.exists_watch("/not-yet").await.expect("exists_watch");
    // Member 1 goes away; the change happens while the client reconnects.
    e.kill(0);
    let other = client_at(&e.members[1].client, T).await;
    other.set("/away", b"while away", None).await.expect("set");
    other
        .create("/not-yet", b"", CreateMode::Persistent)
        .await
        .expect("create");
    let ev = tokio::time::timeout(T, watch)
        .await
        .expect("in time")
        .expect("event");
    assert_eq!(ev.kind, EventKind::NodeDataChanged);
    let ev = tokio::time::timeout(T, gone)
        .await
        .expect("in time")
        .expect("event");
    assert_eq!(ev.kind, EventKind::NodeCreated);
}

/// A client that tries member `first`, then the ones after it in order.
async fn in_order_client(e: &Ensemble, first: usize, session_timeout: Duration) -> Client {
    let n = e.members.len();
    let order: Vec<String> = (0..n)
        .map(|i| e.members[(first + i) % n].client.clone())
        .collect();
    let cfg = ClientConfig::new(order)
        .in_order(true)
        .session_timeout(session_timeout);
    Client::connect_with(cfg).await.expect("connect")
}

/// Changes a watched node in every way while the watcher's member is paused, and
/// returns the events a persistent and a persistent-recursive watch on `/away` must
/// see for them, in order.
async fn change_while_away(other: &Client) -> (Vec<(EventKind, String)>, Vec<(EventKind, String)>) {
    use paddock::Op;
    other.set("/away", b"1", None).await.expect("set");
    other
        .create("/away/a", b"", CreateMode::Persistent)
        .await
        .expect("create");
    // One transaction, two changes below the watched node.
    other
        .multi(&[Op::set_data("/away/a", b"2"), Op::create("/away/b", b"")])
        .await
        .expect("multi");
    other.delete("/away/a", None).await.expect("delete");
    let e = |k, p: &str| (k, p.to_string());
    let own = vec![
        e(EventKind::NodeDataChanged, "/away"),
        e(EventKind::NodeChildrenChanged, "/away"),
        e(EventKind::NodeChildrenChanged, "/away"),
        e(EventKind::NodeChildrenChanged, "/away"),
    ];
    let below = vec![
        e(EventKind::NodeDataChanged, "/away"),
        e(EventKind::NodeCreated, "/away/a"),
        e(EventKind::NodeDataChanged, "/away/a"),
        e(EventKind::NodeCreated, "/away/b"),
        e(EventKind::NodeDeleted, "/away/a"),
    ];
    (own, below)
}

/// A client on follower `f` (then the others), with a persistent and a recursive
/// watch on `/away`.
async fn watcher_on(
    e: &Ensemble,
    f: usize,
) -> (Client, paddock::WatchStream, paddock::WatchStream) {
    let c = in_order_client(e, f, Duration::from_millis(4000)).await;
    c.create("/away", b"", CreateMode::Persistent)
        .await
        .expect("create");
    let own = c.add_watch("/away", false).await.expect("add_watch");
    let below = c.add_watch("/away", true).await.expect("add_watch");
    (c, own, below)
}

/// The next `n` events of a stream, then proof that nothing else follows soon.
async fn next_events(s: &mut paddock::WatchStream, n: usize) -> Vec<(EventKind, String)> {
    let mut out = Vec::new();
    while out.len() < n {
        match tokio::time::timeout(T, s.next()).await {
            Ok(Some(Ok(ev))) => out.push((ev.kind, ev.path)),
            Ok(Some(Err(e))) => panic!("the stream ended with {e} after {out:?}"),
            Ok(None) => panic!("the stream ended after {out:?}"),
            Err(_) => panic!("only {out:?} within {T:?}"),
        }
    }
    let more = tokio::time::timeout(Duration::from_millis(500), s.next()).await;
    assert!(more.is_err(), "more than expected after {out:?}: {more:?}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_watches_get_the_changes_made_while_their_client_was_away() {
    let mut e = Ensemble::start(3, TICK);
    let leader = e.wait_leader(T);
    let f = (leader + 1) % 3;
    let (c, mut own, mut below) = watcher_on(&e, f).await;
    // The watcher's member stops: its client only notices after its read timeout,
    // well after every change below was made.
    e.pause(f);
    let other = client_at(&e.members[leader].client, T).await;
    let (want_own, want_below) = change_while_away(&other).await;
    assert_eq!(next_events(&mut own, want_own.len()).await, want_own);
    assert_eq!(next_events(&mut below, want_below.len()).await, want_below);
    // And the streams go on live.
    other.set("/away", b"3", None).await.expect("set");
    for s in [&mut own, &mut below] {
        let ev = tokio::time::timeout(T, s.next())
            .await
            .expect("in time")
            .expect("event")
            .expect("an event, not the end of the watch");
        assert_eq!(ev.kind, EventKind::NodeDataChanged);
    }
    drop(c);
    e.resume(f);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_watch_whose_missed_events_are_gone_ends_with_resync_needed() {
    // A history of one byte forgets every change at once.
    let mut args = TICK.to_vec();
    args.extend(["--watch-history-bytes", "1"]);
    let mut e = Ensemble::start(3, &args);
    let leader = e.wait_leader(T);
    let f = (leader + 1) % 3;
    let (c, mut own, mut below) = watcher_on(&e, f).await;
    e.pause(f);
    let other = client_at(&e.members[leader].client, T).await;
    change_while_away(&other).await;
    for s in [&mut own, &mut below] {
        let ev = tokio::time::timeout(T, s.next())
            .await
            .expect("in time")
            .expect("an explicit end, not silence");
        assert!(
            matches!(ev, Err(paddock::Error::ResyncNeeded { .. })),
            "{ev:?}"
        );
        let end = tokio::time::timeout(T, s.next()).await.expect("in time");
        assert!(end.is_none(), "the stream ends after resync: {end:?}");
    }
    // The session itself is fine: the client reads again and watches anew.
    assert_eq!(c.get("/away").await.expect("get").0, b"1");
    let mut fresh = c.add_watch("/away", false).await.expect("add_watch");
    other.set("/away", b"4", None).await.expect("set");
    let ev = tokio::time::timeout(T, fresh.next())
        .await
        .expect("in time")
        .expect("event")
        .expect("an event, not the end of the watch");
    assert_eq!(ev.kind, EventKind::NodeDataChanged);
    e.resume(f);
}

/// What a snapshot install does to the clients connected to the member that installs
/// it: the member cannot tell what changed, so it ends every connection; each client
/// resumes its session and re-registers its watches with the last zxid it saw. A
/// one-shot data watch fires for the change the snapshot brought; a persistent watch,
/// whose missed events the member no longer has, ends with ResyncNeeded, never in
/// silence; reads then see the snapshot's tree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_install_ends_its_members_connections_and_their_watches_are_kept() {
    // A long election timeout keeps the paused member in contact with the leader (it
    // would close its connections itself after an election timeout without a grant), so
    // the install is what ends them.
    let mut args = TICK.to_vec();
    args.extend(["--snapshot-entries", "50", "--election-ticks", "30"]);
    let mut e = Ensemble::start(3, &args);
    let leader = e.wait_leader(T);
    let f = (leader + 1) % 3;
    let cfg = ClientConfig::from_list(&e.members[f].client).session_timeout(Duration::from_secs(8));
    let c = Client::connect_with(cfg).await.expect("connect");
    let session = c.session_id();
    c.create("/snap", b"", CreateMode::Persistent)
        .await
        .expect("create");
    c.create("/snap/k", b"old", CreateMode::Persistent)
        .await
        .expect("create");
    let (_, _, fired) = c.get_watch("/snap/k").await.expect("get_watch");
    let mut below = c.add_watch("/snap", true).await.expect("add_watch");

    // While f is paused the value changes and the log moves far past a snapshot
    // interval, so f can only catch up by installing a snapshot.
    e.pause(f);
    let other = client_at(&e.members[leader].client, T).await;
    other.set("/snap/k", b"new", None).await.expect("set");
    other
        .create("/load", b"", CreateMode::Persistent)
        .await
        .expect("create");
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let other = other.clone();
            tokio::spawn(async move {
                for i in 0..50 {
                    other
                        .create(&format!("/load/w{w}-{i}"), b"x", CreateMode::Persistent)
                        .await
                        .expect("create");
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("writer");
    }
    e.resume(f);

    let ev = tokio::time::timeout(T, fired)
        .await
        .expect("the data watch fired in time")
        .expect("the data watch fired");
    assert_eq!(
        (ev.kind, ev.path.as_str()),
        (EventKind::NodeDataChanged, "/snap/k")
    );
    // The recursive stream may replay what f applied before the install; then it must
    // say that it missed the rest.
    let deadline = Instant::now() + T;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let item = tokio::time::timeout(left, below.next())
            .await
            .expect("an explicit end in time, not silence")
            .expect("an explicit end, not silence");
        match item {
            Err(paddock::Error::ResyncNeeded { .. }) => break,
            Err(e) => panic!("the stream ended otherwise: {e}"),
            Ok(ev) => assert!(ev.path.starts_with("/snap"), "{ev:?}"),
        }
    }
    let log = e.log(f);
    assert!(
        log.contains("installed a snapshot from the leader"),
        "the member caught up without a snapshot, so this run tested nothing"
    );
    // The session survived the install, and reads see the snapshot's tree.
    assert_eq!(c.session_id(), session);
    assert!(!c.state().is_terminal(), "{:?}", c.state());
    assert_eq!(c.get("/snap/k").await.expect("get").0, b"new");
    assert_eq!(c.children("/load").await.expect("children").len(), 400);
    c.close().await.expect("close");
    other.close().await.expect("close");
}
