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
//! A deliberate rejoin (`--rejoin-after-data-loss`) asks every peer for its term and
//! the newest log position it holds. If all of them answer, the member takes the highest
//! term as one it already voted in (so it votes only in later terms: any term it voted
//! in before the loss is known to the candidate it voted for), and until it has caught
//! up it votes only for candidates whose log is at least as up to date as the newest
//! position a peer held (so members that lost their data never elect one of their own
//! over a member that kept the log). If a peer does not answer, it grants no vote until
//! it has caught up with a leader; raft-rs then never votes again in that leader's
//! term, and the residual risk is a vote cast before the loss in a term above that
//! leader's, for a candidate still unheard of. The rejoining state and its floor are kept
//! in the new log until it has caught up, so a member restarted before then is still
//! rejoining (it asks again, and says it rejoins in its hellos).
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
/// Present while this member rejoins after a data loss and has not caught up yet.
const KEY_REJOINING: &[u8] = b"rejoining";
/// Present once this log began with a consented rejoin (kept for good).
const KEY_REJOINED: &[u8] = b"rejoined";

/// This member's incarnation and the ones it recorded for its peers.
pub struct Incarnations {
    engine: Arc<Engine>,
    own: u64,
    fresh: bool,
    peers: Mutex<BTreeMap<u64, u64>>,
}

/// Whether the member on `engine` is still rejoining after a data loss (it started with
/// `--rejoin-after-data-loss` on an empty log and has not caught up with a leader
/// since), with the newest log position (term, index) a peer told it of then. The state
/// is kept in the log, so a restart before catching up (with or without the flag) is
/// still rejoining.
pub fn rejoining(engine: &Engine) -> Option<(u64, u64)> {
    let v = engine.get(META, KEY_REJOINING)?;
    let at = |i: usize| -> u64 {
        v.get(i..i + 8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_be_bytes)
    };
    Some((at(0), at(8)))
}

/// Whether this log began with a consented rejoin (`--rejoin-after-data-loss`): its
/// hellos then always say so, so that a peer that was down all along and still knows
/// the lost incarnation records this one instead of refusing it. A later loss of this
/// log loses the mark too, so an unconsented wipe is still refused.
pub fn rejoined(engine: &Engine) -> bool {
    engine.get(META, KEY_REJOINED).is_some()
}

/// Records durably that the member is rejoining, with its vote floor (see
/// [`rejoining`]), or (`None`) that it has caught up.
pub fn set_rejoining(engine: &Engine, floor: Option<(u64, u64)>) -> Result<(), StorageFailure> {
    let mut batch = LogBatch::default();
    match floor {
        Some((term, index)) => {
            let mut v = term.to_be_bytes().to_vec();
            v.extend_from_slice(&index.to_be_bytes());
            batch.put(META, KEY_REJOINING.to_vec(), v)?;
            batch.put(META, KEY_REJOINED.to_vec(), vec![1])?;
        }
        None => batch.delete(META, KEY_REJOINING.to_vec()),
    }
    engine.write(&mut batch, true)?;
    Ok(())
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

impl Incarnations {
    /// Forgets the incarnation recorded for `peer`, durably: it was removed from the
    /// ensemble, and if it is added again (with the same id, on a new data directory)
    /// its first hello is recorded like a new member's.
    pub fn forget(&self, peer: u64) -> Result<(), StorageFailure> {
        let mut peers = self.peers.lock();
        if !peers.contains_key(&peer) {
            return Ok(());
        }
        let mut next = peers.clone();
        next.remove(&peer);
        let mut batch = LogBatch::default();
        batch.put(META, KEY_PEERS.to_vec(), encode_peers(&next))?;
        self.engine.write(&mut batch, true)?;
        *peers = next;
        Ok(())
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
    fn the_rejoining_state_survives_a_restart_until_cleared() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let e = engine(dir.path());
            assert_eq!(rejoining(&e), None);
            set_rejoining(&e, Some((3, 700))).expect("set");
        }
        let e = engine(dir.path());
        assert_eq!(rejoining(&e), Some((3, 700)), "kept across a restart");
        set_rejoining(&e, None).expect("clear");
        drop(e);
        let e = engine(dir.path());
        assert_eq!(rejoining(&e), None);
        assert!(rejoined(&e), "the log remembers it began with a rejoin");
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
