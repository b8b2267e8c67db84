//! Session-level tests against a scripted fake member: event/response ordering, watch
//! re-registration after a reconnect, expiry by the ensemble and local expiry.
use std::net::SocketAddr;
use std::time::Duration;

use futures::{FutureExt, SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::codec::Framed;

use super::*;
use crate::codec;
use crate::CreateMode;

type Conn = Framed<TcpStream, codec::FrameCodec>;

const SESSION: u64 = 0x42;
const WAIT: Duration = Duration::from_secs(5);
/// The zxid the fake member says created the session.
const CREATED_AT: u64 = 7;

fn config(addr: SocketAddr, timeout_ms: u64) -> ClientConfig {
    ClientConfig::new([addr.to_string()])
        .session_timeout(Duration::from_millis(timeout_ms))
        .connect_timeout(Duration::from_millis(500))
}

async fn recv(conn: &mut Conn) -> pb::ClientFrame {
    let buf = tokio::time::timeout(WAIT, conn.next())
        .await
        .expect("client frame in time")
        .expect("connection open")
        .expect("frame");
    codec::decode_frame::<pb::ClientFrame>(&buf).expect("decodable client frame")
}

async fn send(conn: &mut Conn, frame: pb::ServerFrame) {
    conn.send(codec::encode(&frame)).await.expect("send");
}

/// Accepts a connection and answers its handshake; returns the connect request.
async fn accept(
    listener: &TcpListener,
    timeout_ms: u32,
    err: pb::ErrorCode,
) -> (Conn, pb::ConnectRequest) {
    accept_then(listener, timeout_ms, err, Vec::new()).await
}

/// Like [`accept`], writing `extra` frames in the same flush as the handshake answer.
async fn accept_then(
    listener: &TcpListener,
    timeout_ms: u32,
    err: pb::ErrorCode,
    extra: Vec<pb::ServerFrame>,
) -> (Conn, pb::ConnectRequest) {
    let (stream, _) = tokio::time::timeout(WAIT, listener.accept())
        .await
        .expect("client connects in time")
        .expect("accept");
    let mut conn = codec::framed(stream, codec::DEFAULT_MAX_FRAME);
    let req = match recv(&mut conn).await.kind {
        Some(pb::ClientFrame_oneof_kind::connect(c)) => c,
        other => panic!("expected connect, got {other:?}"),
    };
    let mut resp = pb::ConnectResponse::new();
    resp.protocol_version = codec::PROTOCOL_VERSION;
    resp.err = err;
    resp.session_id = SESSION;
    resp.password = b"pw".to_vec();
    resp.timeout_ms = timeout_ms;
    resp.server_id = 1;
    // A member far ahead: must not become the client's last seen zxid.
    resp.zxid = 1000;
    resp.session_zxid = CREATED_AT;
    let mut frame = pb::ServerFrame::new();
    frame.set_connect(resp);
    conn.feed(codec::encode(&frame)).await.expect("feed");
    for f in extra {
        conn.feed(codec::encode(&f)).await.expect("feed");
    }
    SinkExt::<bytes::Bytes>::flush(&mut conn)
        .await
        .expect("flush");
    (conn, req)
}

/// The next request that is not a ping (pings are answered).
async fn request(conn: &mut Conn) -> pb::Request {
    loop {
        match recv(conn).await.kind {
            Some(pb::ClientFrame_oneof_kind::request(r)) if r.has_ping() => {
                let mut resp = pb::Response::new();
                resp.xid = r.xid;
                resp.set_ping(pb::PingResponse::new());
                let mut frame = pb::ServerFrame::new();
                frame.set_response(resp);
                send(conn, frame).await;
            }
            Some(pb::ClientFrame_oneof_kind::request(r)) => return r,
            other => panic!("expected a request, got {other:?}"),
        }
    }
}

async fn respond(conn: &mut Conn, xid: i64, zxid: u64, result: pb::Response_oneof_result) {
    let mut resp = pb::Response::new();
    resp.xid = xid;
    resp.zxid = zxid;
    resp.lease_ms = 2500;
    resp.result = Some(result);
    let mut frame = pb::ServerFrame::new();
    frame.set_response(resp);
    send(conn, frame).await;
}

async fn fire(conn: &mut Conn, kind: pb::EventType, path: &str, zxid: u64) {
    let mut ev = pb::WatchEvent::new();
    ev.field_type = kind;
    ev.path = path.into();
    ev.zxid = zxid;
    let mut frame = pb::ServerFrame::new();
    frame.set_event(ev);
    send(conn, frame).await;
}

fn absent() -> pb::Response_oneof_result {
    pb::Response_oneof_result::exists(pb::ExistsResponse::new())
}

fn data(bytes: &[u8]) -> pb::Response_oneof_result {
    let mut g = pb::GetDataResponse::new();
    g.data = bytes.to_vec();
    g.set_stat(pb::Stat::new());
    pb::Response_oneof_result::get_data(g)
}

async fn connected(listener: &TcpListener, timeout_ms: u32) -> (Client, Conn) {
    let addr = listener.local_addr().expect("addr");
    let connect = tokio::spawn(Client::connect_with(config(addr, u64::from(timeout_ms))));
    let (conn, req) = accept(listener, timeout_ms, pb::ErrorCode::OK).await;
    assert_eq!(req.session_id, 0);
    let client = connect.await.expect("join").expect("connect");
    (client, conn)
}

#[tokio::test]
async fn event_is_delivered_before_the_response_that_follows_it() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let (client, mut conn) = connected(&listener, 3000).await;
    assert_eq!(
        client.last_zxid(),
        0,
        "the handshake zxid is not a seen zxid"
    );

    let c = client.clone();
    let call = tokio::spawn(async move { c.exists_watch("/n").await });
    let req = request(&mut conn).await;
    assert!(req.get_exists().watch);
    respond(&mut conn, req.xid, 5, absent()).await;
    let (stat, created) = call.await.expect("join").expect("exists_watch");
    assert!(stat.is_none());

    let c = client.clone();
    let call = tokio::spawn(async move { c.get("/n").await });
    let req = request(&mut conn).await;
    fire(&mut conn, pb::EventType::NODE_CREATED, "/n", 6).await;
    respond(&mut conn, req.xid, 6, data(b"x")).await;
    call.await.expect("join").expect("get");
    // By the time the get returned, the event has been delivered.
    let event = created.now_or_never().expect("fired before the response");
    assert_eq!(
        event,
        Ok(WatchedEvent {
            kind: EventKind::NodeCreated,
            path: "/n".into(),
            zxid: 6
        })
    );
    assert_eq!(client.last_zxid(), 6);
    // Counted down from when the request was sent.
    let lease = client.lease().expect("a lease");
    assert!(lease <= Duration::from_millis(2500), "{lease:?}");
}

