//! Which data directory each member runs on, so that a member whose Raft state was
//! lost (its data directory wiped or replaced) cannot silently rejoin as a voter.
//!
//! A member that lost its log also lost its vote: started empty, it could vote a
//! second time in a term it already voted in, and two leaders of one term could be
//! elected. So every data directory gets a random incarnation number when its log is
//! created, kept in the log itself (losing the log loses it too). Members say their
//! incarnation in every peer hello, and each member records, in its own log, the
//! incarnation it first saw for each peer. Then:
//! - a peer whose hello names another incarnation than the recorded one is refused
//!   (its messages, votes included, are never stepped), unless it says it rejoins
//!   after a data loss, in which case its new incarnation is recorded;
//! - a member starting on a new data directory asks its peers first (a probe on the
//!   peer port) and refuses to start when one of them knows it by another incarnation.
//!
//! Residual risk of a deliberate rejoin (`--rejoin-after-data-loss`): the member
//! abstains from voting until it has heard from a leader and caught up with the log
//! that leader had committed; raft-rs then never votes again in that leader's term.
//! A term above it that the member had voted in before its loss would need a
//! candidate with a higher term than the ensemble's leader that is still unheard of.
use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use raft_engine::{Engine, LogBatch};

use super::storage::StorageFailure;

/// Region of the raft-engine that holds the log's metadata (shared with `storage.rs`).
const META: u64 = 2;
const KEY_OWN: &[u8] = b"incarnation";
const KEY_PEERS: &[u8] = b"peer_incarnations";

/// This member's incarnation and the ones it recorded for its peers.
pub struct Incarnations {
    engine: Arc<Engine>,
    own: u64,
    fresh: bool,
    peers: Mutex<BTreeMap<u64, u64>>,
}

/// Why a peer's link was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "member {peer} came back with another data directory (incarnation {offered:016x}, \
     known as {known:016x}): it lost its Raft state and could vote twice in a term; its \
     messages are refused unless it is started with --rejoin-after-data-loss"
)]
pub struct Refused {
    /// The peer.
    pub peer: u64,
    /// The incarnation recorded for it.
    pub known: u64,
    /// The incarnation its hello named.
    pub offered: u64,
}

/// How a peer's hello is admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admitted {
    /// The incarnation recorded for the peer.
    Known,
    /// The first incarnation seen for the peer; now recorded.
    First,
    /// A new incarnation of a peer that rejoins after a data loss; now recorded.
    Rejoined {
        /// The incarnation it had.
        was: u64,
    },
}

impl Incarnations {
    /// Loads this member's incarnation and its peers' from the log, creating this
    /// member's (durably) if the log has none: `fresh` says whether the log was created
    /// by this start (a log from before incarnations existed gets one too, and is not
    /// fresh).
    pub fn load(engine: Arc<Engine>, fresh: bool) -> Result<Incarnations, StorageFailure> {
        let own = match engine.get(META, KEY_OWN).and_then(|v| decode_u64(&v)) {
            Some(own) => own,
            None => {
                let own = loop {
                    let n: u64 = rand::random();
                    if n != 0 {
                        break n;
                    }
                };
                let mut batch = LogBatch::default();
                batch.put(META, KEY_OWN.to_vec(), own.to_be_bytes().to_vec())?;
                engine.write(&mut batch, true)?;
                own
            }
        };
        let peers = engine
            .get(META, KEY_PEERS)
            .map(|v| decode_peers(&v))
            .unwrap_or_default();
        Ok(Incarnations {
            engine,
            own,
            fresh,
            peers: Mutex::new(peers),
        })
    }

    /// This member's incarnation (never 0).
    pub fn own(&self) -> u64 {
        self.own
    }

    /// Whether this member's log was created by this start.
    pub fn fresh(&self) -> bool {
        self.fresh
    }

    /// The incarnation recorded for `peer`, if any.
    pub fn known(&self, peer: u64) -> Option<u64> {
        self.peers.lock().get(&peer).copied()
    }

