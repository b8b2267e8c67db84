//! A cluster under test: real `paddockd` processes on loopback, wired through the
//! harness's proxies.
//!
//! Layout for a run (`B` = `127.<p>.<r>`, a /24 of its own per process and run, so runs
//! and tests on one machine never collide):
//! - member i listens on `B.i`: client 7181, peer 7182, admin 7180;
//! - clients reach member i through the client proxy at `B.i:7281`;
//! - member i reaches member j through the link proxy at `B.i:(7300 + j)`: member i's
//!   `--peers` map names that proxy as j's address, so the proxy carries exactly the
//!   messages i sends to j.
//!
//! Guarantees: every process a [`Cluster`] starts gets SIGKILL when the harness dies
//! (parent-death signal) and when the cluster is dropped; every wait is bounded.
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::admin::{self, Status};
use crate::proxy::Proxy;

/// How long an admin request may take before the member counts as not answering.
pub const ADMIN_TIMEOUT: Duration = Duration::from_millis(500);

/// What a cluster is made of.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// 3 or 5 (1 works too, without partitions).
    pub members: usize,
    /// The `paddockd` binary.
    pub paddockd: PathBuf,
    /// Where data directories and member logs go.
    pub dir: PathBuf,
    /// Extra flags for every member (ticks, snapshot size, ...).
    pub args: Vec<String>,
    /// Extra environment for every member (e.g. `FAILPOINTS`).
    pub env: Vec<(String, String)>,
}