#[tokio::test]
async fn watches_are_reregistered_first_after_a_reconnect() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let (client, mut conn) = connected(&listener, 3000).await;
    let mut states = client.states();
    assert_eq!(states.next().await, Some(State::Connected { server_id: 1 }));

    // A data watch (get_watch), an exist watch, and a recursive persistent watch.
    let c = client.clone();
    let call = tokio::spawn(async move { c.get_watch("/d").await });
    let req = request(&mut conn).await;
    assert!(req.get_get_data().watch);
    respond(&mut conn, req.xid, 7, data(b"v")).await;
    let (_, _, data_watch) = call.await.expect("join").expect("get_watch");

    let c = client.clone();
    let call = tokio::spawn(async move { c.exists_watch("/e").await });
    let req = request(&mut conn).await;
    respond(&mut conn, req.xid, 8, absent()).await;
    let (_, exist_watch) = call.await.expect("join").expect("exists_watch");

    let c = client.clone();
    let call = tokio::spawn(async move { c.add_watch("/r", true).await });
    let req = request(&mut conn).await;
    assert_eq!(
        req.get_add_watch().mode,
        pb::AddWatchMode::PERSISTENT_RECURSIVE
    );
    respond(
        &mut conn,
        req.xid,
        9,
        pb::Response_oneof_result::add_watch(pb::AddWatchResponse::new()),
    )
    .await;
    let mut recursive = call.await.expect("join").expect("add_watch");

    // The member goes away; a request issued meanwhile waits for the reconnect.
    drop(conn);
    assert_eq!(states.next().await, Some(State::Disconnected));
    let c = client.clone();
    let queued = tokio::spawn(async move { c.get("/q").await });

    let (mut conn, hello) = accept(&listener, 3000, pb::ErrorCode::OK).await;
    assert_eq!(hello.session_id, SESSION);
    assert_eq!(hello.last_zxid_seen, 9);
    assert_eq!(states.next().await, Some(State::Connected { server_id: 1 }));

    // First the re-registration: persistent watches relative to the zxid their
    // streams are complete up to (the last answer on the lost connection), then the
    // one-shot ones relative to the last seen zxid.
    let req = request(&mut conn).await;
    let sw = req.get_set_watches();
    assert_eq!(sw.relative_zxid, 9);
    assert!(sw.data_watches.is_empty() && sw.exist_watches.is_empty());
    assert_eq!(
        sw.persistent_recursive_watches.to_vec(),
        vec!["/r".to_string()]
    );
    let persistent_xid = req.xid;
    let req = request(&mut conn).await;
    let sw = req.get_set_watches();
    assert_eq!(sw.relative_zxid, 9);
    assert_eq!(sw.data_watches.to_vec(), vec!["/d".to_string()]);
    assert_eq!(sw.exist_watches.to_vec(), vec!["/e".to_string()]);
    assert!(sw.child_watches.is_empty());
    assert!(sw.persistent_watches.is_empty());
    assert!(sw.persistent_recursive_watches.is_empty());
    respond(
        &mut conn,
        persistent_xid,
        9,
        pb::Response_oneof_result::set_watches(pb::SetWatchesResponse::new()),
    )
    .await;
    // The member fires what changed in between, then answers.
    fire(&mut conn, pb::EventType::NODE_DATA_CHANGED, "/d", 10).await;
    respond(
        &mut conn,
        req.xid,
        10,
        pb::Response_oneof_result::set_watches(pb::SetWatchesResponse::new()),
    )
    .await;
    // Then the queued request.
    let req = request(&mut conn).await;
    assert_eq!(req.get_get_data().path, "/q");
    fire(&mut conn, pb::EventType::NODE_CREATED, "/r/x", 11).await;
    respond(&mut conn, req.xid, 11, data(b"q")).await;
    assert_eq!(queued.await.expect("join").expect("get").0, b"q");

    let ev = tokio::time::timeout(WAIT, data_watch)
        .await
        .expect("in time")
        .expect("fired");
    assert_eq!((ev.kind, ev.zxid), (EventKind::NodeDataChanged, 10));
    let ev = recursive.next().await.expect("event").expect("an event");
    assert_eq!(
        (ev.kind, ev.path.as_str()),
        (EventKind::NodeCreated, "/r/x")
    );

    // remove_watches: the stream ends; the exist watch resolves on the member's
    // NO_WATCHER too (it could never fire).
    let c = client.clone();
    let call = tokio::spawn(async move {
        c.remove_watches("/r", WatcherKind::PersistentRecursive)
            .await
    });
    let req = request(&mut conn).await;
    assert_eq!(
        req.get_remove_watches().watcher_type,
        pb::WatcherType::PERSISTENT_RECURSIVE_WATCHER
    );
    respond(
        &mut conn,
        req.xid,
        12,
        pb::Response_oneof_result::remove_watches(pb::RemoveWatchesResponse::new()),
    )
    .await;
    call.await.expect("join").expect("remove_watches");
    assert_eq!(
        recursive.next().await,
        Some(Err(Error::WatchRemoved { path: "/r".into() }))
    );
    assert_eq!(recursive.next().await, None);

    let c = client.clone();
    let call = tokio::spawn(async move { c.remove_watches("/e", WatcherKind::Data).await });
    let req = request(&mut conn).await;
    let mut resp = pb::Response::new();
    resp.xid = req.xid;
    resp.zxid = 12;
    resp.err = pb::ErrorCode::NO_WATCHER;
    let mut frame = pb::ServerFrame::new();
    frame.set_response(resp);
    send(&mut conn, frame).await;
    let err = call.await.expect("join").expect_err("no watcher");
    assert_eq!(err.code(), Code::NoWatcher);
    let ev = exist_watch
        .now_or_never()
        .expect("resolved")
        .expect("event");
    assert_eq!(ev.kind, EventKind::DataWatchRemoved);
}

