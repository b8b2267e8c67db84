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
    _tmp: tempfile::TempDir,
}

impl Ensemble {
    /// Starts `n` members and waits until they have a leader.
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
            .all(|m| m.node.raft().status().leader_id != 0)
        {
            assert!(Instant::now() < deadline, "no leader within 30 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ensemble { members, _tmp: tmp }
    }

    /// `--servers` for this ensemble.
    pub fn servers(&self) -> String {
        self.members
            .iter()
            .map(|m| m.client_addr.clone())
            .collect::<Vec<_>>()
            .join(",")
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
