//! One member, one write through the Raft loop and back.
mod common;

use std::time::Duration;

use paddock::{Code, CreateMode};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_member_write_read() {
    let e = common::Ensemble::start(1, &[]);
    let c = common::client_at(&e.members[0].client, Duration::from_secs(20)).await;
    let path = c
        .create("/hello", b"world", CreateMode::Persistent)
        .await
        .expect("create");
    assert_eq!(path, "/hello");
    let (data, stat) = c.get("/hello").await.expect("get");
    assert_eq!(data, b"world");
    assert_eq!(stat.version, 0);
    let err = c
        .create("/hello", b"again", CreateMode::Persistent)
        .await
        .expect_err("exists");
    assert_eq!(err.code(), Code::NodeExists);
    let stat = c.set("/hello", b"v2", Some(0)).await.expect("set");
    assert_eq!(stat.version, 1);
    assert_eq!(
        c.children("/").await.expect("ls"),
        vec!["hello".to_string()]
    );
    c.close().await.expect("close");
}
