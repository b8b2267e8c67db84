//! `paddock lock` and `paddock elect`: commands run under the lock one at a time, with
//! increasing fencing tokens; the command's exit status is passed on; a command whose
//! lock is lost gets SIGTERM; one elected process at a time, and observers print each
//! leader. Members are real in-process servers.
mod support;

use std::time::Duration;

use paddock::{Client, ClientConfig};
use support::{Ensemble, Proc};

const T: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_run_one_at_a_time_with_increasing_tokens() {
    let e = Ensemble::start(3).await;
    let servers = e.servers();
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = dir.path().join("journal");
    let script = format!(
        "echo \"start $PADDOCK_FENCING_TOKEN\" >> {j}; sleep 0.2; echo \"end $PADDOCK_FENCING_TOKEN\" >> {j}",
        j = journal.display()
    );
    let mut procs: Vec<Proc> = (0..4)
        .map(|_| Proc::spawn(&servers, &["lock", "/locks/job", "--", "sh", "-c", &script]))
        .collect();
    for p in &mut procs {
        assert!(p.exit(T).await.success(), "{}", p.rest_of_stderr(T).await);
    }
    let text = std::fs::read_to_string(&journal).expect("journal");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 8, "{text}");
    let mut last = 0u64;
    for pair in lines.chunks(2) {
        let start = pair[0].strip_prefix("start ").expect("a start line");
        let end = pair[1]
            .strip_prefix("end ")
            .expect("an end line, not another start");
        assert_eq!(start, end, "two commands overlapped:\n{text}");
        let token: u64 = start.parse().expect("a numeric token");
        assert!(token > last, "tokens must increase:\n{text}");
        last = token;
    }
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_commands_status_is_passed_on_and_a_lost_lock_stops_it() {
    let e = Ensemble::start(3).await;
    let servers = e.servers();
    let mut p = Proc::spawn(&servers, &["lock", "/locks/s", "--", "sh", "-c", "exit 7"]);
    assert_eq!(p.exit(T).await.code(), Some(7));

    // Deleting the holder's node takes the lock away: the command gets SIGTERM.
    let mut p = Proc::spawn(
        &servers,
        &["lock", "/locks/s", "--grace", "5", "--", "sleep", "60"],
    );
    p.stderr_until("holding /locks/s", T).await;
    let c = Client::connect_with(ClientConfig::from_list(&servers))
        .await
        .expect("connect");
    let children = c.children("/locks/s").await.expect("children");
    assert_eq!(children.len(), 1, "{children:?}");
    assert!(children[0].starts_with("_c_") && children[0].contains("-lock-"));
    c.delete(&format!("/locks/s/{}", children[0]), None)
        .await
        .expect("delete the holder's node");
    let line = p.stderr_until("may be lost", T).await;
    assert!(line.contains("deleted"), "{line}");
    // sleep ended by SIGTERM: 128 + 15, long before its 60 s.
    assert_eq!(p.exit(T).await.code(), Some(143));
    c.close().await.expect("close");
    e.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_elected_process_at_a_time_and_observers_print_each_leader() {
    let e = Ensemble::start(3).await;
    let servers = e.servers();
    let observer = Proc::spawn(&servers, &["elect", "/e", "--observe"]);
    assert_eq!(observer.stdout_line(T).await, "none");
    let mut first = Proc::spawn(&servers, &["elect", "/e", "worker-1"]);
    let elected = first.stdout_line(T).await;
    let token1: u64 = elected
        .split(' ')
        .nth(1)
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{elected}"));
    assert_eq!(
        observer.stdout_line(T).await,
        format!("leader {token1} worker-1")
    );
    let mut second = Proc::spawn(&servers, &["--output", "json", "elect", "/e", "worker-2"]);
    // The second candidate is elected once the first resigns (on SIGTERM), with a
    // greater token.
    first.signal("TERM");
    assert!(first.exit(T).await.success());
    let line = second.stdout_line(T).await;
    let v: serde_json::Value = serde_json::from_str(&line).expect("json");
    assert_eq!(v["event"], "elected");
    let token2 = v["token"].as_u64().expect("token");
    assert!(token2 > token1);
    // The observer may see nobody lead between the two.
    let mut next = observer.stdout_line(T).await;
    if next == "none" {
        next = observer.stdout_line(T).await;
    }
    assert_eq!(next, format!("leader {token2} worker-2"));
    second.signal("INT");
    assert!(second.exit(T).await.success());
    e.shutdown().await;
}
