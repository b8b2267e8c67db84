//! A TCP proxy the harness owns, one per directed link, so that a nemesis can cut real
//! traffic without root.
//!
//! Every peer link `i -> j` (the connection member i opens to send to member j) and
//! every client port goes through one [`Proxy`]. Member i is started with a `--peers`
//! map that names the proxy for `i -> j` as j's address, so cutting that one proxy stops
//! exactly what i sends to j: a one-way partition is one cut link, a full one both.
//!
//! Guarantees:
//! - While a proxy is cut, nothing is forwarded: every connection it carried is closed
//!   (both sides see the close) and every new one is accepted and closed at once, so the
//!   dialer sees its connection fail instead of hanging.
//! - After `heal`, new connections are forwarded again (old ones stay closed; the
//!   members reconnect by themselves).
//! - A proxy stops when the [`Proxy`] is dropped (its tasks end, its port is released).
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Most connections one proxy carries at once (peer links need a handful, client
/// ports a few dozen); more are closed at accept.
const MAX_CONNECTIONS: usize = 256;
/// How long a proxy tries to reach its target before it gives up on a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// One forwarding TCP listener with a switch.
pub struct Proxy {
    listen: SocketAddr,
    target: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
}

struct Shared {
    cut: AtomicBool,
    /// Cancelled to close every connection of the current generation.
    generation: Mutex<CancellationToken>,
    live: AtomicU64,
    forwarded: AtomicU64,
}

impl Proxy {
    /// Binds `listen` and forwards every connection to `target`, on the current runtime.
    pub async fn start(listen: SocketAddr, target: SocketAddr) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind(listen).await?;
        let listen = listener.local_addr()?;
        let shared = Arc::new(Shared {
            cut: AtomicBool::new(false),
            generation: Mutex::new(CancellationToken::new()),
            live: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
        });
        let stop = CancellationToken::new();
        tokio::spawn(accept_loop(listener, target, shared.clone(), stop.clone()));
        Ok(Proxy {
            listen,
            target,
            shared,
            stop,
        })
    }

    /// The address clients of this link dial.
    pub fn addr(&self) -> SocketAddr {
        self.listen
    }

    /// Where the link leads.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// Stops forwarding: closes every connection and refuses new ones until [`Proxy::heal`].
    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::SeqCst);
        let old = std::mem::take(&mut *self.shared.generation.lock());
        old.cancel();
    }

    /// Forwards new connections again.
    pub fn heal(&self) {
        self.shared.cut.store(false, Ordering::SeqCst);
    }

    /// Whether the link is cut.
    pub fn is_cut(&self) -> bool {
        self.shared.cut.load(Ordering::SeqCst)
    }

    /// Connections currently forwarded.
    pub fn live_connections(&self) -> u64 {
        self.shared.live.load(Ordering::SeqCst)
    }

    /// Connections forwarded since the start.
    pub fn forwarded_connections(&self) -> u64 {
        self.shared.forwarded.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
        self.shared.generation.lock().cancel();
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    loop {
        let (inbound, _) = tokio::select! {
            _ = stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        if shared.cut.load(Ordering::SeqCst)
            || shared.live.load(Ordering::SeqCst) >= MAX_CONNECTIONS as u64
        {
            drop(inbound);
            continue;
        }
        let token = shared.generation.lock().clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            shared.live.fetch_add(1, Ordering::SeqCst);
            shared.forwarded.fetch_add(1, Ordering::SeqCst);
            tokio::select! {
                _ = token.cancelled() => {}
                _ = forward(inbound, target) => {}
            }
            shared.live.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

async fn forward(mut inbound: TcpStream, target: SocketAddr) {
    let Ok(Ok(mut outbound)) =
        tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target)).await
    else {
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn echo_server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn roundtrip(addr: SocketAddr) -> std::io::Result<Vec<u8>> {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(2), s.read_exact(&mut buf))
            .await
            .map_err(|_| std::io::Error::other("timeout"))??;
        Ok(buf.to_vec())
    }

    #[tokio::test]
    async fn forwards_cuts_and_heals() {
        let echo = echo_server().await;
        let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), echo)
            .await
            .unwrap();
        assert_eq!(roundtrip(proxy.addr()).await.unwrap(), b"ping");

        // A connection open across the cut is closed: its next read sees EOF or an error.
        let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
        open.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        open.read_exact(&mut buf).await.unwrap();
        proxy.cut();
        let r = tokio::time::timeout(Duration::from_secs(2), open.read(&mut buf))
            .await
            .expect("a cut connection must not hang");
        assert!(
            matches!(r, Ok(0) | Err(_)),
            "cut connection still delivers: {r:?}"
        );
        // New connections are closed at once.
        assert!(roundtrip(proxy.addr()).await.is_err());
        assert!(proxy.is_cut());

        proxy.heal();
        assert_eq!(roundtrip(proxy.addr()).await.unwrap(), b"ping");
        assert!(proxy.forwarded_connections() >= 3);
    }
}
