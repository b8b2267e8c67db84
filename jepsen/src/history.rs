//! The history of a run: every operation's invocation and completion, every observation
//! (watch events, connection states, final reads) and every fault, in the order the
//! harness saw them.
//!
//! Format (`history.jsonl`, one [`Event`] per line):
//! `{"index":12,"type":"invoke","time":1534000,"id":7,"process":"c3","member":2,"f":"cas","key":"r1",...}`
//! - `type` is `invoke`, `ok`, `fail` (the operation definitely did not take effect) or
//!   `info` (its outcome is unknown: a timeout or a lost connection).
//! - `time` is nanoseconds on a monotonic clock since the run started.
//! - `id` pairs an invocation with its completion; a completion without an invocation is
//!   an observation (a watch event, a connection state, a final read's result).
//! - `process` names the logical actor: `c<N>` clients, `w<N>` watchers, `nemesis`,
//!   `final` (the checks after the faults are healed).
//! - `member` is the member a client was connected to when it invoked (or observed), if known.
//! - the remaining fields are the operation ([`Op`], tagged by `f`).
//!
//! Invariants the recorder keeps: indexes are 0, 1, 2, ... in file order; times never go
//! backwards in file order; every id has at most one invocation and at most one completion,
//! and the completion comes after its invocation.
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// What kind of record an [`Event`] is.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug, Hash)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// An operation starts.
    Invoke,
    /// It took effect (or, for an observation, it was seen).
    Ok,
    /// It definitely did not take effect.
    Fail,
    /// Its outcome is unknown (timeout, connection lost).
    Info,
}

/// A register value as a read returned it.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug, Hash)]
pub struct Versioned {
    /// The data, as UTF-8 (every value the workloads write is text).
    pub data: String,
    /// The node's data version.
    pub version: i32,
    /// The zxid of the node's last change.
    pub mzxid: u64,
}

/// One operation (or observation), tagged by `f` in the JSON form.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[serde(tag = "f", rename_all = "kebab-case")]
pub enum Op {
    // ---- register ----
    /// Read a register; `linearizable` = through ReadIndex, else the member's local tree.
    Read {
        key: String,
        linearizable: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<Versioned>,
    },
    /// Unconditional set of a register to a unique value; `version` = the new version.
    Write {
        key: String,
        value: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<i32>,
    },
    /// Set only if the data version is `expect`; `version` = the new version when ok.
    /// A `fail` with error `bad-version` means the version was not `expect` at that point.
    Cas {
        key: String,
        expect: i32,
        value: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<i32>,
    },

    // ---- set ----
    /// Create a unique persistent node.
    Add { path: String },
    /// A final read of every node under the set's root, on one member.
    ReadSet { paths: Vec<String> },

    // ---- session FIFO ----
    /// Pipelined create of `/fifo/<client>/<n>`; n grows by one per create of a client.
    FifoCreate { client: u64, n: u64 },
    /// A final read of one client's applied n's.
    FifoRead { client: u64, ns: Vec<u64> },

    // ---- sequential ----
    /// Sequential create under `parent` with unique data `value`; `name` = the created
    /// child's name when ok.
    SeqCreate {
        parent: String,
        value: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
    },
    /// A final read of a parent's children: name -> data.
    SeqRead {
        parent: String,
        children: BTreeMap<String, String>,
    },

    // ---- watch ----
    /// A write a watcher must see: set `path` (creating it if missing); `zxid` = its zxid.
    WatchWrite {
        path: String,
        value: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        zxid: Option<u64>,
    },
    /// A watch event a watcher received (an observation).
    WatchEvent {
        watcher: u64,
        kind: String,
        path: String,
        zxid: u64,
    },
    /// A final read of a watched node: `mzxid` of the node, `None` if it does not exist.
    NodeFinal { path: String, mzxid: Option<u64> },

