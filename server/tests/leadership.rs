//! Moving leadership on request (`transfer_leader`, `paddock leader transfer`) against
//! real `paddockd` processes.
mod common;

use std::time::{Duration, Instant};

use common::{client_at, Ensemble};
use paddock::acl::digest;
use paddock::{Code, CreateMode};

const T: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leadership_moves_to_the_member_asked_for() {
    let e = Ensemble::start(3, &[]);
    let leader = e.wait_leader(T);
    // Asked through a member that does not lead: raft-rs passes it on.
    let target = (leader + 1) % 3;
    let via = (leader + 2) % 3;
    let c = client_at(&e.members[via].client, T).await;
    c.create("/before", b"", CreateMode::Persistent)
        .await
        .expect("create");
    c.transfer_leader(e.members[target].id)
        .await
        .expect("transfer");
    let deadline = Instant::now() + T;
    while e.status(target).map(|s| s["role"] == "leader") != Some(true) {
        assert!(Instant::now() < deadline, "member {target} never led");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(e.wait_leader(T), target);
    // Nothing was lost and writes go on.
    c.create("/after", b"", CreateMode::Persistent)
        .await
        .expect("create after");
    assert!(c.exists("/before").await.expect("exists").is_some());
    // Not a voter: refused at once.
    assert_eq!(
        c.transfer_leader(9).await.err().map(|e| e.code()),
        Some(Code::BadArguments)
    );
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_superuser_only_the_superuser_moves_leadership() {
    let e = Ensemble::start(3, &["--super-digest", &digest("super", "test")]);
    let leader = e.wait_leader(T);
    let target = e.members[(leader + 1) % 3].id;
    let c = client_at(&e.members[leader].client, T).await;
    assert_eq!(
        c.transfer_leader(target).await.err().map(|e| e.code()),
        Some(Code::NoAuth)
    );
    c.add_auth("digest", b"super:test").await.expect("auth");
    c.transfer_leader(target)
        .await
        .expect("transfer as superuser");
    c.close().await.expect("close");
}
