//! `paddock snapshot save`, `paddock snapshot status` and `paddock leader transfer`
//! against in-process members.
mod support;

use std::process::Output;

use support::Ensemble;

async fn paddock(servers: &str, args: &[&str]) -> Output {
    support::paddock_env(servers, &[], args).await
}

#[track_caller]
fn ok(o: &Output) -> String {
    support::succeeded(o)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_save_writes_a_backup_that_status_checks() {
    let e = Ensemble::start(3).await;
    let s = e.servers();
    ok(&paddock(&s, &["create", "/a", "1"]).await);
    ok(&paddock(&s, &["create", "/a/b", "2"]).await);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("backup.snap");
    let f = file.display().to_string();

    let saved = ok(&paddock(&s, &["snapshot", "save", &f]).await);
    assert!(saved.starts_with(&format!("saved {f}: zxid ")), "{saved}");
    assert!(
        !dir.path().join("backup.snap.part").exists(),
        "no leftover part file"
    );
    let status = ok(&paddock(&s, &["--output", "json", "snapshot", "status", &f]).await);
    let v: serde_json::Value = serde_json::from_str(&status).expect("json");
    assert_eq!(v["valid"], true);
    // "/", "/a" and "/a/b".
    assert_eq!(v["znodes"], 3, "{v}");
    assert!(v["zxid"].as_u64().unwrap_or(0) > 0, "{v}");
    let text = ok(&paddock(&s, &["snapshot", "status", &f]).await);
    assert!(
        text.contains("valid (checksum, structure and digest verified)"),
        "{text}"
    );

    // `leader transfer`: the named member leads afterwards.
    let target = e.members[2].id.to_string();
    assert_eq!(
        ok(&paddock(&s, &["leader", "transfer", &target]).await),
        format!("member {target} leads\n")
    );
    let bad = paddock(&s, &["leader", "transfer", "42"]).await;
    assert_eq!(bad.status.code(), Some(1));

    // A damaged file is refused (exit 1) with the reason.
    let mut bytes = std::fs::read(&file).expect("read");
    let n = bytes.len();
    bytes[n / 2] ^= 1;
    std::fs::write(&file, &bytes).expect("write");
    let bad = paddock(&s, &["snapshot", "status", &f]).await;
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("not a valid snapshot"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    e.shutdown().await;
}