    // ---- session ----
    /// Open a session; `session` = its id when ok.
    Open {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<u64>,
    },
    /// Create the session's ephemeral node.
    CreateEphemeral { session: u64, path: String },
    /// A read of the session's own ephemeral; `present` = whether it exists.
    CheckEphemeral {
        session: u64,
        path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        present: Option<bool>,
    },
    /// Close the session.
    Close { session: u64 },
    /// Drop the session without closing it (the ensemble must expire it).
    Abandon { session: u64 },
    /// The SDK's connection state of a session changed (an observation):
    /// `connected` (with the member), `disconnected`, `expired`, `closed`. For
    /// `connected`, `zxid` is the highest zxid the client had seen when it noticed the
    /// new connection: every watch event it received before has a zxid at or below it.
    SessionState {
        session: u64,
        state: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        zxid: Option<u64>,
    },
    /// The SDK's `lease()` of a session right after an operation of it succeeded (an
    /// observation): the session was promised to stay valid for `remaining_ms` more.
    Lease { session: u64, remaining_ms: u64 },
    /// A final read on one member: every live session and every ephemeral with its owner.
    SessionsFinal {
        sessions: Vec<u64>,
        ephemerals: BTreeMap<String, u64>,
    },

    // ---- lock ----
    /// Acquire the run's lock (giving up after a bounded wait); `token` = the grant's
    /// fencing token when ok.
    LockAcquire { token: Option<u64> },
    /// A holder's fenced increment of the shared counter: it read `from` and writes
    /// `from + 1` in a multi that also checks its grant still stands.
    LockIncrement { token: u64, from: u64 },
    /// A holder stops acting on grant `token`, invoked at that moment: it releases the
    /// lock, or (`lost`) its lost signal fired.
    LockRelease { token: u64, lost: bool },
    /// A final read of the shared counter on one member (an observation).
    LockCounter { value: u64 },

    // ---- cluster ----
    /// What the run was asked to do (the first event of every history).
    Run {
        workload: String,
        nemeses: Vec<String>,
        members: u64,
        /// Lowest acceptable ok operations per second while faults run.
        floor: u64,
        session_timeout_ms: u64,
        seed: u64,
        time_s: u64,
    },
    /// A fault: invoked when it starts, ok when it is healed.
    Fault {
        name: String,
        targets: Vec<u64>,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        detail: String,
    },
    /// A member's `/status` at the end: applied index and digest (an observation).
    Status {
        applied: u64,
        digest: String,
        healthy: bool,
    },
    /// Something the harness noticed that a checker needs (an observation), e.g. a
    /// member that refused to start after a disk fault.
    Note { what: String },
}

impl Op {
    /// The register key, for register operations.
    pub fn key(&self) -> Option<&str> {
        match self {
            Op::Read { key, .. } | Op::Write { key, .. } | Op::Cas { key, .. } => Some(key),
            _ => None,
        }
    }

    /// The short name used in the `f` field.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Read { .. } => "read",
            Op::Write { .. } => "write",
            Op::Cas { .. } => "cas",
            Op::Add { .. } => "add",
            Op::ReadSet { .. } => "read-set",
            Op::FifoCreate { .. } => "fifo-create",
            Op::FifoRead { .. } => "fifo-read",
            Op::SeqCreate { .. } => "seq-create",
            Op::SeqRead { .. } => "seq-read",
            Op::WatchWrite { .. } => "watch-write",
            Op::WatchEvent { .. } => "watch-event",
            Op::NodeFinal { .. } => "node-final",
            Op::Open { .. } => "open",
            Op::CreateEphemeral { .. } => "create-ephemeral",
            Op::CheckEphemeral { .. } => "check-ephemeral",
            Op::Close { .. } => "close",
            Op::Abandon { .. } => "abandon",
            Op::SessionState { .. } => "session-state",
            Op::Lease { .. } => "lease",
            Op::SessionsFinal { .. } => "sessions-final",
            Op::LockAcquire { .. } => "lock-acquire",
            Op::LockIncrement { .. } => "lock-increment",
            Op::LockRelease { .. } => "lock-release",
            Op::LockCounter { .. } => "lock-counter",
            Op::Run { .. } => "run",
            Op::Fault { .. } => "fault",
            Op::Status { .. } => "status",
            Op::Note { .. } => "note",
        }
    }
}

