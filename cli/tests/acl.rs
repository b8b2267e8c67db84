//! The CLI's ACL commands against an in-process member: `digest`, `--auth`,
//! `create --acl`, `getacl`, `setacl`, and the superuser.
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

#[track_caller]
fn failed(o: &Output, code: i32, says: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert!(err.contains(says), "stderr: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_commands_work_as_zkcli_users_expect() {
    let e = Ensemble::start_with(1, |cfg| {
        cfg.super_digest = Some(paddock::acl::digest("super", "test"));
    })
    .await;
    let s = e.servers();

    // `digest` needs no ensemble and prints ZooKeeper's digest.
    assert_eq!(
        ok(&paddock("127.0.0.1:1", &["digest", "super:test"]).await),
        "super:D/InIHSb7yEEbrWz8b9l71RjZJU=\n"
    );
    let alice = ok(&paddock(&s, &["digest", "alice:pw"]).await);
    let alice = alice.trim();

    // create --acl with auth:, as alice.
    let as_alice = ["--auth", "digest:alice:pw"];
    let mut args = as_alice.to_vec();
    args.extend([
        "create",
        "--acl",
        "auth::cdrwa,world:anyone:r",
        "/doc",
        "v1",
    ]);
    assert_eq!(ok(&paddock(&s, &args).await), "/doc\n");
    assert_eq!(
        ok(&paddock(&s, &["getacl", "/doc"]).await),
        format!("digest:{alice}:cdrwa\nworld:anyone:r\n")
    );
    // Anyone reads; only alice writes.
    assert_eq!(ok(&paddock(&s, &["get", "/doc"]).await), "v1\n");
    failed(
        &paddock(&s, &["set", "/doc", "x"]).await,
        1,
        "not authorised",
    );
    let mut set = as_alice.to_vec();
    set.extend(["set", "/doc", "v2"]);
    ok(&paddock(&s, &set).await);

    // setacl with the ACL version.
    let only_alice = format!("digest:{alice}:cdrwa");
    let mut lock = as_alice.to_vec();
    lock.extend(["setacl", "/doc", &only_alice, "--version", "0"]);
    ok(&paddock(&s, &lock).await);
    failed(&paddock(&s, &["get", "/doc"]).await, 1, "not authorised");
    let mut again = as_alice.to_vec();
    again.extend(["setacl", "/doc", "world:anyone:r", "--version", "0"]);
    failed(&paddock(&s, &again).await, 1, "bad version");
    let v = ok(&paddock(
        &s,
        &[
            "--auth",
            "digest:alice:pw",
            "--output",
            "json",
            "getacl",
            "/doc",
        ],
    )
    .await);
    let v: serde_json::Value = serde_json::from_str(&v).expect("json");
    assert_eq!(v["stat"]["aclVersion"], 1, "{v}");
    assert_eq!(v["acl"][0]["perms"], "cdrwa", "{v}");

    // The superuser reads it anyway.
    assert_eq!(
        ok(&paddock(&s, &["--auth", "digest:super:test", "get", "/doc"]).await),
        "v2\n"
    );

    // Bad input: a usage error (2) before anything is sent, or the member's refusal.
    failed(
        &paddock(&s, &["create", "--acl", "world:everyone:r", "/y"]).await,
        2,
        "--acl",
    );
    failed(
        &paddock(&s, &["--auth", "nocolon", "get", "/"]).await,
        2,
        "--auth",
    );
    failed(
        &paddock(&s, &["--auth", "kerberos:x", "get", "/"]).await,
        1,
        "auth failed",
    );
    failed(
        &paddock(&s, &["create", "--acl", "auth::cdrwa", "/z"]).await,
        1,
        "invalid acl",
    );
    e.shutdown().await;
}