/// Why a cluster could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// A proxy port could not be bound.
    #[error("proxy {addr}: {source}")]
    Proxy {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// A member could not be started.
    #[error("starting member {id} ({binary}): {source}")]
    Spawn {
        /// The member.
        id: u64,
        /// The binary.
        binary: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A directory or log file could not be made.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// One member's addresses, files and process.
pub struct Member {
    /// Raft id (1-based).
    pub id: u64,
    /// Its real client listener.
    pub client: SocketAddr,
    /// Its real peer listener.
    pub peer: SocketAddr,
    /// Its admin listener.
    pub admin: SocketAddr,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Its stderr, appended across restarts.
    pub log: PathBuf,
    process: Mutex<Process>,
}

#[derive(Default)]
struct Process {
    child: Option<Child>,
    paused: bool,
    /// Exit status of the last process that ended by itself.
    exited: Option<String>,
}

/// The running members and their proxies.
pub struct Cluster {
    spec: ClusterSpec,
    members: Vec<Member>,
    /// `(from, to)` -> the proxy carrying what `from` sends to `to`.
    links: BTreeMap<(u64, u64), Proxy>,
    /// member -> the proxy clients use to reach it.
    clients: BTreeMap<u64, Proxy>,
}

static RUNS: AtomicU32 = AtomicU32::new(0);

/// `127.<p>.<r>`: `p` from the process id, `r` from 126 to 250 per run. The servers'
/// test harness (`server/tests/common`) lays its ensembles out on `127.<p'>.1-125`, so
/// the two never meet in one test process even when `p` and `p'` are equal.
fn base_ip() -> String {
    let p = 10 + std::process::id() % 200;
    let r = RUNS.fetch_add(1, Ordering::Relaxed) % 125 + 126;
    format!("127.{p}.{r}")
}

fn addr(s: String) -> SocketAddr {
    s.parse().expect("harness addresses are well formed")
}

impl Cluster {
    /// Binds every proxy and starts every member. Does not wait for a leader.
    pub async fn start(spec: ClusterSpec) -> Result<Cluster, ClusterError> {
        let base = base_ip();
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| ClusterError::Io { path, source }
        };
        std::fs::create_dir_all(&spec.dir).map_err(io(&spec.dir))?;
        let mut members = Vec::new();
        for i in 1..=spec.members as u64 {
            members.push(Member {
                id: i,
                client: addr(format!("{base}.{i}:7181")),
                peer: addr(format!("{base}.{i}:7182")),
                admin: addr(format!("{base}.{i}:7180")),
                data_dir: spec.dir.join(format!("data-{i}")),
                log: spec.dir.join(format!("member-{i}.log")),
                process: Mutex::new(Process::default()),
            });
        }
        let mut links = BTreeMap::new();
        let mut clients = BTreeMap::new();
        for m in &members {
            let listen = addr(format!("{base}.{}:7281", m.id));
            let p = Proxy::start(listen, m.client)
                .await
                .map_err(|source| ClusterError::Proxy {
                    addr: listen,
                    source,
                })?;
            clients.insert(m.id, p);
            for to in &members {
                if to.id == m.id {
                    continue;
                }
                let listen = addr(format!("{base}.{}:{}", m.id, 7300 + to.id));
                let p =
                    Proxy::start(listen, to.peer)
                        .await
                        .map_err(|source| ClusterError::Proxy {
                            addr: listen,
                            source,
                        })?;
                links.insert((m.id, to.id), p);
            }
        }
        let cluster = Cluster {
            spec,
            members,
            links,
            clients,
        };
        for id in cluster.ids() {
            cluster.start_member(id)?;
        }
        Ok(cluster)
    }

    /// Member ids, ascending.
    pub fn ids(&self) -> Vec<u64> {
        self.members.iter().map(|m| m.id).collect()
    }

    /// The member with id `id`.
    pub fn member(&self, id: u64) -> &Member {
        &self.members[(id - 1) as usize]
    }

    /// All members.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The spec the cluster was started with.
    pub fn spec(&self) -> &ClusterSpec {
        &self.spec
    }

    /// The `--peers` value member `id` is started with: itself at its real peer
    /// address, every other member at the proxy for the link `id -> other`.
    pub fn peers_flag(&self, id: u64) -> String {
        self.members
            .iter()
            .map(|m| {
                let a = if m.id == id {
                    m.peer
                } else {
                    self.links[&(id, m.id)].addr()
                };
                format!("{}={a}", m.id)
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The address clients use for member `id` (its client proxy).
    pub fn client_addr(&self, id: u64) -> SocketAddr {
        self.clients[&id].addr()
    }

    /// Client addresses of every member, starting with `first` (through the proxies).
    pub fn client_list(&self, first: u64) -> Vec<String> {
        let mut ids = self.ids();
        let n = ids.len();
        ids.rotate_left(((first as usize).max(1) - 1) % n);
        ids.iter()
            .map(|i| self.client_addr(*i).to_string())
            .collect()
    }

    /// Real client addresses of every member, bypassing the proxies (for final reads).
    pub fn direct_client(&self, id: u64) -> String {
        self.member(id).client.to_string()
    }

    /// Starts member `id` (again) with its data directory as it is.
    pub fn start_member(&self, id: u64) -> Result<(), ClusterError> {
        self.start_member_with(id, &[])
    }

    /// Starts member `id` (again) with its data directory as it is and `more` flags
    /// (e.g. `--rejoin-after-data-loss` after its data directory was wiped).
    pub fn start_member_with(&self, id: u64, more: &[&str]) -> Result<(), ClusterError> {
        let m = self.member(id);
        std::fs::create_dir_all(&m.data_dir).map_err(|source| ClusterError::Io {
            path: m.data_dir.display().to_string(),
            source,
        })?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&m.log)
            .map_err(|source| ClusterError::Io {
                path: m.log.display().to_string(),
                source,
            })?;
        let mut cmd = Command::new(&self.spec.paddockd);
        cmd.args(["--id", &id.to_string()])
            .args(["--data-dir", &m.data_dir.display().to_string()])
            .args(["--client-addr", &m.client.to_string()])
            .args(["--peer-addr", &m.peer.to_string()])
            .args(["--admin-addr", &m.admin.to_string()])
            .args(["--peers", &self.peers_flag(id)])
            .args(&self.spec.args)
            .args(more)
            .envs(self.spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        // SAFETY: prctl is async-signal-safe; the child gets SIGKILL if the harness dies,
        // so no member outlives a crashed or killed run.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|source| ClusterError::Spawn {
            id,
            binary: self.spec.paddockd.display().to_string(),
            source,
        })?;
        let mut p = m.process.lock();
        p.child = Some(child);
        p.paused = false;
        p.exited = None;
        Ok(())
    }

    /// kill -9 of member `id` (resumed first if paused, so the kernel reaps it at once).
    pub fn kill(&self, id: u64) {
        let mut p = self.member(id).process.lock();
        if let Some(mut c) = p.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        p.paused = false;
    }

    /// SIGTERM of member `id`, waiting up to 20 s before SIGKILL.
    pub fn stop(&self, id: u64) {
        let mut p = self.member(id).process.lock();
        if let Some(mut c) = p.child.take() {
            signal(&c, libc::SIGCONT);
            signal(&c, libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        p.paused = false;
    }

    /// SIGSTOP of member `id`.
    ///
    /// Returns once every thread of the process is stopped (or after 2 s): `kill`
    /// only marks the signal pending, and on a busy machine a member's threads can
    /// go on answering for a moment after it returns.
    pub fn pause(&self, id: u64) {
        let mut p = self.member(id).process.lock();
        if let Some(c) = &p.child {
            let pid = c.id();
            signal(c, libc::SIGSTOP);
            p.paused = true;
            wait_stopped(pid, Duration::from_secs(2));
        }
    }

    /// SIGCONT of member `id`.
    pub fn resume(&self, id: u64) {
        let mut p = self.member(id).process.lock();
        if let Some(c) = &p.child {
            signal(c, libc::SIGCONT);
        }
        p.paused = false;
    }

    /// Whether member `id` has a process that has not exited (paused counts as running).
    pub fn is_running(&self, id: u64) -> bool {
        let mut p = self.member(id).process.lock();
        let Some(c) = p.child.as_mut() else {
            return false;
        };
        match c.try_wait() {
            Ok(None) => true,
            Ok(Some(status)) => {
                p.exited = Some(status.to_string());
                p.child = None;
                false
            }
            Err(_) => false,
        }
    }

    /// How the last process of member `id` ended by itself, if it did.
    pub fn exit_status(&self, id: u64) -> Option<String> {
        self.is_running(id);
        self.member(id).process.lock().exited.clone()
    }

    /// Whether member `id` is paused.
    pub fn is_paused(&self, id: u64) -> bool {
        self.member(id).process.lock().paused
    }

    /// Members with a live, unpaused process.
    pub fn up(&self) -> Vec<u64> {
        self.ids()
            .into_iter()
            .filter(|&i| self.is_running(i) && !self.is_paused(i))
            .collect()
    }

    /// Cuts the link `from -> to` (what `from` sends to `to`).
    pub fn cut(&self, from: u64, to: u64) {
        if let Some(p) = self.links.get(&(from, to)) {
            p.cut();
        }
    }

    /// Cuts clients off member `id`.
    pub fn cut_clients(&self, id: u64) {
        if let Some(p) = self.clients.get(&id) {
            p.cut();
        }
    }

    /// Heals every link and client port.
    pub fn heal_all(&self) {
        for p in self.links.values().chain(self.clients.values()) {
            p.heal();
        }
    }

    /// The links that are cut now, as `(from, to)`.
    pub fn cut_links(&self) -> Vec<(u64, u64)> {
        self.links
            .iter()
            .filter(|(_, p)| p.is_cut())
            .map(|(k, _)| *k)
            .collect()
    }

    /// `/status` of every member that answers within [`ADMIN_TIMEOUT`].
    pub async fn statuses(&self) -> BTreeMap<u64, Status> {
        let mut out = BTreeMap::new();
        for id in self.up() {
            if let Some(s) = admin::status(&self.member(id).admin.to_string(), ADMIN_TIMEOUT).await
            {
                out.insert(id, s);
            }
        }
        out
    }

    /// The leader with the highest term among the members that answer, if any.
    pub async fn leader(&self) -> Option<u64> {
        self.statuses()
            .await
            .into_values()
            .filter(|s| s.role == "leader")
            .max_by_key(|s| s.term)
            .map(|s| s.id)
    }

    /// Waits up to `timeout` for a leader that a majority of answering members agree on.
    pub async fn wait_leader(&self, timeout: Duration) -> Option<u64> {
        let deadline = Instant::now() + timeout;
        let majority = self.members.len() / 2 + 1;
        loop {
            let st = self.statuses().await;
            if let Some(l) = st.values().find(|s| s.role == "leader") {
                let agree = st
                    .values()
                    .filter(|s| s.leader_id == l.id && s.term == l.term)
                    .count();
                if agree >= majority {
                    return Some(l.id);
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits up to `timeout` until every member answers `/health` with 200.
    pub async fn wait_healthy(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let mut all = true;
            for m in &self.members {
                if !admin::healthy(&m.admin.to_string(), ADMIN_TIMEOUT).await {
                    all = false;
                    break;
                }
            }
            if all {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The last `n` lines of member `id`'s log.
    pub fn log_tail(&self, id: u64, n: usize) -> Vec<String> {
        let text = std::fs::read_to_string(&self.member(id).log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    /// Stops every member (resuming paused ones, SIGTERM, then SIGKILL) and heals.
    pub fn shutdown(&self) {
        self.heal_all();
        for id in self.ids() {
            self.stop(id);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for id in self.ids() {
            self.kill(id);
        }
    }
}

/// Waits until every thread of process `pid` is stopped (state `T` or `t` in
/// `/proc/PID/task/*/stat`), the process is gone, or `limit` has passed. Returns
/// whether it saw the process stopped or gone.
pub fn wait_stopped(pid: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if all_threads_stopped(pid) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Whether no thread of `pid` can run: each is stopped, traced, a zombie or gone.
fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return true;
    };
    tasks.flatten().all(|t| {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            return true;
        };
        // The state follows the command name, which is in parentheses and may
        // itself hold spaces or parentheses.
        let state = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].trim_start().chars().next());
        matches!(state, None | Some('T' | 't' | 'Z' | 'X' | 'x'))
    })
}

fn signal(child: &Child, sig: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_stopped_sees_a_stopped_process_and_not_a_running_one() {
        let mut child = Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep");
        assert!(
            !wait_stopped(child.id(), Duration::from_millis(50)),
            "a sleeping process is not stopped"
        );
        signal(&child, libc::SIGSTOP);
        assert!(wait_stopped(child.id(), Duration::from_secs(10)));
        signal(&child, libc::SIGCONT);
        let _ = child.kill();
        let _ = child.wait();
        assert!(wait_stopped(child.id(), Duration::from_millis(50)), "gone");
    }
}