#[tokio::test]
async fn refused_reregistration_ends_the_watch_with_the_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let (client, mut conn) = connected(&listener, 3000).await;
    let c = client.clone();
    let call = tokio::spawn(async move { c.add_watch("/p", false).await });
    let req = request(&mut conn).await;
    respond(
        &mut conn,
        req.xid,
        3,
        pb::Response_oneof_result::add_watch(pb::AddWatchResponse::new()),
    )
    .await;
    let mut stream = call.await.expect("join").expect("add_watch");
    drop(conn);
    let (mut conn, _) = accept(&listener, 3000, pb::ErrorCode::OK).await;
    let req = request(&mut conn).await;
    assert_eq!(
        req.get_set_watches().persistent_watches.to_vec(),
        vec!["/p"]
    );
    let mut resp = pb::Response::new();
    resp.xid = req.xid;
    resp.err = pb::ErrorCode::QUOTA_EXCEEDED;
    resp.message = "too many watches".into();
    let mut frame = pb::ServerFrame::new();
    frame.set_response(resp);
    send(&mut conn, frame).await;
    let ended = tokio::time::timeout(WAIT, stream.next())
        .await
        .expect("in time");
    assert!(
        matches!(&ended, Some(Err(e)) if e.code() == Code::QuotaExceeded),
        "{ended:?}"
    );
    assert_eq!(stream.next().await, None);
    assert!(matches!(client.state(), State::Connected { .. }));
}