/// One line of the history.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct Event {
    /// Position in the history (0, 1, 2, ...).
    pub index: u64,
    /// Invoke, ok, fail or info.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// Nanoseconds since the run started (monotonic).
    pub time: u64,
    /// Pairs an invocation with its completion.
    pub id: u64,
    /// The actor: `c<N>`, `w<N>`, `nemesis`, `final`.
    pub process: String,
    /// The member the actor was connected to, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<u64>,
    /// The operation.
    #[serde(flatten)]
    pub op: Op,
    /// Why it failed or is unknown (an error code's name, e.g. `bad-version`, `connection-loss`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An operation with its invocation and (if it completed) its completion.
#[derive(Debug, Clone, Copy)]
pub struct Operation<'a> {
    /// The invocation.
    pub invoke: &'a Event,
    /// The completion; `None` when the run ended first (treated like `info`).
    pub completion: Option<&'a Event>,
}

impl<'a> Operation<'a> {
    /// The completion's type; `Info` when there is none.
    pub fn outcome(&self) -> EventType {
        self.completion.map_or(EventType::Info, |c| c.kind)
    }

    /// The operation as completed (with its results), else as invoked.
    pub fn op(&self) -> &'a Op {
        self.completion.map_or(&self.invoke.op, |c| &c.op)
    }

    /// Invocation time (ns).
    pub fn start(&self) -> u64 {
        self.invoke.time
    }

    /// Completion time (ns); `u64::MAX` when the outcome is unknown, because an
    /// operation with an unknown outcome may take effect at any later time.
    pub fn end(&self) -> u64 {
        match self.completion {
            Some(c) if c.kind != EventType::Info => c.time,
            _ => u64::MAX,
        }
    }
}

/// A fault as the history recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaultWindow {
    /// The nemesis name (`kill-leader`, `partition-halves`, ...).
    pub name: String,
    /// The members it acted on.
    pub targets: Vec<u64>,
    /// Start (ns).
    pub start: u64,
    /// End (ns); the end of the history when it was never healed.
    pub end: u64,
    /// Whether it was healed.
    pub healed: bool,
    /// The detail the nemesis logged (which links were cut, ...).
    pub detail: String,
}

/// A whole history, in order.
#[derive(Debug, Clone, Default)]
pub struct History {
    /// Every event, by index.
    pub events: Vec<Event>,
}

/// Reading or writing a stored history failed.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A line is not a valid event.
    #[error("{path}:{line}: {source}")]
    Parse {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// The cause.
        source: serde_json::Error,
    },
}

