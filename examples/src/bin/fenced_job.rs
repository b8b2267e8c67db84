//! A lock-protected job whose writes to an external store are fenced by the lock's
//! token, and why the token matters.
//!
//! Two workers take the lock `/locks/report` in turn. The store (a stand-in for a
//! database or object store, here in memory) remembers the highest token it has seen
//! and refuses writes that carry a lower one. Worker A holds the lock first, then is
//! "paused" (think of a long GC pause or a stalled VM) past the moment its grant ends;
//! worker B takes the lock and writes. When A wakes up and writes with its old token,
//! the store refuses it. The same grant also fences writes to Paddock itself: a `multi`
//! with `LockGuard::check_op()` fails once the grant is gone.
//!
//! ```sh
//! cargo run -p paddock-examples --bin fenced_job -- [HOST:PORT,...]
//! ```
use std::sync::Mutex;

use anyhow::{bail, Context};
use paddock::recipes::{FencingToken, Lock};
use paddock::{Client, Code, CreateMode, Op};

/// An external store that checks fencing tokens: it accepts a write only if its token
/// is at least the highest one it has accepted before.
#[derive(Default)]
struct FencedStore {
    inner: Mutex<(u64, Vec<String>)>,
}

impl FencedStore {
    fn write(&self, token: FencingToken, line: &str) -> Result<(), String> {
        let mut g = self
            .inner
            .lock()
            .map_err(|_| "store poisoned".to_string())?;
        if token.0 < g.0 {
            return Err(format!(
                "refused {line:?}: token {token} is older than {}",
                g.0
            ));
        }
        g.0 = token.0;
        g.1.push(line.to_string());
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let servers = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("PADDOCK_SERVERS").ok())
        .unwrap_or_else(|| "127.0.0.1:7181".into());
    let a = Client::connect(&servers)
        .await
        .context("connecting worker A")?;
    let b = Client::connect(&servers)
        .await
        .context("connecting worker B")?;
    let store = FencedStore::default();
    match a.create("/reports", b"", CreateMode::Persistent).await {
        Err(e) if e.code() != Code::NodeExists => return Err(e.into()),
        _ => {}
    }

    // A takes the lock and writes.
    let guard_a = Lock::new(&a, "/locks/report")?.acquire().await?;
    let token_a = guard_a.token();
    let fence_a = guard_a.check_op();
    store
        .write(token_a, "A: started the report")
        .map_err(anyhow::Error::msg)?;
    println!("A holds the lock with token {token_a}");

    // A stalls; its grant ends meanwhile (here: it is released on A's behalf, as an
    // expired session would delete A's node). B is granted the lock and writes.
    guard_a.release().await?;
    let guard_b = Lock::new(&b, "/locks/report")?.acquire().await?;
    println!("B holds the lock with token {}", guard_b.token());
    store
        .write(guard_b.token(), "B: wrote the report")
        .map_err(anyhow::Error::msg)?;

    // A wakes up and carries on as if it still held the lock: the store refuses it.
    match store.write(token_a, "A: overwrote the report") {
        Err(why) => println!("store: {why}"),
        Ok(()) => bail!("the store accepted a write with a stale token"),
    }
    // And so does Paddock, for a write fenced by A's grant.
    let stale = a.multi(&[fence_a, Op::set_data("/reports", b"by A")]).await;
    match stale {
        Err(e) => println!("paddock: A's fenced write failed: {e}"),
        Ok(_) => bail!("a write fenced by a lost grant was applied"),
    }
    b.multi(&[guard_b.check_op(), Op::set_data("/reports", b"by B")])
        .await?;
    println!("paddock: B's fenced write was applied");
    guard_b.release().await?;
    a.close().await?;
    b.close().await?;
    Ok(())
}
