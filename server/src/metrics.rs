//! The server's Prometheus metrics.
//!
//! Job: own one [`prometheus::Registry`] per server with every metric the server exports, and
//! render it in the Prometheus text format for the admin endpoint's `GET /metrics`.
//!
//! Guarantees:
//! - Every metric name starts with `paddock_`; the set of names is fixed at construction.
//! - A registry per [`Metrics`] (not the process-global default registry), so tests can run many
//!   servers in one process without their counts mixing.
//! - Updating a metric is a lock-free atomic operation on a shared handle. The handles are `pub`
//!   fields and `Clone` (an `Arc` inside), so a component clones the ones it needs.
//! - Labelled metrics (`*Vec`) look their label values up in a hash map behind a lock on every
//!   `with_label_values` call. On hot paths resolve the labels once and keep the result: use
//!   [`Metrics::op`] ([`OpMetrics`]) per request kind and [`Metrics::peer`] ([`PeerMetrics`]) per
//!   peer link, at startup or connection setup, not per request.

use std::time::{Duration, Instant};

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// The latency buckets, in seconds: 50 µs to 5 s, about three per decade.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0,
];

/// The request kinds used as the `op` label, in wire-protocol order. Metrics for these are
/// created eagerly, so every series appears (at zero) from the first scrape on.
pub const OPS: &[&str] = &[
    "connect",
    "create",
    "delete",
    "set_data",
    "get_data",
    "exists",
    "get_children",
    "multi",
    "sync",
    "ping",
    "close_session",
    "set_watches",
    "get_acl",
    "set_acl",
    "auth",
    "snapshot",
    "transfer_leader",
    "remove_watches",
    "add_watch",
    "get_ephemerals",
    "get_all_children_number",
];

/// Every metric of one server, registered in its own registry.
///
/// Guarantees: cloning a `Metrics` (or any field) gives handles to the *same* series.
#[derive(Clone)]
pub struct Metrics {
    /// The registry holding every metric below; [`Metrics::render`] encodes it.
    pub registry: Registry,
    /// `paddock_requests_total{op}`: client requests received, by kind.
    pub requests_total: IntCounterVec,
    /// `paddock_request_errors_total{op, code}`: requests answered with an error, by kind and
    /// error code name (e.g. `NoNode`).
    pub request_errors_total: IntCounterVec,
    /// `paddock_request_duration_seconds{op}`: from a request's arrival to its response being
    /// queued to the connection.
    pub request_duration_seconds: HistogramVec,
    /// `paddock_proposals_total`: entries proposed to Raft by this member.
    pub proposals_total: IntCounter,
    /// `paddock_proposals_failed_total`: proposals raft-rs refused or that were dropped (e.g.
    /// during an election) and failed back to the client.
    pub proposals_failed_total: IntCounter,
    /// `paddock_proposal_batch_size`: entries persisted per Raft Ready (group-commit width).
    pub proposal_batch_size: Histogram,
    /// `paddock_fsync_duration_seconds`: time to make one Ready's log writes durable.
    pub fsync_duration_seconds: Histogram,
    /// `paddock_snapshot_bytes`: size of the latest state-machine snapshot.
    pub snapshot_bytes: IntGauge,
    /// `paddock_snapshots_total`: state-machine snapshots taken or installed.
    pub snapshots_total: IntCounter,
    /// `paddock_raft_term`: current Raft term.
    pub raft_term: IntGauge,
    /// `paddock_raft_commit_index`: highest log index known committed.
    pub raft_commit_index: IntGauge,
    /// `paddock_raft_applied_index`: highest log index applied to the tree (the last zxid).
    pub raft_applied_index: IntGauge,
    /// `paddock_raft_leader_id`: the leader this member knows of, 0 if none.
    pub raft_leader_id: IntGauge,
    /// `paddock_znodes`: znodes in the tree.
    pub znodes: IntGauge,
    /// `paddock_sessions`: live sessions in the ensemble (replicated, same on every member).
    pub sessions: IntGauge,
    /// `paddock_connections`: client connections open on this member.
    pub connections: IntGauge,
    /// `paddock_peer_messages_sent_total{peer}`: Raft messages handed to a peer link.
    pub peer_messages_sent_total: IntCounterVec,
    /// `paddock_peer_messages_dropped_total{peer}`: Raft messages dropped because the link was
    /// down or its queue full (Raft retransmits; a growing count means a sick link).
    pub peer_messages_dropped_total: IntCounterVec,
}

/// Cached handles for one request kind; see [`Metrics::op`].
#[derive(Clone)]
pub struct OpMetrics {
    op: &'static str,
    /// The `requests_total{op}` series.
    pub requests: IntCounter,
    /// The `request_duration_seconds{op}` series.
    pub duration: Histogram,
    errors: IntCounterVec,
}