impl History {
    /// Reads a `history.jsonl` file.
    pub fn load(path: &Path) -> Result<History, HistoryError> {
        let p = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|source| HistoryError::Io {
            path: p.clone(),
            source,
        })?;
        let mut events = Vec::new();
        for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
            let line = line.map_err(|source| HistoryError::Io {
                path: p.clone(),
                source,
            })?;
            if line.trim().is_empty() {
                continue;
            }
            let event = serde_json::from_str(&line).map_err(|source| HistoryError::Parse {
                path: p.clone(),
                line: i + 1,
                source,
            })?;
            events.push(event);
        }
        Ok(History { events })
    }

    /// Writes the history as JSON lines.
    pub fn save(&self, path: &Path) -> Result<(), HistoryError> {
        let io = |source| HistoryError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut out = std::io::BufWriter::new(std::fs::File::create(path).map_err(io)?);
        for e in &self.events {
            let line = serde_json::to_string(e).expect("events always serialise");
            writeln!(out, "{line}").map_err(io)?;
        }
        out.flush().map_err(io)
    }

    /// Every invoked operation with its completion, in invocation order.
    pub fn operations(&self) -> Vec<Operation<'_>> {
        let mut completions: BTreeMap<u64, &Event> = BTreeMap::new();
        for e in &self.events {
            if e.kind != EventType::Invoke {
                completions.insert(e.id, e);
            }
        }
        self.events
            .iter()
            .filter(|e| e.kind == EventType::Invoke)
            .map(|invoke| Operation {
                invoke,
                completion: completions.get(&invoke.id).copied(),
            })
            .filter(|o| !matches!(o.invoke.op, Op::Fault { .. }))
            .collect()
    }

    /// Completions that have no invocation: watch events, states, final reads.
    pub fn observations(&self) -> Vec<&Event> {
        let invoked: std::collections::HashSet<u64> = self
            .events
            .iter()
            .filter(|e| e.kind == EventType::Invoke)
            .map(|e| e.id)
            .collect();
        self.events
            .iter()
            .filter(|e| e.kind != EventType::Invoke && !invoked.contains(&e.id))
            .collect()
    }

    /// The fault windows, in start order.
    pub fn faults(&self) -> Vec<FaultWindow> {
        let end_of_history = self.events.last().map_or(0, |e| e.time);
        let mut open: BTreeMap<u64, FaultWindow> = BTreeMap::new();
        let mut done = Vec::new();
        for e in &self.events {
            if let Op::Fault {
                name,
                targets,
                detail,
            } = &e.op
            {
                if e.kind == EventType::Invoke {
                    open.insert(
                        e.id,
                        FaultWindow {
                            name: name.clone(),
                            targets: targets.clone(),
                            start: e.time,
                            end: end_of_history,
                            healed: false,
                            detail: detail.clone(),
                        },
                    );
                } else if let Some(mut w) = open.remove(&e.id) {
                    w.end = e.time;
                    w.healed = true;
                    done.push(w);
                }
            }
        }
        done.extend(open.into_values());
        done.sort_by_key(|w| w.start);
        done
    }

    /// The run's parameters (its first [`Op::Run`] event), if recorded.
    pub fn run_info(&self) -> Option<&Op> {
        self.events
            .iter()
            .map(|e| &e.op)
            .find(|op| matches!(op, Op::Run { .. }))
    }

    /// Time of the last event (ns).
    pub fn end_time(&self) -> u64 {
        self.events.last().map_or(0, |e| e.time)
    }
}

/// The shared, thread-safe recorder a run writes into.
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Mutex<RecorderInner>>,
    started: Instant,
}

struct RecorderInner {
    events: Vec<Event>,
    next_id: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    /// A recorder whose clock starts now.
    pub fn new() -> Recorder {
        Recorder {
            inner: Arc::new(Mutex::new(RecorderInner {
                events: Vec::new(),
                next_id: 0,
            })),
            started: Instant::now(),
        }
    }

