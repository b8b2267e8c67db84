//! Real in-process `paddockd` members for the CLI's end-to-end tests: each member is a
//! `paddock_server::node::Node` with its own loopback address and its data in a temp
//! dir. They are stopped when the [`Ensemble`] is dropped (the test's runtime ends).
#![allow(dead_code)]
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use paddock_server::config::Config;
use paddock_server::node::Node;

static ENSEMBLES: AtomicU32 = AtomicU32::new(0);

/// One member's addresses.
pub struct Member {
    /// Member id, 1-based.
    pub id: u64,
    /// Client address.
    pub client_addr: String,
    /// Admin HTTP address.
    pub admin_addr: String,
    node: Node,
}

/// A running ensemble of in-process members.
pub struct Ensemble {
    /// The members.
    pub members: Vec<Member>,
    /// The members' session tick (how often the leader looks for expired sessions).
    session_tick: Duration,
    _tmp: tempfile::TempDir,
}

impl Ensemble {
    /// The members' session tick.
    pub fn session_tick(&self) -> Duration {
        self.session_tick
    }

    /// Starts `n` members and waits until they have a leader and every member serves clients.
    pub async fn start(n: usize) -> Ensemble {
        Self::start_with(n, |_| {}).await
    }

    /// Like [`Ensemble::start`], with every member's config adjusted by `tweak`.
    pub async fn start_with(n: usize, tweak: impl Fn(&mut Config)) -> Ensemble {
        let tmp = tempfile::tempdir().expect("tempdir");
        let k = ENSEMBLES.fetch_add(1, Ordering::Relaxed);
        let p = 10 + std::process::id() % 240;
        let ip = |id: u64| format!("127.{p}.{}.{}", 200 + k % 50, id + 1);
        let peers: std::collections::BTreeMap<u64, String> = (1..=n as u64)
            .map(|id| (id, format!("{}:7182", ip(id))))
            .collect();
        let mut members = Vec::new();
        let mut session_tick = Duration::ZERO;
        for id in 1..=n as u64 {
            let addr = |port: u16| format!("{}:{port}", ip(id)).parse().expect("address");
            let mut cfg = Config::single(
                id,
                tmp.path().join(format!("m{id}")),
                addr(7181),
                addr(7182),
                addr(7180),
            );
            cfg.peers = peers.clone();
            tweak(&mut cfg);
            session_tick = cfg.session_tick;
            let log = paddock_server::logging::discard();
            let node = Node::start(cfg, log).await.expect("start member");
            members.push(Member {
                id,
                client_addr: node.addrs().client.to_string(),
                admin_addr: node.addrs().admin.to_string(),
                node,
            });
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while !members
            .iter()
            .all(|m| m.node.raft().status().leader_id != 0 && m.node.serves_clients())
        {
            assert!(
                Instant::now() < deadline,
                "no leader that every member is in contact with within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ensemble {
            members,
            session_tick,
            _tmp: tmp,
        }
    }

    /// `--servers` for this ensemble.
    pub fn servers(&self) -> String {
        self.members
            .iter()
            .map(|m| m.client_addr.clone())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Stops every member (clients then lose contact with the whole ensemble).
    pub async fn shutdown(self) {
        for m in self.members {
            let _ = m.node.shutdown().await;
        }
    }

    /// Sessions each member accepted in a handshake (its `connect` request counter).
    pub fn handshakes(&self) -> Vec<usize> {
        self.members.iter().map(|m| connects(&m.node)).collect()
    }
}

fn connects(node: &Node) -> usize {
    node.metrics()
        .requests_total
        .with_label_values(&["connect"])
        .get() as usize
}

impl Ensemble {
    /// Every path in the tree, sorted, once all members have applied the same index
    /// (waits up to 10 s for them to agree).
    pub fn paths(&self) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let applied: Vec<u64> = self
                .members
                .iter()
                .map(|m| m.node.raft().applied())
                .collect();
            if applied.windows(2).all(|w| w[0] == w[1]) || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let tree = self.members[0].node.raft().tree();
        let mut out = Vec::new();
        let mut stack = vec!["/".to_string()];
        while let Some(p) = stack.pop() {
            if let Ok((children, _)) = tree.children(&p) {
                for c in children {
                    stack.push(paddock::path::join(&p, &c));
                }
            }
            out.push(p);
        }
        out.sort();
        out
    }
}

/// A `paddock` child process with its stdout and stderr read line by line on
/// background threads. Killed and reaped when dropped (also when a test panics).
pub struct Proc {
    child: std::process::Child,
    stdout: std::sync::mpsc::Receiver<String>,
    stderr: std::sync::mpsc::Receiver<String>,
}

fn lines_of(pipe: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits (without blocking the runtime) up to `timeout` for the next line; `None` on
/// timeout or end of stream.
async fn next_line(rx: &std::sync::mpsc::Receiver<String>, timeout: Duration) -> Option<String> {
    use std::sync::mpsc::TryRecvError;
    let deadline = Instant::now() + timeout;
    loop {
        match rx.try_recv() {
            Ok(l) => return Some(l),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) if Instant::now() >= deadline => return None,
            Err(TryRecvError::Empty) => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

impl Proc {
    /// Starts `paddock --servers SERVERS ARGS...`.
    pub fn spawn(servers: &str, args: &[&str]) -> Proc {
        use std::process::{Command, Stdio};
        let mut child = Command::new(env!("CARGO_BIN_EXE_paddock"))
            .env_remove("PADDOCK_SERVERS")
            .env("RUST_BACKTRACE", "0")
            .arg("--servers")
            .arg(servers)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn paddock");
        let stdout = lines_of(child.stdout.take().expect("stdout"));
        let stderr = lines_of(child.stderr.take().expect("stderr"));
        Proc {
            child,
            stdout,
            stderr,
        }
    }

    /// A stdout line that has arrived, if any (does not wait).
    pub fn try_stdout_line(&self) -> Option<String> {
        self.stdout.try_recv().ok()
    }

    /// The next stdout line; panics if none comes within `timeout`.
    pub async fn stdout_line(&self, timeout: Duration) -> String {
        next_line(&self.stdout, timeout)
            .await
            .unwrap_or_else(|| panic!("no stdout line within {timeout:?}"))
    }

    /// The remaining stdout lines up to EOF (the process has exited), bounded by `timeout`.
    pub async fn rest_of_stdout(&self, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::new();
        while let Some(l) = next_line(
            &self.stdout,
            deadline.saturating_duration_since(Instant::now()),
        )
        .await
        {
            out.push(l);
        }
        out
    }

    /// Reads stderr until a line containing `needle` (returned); panics after `timeout`.
    pub async fn stderr_until(&self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match next_line(&self.stderr, left).await {
                Some(l) if l.contains(needle) => return l,
                Some(_) => {}
                None => panic!("no stderr line containing {needle:?} within {timeout:?}"),
            }
        }
    }

    /// All stderr lines available now or up to `timeout` until EOF.
    pub async fn rest_of_stderr(&self, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let mut out = String::new();
        while let Some(l) = next_line(
            &self.stderr,
            deadline.saturating_duration_since(Instant::now()),
        )
        .await
        {
            out.push_str(&l);
            out.push('\n');
        }
        out
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends a signal by name (`INT`, `TERM`) with kill(1).
    pub fn signal(&self, sig: &str) {
        let ok = std::process::Command::new("kill")
            .args(["-s", sig, &self.id().to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -s {sig} failed");
    }

    /// Waits up to `timeout` for the process to exit; panics (and kills it) otherwise.
    pub async fn exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "paddock still running after {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `paddock --servers SERVERS ARGS...` with `env` set and every other `PADDOCK_*`
/// variable of the test's own environment removed, so only the test decides.
pub async fn paddock_env(
    servers: &str,
    env: &[(&str, &std::path::Path)],
    args: &[&str],
) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_paddock"));
    for var in [
        "PADDOCK_SERVERS",
        "PADDOCK_AUTH",
        "PADDOCK_TLS_CA",
        "PADDOCK_TLS_CERT",
        "PADDOCK_TLS_KEY",
        "PADDOCK_TLS_SERVER_NAME",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("RUST_BACKTRACE", "0")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .arg("--servers")
        .arg(servers)
        .args(args);
    tokio::task::spawn_blocking(move || cmd.output().expect("run paddock"))
        .await
        .expect("join")
}

/// The command's stdout, after checking that it exited 0 (both streams shown if not).
#[track_caller]
pub fn succeeded(o: &std::process::Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}