impl OpMetrics {
    /// Counts one request of this kind. Lock-free.
    pub fn request(&self) {
        self.requests.inc();
    }

    /// Records a request's latency measured from `start`. Lock-free.
    pub fn observe_since(&self, start: Instant) {
        self.observe(start.elapsed());
    }

    /// Records a request's latency. Lock-free.
    pub fn observe(&self, elapsed: Duration) {
        self.duration.observe(elapsed.as_secs_f64());
    }

    /// Counts one error answer with error code name `code`. Takes the label map's lock: errors
    /// are the uncommon path.
    pub fn error(&self, code: &str) {
        self.errors.with_label_values(&[self.op, code]).inc();
    }
}

/// Cached handles for one peer link; see [`Metrics::peer`].
#[derive(Clone)]
pub struct PeerMetrics {
    /// The `peer_messages_sent_total{peer}` series.
    pub sent: IntCounter,
    /// The `peer_messages_dropped_total{peer}` series.
    pub dropped: IntCounter,
}

impl Metrics {
    /// Creates and registers every metric in a fresh registry.
    ///
    /// Guarantees: the series for each op in [`OPS`] exist from the start.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests_total = IntCounterVec::new(
            Opts::new(
                "paddock_requests_total",
                "Client requests received, by kind.",
            ),
            &["op"],
        )
        .expect(VALID);
        let request_errors_total = IntCounterVec::new(
            Opts::new(
                "paddock_request_errors_total",
                "Client requests answered with an error, by kind and error code.",
            ),
            &["op", "code"],
        )
        .expect(VALID);
        let request_duration_seconds = HistogramVec::new(
            HistogramOpts::new(
                "paddock_request_duration_seconds",
                "Time from a request's arrival to its response, by kind.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["op"],
        )
        .expect(VALID);
        let proposals_total = IntCounter::new(
            "paddock_proposals_total",
            "Entries proposed to Raft by this member.",
        )
        .expect(VALID);
        let proposals_failed_total = IntCounter::new(
            "paddock_proposals_failed_total",
            "Proposals refused or dropped by Raft and failed back to the client.",
        )
        .expect(VALID);
        let proposal_batch_size = Histogram::with_opts(
            HistogramOpts::new(
                "paddock_proposal_batch_size",
                "Log entries persisted per Raft Ready (group-commit width).",
            )
            .buckets(prometheus::exponential_buckets(1.0, 2.0, 12).expect(VALID)),
        )
        .expect(VALID);
        let fsync_duration_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "paddock_fsync_duration_seconds",
                "Time to make one Ready's log writes durable.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )
        .expect(VALID);
        let gauge = |name: &str, help: &str| IntGauge::new(name, help).expect(VALID);
        let snapshot_bytes = gauge(
            "paddock_snapshot_bytes",
            "Size of the latest state-machine snapshot in bytes.",
        );
        let snapshots_total = IntCounter::new(
            "paddock_snapshots_total",
            "State-machine snapshots taken or installed.",
        )
        .expect(VALID);
        let raft_term = gauge("paddock_raft_term", "Current Raft term.");
        let raft_commit_index = gauge(
            "paddock_raft_commit_index",
            "Highest Raft log index known to be committed.",
        );
        let raft_applied_index = gauge(
            "paddock_raft_applied_index",
            "Highest Raft log index applied to the znode tree (the last zxid).",
        );
        let raft_leader_id = gauge(
            "paddock_raft_leader_id",
            "Id of the leader this member knows of, 0 if none.",
        );
        let znodes = gauge("paddock_znodes", "Znodes in the tree.");
        let sessions = gauge("paddock_sessions", "Live sessions in the ensemble.");
        let connections = gauge(
            "paddock_connections",
            "Client connections open on this member.",
        );
        let peer_messages_sent_total = IntCounterVec::new(
            Opts::new(
                "paddock_peer_messages_sent_total",
                "Raft messages handed to a peer link, by peer id.",
            ),
            &["peer"],
        )
        .expect(VALID);
        let peer_messages_dropped_total = IntCounterVec::new(
            Opts::new(
                "paddock_peer_messages_dropped_total",
                "Raft messages dropped because a peer link was down or full, by peer id.",
            ),
            &["peer"],
        )
        .expect(VALID);

        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(requests_total.clone()),
            Box::new(request_errors_total.clone()),
            Box::new(request_duration_seconds.clone()),
            Box::new(proposals_total.clone()),
            Box::new(proposals_failed_total.clone()),
            Box::new(proposal_batch_size.clone()),
            Box::new(fsync_duration_seconds.clone()),
            Box::new(snapshot_bytes.clone()),
            Box::new(snapshots_total.clone()),
            Box::new(raft_term.clone()),
            Box::new(raft_commit_index.clone()),
            Box::new(raft_applied_index.clone()),
            Box::new(raft_leader_id.clone()),
            Box::new(znodes.clone()),
            Box::new(sessions.clone()),
            Box::new(connections.clone()),
            Box::new(peer_messages_sent_total.clone()),
            Box::new(peer_messages_dropped_total.clone()),
        ];
        for c in collectors {
            registry
                .register(c)
                .expect("fresh metrics in a fresh registry cannot collide");
        }

        let metrics = Metrics {
            registry,
            requests_total,
            request_errors_total,
            request_duration_seconds,
            proposals_total,
            proposals_failed_total,
            proposal_batch_size,
            fsync_duration_seconds,
            snapshot_bytes,
            snapshots_total,
            raft_term,
            raft_commit_index,
            raft_applied_index,
            raft_leader_id,
            znodes,
            sessions,
            connections,
            peer_messages_sent_total,
            peer_messages_dropped_total,
        };
        for op in OPS {
            metrics.op(op);
        }
        metrics
    }

    /// Resolves the `op` label once and returns lock-free handles for that request kind.
    ///
    /// Guarantees: creates the series if they do not exist yet; repeated calls with the same `op`
    /// return handles to the same series. Call it once per kind and keep the result.
    pub fn op(&self, op: &'static str) -> OpMetrics {
        OpMetrics {
            op,
            requests: self.requests_total.with_label_values(&[op]),
            duration: self.request_duration_seconds.with_label_values(&[op]),
            errors: self.request_errors_total.clone(),
        }
    }

    /// Resolves the `peer` label once and returns lock-free handles for that peer link.
    pub fn peer(&self, peer: u64) -> PeerMetrics {
        let peer = peer.to_string();
        PeerMetrics {
            sent: self.peer_messages_sent_total.with_label_values(&[&peer]),
            dropped: self.peer_messages_dropped_total.with_label_values(&[&peer]),
        }
    }

    /// Renders every metric in the Prometheus text exposition format (version 0.0.4).
    ///
    /// Guarantees: never panics; if encoding fails (it cannot with the metrics built here) the
    /// output is a single `#` comment line naming the error, which scrapers ignore.
    pub fn render(&self) -> String {
        let mut buf = Vec::with_capacity(16 * 1024);
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut buf) {
            return format!("# error encoding metrics: {e}\n");
        }
        String::from_utf8(buf).unwrap_or_else(|e| format!("# metrics are not UTF-8: {e}\n"))
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

