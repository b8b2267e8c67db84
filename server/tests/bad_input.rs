//! Bad input from clients: the member answers with a clear error or closes the
//! connection, stays up, and changes nothing.
mod common;

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use paddock::codec;
use paddock::proto::paddock as pb;
use paddock::{Code, CreateMode, Op};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const T: Duration = Duration::from_secs(20);

/// Reads until the member closes the connection (bounded).
async fn expect_closed(stream: &mut TcpStream) {
    let mut buf = [0u8; 1024];
    let r = tokio::time::timeout(T, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(r.is_ok(), "the member did not close the connection");
}

/// Every node with its data and stat, walked through `c` after a `sync`: what "changes
/// nothing" compares. (A refused write still takes its place in its session's order as
/// a log entry, so the applied index moves; the tree's contents must not.)
async fn contents(
    c: &paddock::Client,
) -> std::collections::BTreeMap<String, (Vec<u8>, paddock::Stat)> {
    c.sync("/").await.expect("sync");
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec!["/".to_string()];
    while let Some(p) = todo.pop() {
        let (data, stat) = c.get(&p).await.expect("get");
        for child in c.children(&p).await.expect("children") {
            todo.push(if p == "/" {
                format!("/{child}")
            } else {
                format!("{p}/{child}")
            });
        }
        out.insert(p, (data, stat));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_an_error_and_changes_nothing() {
    let e = common::Ensemble::start(1, &[]);
    let addr = e.members[0].client.clone();
    let c = common::client_at(&addr, T).await;
    c.create("/ok", b"1", CreateMode::Persistent)
        .await
        .expect("create");
    let before = contents(&c).await;

    // An oversize frame is refused before it is read.
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    s.write_all(&(100u32 << 20).to_be_bytes())
        .await
        .expect("write");
    expect_closed(&mut s).await;
    // Before its handshake a connection may not even announce a frame of more than 64 KiB
    // (a connect request is a few dozen bytes): it is closed without waiting for the bytes.
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    s.write_all(&(64u32 * 1024 + 1).to_be_bytes())
        .await
        .expect("write");
    expect_closed(&mut s).await;

    // After the handshake, a frame of exactly the limit (4 MiB) is read and answered (a
    // value over the data limit: TOO_LARGE); one byte more closes the connection unread.
    for (extra, answered) in [(0usize, true), (1, false)] {
        let mut raw = common::raw_session(&addr, 10_000).await;
        let frame_of = |len: usize| {
            let mut sd = pb::SetDataRequest::new();
            sd.path = "/ok".into();
            sd.data = vec![7; len];
            sd.version = -1;
            let mut r = pb::Request::new();
            r.xid = 1;
            r.set_set_data(sd);
            let mut f = pb::ClientFrame::new();
            f.set_request(r);
            codec::encode(&f)
        };
        let limit = paddock_server::config::DEFAULT_MAX_REQUEST_BYTES;
        let overhead = frame_of(limit).len() - limit;
        // (The varint lengths inside are 4 bytes for both sizes, so the overhead holds.)
        let body = frame_of(limit - overhead + extra);
        assert_eq!(body.len(), limit + extra);
        let mut stream = raw.into_inner();
        stream
            .write_all(&(body.len() as u32).to_be_bytes())
            .await
            .expect("write length");
        if answered {
            stream.write_all(&body).await.expect("write body");
            raw = codec::framed(stream, 64 << 20);
            let reply = tokio::time::timeout(T, common::raw_next(&mut raw))
                .await
                .expect("answered in time");
            assert!(
                matches!(reply.kind, Some(pb::ServerFrame_oneof_kind::response(ref r)) if r.err == pb::ErrorCode::TOO_LARGE),
                "{reply:?}"
            );
        } else {
            expect_closed(&mut stream).await;
        }
    }

    // Garbage bytes instead of a connect request.
    let mut s = TcpStream::connect(&addr).await.expect("connect");
    s.write_all(&[0, 0, 0, 8, 0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff])
        .await
        .expect("write");
    expect_closed(&mut s).await;

    // A wrong protocol version is refused with a reason.
    let stream = TcpStream::connect(&addr).await.expect("connect");
    let mut framed = codec::framed(stream, 1 << 20);
    let mut cr = pb::ConnectRequest::new();
    cr.protocol_version = 999;
    let mut f = pb::ClientFrame::new();
    f.set_connect(cr);
    framed.send(codec::encode(&f)).await.expect("send");
    match common::raw_next(&mut framed).await.kind {
        Some(pb::ServerFrame_oneof_kind::connect(c)) => {
            assert_eq!(c.err, pb::ErrorCode::BAD_ARGUMENTS);
            assert!(c.message.contains("protocol version"), "{}", c.message);
        }
        other => panic!("unexpected {other:?}"),
    }

    // Invalid paths, oversize values and multis get typed errors (raw protocol, so the
    // SDK's own checks are bypassed).
    let mut raw = common::raw_session(&addr, 10_000).await;
    for (xid, bad) in ["no-slash", "/a//b", "/a/", "/a/./b", "/x\u{1}"]
        .iter()
        .enumerate()
    {
        let mut cr = pb::CreateRequest::new();
        cr.path = bad.to_string();
        let r = common::raw_call(&mut raw, xid as i64 + 1, pb::Request_oneof_op::create(cr)).await;
        assert_eq!(
            r.err,
            pb::ErrorCode::BAD_ARGUMENTS,
            "{bad:?}: {}",
            r.message
        );
    }
    let mut cr = pb::CreateRequest::new();
    cr.path = "/big".into();
    cr.data = vec![7; (1 << 20) + 1];
    let r = common::raw_call(&mut raw, 10, pb::Request_oneof_op::create(cr)).await;
    assert_eq!(r.err, pb::ErrorCode::TOO_LARGE, "{}", r.message);
    let mut m = pb::MultiRequest::new();
    for i in 0..1001 {
        let mut op = pb::MultiOp::new();
        let mut cr = pb::CreateRequest::new();
        cr.path = format!("/m{i}");
        op.set_create(cr);
        m.ops.push(op);
    }
    let r = common::raw_call(&mut raw, 11, pb::Request_oneof_op::multi(m)).await;
    assert_eq!(r.err, pb::ErrorCode::TOO_LARGE, "{}", r.message);
    let r = common::raw_call(
        &mut raw,
        12,
        pb::Request_oneof_op::check(pb::CheckVersionRequest::new()),
    )
    .await;
    assert_eq!(r.err, pb::ErrorCode::BAD_ARGUMENTS);
    let mut empty = pb::Request::new();
    empty.xid = 13;
    let mut f = pb::ClientFrame::new();
    f.set_request(empty);
    raw.send(codec::encode(&f)).await.expect("send");
    let reply = common::raw_next(&mut raw).await;
    assert!(
        matches!(reply.kind, Some(pb::ServerFrame_oneof_kind::response(ref r)) if r.err == pb::ErrorCode::BAD_ARGUMENTS)
    );
    // A malformed frame after the handshake closes that connection.
    raw.send(bytes::Bytes::from_static(&[0xff, 0xff, 0xff]))
        .await
        .expect("send");
    assert!(matches!(
        tokio::time::timeout(T, raw.next()).await,
        Ok(None) | Ok(Some(Err(_)))
    ));

    // The SDK refuses invalid paths before sending.
    let err = c
        .create("/a//b", b"", CreateMode::Persistent)
        .await
        .expect_err("bad path");
    assert_eq!(err.code(), Code::BadArguments);
    let err = c
        .multi(&[Op::create("/m/", b"")])
        .await
        .expect_err("bad multi");
    assert_eq!(err.code(), Code::BadArguments);

    // The member is still up and the tree holds exactly what it held, stats included.
    let (data, _) = c.get("/ok").await.expect("still serving");
    assert_eq!(data, b"1");
    assert_eq!(contents(&c).await, before);
}

/// Random frames, before and after a valid handshake, from many connections: the member
/// answers or closes each one, stays up and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_frames_never_hurt_the_member() {
    use rand::{Rng, SeedableRng};
    let e = common::Ensemble::start(1, &[]);
    let addr = e.members[0].client.clone();
    let c = common::client_at(&addr, T).await;
    c.create("/keep", b"v", CreateMode::Persistent)
        .await
        .expect("create");
    let before = contents(&c).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    for round in 0..200u32 {
        let len = rng.gen_range(0..512);
        let mut body = vec![0u8; len];
        rng.fill(&mut body[..]);
        let after_handshake = round % 2 == 1;
        let mut framed = if after_handshake {
            common::raw_session(&addr, 10_000).await
        } else {
            codec::framed(TcpStream::connect(&addr).await.expect("connect"), 1 << 20)
        };
        // Each frame is answered or its connection closed, never left hanging.
        let exchange = tokio::time::timeout(Duration::from_secs(10), async {
            let _ = framed.send(bytes::Bytes::from(body)).await;
            let _ = framed.next().await;
        })
        .await;
        assert!(
            exchange.is_ok(),
            "round {round}: a random frame was neither answered nor closed"
        );
    }
    let (data, _) = c.get("/keep").await.expect("still serving");
    assert_eq!(data, b"v");
    assert_eq!(contents(&c).await, before);
}

/// Structurally valid requests of every kind with bad paths or paths under missing
/// parents, bad versions, modes, TTLs and sizes: each is answered with its own xid; none
/// changes the tree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_valid_requests_are_answered_and_change_nothing() {
    use rand::{Rng, SeedableRng};
    let e = common::Ensemble::start(1, &[]);
    let addr = e.members[0].client.clone();
    let c = common::client_at(&addr, T).await;
    c.create("/keep", b"v", CreateMode::Persistent)
        .await
        .expect("create");
    let before = contents(&c).await;
    let paths = [
        "",
        "no-slash",
        "/a//b",
        "/a/",
        "/.",
        "/x/..",
        "/\u{1}",
        "/missing/child",
        "/keep/missing/deeper",
        "/zookeeper/x",
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x7a11d);
    let mut raw = common::raw_session(&addr, 10_000).await;
    for xid in 1..=400i64 {
        let path = paths[rng.gen_range(0..paths.len())].to_string();
        let version = rng.gen_range(-2..3);
        let mut data = vec![
            0u8;
            if rng.gen_bool(0.05) {
                (1 << 20) + 1
            } else {
                rng.gen_range(0..64)
            }
        ];
        rng.fill(&mut data[..]);
        let mut create = pb::CreateRequest::new();
        create.path = path.clone();
        create.data = data.clone();
        create.mode = match rng.gen_range(0..4) {
            0 => pb::CreateMode::PERSISTENT_WITH_TTL,
            1 => pb::CreateMode::EPHEMERAL_SEQUENTIAL,
            2 => pb::CreateMode::CONTAINER,
            _ => pb::CreateMode::PERSISTENT,
        };
        create.ttl_ms = rng.gen_range(-1..2);
        use pb::Request_oneof_op as O;
        // ACL entries: valid, unknown schemes, malformed ids, perms beyond the five bits.
        let mut acl = protobuf::RepeatedField::new();
        for _ in 0..rng.gen_range(0..3) {
            let mut a = pb::Acl::new();
            a.perms = rng.gen_range(0..64);
            a.scheme = ["world", "digest", "ip", "x509", "auth", "kerberos", ""]
                [rng.gen_range(0..7)]
            .into();
            a.id =
                ["anyone", "u:h", "10.0.0.0/33", "", "CN=x", "\u{0}"][rng.gen_range(0..6)].into();
            acl.push(a);
        }
        create.acl = acl.clone();
        let op = match rng.gen_range(0..17) {
            0 => O::create(create),
            12 => {
                let mut a = pb::SetAclRequest::new();
                a.path = path.clone();
                a.acl = acl;
                a.version = version;
                O::set_acl(a)
            }
            13 => {
                let mut g = pb::GetAclRequest::new();
                g.path = path.clone();
                O::get_acl(g)
            }
            14 => {
                let mut a = pb::AuthRequest::new();
                a.scheme = ["digest", "sasl", "", "ip"][rng.gen_range(0..4)].into();
                a.auth = data.clone();
                O::auth(a)
            }
            15 => {
                // Streams that do not exist, offsets past the end.
                let mut r = pb::SnapshotRequest::new();
                r.stream_id = rng.gen_range(0..3);
                r.offset = rng.gen_range(0..3) << 40;
                O::snapshot(r)
            }
            16 => {
                // Members that are not voters.
                let mut t = pb::TransferLeaderRequest::new();
                t.to = [0, 9, u64::MAX][rng.gen_range(0..3)];
                O::transfer_leader(t)
            }
            1 => {
                let mut d = pb::DeleteRequest::new();
                d.path = path.clone();
                d.version = version;
                O::delete(d)
            }
            2 => {
                let mut s = pb::SetDataRequest::new();
                s.path = path.clone();
                s.data = data.clone();
                s.version = version;
                O::set_data(s)
            }
            3 => {
                let mut g = pb::ExistsRequest::new();
                g.path = path.clone();
                g.watch = rng.gen_bool(0.5);
                O::exists(g)
            }
            4 => {
                let mut g = pb::GetDataRequest::new();
                g.path = path.clone();
                O::get_data(g)
            }
            5 => {
                let mut g = pb::GetChildrenRequest::new();
                g.path = path.clone();
                O::get_children(g)
            }
            6 => {
                let mut s = pb::SyncRequest::new();
                s.path = path.clone();
                O::sync(s)
            }
            7 => {
                let mut m = pb::MultiRequest::new();
                for _ in 0..rng.gen_range(0..4) {
                    let mut op = pb::MultiOp::new();
                    let mut d = pb::DeleteRequest::new();
                    d.path = paths[rng.gen_range(0..paths.len())].to_string();
                    d.version = version;
                    op.set_delete(d);
                    m.ops.push(op);
                }
                O::multi(m)
            }
            8 => {
                let mut ch = pb::CheckVersionRequest::new();
                ch.path = path.clone();
                ch.version = version;
                O::check(ch)
            }
            9 => {
                let mut r = pb::RemoveWatchesRequest::new();
                r.path = path.clone();
                O::remove_watches(r)
            }
            10 => {
                let mut g = pb::GetAllChildrenNumberRequest::new();
                g.path = path.clone();
                O::get_all_children_number(g)
            }
            _ => O::ping(pb::PingRequest::new()),
        };
        let r = tokio::time::timeout(T, common::raw_call(&mut raw, xid, op))
            .await
            .unwrap_or_else(|_| panic!("request {xid} was not answered"));
        assert_eq!(r.xid, xid);
    }
    let (data, _) = c.get("/keep").await.expect("still serving");
    assert_eq!(data, b"v");
    assert_eq!(contents(&c).await, before);
}

/// The peer port: garbage, huge announced frames, hellos from strangers and random frames
/// after a valid hello end that connection; the ensemble keeps committing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_on_the_peer_port_hurts_no_member() {
    use rand::{Rng, SeedableRng};
    let e = common::Ensemble::start(3, &[]);
    e.wait_leader(T);
    let c = common::client_at(&e.servers(), T).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x9ee7);
    let incarnations: Vec<u64> = (0..3).map(|i| common::incarnation(&e, i)).collect();
    for round in 0..60u32 {
        let target = &e.members[(round % 3) as usize];
        let sender_index = ((round + 1) % 3) as usize;
        let sender = e.members[sender_index].id;
        let mut s = TcpStream::connect(&target.peer).await.expect("connect");
        let mut bytes = Vec::new();
        match round % 5 {
            // A 1 GiB frame announced, then nothing: no buffer of that size, closed at
            // the hello timeout.
            0 => bytes.extend_from_slice(&(1u32 << 30).to_be_bytes()),
            // A hello from a member that does not exist.
            1 => bytes.extend_from_slice(&common::peer_hello(99, 1)),
            // A real member's id from another data directory: refused.
            4 => {
                bytes.extend_from_slice(&common::peer_hello(sender, incarnations[sender_index] ^ 1))
            }
            // A valid hello, then a random frame.
            _ => {
                bytes.extend_from_slice(&common::peer_hello(sender, incarnations[sender_index]));
                let len = rng.gen_range(1..256);
                let mut body = vec![0u8; len];
                rng.fill(&mut body[..]);
                body[0] = rng.gen_range(0..4);
                bytes.extend_from_slice(&(len as u32).to_be_bytes());
                bytes.extend_from_slice(&body);
            }
        }
        let _ = s.write_all(&bytes).await;
        if round % 5 >= 2 {
            // Closed by the member (a malformed or misaddressed frame), or still open if
            // the frame happened to be harmless; either way the member stays up.
            let mut buf = [0u8; 64];
            let _ = tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await;
        }
        drop(s);
    }
    for i in 0..3 {
        assert!(e.status(i).is_some(), "member {i} is down");
    }
    for n in 0..10 {
        c.create(&format!("/after-{n}"), b"", CreateMode::Persistent)
            .await
            .expect("the ensemble still commits");
    }
    e.wait_converged(T);
}

