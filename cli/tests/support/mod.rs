//! A fake ensemble for the CLI's integration tests, until `paddockd` can be started
//! by the tests: N "members" on loopback that speak the client protocol (handshake,
//! pipelined requests answered in order) over one shared in-memory tree, each with an
//! admin HTTP endpoint serving `GET /status`.
//!
//! It is deliberately simple: persistent and sequential nodes, versions, the stat
//! fields the CLI shows, all-or-nothing multi; no watches, no sessions expiry, no
//! ephemerals. It exists to test the CLI's wiring end to end, not the server.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use paddock::codec;
use paddock::proto::paddock as pb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Default)]
struct Node {
    data: Vec<u8>,
    stat: pb::Stat,
    /// Next sequence number for sequential children.
    seq: i32,
}

/// The shared tree; the root always exists.
pub struct Tree {
    nodes: BTreeMap<String, Node>,
    zxid: i64,
}

fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => "/",
    }
}

type OpResult<T> = Result<T, (pb::ErrorCode, String)>;

impl Tree {
    fn new() -> Tree {
        let mut nodes = BTreeMap::new();
        nodes.insert("/".to_string(), Node::default());
        Tree { nodes, zxid: 0 }
    }

    /// Paths of all nodes, root included.
    pub fn paths(&self) -> Vec<String> {
        self.nodes.keys().cloned().collect()
    }

    fn children(&self, path: &str) -> Vec<String> {
        let prefix = if path == "/" {
            "/".to_string()
        } else {
            format!("{path}/")
        };
        // Descendants sort right after the prefix; keep the direct children.
        self.nodes
            .range(prefix.clone()..)
            .map(|(p, _)| p)
            .take_while(|p| p.starts_with(&prefix))
            .filter_map(|p| p.strip_prefix(&prefix))
            .filter(|rest| !rest.is_empty() && !rest.contains('/'))
            .map(String::from)
            .collect()
    }

    fn get(&self, path: &str) -> OpResult<&Node> {
        self.nodes
            .get(path)
            .ok_or((pb::ErrorCode::NO_NODE, path.to_string()))
    }

    fn create(&mut self, c: &pb::CreateRequest) -> OpResult<pb::CreateResponse> {
        let zxid = self.zxid + 1;
        let par = parent(&c.path).to_string();
        let parent_node = self
            .nodes
            .get_mut(&par)
            .ok_or((pb::ErrorCode::NO_NODE, par.clone()))?;
        let sequential = matches!(
            c.mode,
            pb::CreateMode::PERSISTENT_SEQUENTIAL
                | pb::CreateMode::EPHEMERAL_SEQUENTIAL
                | pb::CreateMode::PERSISTENT_SEQUENTIAL_WITH_TTL
        );
        let path = if sequential {
            parent_node.seq += 1;
            format!("{}{:010}", c.path, parent_node.seq - 1)
        } else {
            c.path.clone()
        };
        if self.nodes.contains_key(&path) {
            return Err((pb::ErrorCode::NODE_EXISTS, path));
        }
        let p = self.nodes.get_mut(&par).expect("parent checked above");
        p.stat.cversion += 1;
        p.stat.num_children += 1;
        p.stat.pzxid = zxid;
        let mut stat = pb::Stat::new();
        stat.czxid = zxid;
        stat.mzxid = zxid;
        stat.pzxid = zxid;
        stat.ctime = 1_700_000_000_000 + zxid;
        stat.mtime = stat.ctime;
        stat.data_length = c.data.len() as i32;
        self.nodes.insert(
            path.clone(),
            Node {
                data: c.data.clone(),
                stat: stat.clone(),
                seq: 0,
            },
        );
        self.zxid = zxid;
        let mut r = pb::CreateResponse::new();
        r.path = path;
        r.set_stat(stat);
        Ok(r)
    }

    fn set(&mut self, s: &pb::SetDataRequest) -> OpResult<pb::Stat> {
        let zxid = self.zxid + 1;
        let node = self
            .nodes
            .get_mut(&s.path)
            .ok_or((pb::ErrorCode::NO_NODE, s.path.clone()))?;
        if s.version != -1 && s.version != node.stat.version {
            return Err((pb::ErrorCode::BAD_VERSION, s.path.clone()));
        }
        node.data = s.data.clone();
        node.stat.version += 1;
        node.stat.mzxid = zxid;
        node.stat.mtime = 1_700_000_000_000 + zxid;
        node.stat.data_length = s.data.len() as i32;
        self.zxid = zxid;
        Ok(node.stat.clone())
    }

