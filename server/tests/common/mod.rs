//! Test harness: real `paddockd` processes on 127.0.0.1 with their data in a temp dir.
//!
//! Every member a test starts is killed when the [`Ensemble`] is dropped; every wait
//! is bounded in time.
#![allow(dead_code)]
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use paddock::{Client, ClientConfig};

pub mod certs;
pub mod proxied;

/// One member's fixed settings.
pub struct Member {
    pub id: u64,
    pub client: String,
    pub peer: String,
    pub admin: String,
    pub dir: PathBuf,
    pub child: Option<Child>,
    /// Flags of this member only (e.g. its own certificate).
    pub args: Vec<String>,
}

/// A set of `paddockd` processes forming one ensemble.
pub struct Ensemble {
    pub members: Vec<Member>,
    peers: String,
    extra: Vec<String>,
    _tmp: tempfile::TempDir,
}

static ENSEMBLES: AtomicU32 = AtomicU32::new(0);

/// A loopback address of its own for every member of every ensemble a test process
/// starts (127.P.E.M: process, ensemble, member), so fixed ports never collide
/// between tests running at the same time. E stays in 1-125: the fault-injection
/// harness's clusters (`common::proxied`) use 126-250 in the same process.
fn member_ip(ensemble: u32, member: u64) -> String {
    let p = 10 + std::process::id() % 240;
    format!("127.{p}.{}.{}", ensemble % 125 + 1, member + 1)
}

impl Ensemble {
    /// Starts `n` members with extra flags (e.g. `--snapshot-entries 50`).
    pub fn start(n: usize, extra: &[&str]) -> Ensemble {
        Self::start_each(n, extra, |_| Vec::new())
    }

    /// Starts `n` members with extra flags, plus `each(member)`'s flags for each member
    /// (certificates that name the member's own address, say).
    pub fn start_each(n: usize, extra: &[&str], each: impl Fn(&Member) -> Vec<String>) -> Ensemble {
        let mut e = Self::layout(n, extra, each);
        for i in 0..n {
            e.spawn(i);
        }
        e
    }

    /// Lays out `n` members (addresses, data directories, flags) without starting
    /// any: start them with [`Ensemble::spawn`].
    pub fn layout(n: usize, extra: &[&str], each: impl Fn(&Member) -> Vec<String>) -> Ensemble {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut members = Vec::new();
        let k = ENSEMBLES.fetch_add(1, Ordering::Relaxed);
        for i in 1..=n as u64 {
            let ip = member_ip(k, i);
            members.push(Member {
                id: i,
                client: format!("{ip}:7181"),
                peer: format!("{ip}:7182"),
                admin: format!("{ip}:7180"),
                dir: tmp.path().join(format!("m{i}")),
                child: None,
                args: Vec::new(),
            });
        }
        for m in &mut members {
            m.args = each(m);
        }
        let peers = members
            .iter()
            .map(|m| format!("{}={}", m.id, m.peer))
            .collect::<Vec<_>>()
            .join(",");
        Ensemble {
            members,
            peers,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            _tmp: tmp,
        }
    }

    /// `--peers` of this ensemble.
    pub fn peers(&self) -> &str {
        &self.peers
    }

    /// Starts member `i` (0-based) again with the same settings and data.
    pub fn spawn(&mut self, i: usize) {
        self.spawn_with(i, &[]);
    }

    /// Starts member `i` with the same settings and data, plus `more` flags.
    pub fn spawn_with(&mut self, i: usize, more: &[&str]) {
        let peers = self.peers.clone();
        self.spawn_with_peers(i, &peers, more);
    }

    /// Starts member `i` with `peers` as its `--peers`, plus `more` flags.
    pub fn spawn_with_peers(&mut self, i: usize, peers: &str, more: &[&str]) {
        let m = &mut self.members[i];
        std::fs::create_dir_all(&m.dir).expect("member dir");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(m.dir.with_extension("log"))
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_paddockd"))
            .args(["--id", &m.id.to_string()])
            .args(["--data-dir", &m.dir.display().to_string()])
            .args([
                "--client-addr",
                &m.client,
                "--peer-addr",
                &m.peer,
                "--admin-addr",
                &m.admin,
            ])
            .args(["--peers", peers])
            .args(&self.extra)
            .args(&m.args)
            .args(more)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn paddockd");
        m.child = Some(child);
    }

