//! The CLI over TLS: `--tls-ca` (or `PADDOCK_TLS_CA`) for the client port and HTTPS
//! admin endpoints, `--tls-cert/--tls-key` for members that require client
//! certificates, against an in-process member with certificates the test generates.
#[allow(dead_code)]
#[path = "../../server/tests/common/certs.rs"]
mod certs;
mod support;

use std::path::Path;
use std::process::Output;

use certs::{Ca, Identity};
use support::Ensemble;

async fn paddock(servers: &str, env: &[(&str, &Path)], args: &[&str]) -> Output {
    support::paddock_env(servers, env, args).await
}

#[track_caller]
fn ok(o: &Output) -> String {
    support::succeeded(o)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_speaks_tls_to_members_and_https_to_their_admin_endpoints() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = Ca::new(dir.path(), "ca");
    let e = Ensemble::start_with(1, |cfg| {
        let ip = cfg.client_addr.ip().to_string();
        let member = ca.issue(dir.path(), "member", "member-1", &[&ip]);
        let files = |id: &Identity, ca: Option<&Path>| paddock_server::tls::TlsFiles {
            cert: id.cert.clone(),
            key: id.key.clone(),
            ca: ca.map(Path::to_path_buf),
        };
        cfg.tls.client = Some(files(&member, Some(&ca.pem)));
        cfg.tls.admin = Some(files(&member, None));
    })
    .await;
    let s = e.servers();
    let alice = ca.issue(dir.path(), "alice", "alice", &[]);
    let (ca_pem, cert, key) = (
        ca.pem.display().to_string(),
        alice.cert.display().to_string(),
        alice.key.display().to_string(),
    );
    let tls = ["--tls-ca", &ca_pem, "--tls-cert", &cert, "--tls-key", &key];

    let with =
        |more: &[&str]| -> Vec<String> { tls.iter().chain(more).map(|s| s.to_string()).collect() };
    let args = with(&["create", "/secure", "v"]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(ok(&paddock(&s, &[], &refs).await), "/secure\n");

    // The same through the environment.
    let env = [
        ("PADDOCK_TLS_CA", ca.pem.as_path()),
        ("PADDOCK_TLS_CERT", alice.cert.as_path()),
        ("PADDOCK_TLS_KEY", alice.key.as_path()),
    ];
    assert_eq!(ok(&paddock(&s, &env, &["get", "/secure"]).await), "v\n");

    // The admin endpoint announced in the handshake is HTTPS; status goes there.
    let status = ok(&paddock(&s, &env, &["--output", "json", "cluster", "status"]).await);
    let rows: serde_json::Value = serde_json::from_str(&status).expect("json");
    assert_eq!(rows[0]["ok"], true, "{status}");
    assert_eq!(
        rows[0]["admin"],
        format!("https://{}", e.members[0].admin_addr),
        "{status}"
    );

    // Without TLS, or without the client certificate the member requires: refused.
    let plain = paddock(&s, &[], &["get", "/secure"]).await;
    assert_ne!(plain.status.code(), Some(0));
    let no_cert = paddock(&s, &[], &["--tls-ca", &ca_pem, "get", "/secure"]).await;
    assert_ne!(no_cert.status.code(), Some(0));

    // A certificate without its key is a usage error (exit 2), before any connection.
    let usage = paddock(
        &s,
        &[],
        &["--tls-ca", &ca_pem, "--tls-cert", &cert, "get", "/"],
    )
    .await;
    assert_eq!(usage.status.code(), Some(2));
    e.shutdown().await;
}