    fn delete(&mut self, d: &pb::DeleteRequest) -> OpResult<()> {
        let node = self.get(&d.path)?;
        if d.path == "/" {
            return Err((pb::ErrorCode::BAD_ARGUMENTS, "cannot delete /".into()));
        }
        if d.version != -1 && d.version != node.stat.version {
            return Err((pb::ErrorCode::BAD_VERSION, d.path.clone()));
        }
        if node.stat.num_children > 0 {
            return Err((pb::ErrorCode::NOT_EMPTY, d.path.clone()));
        }
        self.zxid += 1;
        self.nodes.remove(&d.path);
        let p = self
            .nodes
            .get_mut(parent(&d.path))
            .expect("parent of an existing node");
        p.stat.num_children -= 1;
        p.stat.cversion += 1;
        p.stat.pzxid = self.zxid;
        Ok(())
    }

    fn multi(&mut self, m: &pb::MultiRequest) -> OpResult<Vec<pb::MultiResult>> {
        let backup = (self.nodes.clone(), self.zxid);
        let mut results = Vec::new();
        for op in m.ops.iter() {
            let mut r = pb::MultiResult::new();
            let res = match &op.op {
                Some(pb::MultiOp_oneof_op::create(c)) => self.create(c).map(|c| r.set_create(c)),
                Some(pb::MultiOp_oneof_op::delete(d)) => self
                    .delete(d)
                    .map(|()| r.set_delete(pb::DeleteResponse::new())),
                Some(pb::MultiOp_oneof_op::set_data(s)) => self.set(s).map(|st| {
                    let mut sr = pb::SetDataResponse::new();
                    sr.set_stat(st);
                    r.set_set_data(sr)
                }),
                Some(pb::MultiOp_oneof_op::check(c)) => self.get(&c.path).and_then(|n| {
                    if c.version == -1 || c.version == n.stat.version {
                        r.set_check(pb::CheckVersionResponse::new());
                        Ok(())
                    } else {
                        Err((pb::ErrorCode::BAD_VERSION, c.path.clone()))
                    }
                }),
                None => Err((pb::ErrorCode::BAD_ARGUMENTS, "empty op".into())),
            };
            if let Err(e) = res {
                (self.nodes, self.zxid) = backup;
                return Err(e);
            }
            results.push(r);
        }
        Ok(results)
    }

    fn apply(&mut self, op: pb::Request_oneof_op, resp: &mut pb::Response) -> OpResult<()> {
        use pb::Request_oneof_op as Op;
        match op {
            Op::ping(_) => resp.set_ping(pb::PingResponse::new()),
            Op::create(c) => {
                let r = self.create(&c)?;
                resp.set_create(r)
            }
            Op::delete(d) => {
                self.delete(&d)?;
                resp.set_delete(pb::DeleteResponse::new())
            }
            Op::set_data(s) => {
                let st = self.set(&s)?;
                let mut r = pb::SetDataResponse::new();
                r.set_stat(st);
                resp.set_set_data(r)
            }
            Op::exists(e) => {
                let mut r = pb::ExistsResponse::new();
                if let Some(n) = self.nodes.get(&e.path) {
                    r.set_stat(n.stat.clone());
                }
                resp.set_exists(r)
            }
            Op::get_data(g) => {
                let n = self.get(&g.path)?;
                let mut r = pb::GetDataResponse::new();
                r.data = n.data.clone();
                r.set_stat(n.stat.clone());
                resp.set_get_data(r)
            }
            Op::get_children(g) => {
                let stat = self.get(&g.path)?.stat.clone();
                let mut r = pb::GetChildrenResponse::new();
                r.set_children(self.children(&g.path).into());
                r.set_stat(stat);
                resp.set_get_children(r)
            }
            Op::sync(s) => {
                let mut r = pb::SyncResponse::new();
                r.path = s.path;
                resp.set_sync(r)
            }
            Op::multi(m) => {
                let results = self.multi(&m)?;
                let mut r = pb::MultiResponse::new();
                r.set_results(results.into());
                resp.set_multi(r)
            }
            Op::close_session(_) => resp.set_close_session(pb::CloseSessionResponse::new()),
            Op::check(_) => return Err((pb::ErrorCode::UNIMPLEMENTED, "check".into())),
        }
        Ok(())
    }
}

/// One fake member's addresses and counters.
pub struct Member {
    /// Member id, 1-based.
    pub id: u64,
    /// Client address.
    pub client_addr: String,
    /// Admin HTTP address.
    pub admin_addr: String,
    /// Session handshakes accepted.
    pub handshakes: AtomicUsize,
}

/// A running fake ensemble.
pub struct Ensemble {
    /// The members.
    pub members: Vec<Arc<Member>>,
    /// The shared tree.
    pub tree: Arc<Mutex<Tree>>,
}