    /// Nanoseconds since the recorder was made.
    pub fn now(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn push(
        &self,
        kind: EventType,
        id: u64,
        process: &str,
        member: Option<u64>,
        op: Op,
        error: Option<String>,
    ) {
        let mut g = self.inner.lock();
        // The clock is read under the lock so that file order and time order agree.
        let time = self.now();
        let index = g.events.len() as u64;
        g.events.push(Event {
            index,
            kind,
            time,
            id,
            process: process.to_string(),
            member,
            op,
            error,
        });
    }

    /// Records an invocation; returns the id its completion must carry.
    pub fn invoke(&self, process: &str, member: Option<u64>, op: Op) -> u64 {
        let id = {
            let mut g = self.inner.lock();
            g.next_id += 1;
            g.next_id
        };
        self.push(EventType::Invoke, id, process, member, op, None);
        id
    }

    /// Records the completion of invocation `id`.
    pub fn complete(
        &self,
        id: u64,
        kind: EventType,
        process: &str,
        member: Option<u64>,
        op: Op,
        error: Option<String>,
    ) {
        self.push(kind, id, process, member, op, error);
    }

    /// Records an observation (a completion without invocation).
    pub fn observe(&self, process: &str, member: Option<u64>, op: Op) {
        let id = {
            let mut g = self.inner.lock();
            g.next_id += 1;
            g.next_id
        };
        self.push(EventType::Ok, id, process, member, op, None);
    }

    /// How many events have been recorded.
    pub fn len(&self) -> usize {
        self.inner.lock().events.len()
    }

    /// Whether nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counts of completed client operations so far: (ok, fail, info).
    pub fn counts(&self) -> (u64, u64, u64) {
        let g = self.inner.lock();
        let mut c = (0, 0, 0);
        for e in &g.events {
            if matches!(e.op, Op::Fault { .. }) || e.process == "final" {
                continue;
            }
            match e.kind {
                EventType::Ok => c.0 += 1,
                EventType::Fail => c.1 += 1,
                EventType::Info => c.2 += 1,
                EventType::Invoke => {}
            }
        }
        c
    }

    /// A copy of everything recorded so far.
    pub fn snapshot(&self) -> History {
        History {
            events: self.inner.lock().events.clone(),
        }
    }
}

/// Building histories by hand, for checker tests and for reproducing a report.
pub mod build {
    use super::*;

    /// Builds a history event by event with explicit times (ms) for checker tests.
    #[derive(Default)]
    pub struct Builder {
        events: Vec<Event>,
        next_id: u64,
    }

    impl Builder {
        /// An empty history.
        pub fn new() -> Builder {
            Builder::default()
        }

        fn push(
            &mut self,
            kind: EventType,
            id: u64,
            t_ms: u64,
            process: &str,
            op: Op,
            error: Option<&str>,
        ) {
            let index = self.events.len() as u64;
            self.events.push(Event {
                index,
                kind,
                time: t_ms * 1_000_000,
                id,
                process: process.into(),
                member: Some(1),
                op,
                error: error.map(String::from),
            });
        }

        /// Invocation at `t_ms`; returns its id.
        pub fn invoke(&mut self, t_ms: u64, process: &str, op: Op) -> u64 {
            self.next_id += 1;
            let id = self.next_id;
            self.push(EventType::Invoke, id, t_ms, process, op, None);
            id
        }

        /// Completion of `id` at `t_ms`.
        pub fn complete(
            &mut self,
            id: u64,
            t_ms: u64,
            kind: EventType,
            op: Op,
            error: Option<&str>,
        ) -> &mut Self {
            let process = self
                .events
                .iter()
                .find(|e| e.id == id)
                .map(|e| e.process.clone())
                .unwrap_or_default();
            self.push(kind, id, t_ms, &process, op, error);
            self
        }

        /// A whole operation: invoke at `t0`, complete at `t1`.
        #[allow(clippy::too_many_arguments)]
        pub fn op(
            &mut self,
            t0: u64,
            t1: u64,
            process: &str,
            kind: EventType,
            invoked: Op,
            completed: Op,
            error: Option<&str>,
        ) -> &mut Self {
            let id = self.invoke(t0, process, invoked);
            self.complete(id, t1, kind, completed, error)
        }

        /// An observation at `t_ms`.
        pub fn observe(&mut self, t_ms: u64, process: &str, op: Op) -> &mut Self {
            self.next_id += 1;
            let id = self.next_id;
            self.push(EventType::Ok, id, t_ms, process, op, None);
            self
        }

        /// The history, sorted by time (stable, so equal times keep insertion order).
        pub fn build(&mut self) -> History {
            let mut events = std::mem::take(&mut self.events);
            events.sort_by_key(|e| e.time);
            for (i, e) in events.iter_mut().enumerate() {
                e.index = i as u64;
            }
            History { events }
        }
    }
}
