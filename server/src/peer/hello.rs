//! The first frame of a peer connection: a link hello (who is sending, from which data
//! directory, and whether it rejoins after losing its data), or a probe (a member on a
//! new data directory asking whether it was known before, and the current term), and
//! the probe's answer.
use std::time::Duration;

use crate::tls::PeerTls;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};

/// First bytes of a link hello.
pub const LINK_MAGIC: &[u8; 8] = b"PDKPEER3";
/// First bytes of a probe.
pub const PROBE_MAGIC: &[u8; 8] = b"PDKPROBE";

const FLAG_REJOIN: u8 = 1;

/// What a peer connection starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hello {
    /// A link that carries Raft traffic from member `from`.
    Link {
        /// The sender's id.
        from: u64,
        /// The sender's data directory.
        incarnation: u64,
        /// The sender lost its data and rejoins with a new data directory.
        rejoin: bool,
    },
    /// A question from member `from`: which incarnation of it does this member know?
    Probe {
        /// The asking member's id.
        from: u64,
        /// Its (new) incarnation.
        incarnation: u64,
    },
}

impl Hello {
    /// The frame.
    pub fn encode(&self) -> Bytes {
        let mut out = Vec::with_capacity(25);
        match *self {
            Hello::Link {
                from,
                incarnation,
                rejoin,
            } => {
                out.extend_from_slice(LINK_MAGIC);
                out.extend_from_slice(&from.to_be_bytes());
                out.extend_from_slice(&incarnation.to_be_bytes());
                out.push(if rejoin { FLAG_REJOIN } else { 0 });
            }
            Hello::Probe { from, incarnation } => {
                out.extend_from_slice(PROBE_MAGIC);
                out.extend_from_slice(&from.to_be_bytes());
                out.extend_from_slice(&incarnation.to_be_bytes());
            }
        }
        Bytes::from(out)
    }

    /// Parses a first frame; `None` for anything else.
    pub fn decode(frame: &[u8]) -> Option<Hello> {
        let u64_at = |at: usize| -> Option<u64> {
            Some(u64::from_be_bytes(frame.get(at..at + 8)?.try_into().ok()?))
        };
        match (frame.get(..8)?, frame.len()) {
            (m, 25) if m == LINK_MAGIC => Some(Hello::Link {
                from: u64_at(8)?,
                incarnation: u64_at(16)?,
                rejoin: frame[24] & FLAG_REJOIN != 0,
            }),
            (m, 24) if m == PROBE_MAGIC => Some(Hello::Probe {
                from: u64_at(8)?,
                incarnation: u64_at(16)?,
            }),
            _ => None,
        }
    }
}

/// A member's answer to a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeAnswer {
    /// The incarnation it recorded for the asking member, if any.
    pub known: Option<u64>,
    /// Its current Raft term.
    pub term: u64,
    /// The newest log position (term, index) it holds or knows a peer held (see
    /// `RaftStatus::log_position`).
    pub position: (u64, u64),
}

impl ProbeAnswer {
    /// The frame: the known incarnation (0: none), the term, then the position's term
    /// and index, each a big-endian u64.
    pub fn encode(&self) -> Bytes {
        let mut out = Vec::with_capacity(32);
        for n in [
            self.known.unwrap_or(0),
            self.term,
            self.position.0,
            self.position.1,
        ] {
            out.extend_from_slice(&n.to_be_bytes());
        }
        Bytes::from(out)
    }

    /// Parses an answer; `None` unless it is exactly one.
    pub fn decode(frame: &[u8]) -> Option<ProbeAnswer> {
        if frame.len() != 32 {
            return None;
        }
        let at = |i: usize| -> Option<u64> {
            Some(u64::from_be_bytes(frame.get(i..i + 8)?.try_into().ok()?))
        };
        Some(ProbeAnswer {
            known: Some(at(0)?).filter(|k| *k != 0),
            term: at(8)?,
            position: (at(16)?, at(24)?),
        })
    }
}

/// Asks the member at `addr` which incarnation of member `my_id` it knows, and its
/// term; `Err` when it could not be asked (down, not answering within `timeout`, or an
/// older member that does not answer probes this way).
pub async fn probe(
    addr: &str,
    my_id: u64,
    incarnation: u64,
    tls: Option<&PeerTls>,
    timeout: Duration,
) -> Result<ProbeAnswer, String> {
    let ask = async {
        let stream = crate::tls::connect_peer(tls, addr, timeout)
            .await
            .map_err(|e| e.to_string())?;
        let mut framed = paddock::codec::framed(stream, 64);
        framed
            .send(
                Hello::Probe {
                    from: my_id,
                    incarnation,
                }
                .encode(),
            )
            .await
            .map_err(|e| e.to_string())?;
        match framed.next().await {
            Some(Ok(answer)) => {
                ProbeAnswer::decode(&answer).ok_or_else(|| "malformed answer".to_string())
            }
            Some(Err(e)) => Err(e.to_string()),
            None => Err("closed without an answer".to_string()),
        }
    };
    tokio::time::timeout(timeout, ask)
        .await
        .map_err(|_| format!("no answer within {timeout:?}"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_answers_decode_what_they_encode_and_nothing_else() {
        for a in [
            ProbeAnswer {
                known: Some(7),
                term: 12,
                position: (11, 4000),
            },
            ProbeAnswer {
                known: None,
                term: 0,
                position: (0, 0),
            },
        ] {
            assert_eq!(ProbeAnswer::decode(&a.encode()), Some(a));
        }
        assert_eq!(ProbeAnswer::decode(&[0; 8]), None, "an older answer");
        assert_eq!(ProbeAnswer::decode(&[0; 33]), None);
    }

    #[test]
    fn hellos_decode_what_they_encode_and_nothing_else() {
        for h in [
            Hello::Link {
                from: 3,
                incarnation: u64::MAX,
                rejoin: false,
            },
            Hello::Link {
                from: 255,
                incarnation: 1,
                rejoin: true,
            },
            Hello::Probe {
                from: 2,
                incarnation: 42,
            },
        ] {
            assert_eq!(Hello::decode(&h.encode()), Some(h));
        }
        let link = Hello::Link {
            from: 1,
            incarnation: 2,
            rejoin: false,
        }
        .encode();
        assert_eq!(Hello::decode(&link[..24]), None, "short");
        assert_eq!(
            Hello::decode(b"PDKPEER2\0\0\0\0\0\0\0\x01"),
            None,
            "old hello"
        );
        let mut wrong = link.to_vec();
        wrong[0] = b'X';
        assert_eq!(Hello::decode(&wrong), None);
        assert_eq!(Hello::decode(&[]), None);
    }
}