static SESSIONS: AtomicU64 = AtomicU64::new(1);

impl Ensemble {
    /// Starts `n` members on ephemeral loopback ports.
    pub async fn start(n: usize) -> Ensemble {
        let tree = Arc::new(Mutex::new(Tree::new()));
        let mut members = Vec::new();
        for i in 0..n {
            let client = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let member = Arc::new(Member {
                id: i as u64 + 1,
                client_addr: client.local_addr().unwrap().to_string(),
                admin_addr: admin.local_addr().unwrap().to_string(),
                handshakes: AtomicUsize::new(0),
            });
            tokio::spawn(client_loop(client, member.clone(), tree.clone()));
            tokio::spawn(admin_loop(admin, member.clone(), tree.clone(), n));
            members.push(member);
        }
        Ensemble { members, tree }
    }

    /// `--servers` for this ensemble.
    pub fn servers(&self) -> String {
        self.members
            .iter()
            .map(|m| m.client_addr.clone())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Handshakes per member, in member order.
    pub fn handshakes(&self) -> Vec<usize> {
        self.members
            .iter()
            .map(|m| m.handshakes.load(Ordering::SeqCst))
            .collect()
    }
}

async fn client_loop(listener: TcpListener, member: Arc<Member>, tree: Arc<Mutex<Tree>>) {
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve(stream, member.clone(), tree.clone()));
    }
}

async fn read_frame(s: &mut TcpStream) -> Option<Vec<u8>> {
    let len = s.read_u32().await.ok()? as usize;
    let mut buf = vec![0; len];
    s.read_exact(&mut buf).await.ok()?;
    Some(buf)
}

async fn write_frame(s: &mut TcpStream, frame: &pb::ServerFrame) -> Option<()> {
    let body = codec::encode(frame);
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    s.write_all(&out).await.ok()
}

async fn serve(mut stream: TcpStream, member: Arc<Member>, tree: Arc<Mutex<Tree>>) -> Option<()> {
    loop {
        let buf = read_frame(&mut stream).await?;
        let frame: pb::ClientFrame = codec::decode(&buf).ok()?;
        let mut out = pb::ServerFrame::new();
        match frame.kind? {
            pb::ClientFrame_oneof_kind::connect(c) => {
                member.handshakes.fetch_add(1, Ordering::SeqCst);
                let mut r = pb::ConnectResponse::new();
                r.protocol_version = codec::PROTOCOL_VERSION;
                r.session_id = if c.session_id != 0 {
                    c.session_id
                } else {
                    SESSIONS.fetch_add(1, Ordering::SeqCst)
                };
                r.password = b"pw".to_vec();
                r.timeout_ms = c.timeout_ms;
                r.server_id = member.id;
                r.zxid = tree.lock().unwrap().zxid as u64;
                r.admin_addr = member.admin_addr.clone();
                out.set_connect(r);
            }
            pb::ClientFrame_oneof_kind::request(req) => {
                let mut resp = pb::Response::new();
                resp.xid = req.xid;
                let mut t = tree.lock().unwrap();
                if let Some(op) = req.op {
                    if let Err((code, msg)) = t.apply(op, &mut resp) {
                        resp.err = code;
                        resp.message = msg;
                        resp.result = None;
                    }
                }
                resp.zxid = t.zxid as u64;
                out.set_response(resp);
            }
        }
        write_frame(&mut stream, &out).await?;
    }
}

async fn admin_loop(listener: TcpListener, member: Arc<Member>, tree: Arc<Mutex<Tree>>, n: usize) {
    while let Ok((mut stream, _)) = listener.accept().await {
        let mut buf = vec![0u8; 4096];
        let Ok(len) = stream.read(&mut buf).await else {
            continue;
        };
        let request = String::from_utf8_lossy(&buf[..len]).to_string();
        let (status, body) = if request.starts_with("GET /status ") {
            let t = tree.lock().unwrap();
            let body = serde_json::json!({
                "id": member.id,
                "role": if member.id == 1 { "leader" } else { "follower" },
                "leader_id": 1,
                "term": 2,
                "commit_index": t.zxid,
                "applied_index": t.zxid,
                "digest": format!("{:016x}", t.nodes.len() * 7919),
                "znode_count": t.nodes.len(),
                "session_count": n,
                "watch_count": 0,
            });
            ("200 OK", body.to_string())
        } else {
            ("404 Not Found", "not found".to_string())
        };
        // Chunked for one member, Content-Length for the others: both must parse.
        let response = if member.id == 2 {
            format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
                body.len()
            )
        } else {
            format!(
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
        };
        let _ = stream.write_all(response.as_bytes()).await;
    }
}
