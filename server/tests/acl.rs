//! ACLs and authentication against real `paddockd` processes: digest identities,
//! `auth` expansion, ip and x509 schemes, the superuser, setACL with aversion, checks in
//! multi, identities kept across reconnects, and ACLs replicated and restored from
//! snapshots.
mod common;

use std::time::{Duration, Instant};

use common::certs::{host, Ca};
use common::{client_at, Ensemble};
use paddock::acl::{digest, Acl, Id, Perms};
use paddock::tls::ClientTls;
use paddock::{Client, ClientConfig, Code, CreateMode, Error, Op};

const T: Duration = Duration::from_secs(30);

fn code<T: std::fmt::Debug>(r: paddock::Result<T>) -> Code {
    match r {
        Err(e) => e.code(),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_identities_guard_nodes_as_zookeeper_does() {
    let e = Ensemble::start(1, &[]);
    e.wait_leader(T);
    let alice = client_at(&e.members[0].client, T).await;
    let other = client_at(&e.members[0].client, T).await;
    alice
        .add_auth("digest", b"alice:secret")
        .await
        .expect("auth");

    // auth:cdrwa expands to the creator's identities.
    alice
        .create_with_acl("/secret", b"s", CreateMode::Persistent, &Acl::creator_all())
        .await
        .expect("create");
    let (acl, stat) = alice.get_acl("/secret").await.expect("get_acl");
    assert_eq!(
        acl,
        vec![Acl::new(
            Perms::ALL,
            Id::new("digest", digest("alice", "secret"))
        )]
    );
    assert_eq!(stat.aversion, 0);
    assert_eq!(alice.get("/secret").await.expect("get").0, b"s");

    // Without the identity: no read, write, create below, ACL read or delete below.
    assert_eq!(code(other.get("/secret").await), Code::NoAuth);
    assert_eq!(code(other.children("/secret").await), Code::NoAuth);
    assert_eq!(code(other.set("/secret", b"x", None).await), Code::NoAuth);
    assert_eq!(
        code(other.create("/secret/c", b"", CreateMode::Persistent).await),
        Code::NoAuth
    );
    assert_eq!(code(other.get_acl("/secret").await), Code::NoAuth);
    assert_eq!(
        code(other.set_acl("/secret", &Acl::open(), None).await),
        Code::NoAuth
    );
    // exists needs no permission.
    assert!(other.exists("/secret").await.expect("exists").is_some());
    // A multi stops at its first denied operation and changes nothing.
    let err = other
        .multi(&[Op::create("/free", b""), Op::set_data("/secret", b"x")])
        .await
        .expect_err("denied");
    assert!(
        matches!(
            err,
            Error::Multi {
                index: 1,
                code: Code::NoAuth,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(other.exists("/free").await.expect("exists").is_none());

    // Opening it for reading, with the ACL version checked.
    assert_eq!(
        code(alice.set_acl("/secret", &Acl::read_only(), Some(3)).await),
        Code::BadVersion
    );
    let stat = alice
        .set_acl("/secret", &Acl::read_only(), Some(0))
        .await
        .expect("set_acl");
    assert_eq!(stat.aversion, 1);
    assert_eq!(other.get("/secret").await.expect("get").0, b"s");
    assert_eq!(code(other.set("/secret", b"x", None).await), Code::NoAuth);
    // The creator lost its rights too: the ACL is all that counts.
    assert_eq!(code(alice.set("/secret", b"x", None).await), Code::NoAuth);

    // Bad ACLs and credentials are refused with ZooKeeper's codes.
    assert_eq!(
        code(
            other
                .create_with_acl("/x", b"", CreateMode::Persistent, &Acl::creator_all())
                .await
        ),
        Code::InvalidAcl,
        "auth without an authenticated identity"
    );
    let bad = vec![Acl::new(Perms::READ, Id::new("world", "everyone"))];
    assert_eq!(
        code(
            other
                .create_with_acl("/x", b"", CreateMode::Persistent, &bad)
                .await
        ),
        Code::InvalidAcl
    );
    assert_eq!(
        code(other.add_auth("kerberos", b"x").await),
        Code::AuthFailed
    );
    assert_eq!(
        code(other.add_auth("digest", b"no-colon").await),
        Code::AuthFailed
    );
    // The session goes on after a refused add_auth.
    assert_eq!(other.get("/secret").await.expect("get").0, b"s");
    alice.close().await.expect("close");
    other.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identity_is_sent_again_after_the_session_moves() {
    let mut e = Ensemble::start(3, &[]);
    let leader = e.wait_leader(T);
    // The session starts on a follower, which is then killed.
    let first = (leader + 1) % 3;
    let order: Vec<String> = (0..3)
        .map(|k| e.members[(first + k) % 3].client.clone())
        .collect();
    let cfg = ClientConfig::new(order)
        .in_order(true)
        .session_timeout(Duration::from_secs(10));
    let c = Client::connect_with(cfg).await.expect("connect");
    c.add_auth("digest", b"bob:pw").await.expect("auth");
    c.create_with_acl("/bob", b"1", CreateMode::Persistent, &Acl::creator_all())
        .await
        .expect("create");
    let was = c.server_id();
    e.kill(first);
    let deadline = Instant::now() + T;
    loop {
        // Bounded: a write the SDK keeps resending must fail the test, not hang it (it
        // once did: a write given its place in the order after the connection's reader
        // had stopped was dropped, and the next write named it forever).
        let set = tokio::time::timeout(T, c.set("/bob", b"2", None))
            .await
            .expect("a set is answered within 30 s");
        match set {
            Ok(_) => break,
            Err(err) => {
                assert_ne!(err.code(), Code::NoAuth, "the identity was not sent again");
                assert!(Instant::now() < deadline, "no write after the move: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert_ne!(c.server_id(), was, "the session moved");
    assert_eq!(c.get("/bob").await.expect("get").0, b"2");
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_superuser_passes_every_acl() {
    let super_digest = digest("super", "test");
    let e = Ensemble::start(1, &["--super-digest", &super_digest]);
    e.wait_leader(T);
    let alice = client_at(&e.members[0].client, T).await;
    alice.add_auth("digest", b"alice:pw").await.expect("auth");
    alice
        .create_with_acl("/mine", b"a", CreateMode::Persistent, &Acl::creator_all())
        .await
        .expect("create");
    alice
        .create("/mine/child", b"", CreateMode::Persistent)
        .await
        .expect("create child");
    let root = client_at(&e.members[0].client, T).await;
    assert_eq!(code(root.get("/mine").await), Code::NoAuth);
    root.add_auth("digest", b"super:test")
        .await
        .expect("super auth");
    assert_eq!(root.get("/mine").await.expect("get").0, b"a");
    root.set("/mine", b"b", None).await.expect("set");
    root.set_acl("/mine", &Acl::open(), None)
        .await
        .expect("set_acl");
    root.delete_all("/mine").await.expect("delete");
    // A wrong password is just another identity, not the superuser.
    let guess = client_at(&e.members[0].client, T).await;
    guess
        .add_auth("digest", b"super:wrong")
        .await
        .expect("auth");
    alice
        .create_with_acl("/mine2", b"", CreateMode::Persistent, &Acl::creator_all())
        .await
        .expect("create");
    assert_eq!(code(guess.get("/mine2").await), Code::NoAuth);
    for c in [alice, root, guess] {
        c.close().await.expect("close");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_and_x509_identities_come_from_the_connection() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new(dir.path(), "ca");
    let e = Ensemble::start_each(1, &[], |m| {
        let id = ca.issue(dir.path(), "member", "member-1", &[host(&m.client)]);
        vec![
            "--tls-cert".into(),
            id.cert.display().to_string(),
            "--tls-key".into(),
            id.key.display().to_string(),
            "--tls-client-ca".into(),
            ca.pem.display().to_string(),
        ]
    });
    e.wait_leader(T);
    let server = e.members[0].client.clone();
    let as_user = |name: &str| {
        let id = ca.issue(dir.path(), name, name, &[]);
        ClientTls::from_pem_files(&ca.pem, Some((&id.cert, &id.key))).expect("identity")
    };
    let connect = |tls: ClientTls| {
        let server = server.clone();
        async move {
            let cfg = ClientConfig::from_list(&server).tls(tls);
            let deadline = Instant::now() + T;
            loop {
                match Client::connect_with(cfg.clone()).await {
                    Ok(c) => return c,
                    Err(err) => {
                        assert!(Instant::now() < deadline, "connect: {err}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }
    };
    let alice = connect(as_user("alice")).await;
    let bob = connect(as_user("bob")).await;

    // x509: the certificate's subject.
    let x509 = vec![Acl::new(Perms::ALL, Id::new("x509", "CN=alice"))];
    alice
        .create_with_acl("/x509", b"a", CreateMode::Persistent, &x509)
        .await
        .expect("create");
    assert_eq!(alice.get("/x509").await.expect("get").0, b"a");
    assert_eq!(code(bob.get("/x509").await), Code::NoAuth);
    // auth expands to the certificate's identity as well.
    bob.create_with_acl("/bobs", b"", CreateMode::Persistent, &Acl::creator_all())
        .await
        .expect("create");
    assert_eq!(
        bob.get_acl("/bobs").await.expect("acl").0,
        vec![Acl::new(Perms::ALL, Id::new("x509", "CN=bob"))]
    );

    // ip: clients on this machine connect from a loopback address.
    let local = vec![Acl::new(Perms::ALL, Id::new("ip", "127.0.0.0/8"))];
    let remote = vec![Acl::new(Perms::ALL, Id::new("ip", "10.0.0.0/8"))];
    alice
        .create_with_acl("/local", b"l", CreateMode::Persistent, &local)
        .await
        .expect("create");
    alice
        .create_with_acl("/remote", b"r", CreateMode::Persistent, &remote)
        .await
        .expect("create");
    assert_eq!(bob.get("/local").await.expect("get").0, b"l");
    assert_eq!(code(bob.get("/remote").await), Code::NoAuth);
    alice.close().await.expect("close");
    bob.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_are_replicated_and_restored_from_snapshots() {
    let mut e = Ensemble::start(3, &["--snapshot-entries", "20"]);
    e.wait_leader(T);
    let c = client_at(&e.members[0].client, T).await;
    c.add_auth("digest", b"carol:pw").await.expect("auth");
    let carol = vec![
        Acl::new(Perms::ALL, Id::new("digest", digest("carol", "pw"))),
        Acl::new(Perms::READ, Id::anyone()),
    ];
    c.create_with_acl("/kept", b"k", CreateMode::Persistent, &carol)
        .await
        .expect("create");
    c.set_acl("/kept", &carol, Some(0)).await.expect("set_acl");
    // Enough writes for every member to take a snapshot after the ACL.
    for i in 0..60 {
        c.create(&format!("/n{i}"), b"", CreateMode::Persistent)
            .await
            .expect("create");
    }
    c.close().await.expect("close");
    let digest_before = e.wait_converged(T);
    for i in 0..3 {
        e.stop(i);
    }
    for i in 0..3 {
        e.spawn(i);
    }
    e.wait_leader(T);
    assert_eq!(
        e.wait_converged(T),
        digest_before,
        "the same tree after the restart"
    );
    for i in 0..3 {
        let snap = e.status(i).expect("status")["snapshot_index"]
            .as_u64()
            .unwrap_or(0);
        assert!(snap > 0, "member {i} restarted without a snapshot");
        let r = client_at(&e.members[i].client, T).await;
        r.sync("/").await.expect("sync");
        let (acl, stat) = r.get_acl("/kept").await.expect("get_acl");
        assert_eq!(acl, carol, "member {i}");
        assert_eq!(stat.aversion, 1, "member {i}");
        assert_eq!(code(r.set("/kept", b"x", None).await), Code::NoAuth);
        r.close().await.expect("close");
    }
}
