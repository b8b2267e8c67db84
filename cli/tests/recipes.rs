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

/// Holders that die (SIGKILL of `paddock lock` and of its command) hand the lock on:
/// each next holder starts once the dead holder's session has expired (within the
/// session timeout plus a session tick of the kill, with three seconds of slack for a
/// loaded machine), never before its kill, with a greater token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_holder_hands_the_lock_on_once_its_session_expires() {
    let e = Ensemble::start(3).await;
    let servers = e.servers();
    // The timeout the members grant for what `paddock lock` asks for below.
    let probe = Client::connect_with(
        ClientConfig::from_list(&servers).session_timeout(Duration::from_millis(3000)),
    )
    .await
    .expect("connect");
    let granted = probe.session_timeout();
    probe.close().await.expect("close");
    let tick = e.session_tick();

    let dir = tempfile::tempdir().expect("tempdir");
    let journal = dir.path().join("journal");
    let script = format!(
        "echo \"$PADDOCK_FENCING_TOKEN $$ $(date +%s%3N)\" >> {j}; exec sleep 60",
        j = journal.display()
    );
    let mut procs: Vec<Proc> = (0..4)
        .map(|_| {
            Proc::spawn(
                &servers,
                &[
                    "--session-timeout",
                    "3000",
                    "lock",
                    "/locks/k",
                    "--",
                    "sh",
                    "-c",
                    &script,
                ],
            )
        })
        .collect();
    let read = || -> Vec<(u64, u32, u128)> {
        std::fs::read_to_string(&journal)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                (
                    f[0].parse().expect("token"),
                    f[1].parse().expect("pid"),
                    f[2].parse().expect("ms"),
                )
            })
            .collect()
    };
    let wait_for = |n: usize| {
        let read = &read;
        async move {
            let deadline = std::time::Instant::now() + T;
            loop {
                let lines = read();
                if lines.len() >= n {
                    return lines;
                }
                assert!(std::time::Instant::now() < deadline, "only {lines:?}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    for round in 1..=3 {
        let lines = wait_for(round).await;
        assert_eq!(lines.len(), round, "two holders at once: {lines:?}");
        let (_, cmd_pid, _) = lines[round - 1];
        // The holder is the `paddock lock` whose child runs the command.
        let stat = std::fs::read_to_string(format!("/proc/{cmd_pid}/stat")).expect("stat");
        let ppid: u32 = stat
            .rsplit(')')
            .next()
            .and_then(|rest| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse().ok())
            .expect("ppid");
        let holder = procs
            .iter_mut()
            .find(|p| p.id() == ppid)
            .expect("the holder is one of ours");
        holder.signal("KILL");
        let _ = std::process::Command::new("kill")
            .args(["-9", &cmd_pid.to_string()])
            .status();
        let killed_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis();
        let lines = wait_for(round + 1).await;
        let (token, _, started_ms) = lines[round];
        assert!(
            token > lines[round - 1].0,
            "tokens must increase: {lines:?}"
        );
        assert!(
            started_ms >= killed_ms,
            "the next holder started before the kill"
        );
        let bound = (granted + tick + Duration::from_secs(3)).as_millis();
        assert!(
            started_ms - killed_ms <= bound,
            "the next holder waited {} ms (bound {bound} ms)",
            started_ms - killed_ms
        );
    }
    for p in &procs {
        let _ = std::process::Command::new("kill")
            .args(["-9", &p.id().to_string()])
            .status();
    }
    for (_, pid, _) in read() {
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status();
    }
    e.shutdown().await;
}

/// Leaders that die (SIGKILL of `paddock elect`) are followed by exactly one new
/// leader each, with a greater token, once the dead leader's session has expired
/// (within the session timeout plus a session tick of the kill, with three seconds of slack for a loaded machine).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_leader_is_followed_by_one_new_leader_once_its_session_expires() {
    let e = Ensemble::start(3).await;
    let servers = e.servers();
    let probe = Client::connect_with(
        ClientConfig::from_list(&servers).session_timeout(Duration::from_millis(3000)),
    )
    .await
    .expect("connect");
    let granted = probe.session_timeout();
    probe.close().await.expect("close");
    let bound = granted + e.session_tick() + Duration::from_secs(3);
    let candidate = |name: String| {
        Proc::spawn(
            &servers,
            &["--session-timeout", "3000", "elect", "/e/k", &name],
        )
    };

    let mut procs: Vec<Proc> = (0..3).map(|i| candidate(format!("c{i}"))).collect();
    let mut last_token = 0u64;
    let mut killed_at: Option<std::time::Instant> = None;
    for round in 0..3 {
        // One candidate announces itself elected.
        let deadline = std::time::Instant::now() + T;
        let (elected, line) = 'found: loop {
            for (i, p) in procs.iter().enumerate() {
                if let Some(line) = p.try_stdout_line() {
                    break 'found (i, line);
                }
            }
            assert!(std::time::Instant::now() < deadline, "nobody was elected");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        if let Some(k) = killed_at {
            assert!(
                k.elapsed() <= bound,
                "the next leader came {:?} after the kill (bound {bound:?})",
                k.elapsed()
            );
        }
        let token: u64 = line
            .split(' ')
            .nth(1)
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("{line}"));
        assert!(
            token > last_token,
            "tokens must increase: {token} after {last_token}"
        );
        last_token = token;
        // Nobody else is elected while it lives.
        tokio::time::sleep(Duration::from_millis(300)).await;
        for (i, p) in procs.iter().enumerate() {
            assert!(
                i == elected || p.try_stdout_line().is_none(),
                "two leaders at once"
            );
        }
        procs[elected].signal("KILL");
        killed_at = Some(std::time::Instant::now());
        procs[elected] = candidate(format!("r{round}"));
    }
    for p in &procs {
        p.signal("KILL");
    }
    e.shutdown().await;
}