/// `paddock_connections` of the member behind `admin`.
fn connections(admin: &str) -> Option<u64> {
    let metrics = common::http_get(admin, "/metrics")?;
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("paddock_connections "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_its_watch_events_is_disconnected() {
    let e = common::Ensemble::start(1, &[]);
    let addr = e.members[0].client.clone();
    let admin = e.members[0].admin.clone();
    let c = common::client_at(&addr, T).await;
    c.create("/slow", b"", CreateMode::Persistent)
        .await
        .expect("create");
    // Long names make big events: each set below is a ~1 KiB event.
    let names: Vec<String> = (0..100)
        .map(|i| format!("/slow/{i:03}{}", "x".repeat(900)))
        .collect();
    for n in &names {
        c.create(n, b"", CreateMode::Persistent)
            .await
            .expect("create");
    }
    // A raw client watches the whole subtree, then never reads again.
    let mut slow = common::raw_session(&addr, 30_000).await;
    let mut aw = pb::AddWatchRequest::new();
    aw.path = "/slow".into();
    aw.mode = pb::AddWatchMode::PERSISTENT_RECURSIVE;
    let r = common::raw_call(&mut slow, 1, pb::Request_oneof_op::add_watch(aw)).await;
    assert_eq!(r.err, pb::ErrorCode::OK);
    assert_eq!(connections(&admin), Some(2));
    // About 24 MiB of events: far more than the socket buffers and the member's backlog.
    let ops: Vec<Op> = names
        .iter()
        .cycle()
        .take(1000)
        .map(|n| Op::set_data(n.clone(), b"v"))
        .collect();
    let writes = (0..24).map(|_| c.multi(&ops));
    for r in futures::future::join_all(writes).await {
        r.expect("the writer is not held up by the slow reader");
    }
    // The member drops the slow connection (event backlog or write timeout), and only it.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while connections(&admin) != Some(1) {
        assert!(
            std::time::Instant::now() < deadline,
            "the slow connection is still open: {:?} connections",
            connections(&admin)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(c.exists("/slow").await.expect("exists").is_some());
    drop(slow);
    c.close().await.expect("close");
}