    /// Admits a peer's hello naming `offered` (`rejoin`: it says it lost its data and
    /// rejoins); records a new incarnation durably before it is admitted. Blocks on an
    /// fsync when it records.
    pub fn admit(&self, peer: u64, offered: u64, rejoin: bool) -> Result<Admitted, AdmitError> {
        let mut peers = self.peers.lock();
        let admitted = match peers.get(&peer).copied() {
            Some(known) if known == offered => return Ok(Admitted::Known),
            Some(known) if !rejoin => {
                return Err(AdmitError::Refused(Refused {
                    peer,
                    known,
                    offered,
                }))
            }
            Some(was) => Admitted::Rejoined { was },
            None => Admitted::First,
        };
        let mut next = peers.clone();
        next.insert(peer, offered);
        let mut batch = LogBatch::default();
        batch
            .put(META, KEY_PEERS.to_vec(), encode_peers(&next))
            .map_err(StorageFailure::from)?;
        self.engine
            .write(&mut batch, true)
            .map_err(StorageFailure::from)?;
        *peers = next;
        Ok(admitted)
    }
}

/// A hello that cannot be admitted.
#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    /// Another incarnation than the recorded one, without a rejoin.
    #[error(transparent)]
    Refused(#[from] Refused),
    /// The record could not be written.
    #[error("recording a peer's incarnation: {0}")]
    Storage(#[from] StorageFailure),
}

fn decode_u64(v: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = v.try_into().ok()?;
    Some(u64::from_be_bytes(bytes)).filter(|n| *n != 0)
}

fn encode_peers(peers: &BTreeMap<u64, u64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(peers.len() * 16);
    for (id, inc) in peers {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&inc.to_be_bytes());
    }
    out
}

/// Pairs of (id, incarnation); a torn trailing pair is ignored.
fn decode_peers(v: &[u8]) -> BTreeMap<u64, u64> {
    v.chunks_exact(16)
        .filter_map(|c| Some((decode_u64(&c[..8])?, decode_u64(&c[8..])?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(dir: &std::path::Path) -> Arc<Engine> {
        let cfg = raft_engine::Config {
            dir: dir.to_string_lossy().into_owned(),
            ..Default::default()
        };
        Arc::new(Engine::open(cfg).expect("engine"))
    }

    #[test]
    fn a_peer_is_known_by_the_first_incarnation_it_showed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let inc = Incarnations::load(engine(dir.path()), true).expect("load");
        assert_ne!(inc.own(), 0);
        assert_eq!(inc.admit(2, 7, false).expect("first"), Admitted::First);
        assert_eq!(inc.admit(2, 7, false).expect("same"), Admitted::Known);
        assert!(matches!(
            inc.admit(2, 8, false),
            Err(AdmitError::Refused(Refused {
                peer: 2,
                known: 7,
                offered: 8
            }))
        ));
        assert_eq!(inc.known(2), Some(7), "a refusal changes nothing");
        assert_eq!(
            inc.admit(2, 8, true).expect("rejoin"),
            Admitted::Rejoined { was: 7 }
        );
        assert_eq!(inc.admit(2, 8, false).expect("now known"), Admitted::Known);
    }

    #[test]
    fn incarnations_survive_a_restart_and_go_with_the_log() {
        let dir = tempfile::tempdir().expect("tempdir");
        let own = {
            let inc = Incarnations::load(engine(dir.path()), true).expect("load");
            inc.admit(3, 9, false).expect("first");
            inc.own()
        };
        let inc = Incarnations::load(engine(dir.path()), false).expect("reload");
        assert_eq!(inc.own(), own);
        assert_eq!(inc.known(3), Some(9));
        // A wiped log is a new incarnation that knows nobody.
        let wiped = tempfile::tempdir().expect("tempdir");
        let inc = Incarnations::load(engine(wiped.path()), true).expect("load");
        assert_ne!(inc.own(), own);
        assert_eq!(inc.known(3), None);
    }

    #[test]
    fn peer_records_decode_what_they_encode() {
        let peers = BTreeMap::from([(1, 5), (2, u64::MAX), (255, 1)]);
        assert_eq!(decode_peers(&encode_peers(&peers)), peers);
        let mut torn = encode_peers(&peers);
        torn.extend_from_slice(&[1, 2, 3]);
        assert_eq!(decode_peers(&torn), peers);
    }
}