/// The `expect` message for metric definitions that are valid by construction (constant names,
/// help texts and buckets).
const VALID: &str = "metric definition is valid by construction";

/// The content type of [`Metrics::render`]'s output, for HTTP responses.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_contains_names_after_observations() {
        let m = Metrics::new();
        let create = m.op("create");
        create.request();
        create.observe(Duration::from_micros(120));
        create.error("NodeExists");
        m.proposals_total.inc_by(3);
        m.proposal_batch_size.observe(3.0);
        m.fsync_duration_seconds.observe(0.002);
        m.raft_term.set(7);
        m.raft_leader_id.set(2);
        let p = m.peer(2);
        p.sent.inc();
        p.dropped.inc();
        m.clone().znodes.set(42);

        let text = m.render();
        for needle in [
            "paddock_requests_total{op=\"create\"} 1",
            "paddock_requests_total{op=\"get_data\"} 0",
            "paddock_request_errors_total{code=\"NodeExists\",op=\"create\"} 1",
            "paddock_request_duration_seconds_bucket{op=\"create\",le=\"0.00025\"} 1",
            "paddock_request_duration_seconds_count{op=\"create\"} 1",
            "paddock_proposals_total 3",
            "paddock_proposals_failed_total 0",
            "paddock_proposal_batch_size_count 1",
            "paddock_fsync_duration_seconds_count 1",
            "paddock_snapshot_bytes 0",
            "paddock_snapshots_total 0",
            "paddock_raft_term 7",
            "paddock_raft_commit_index 0",
            "paddock_raft_applied_index 0",
            "paddock_raft_leader_id 2",
            "paddock_znodes 42",
            "paddock_sessions 0",
            "paddock_connections 0",
            "paddock_peer_messages_sent_total{peer=\"2\"} 1",
            "paddock_peer_messages_dropped_total{peer=\"2\"} 1",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("paddock_"), "{line}");
        }
    }

    #[test]
    fn registries_are_independent() {
        let a = Metrics::new();
        let b = Metrics::new();
        a.proposals_total.inc();
        assert_eq!(b.proposals_total.get(), 0);
        assert!(b.render().contains("paddock_proposals_total 0"));
    }
}