/// Finding 7 of the session-safety review: a member that has not applied a brand-new
/// session's creation must not be asked to resume it (it would call it expired, which
/// is final). Before any response, the client's last seen zxid is 0, so the resume must
/// carry the creation zxid.
#[tokio::test]
async fn a_resume_before_any_response_asks_for_the_zxid_that_created_the_session() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let client = {
        let cfg = config(listener.local_addr().expect("addr"), 3000);
        let connect = tokio::spawn(Client::connect_with(cfg));
        let (conn, first) = accept(&listener, 3000, pb::ErrorCode::OK).await;
        assert_eq!(first.session_id, 0);
        let client = connect.await.expect("join").expect("connect");
        drop(conn);
        client
    };
    let (_conn, resume) = accept(&listener, 3000, pb::ErrorCode::OK).await;
    assert_eq!(resume.session_id, SESSION);
    assert_eq!(client.last_zxid(), 0, "no response seen yet");
    assert_eq!(resume.last_zxid_seen, CREATED_AT);
}

#[tokio::test]
async fn expired_on_reconnect_fails_watches_and_calls() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let (client, mut conn) = connected(&listener, 3000).await;
    let c = client.clone();
    let call = tokio::spawn(async move { c.get_watch("/d").await });
    let req = request(&mut conn).await;
    respond(&mut conn, req.xid, 4, data(b"v")).await;
    let (_, _, watch) = call.await.expect("join").expect("get_watch");
    let mut states = client.states();
    drop(conn);
    let (_conn, _) = accept(&listener, 3000, pb::ErrorCode::SESSION_EXPIRED).await;
    assert_eq!(
        tokio::time::timeout(WAIT, watch).await.expect("in time"),
        Err(Error::SessionExpired)
    );
    let seen: Vec<State> = tokio::time::timeout(WAIT, (&mut states).collect::<Vec<_>>())
        .await
        .expect("stream ends");
    assert_eq!(seen.last(), Some(&State::Expired));
    assert_eq!(client.get("/x").await, Err(Error::SessionExpired));
}

#[tokio::test]
async fn unreachable_for_the_session_timeout_expires_locally() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let (client, conn) = connected(&listener, 600).await;
    let mut states = client.states();
    assert_eq!(states.next().await, Some(State::Connected { server_id: 1 }));
    // Nobody listens any more: every reconnect attempt fails.
    drop(listener);
    drop(conn);
    let started = std::time::Instant::now();
    assert_eq!(states.next().await, Some(State::Disconnected));
    let c = client.clone();
    let waiting = tokio::spawn(async move { c.get("/x").await });
    assert_eq!(
        tokio::time::timeout(WAIT, states.next()).await,
        Ok(Some(State::Expired))
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(states.next().await, None);
    assert_eq!(waiting.await.expect("join"), Err(Error::SessionExpired));
}

#[tokio::test]
async fn frames_sent_right_after_the_handshake_are_not_lost() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let (client, mut conn) = connected(&listener, 3000).await;
    let c = client.clone();
    let call = tokio::spawn(async move { c.exists_watch("/n").await });
    let req = request(&mut conn).await;
    respond(&mut conn, req.xid, 2, absent()).await;
    let (_, created) = call.await.expect("join").expect("exists_watch");
    drop(conn);
    let mut ev = pb::WatchEvent::new();
    ev.field_type = pb::EventType::NODE_CREATED;
    ev.path = "/n".into();
    ev.zxid = 3;
    let mut frame = pb::ServerFrame::new();
    frame.set_event(ev);
    let (_conn, _) = accept_then(&listener, 3000, pb::ErrorCode::OK, vec![frame]).await;
    let ev = tokio::time::timeout(WAIT, created)
        .await
        .expect("in time")
        .expect("fired");
    assert_eq!((ev.kind, ev.zxid), (EventKind::NodeCreated, 3));
}