    /// Waits (at most `timeout`) for member `i` to exit on its own; its exit status.
    pub fn wait_exit(&mut self, i: usize, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        let c = self.members[i].child.as_mut()?;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = c.try_wait() {
                self.members[i].child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// What member `i` logged so far (stderr of all its runs).
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.members[i].dir.with_extension("log")).unwrap_or_default()
    }

    /// kill -9 of member `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM of member `i`, waiting (bounded) for it to exit.
    pub fn stop(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            signal(c.id(), "-TERM");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGSTOP of member `i`: the process stays, frozen, with its sockets open (the
    /// Drop's kill -9 ends a paused member too). Returns once every thread of it
    /// is stopped (or after 2 s), not merely when the signal is sent.
    pub fn pause(&mut self, i: usize) {
        if let Some(c) = self.members[i].child.as_ref() {
            signal(c.id(), "-STOP");
            paddock_jepsen::cluster::wait_stopped(c.id(), Duration::from_secs(2));
        }
    }

    /// SIGCONT of member `i`.
    pub fn resume(&mut self, i: usize) {
        if let Some(c) = self.members[i].child.as_ref() {
            signal(c.id(), "-CONT");
        }
    }

    /// Client addresses of all members, comma-separated.
    pub fn servers(&self) -> String {
        self.members
            .iter()
            .map(|m| m.client.clone())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// GET /status of member `i`, parsed.
    pub fn status(&self, i: usize) -> Option<serde_json::Value> {
        let body = http_get(&self.members[i].admin, "/status")?;
        serde_json::from_str(&body).ok()
    }

    /// Index of the current leader among running members, waiting up to `timeout`
    /// until there is one and every member that answers is healthy (serves clients).
    pub fn wait_leader(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let mut leader = None;
            let mut all_healthy = true;
            for (i, m) in self.members.iter().enumerate() {
                if m.child.is_none() {
                    continue;
                }
                if let Some(s) = self.status(i) {
                    if s["role"] == "leader" {
                        leader = Some(i);
                    }
                    all_healthy &= http_get(&m.admin, "/health").is_some();
                }
            }
            if let (Some(i), true) = (leader, all_healthy) {
                return i;
            }
            assert!(Instant::now() < deadline, "no leader within {timeout:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until every running member is healthy and all have applied the same index
    /// with the same digest; returns that digest.
    pub fn wait_converged(&self, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let statuses: Vec<_> = self
                .members
                .iter()
                .enumerate()
                .filter(|(_, m)| m.child.is_some())
                .map(|(i, _)| self.status(i))
                .collect();
            if statuses.iter().all(|s| s.is_some()) {
                let s: Vec<_> = statuses.into_iter().flatten().collect();
                let same = s.windows(2).all(|w| {
                    w[0]["applied_index"] == w[1]["applied_index"]
                        && w[0]["digest"] == w[1]["digest"]
                });
                let healthy = s.iter().all(|x| x["leader_id"].as_u64().unwrap_or(0) != 0);
                if same && healthy {
                    return s[0]["digest"].as_str().unwrap_or_default().to_string();
                }
            }
            assert!(
                Instant::now() < deadline,
                "members did not converge within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
        if std::thread::panicking() || std::env::var_os("PADDOCK_TEST_KEEP").is_some() {
            // Keep the data and logs of a failed test for a look.
            let keep = std::env::temp_dir().join(format!("paddock-test-{}", std::process::id()));
            let _ = std::fs::rename(self._tmp.path(), &keep);
            eprintln!("member data and logs kept in {}", keep.display());
        }
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").args([sig, &pid.to_string()]).status();
}

/// Member `i`'s data directory incarnation, from its `/status`.
pub fn incarnation(e: &Ensemble, i: usize) -> u64 {
    let status = e.status(i).expect("status");
    let hex = status["incarnation"].as_str().expect("incarnation");
    u64::from_str_radix(hex, 16).expect("hex incarnation")
}

/// A peer link hello (framed) from member `id` running on data directory `incarnation`.
pub fn peer_hello(id: u64, incarnation: u64) -> Vec<u8> {
    let mut hello = 25u32.to_be_bytes().to_vec();
    hello.extend_from_slice(b"PDKPEER3");
    hello.extend_from_slice(&id.to_be_bytes());
    hello.extend_from_slice(&incarnation.to_be_bytes());
    hello.push(0);
    hello
}

/// A minimal HTTP/1.1 GET; `None` if the member does not answer.
pub fn http_get(addr: &str, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s =
        std::net::TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_millis(500))
            .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    if !head.starts_with("HTTP/1.1 200") {
        return None;
    }
    Some(body.to_string())
}

/// Connects a client to one given server, retrying until `timeout`.
pub async fn client_at(server: &str, timeout: Duration) -> Client {
    let deadline = Instant::now() + timeout;
    loop {
        let cfg = ClientConfig::from_list(server).session_timeout(Duration::from_secs(10));
        match Client::connect_with(cfg).await {
            Ok(c) => return c,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "could not connect to {server}: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// A raw client-protocol connection (for tests that go below the SDK).
pub type RawConn = tokio_util::codec::Framed<tokio::net::TcpStream, paddock::codec::FrameCodec>;

/// Reads the next frame the member sends.
pub async fn raw_next(framed: &mut RawConn) -> paddock::proto::paddock::ServerFrame {
    use futures::StreamExt;
    let frame = framed
        .next()
        .await
        .expect("a frame")
        .expect("a readable frame");
    paddock::codec::decode_frame(&frame).expect("a decodable frame")
}

/// Connects to `addr` and sends a connect request; returns the connection and the
/// member's answer, whatever it is.
pub async fn raw_handshake(
    addr: &str,
    session_id: u64,
    password: Vec<u8>,
    timeout_ms: u32,
    last_zxid_seen: u64,
) -> (RawConn, paddock::proto::paddock::ConnectResponse) {
    use futures::SinkExt;
    use paddock::proto::paddock as pb;
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut framed = paddock::codec::framed(stream, 64 << 20);
    let mut c = pb::ConnectRequest::new();
    c.protocol_version = paddock::codec::PROTOCOL_VERSION;
    c.session_id = session_id;
    c.password = password;
    c.timeout_ms = timeout_ms;
    c.last_zxid_seen = last_zxid_seen;
    let mut f = pb::ClientFrame::new();
    f.set_connect(c);
    framed
        .send(paddock::codec::encode(&f))
        .await
        .expect("send connect");
    match raw_next(&mut framed).await.kind {
        Some(pb::ServerFrame_oneof_kind::connect(c)) => (framed, c),
        other => panic!("expected a connect response, got {other:?}"),
    }
}

/// Opens a new session over the raw protocol; the member must accept it.
pub async fn raw_session(addr: &str, timeout_ms: u32) -> RawConn {
    let (framed, resp) = raw_handshake(addr, 0, Vec::new(), timeout_ms, 0).await;
    assert_eq!(
        resp.err,
        paddock::proto::paddock::ErrorCode::OK,
        "{}",
        resp.message
    );
    framed
}

/// Sends one request and returns the next response (events in between are not expected).
pub async fn raw_call(
    framed: &mut RawConn,
    xid: i64,
    op: paddock::proto::paddock::Request_oneof_op,
) -> paddock::proto::paddock::Response {
    use futures::SinkExt;
    use paddock::proto::paddock as pb;
    let mut r = pb::Request::new();
    r.xid = xid;
    r.op = Some(op);
    let mut f = pb::ClientFrame::new();
    f.set_request(r);
    framed.send(paddock::codec::encode(&f)).await.expect("send");
    match raw_next(framed).await.kind {
        Some(pb::ServerFrame_oneof_kind::response(r)) => r,
        other => panic!("expected a response, got {other:?}"),
    }
}
