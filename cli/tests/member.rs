//! `paddock member list|add|promote|remove` against in-process members.
mod support;

use std::process::Output;

use support::Ensemble;

async fn paddock(servers: &str, args: &[&str]) -> Output {
    support::paddock_env(servers, &[], args).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_are_listed_added_refused_and_removed() {
    let e = Ensemble::start(3).await;
    let s = e.servers();
    let list = support::succeeded(&paddock(&s, &["--output", "json", "member", "list"]).await);
    let v: serde_json::Value = serde_json::from_str(&list).expect("json");
    let members = v.as_array().expect("an array");
    assert_eq!(members.len(), 3, "{v}");
    assert!(members.iter().all(|m| m["role"] == "voter"), "{v}");
    assert_eq!(
        members.iter().filter(|m| m["leader"] == true).count(),
        1,
        "{v}"
    );

    // A learner that never runs: listed, never promoted, removed again.
    let added =
        support::succeeded(&paddock(&s, &["member", "add", "4", "127.0.0.1:9", "--learner"]).await);
    assert!(
        added
            .lines()
            .any(|l| l.contains("learner") && l.contains("127.0.0.1:9")),
        "{added}"
    );
    assert!(added.contains("voter*"), "the leader is marked: {added}");
    let promote = paddock(&s, &["member", "promote", "4"]).await;
    assert_eq!(promote.status.code(), Some(1));
    let err = String::from_utf8_lossy(&promote.stderr);
    assert!(err.contains("not caught up"), "{err}");
    let twice = paddock(&s, &["member", "add", "4", "127.0.0.1:9"]).await;
    assert_eq!(twice.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&twice.stderr).contains("already a learner"));
    let removed = support::succeeded(&paddock(&s, &["member", "remove", "4"]).await);
    assert!(!removed.contains("learner"), "{removed}");
    assert_eq!(
        removed.lines().count(),
        4,
        "a header and three voters: {removed}"
    );
    e.shutdown().await;
}
