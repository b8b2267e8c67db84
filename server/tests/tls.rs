//! TLS against real `paddockd` processes, with certificates the tests generate: the
//! client listener (server certificates, mutual TLS), the peer links (mutual TLS; an
//! untrusted member is refused), the admin listener (HTTPS), reloading certificates
//! without a restart, and start-up refusing files that do not load.
mod common;

use std::time::{Duration, Instant};

use common::certs::{host, Ca, Identity};
use common::{http_get, peer_hello, Ensemble};
use paddock::tls::ClientTls;
use paddock::{Client, ClientConfig, CreateMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const T: Duration = Duration::from_secs(30);

fn flags(pairs: &[(&str, &std::path::Path)]) -> Vec<String> {
    pairs
        .iter()
        .flat_map(|(f, p)| [f.to_string(), p.display().to_string()])
        .collect()
}

/// One attempt to open a session with `server` speaking TLS as `tls` says.
async fn try_connect(server: &str, tls: &ClientTls) -> paddock::Result<Client> {
    let cfg = ClientConfig::from_list(server)
        .connect_timeout(Duration::from_secs(2))
        .tls(tls.clone());
    Client::connect_with(cfg).await
}

/// Opens a session, retrying until [`T`] (the member may still be starting).
async fn connect(server: &str, tls: &ClientTls) -> Client {
    let deadline = Instant::now() + T;
    loop {
        match try_connect(server, tls).await {
            Ok(c) => return c,
            Err(e) => {
                assert!(Instant::now() < deadline, "connect to {server}: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// A one-member ensemble whose client listener uses `id`, plus `more` flags.
fn member_with(id: &Identity, more: Vec<String>) -> Ensemble {
    let id = id.clone();
    Ensemble::start_each(1, &[], move |_| {
        let mut v = flags(&[("--tls-cert", &id.cert), ("--tls-key", &id.key)]);
        v.extend(more.iter().cloned());
        v
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_speak_tls_to_a_member_whose_ca_they_trust() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new(dir.path(), "ca");
    let other = Ca::new(dir.path(), "other");
    // The member's certificate names its own address (known once the ensemble is
    // laid out), so it is issued inside the per-member flags.
    let e = Ensemble::start_each(1, &[], |m| {
        let id = ca.issue(
            dir.path(),
            "member",
            "member-1",
            &[host(&m.client), "localhost"],
        );
        flags(&[("--tls-cert", &id.cert), ("--tls-key", &id.key)])
    });
    e.wait_leader(T);
    let server = e.members[0].client.clone();
    let trusted = ClientTls::from_pem_files(&ca.pem, None).expect("CA");
    let c = connect(&server, &trusted).await;
    c.create("/tls", b"secret", CreateMode::Persistent)
        .await
        .expect("create over TLS");
    assert_eq!(c.get("/tls").await.expect("get").0, b"secret");

    // Plain TCP is refused: the member only speaks TLS on this port.
    let plain = Client::connect_with(
        ClientConfig::from_list(&server).connect_timeout(Duration::from_secs(2)),
    )
    .await;
    assert!(plain.is_err(), "a plain client got a session");

    // A CA that did not sign the member's certificate: refused, and the error says why.
    let untrusted = ClientTls::from_pem_files(&other.pem, None).expect("CA");
    let err = try_connect(&server, &untrusted)
        .await
        .expect_err("an untrusted member was accepted");
    assert!(err.to_string().contains("TLS"), "{err}");

    // The name checked is the address dialled, or the one the client sets.
    let wrong_name = trusted.clone().server_name("not-the-member.example");
    assert!(try_connect(&server, &wrong_name).await.is_err());
    let by_name = trusted.clone().server_name("localhost");
    let c2 = connect(&server, &by_name).await;
    assert_eq!(c2.get("/tls").await.expect("get").0, b"secret");
    c2.close().await.expect("close");
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_client_ca_every_client_needs_a_certificate_from_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new(dir.path(), "ca");
    let other = Ca::new(dir.path(), "other");
    let e = Ensemble::start_each(1, &[], |m| {
        let id = ca.issue(dir.path(), "member", "member-1", &[host(&m.client)]);
        flags(&[
            ("--tls-cert", &id.cert),
            ("--tls-key", &id.key),
            ("--tls-client-ca", &ca.pem),
        ])
    });
    e.wait_leader(T);
    let server = e.members[0].client.clone();

    let alice = ca.issue(dir.path(), "alice", "alice", &[]);
    let with_cert = ClientTls::from_pem_files(&ca.pem, Some((&alice.cert, &alice.key)))
        .expect("client identity");
    let c = connect(&server, &with_cert).await;
    c.create("/mtls", b"", CreateMode::Persistent)
        .await
        .expect("create with a client certificate");

    let without = ClientTls::from_pem_files(&ca.pem, None).expect("CA");
    assert!(
        try_connect(&server, &without).await.is_err(),
        "a client without a certificate got a session"
    );
    let mallory = other.issue(dir.path(), "mallory", "mallory", &[]);
    let foreign = ClientTls::from_pem_files(&ca.pem, Some((&mallory.cert, &mallory.key)))
        .expect("client identity");
    assert!(
        try_connect(&server, &foreign).await.is_err(),
        "a client certificate from another CA was accepted"
    );
    c.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_link_with_mutual_tls_and_refuse_a_peer_the_ca_did_not_sign() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new(dir.path(), "peer-ca");
    let e = Ensemble::start_each(3, &[], |m| {
        let id = ca.issue(
            dir.path(),
            &format!("peer-{}", m.id),
            &format!("member-{}", m.id),
            &[host(&m.peer)],
        );
        flags(&[
            ("--peer-tls-cert", &id.cert),
            ("--peer-tls-key", &id.key),
            ("--peer-tls-ca", &ca.pem),
        ])
    });
    // Elections and replication need the links: they work.
    e.wait_leader(T);
    let a = common::client_at(&e.members[0].client, T).await;
    a.create("/replicated", b"v", CreateMode::Persistent)
        .await
        .expect("create");
    let b = common::client_at(&e.members[2].client, T).await;
    b.sync("/").await.expect("sync");
    assert_eq!(b.get("/replicated").await.expect("get").0, b"v");

    // A member with a certificate from another CA, and one speaking plain TCP, are
    // refused before their hello is read.
    let rogue_ca = Ca::new(dir.path(), "rogue-ca");
    let rogue = rogue_ca.issue(dir.path(), "rogue", "member-2", &[]);
    let rogue_tls =
        ClientTls::from_pem_files(&ca.pem, Some((&rogue.cert, &rogue.key))).expect("identity");
    let target = e.members[0].peer.clone();
    let tcp = tokio::net::TcpStream::connect(&target).await.expect("tcp");
    if let Ok(mut s) = rogue_tls.connect(&target, tcp).await {
        // TLS 1.3: the client's side completes first; the refusal arrives as an alert.
        let _ = s.write_all(&peer_hello(2, 1)).await;
        let mut buf = [0u8; 64];
        let r = tokio::time::timeout(T, s.read(&mut buf))
            .await
            .expect("an answer in time");
        assert!(
            !matches!(r, Ok(n) if n > 0),
            "the member answered a rogue peer"
        );
    }
    let mut plain = tokio::net::TcpStream::connect(&target).await.expect("tcp");
    let _ = plain.write_all(&peer_hello(2, 1)).await;
    let mut buf = [0u8; 64];
    let r = tokio::time::timeout(T, plain.read(&mut buf))
        .await
        .expect("closed in time");
    // Nothing but a TLS alert record (content type 21) comes back before the close.
    assert!(
        !matches!(r, Ok(n) if n > 0 && buf[0] != 21),
        "the member answered a plain peer: {:?}",
        &buf[..]
    );
    let deadline = Instant::now() + T;
    while e
        .log(0)
        .matches("refused a peer connection: TLS handshake failed")
        .count()
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "refusals not logged:\n{}",
            e.log(0)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The ensemble is still whole.
    a.set("/replicated", b"w", None).await.expect("set");
    b.sync("/").await.expect("sync");
    assert_eq!(b.get("/replicated").await.expect("get").0, b"w");
    a.close().await.expect("close");
    b.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_are_reloaded_when_their_files_change_and_on_sighup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = Ca::new(dir.path(), "first");
    let second = Ca::new(dir.path(), "second");
    // One ensemble laid out to learn the member's address; certificates at fixed paths.
    let names = std::sync::Mutex::new(Vec::new());
    let e = Ensemble::start_each(1, &[], |m| {
        *names.lock().expect("names") = vec![host(&m.client).to_string()];
        let id = first.issue(dir.path(), "member", "member-1", &[host(&m.client)]);
        flags(&[("--tls-cert", &id.cert), ("--tls-key", &id.key)])
    });
    e.wait_leader(T);
    let server = e.members[0].client.clone();
    let name = names.lock().expect("names")[0].clone();
    let trusts_first = ClientTls::from_pem_files(&first.pem, None).expect("CA");
    let trusts_second = ClientTls::from_pem_files(&second.pem, None).expect("CA");
    let kept = connect(&server, &trusts_first).await;
    kept.create("/r", b"1", CreateMode::Persistent)
        .await
        .expect("create");

    // Rotate: the same files now hold a certificate from the second CA. The member
    // notices the change without a signal; new connections get the new certificate.
    second.issue(dir.path(), "member", "member-1", &[&name]);
    let c = connect(&server, &trusts_second).await;
    assert_eq!(c.get("/r").await.expect("get").0, b"1");
    assert!(
        try_connect(&server, &trusts_first).await.is_err(),
        "the old certificate is still served"
    );
    // A connection made before the rotation keeps working.
    kept.set("/r", b"2", None)
        .await
        .expect("set on the old connection");

    // A broken set is refused, loudly, and the member keeps serving the last good one.
    let refusals = || e.log(0).matches("TLS certificates NOT reloaded").count();
    let before = refusals();
    std::fs::write(dir.path().join("member.key"), "not a key").expect("write");
    let deadline = Instant::now() + T;
    while refusals() == before {
        assert!(
            Instant::now() < deadline,
            "no refusal logged:\n{}",
            e.log(0)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let c3 = connect(&server, &trusts_second).await;
    assert_eq!(c3.get("/r").await.expect("get").0, b"2");

    // SIGHUP reloads at once (and never stops the member).
    first.issue(dir.path(), "member", "member-1", &[&name]);
    let pid = e.members[0].child.as_ref().expect("running").id();
    let _ = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status();
    let deadline = Instant::now() + T;
    while !e.log(0).contains("SIGHUP: reloading TLS certificates") {
        assert!(
            Instant::now() < deadline,
            "SIGHUP not handled:\n{}",
            e.log(0)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let c4 = connect(&server, &trusts_first).await;
    assert_eq!(c4.get("/r").await.expect("get").0, b"2");
    for c in [kept, c, c3, c4] {
        c.close().await.expect("close");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_endpoint_serves_https_and_announces_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new(dir.path(), "ca");
    let e = Ensemble::start_each(1, &[], |m| {
        let id = ca.issue(dir.path(), "admin", "admin-1", &[host(&m.admin)]);
        flags(&[("--admin-tls-cert", &id.cert), ("--admin-tls-key", &id.key)])
    });
    let c = common::client_at(&e.members[0].client, T).await;
    assert_eq!(
        c.admin_addr(),
        format!("https://{}", e.members[0].admin),
        "the handshake announces HTTPS"
    );
    // Plain HTTP gets nothing.
    assert!(http_get(&e.members[0].admin, "/health").is_none());
    // HTTPS with the CA: a health answer.
    let tls = ClientTls::from_pem_files(&ca.pem, None).expect("CA");
    let admin = e.members[0].admin.clone();
    let deadline = Instant::now() + T;
    let body = loop {
        let got = async {
            let tcp = tokio::net::TcpStream::connect(&admin).await.ok()?;
            let mut s = tls.connect(&admin, tcp).await.ok()?;
            s.write_all(
                format!("GET /health HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .ok()?;
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out).await;
            Some(String::from_utf8_lossy(&out).to_string())
        };
        match tokio::time::timeout(Duration::from_secs(5), got).await {
            Ok(Some(b)) if b.starts_with("HTTP/1.1 200") => break b,
            _ => {
                assert!(Instant::now() < deadline, "no healthy HTTPS answer");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert!(body.contains("HTTP/1.1 200"), "{body}");
    c.close().await.expect("close");
}

#[test]
fn a_member_whose_certificate_does_not_load_refuses_to_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.pem");
    std::fs::write(&bad, "-----BEGIN CERTIFICATE-----\nnot base64\n").expect("write");
    let mut e = member_with(
        &Identity {
            cert: bad.clone(),
            key: dir.path().join("no-such.key"),
        },
        Vec::new(),
    );
    let status = e.wait_exit(0, T).expect("paddockd exits");
    assert_eq!(status.code(), Some(1), "{}", e.log(0));
    let log = e.log(0);
    assert!(log.contains("TLS") && log.contains("bad.pem"), "{log}");
}