fn created(path: &str) -> pb::Response_oneof_result {
    let mut c = pb::CreateResponse::new();
    c.path = path.into();
    c.set_stat(pb::Stat::new());
    pb::Response_oneof_result::create(c)
}

async fn respond_err(conn: &mut Conn, xid: i64, err: pb::ErrorCode) {
    let mut resp = pb::Response::new();
    resp.xid = xid;
    resp.err = err;
    let mut frame = pb::ServerFrame::new();
    frame.set_response(resp);
    send(conn, frame).await;
}

fn spawn_create(client: &Client, path: &'static str) -> tokio::task::JoinHandle<Result<String>> {
    let c = client.clone();
    tokio::spawn(async move { c.create(path, b"", CreateMode::PersistentSequential).await })
}

#[tokio::test]
async fn writes_in_flight_are_resent_unchanged_and_in_order_after_a_connection_loss() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let (client, mut conn) = connected(&listener, 3000).await;
    let mut calls = Vec::new();
    let mut sent = Vec::new();
    for path in ["/q-", "/r-", "/s-"] {
        calls.push(spawn_create(&client, path));
        // One at a time, so the order of the calls is the order of the writes.
        sent.push(request(&mut conn).await);
    }
    assert_eq!(sent[0].prev_write_xid, 0, "the session's first write");
    assert_eq!(sent[1].prev_write_xid, sent[0].xid);
    assert_eq!(sent[2].prev_write_xid, sent[1].xid);
    assert!(sent
        .iter()
        .all(|r| r.oldest_pending_write_xid == sent[0].xid));
    respond(&mut conn, sent[0].xid, 10, created("/q-0")).await;
    let first = tokio::time::timeout(WAIT, calls.remove(0)).await;
    assert_eq!(
        first.expect("in time").expect("join"),
        Ok("/q-0".to_string())
    );
    // The connection dies with two writes unanswered: both come again, unchanged.
    drop(conn);
    let (mut conn, _) = accept(&listener, 3000, pb::ErrorCode::OK).await;
    assert_eq!(request(&mut conn).await, sent[1]);
    assert_eq!(request(&mut conn).await, sent[2]);
    respond(&mut conn, sent[1].xid, 11, created("/r-0")).await;
    respond(&mut conn, sent[2].xid, 12, created("/s-0")).await;
    for (call, path) in calls.into_iter().zip(["/r-0", "/s-0"]) {
        let got = tokio::time::timeout(WAIT, call).await.expect("in time");
        assert_eq!(
            got.expect("join"),
            Ok(path.to_string()),
            "no ConnectionLoss"
        );
    }
    // The next write follows the last one, and nothing older is pending.
    let next = spawn_create(&client, "/t-");
    let r = request(&mut conn).await;
    assert_eq!(r.prev_write_xid, sent[2].xid);
    assert_eq!(r.oldest_pending_write_xid, r.xid);
    respond(&mut conn, r.xid, 13, created("/t-0")).await;
    assert!(next.await.expect("join").is_ok());
}

#[tokio::test]
async fn a_write_the_member_could_not_pass_on_is_resent_on_the_next_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let (client, mut conn) = connected(&listener, 3000).await;
    for err in [
        pb::ErrorCode::NOT_READY,
        pb::ErrorCode::PREVIOUS_WRITE_MISSING,
        pb::ErrorCode::OPERATION_TIMEOUT,
    ] {
        let call = spawn_create(&client, "/q-");
        let first = request(&mut conn).await;
        respond_err(&mut conn, first.xid, err).await;
        // The client leaves that member and sends the same write to the next one.
        let (next, _) = accept(&listener, 3000, pb::ErrorCode::OK).await;
        conn = next;
        let again = request(&mut conn).await;
        assert_eq!(again, first, "after {err:?}");
        respond(&mut conn, again.xid, 5, created("/q-1")).await;
        let got = tokio::time::timeout(WAIT, call).await.expect("in time");
        assert_eq!(got.expect("join"), Ok("/q-1".to_string()), "after {err:?}");
    }
}

#[tokio::test]
async fn a_write_unanswered_when_the_session_is_lost_may_have_applied() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let (client, mut conn) = connected(&listener, 600).await;
    let call = spawn_create(&client, "/q-");
    let _ = request(&mut conn).await;
    drop(listener);
    drop(conn);
    let got = tokio::time::timeout(WAIT, call).await.expect("in time");
    assert!(
        matches!(got.expect("join"), Err(Error::ConnectionLoss(_))),
        "unknown outcome, not a definite failure"
    );
    assert_eq!(client.get("/x").await, Err(Error::SessionExpired));
}
