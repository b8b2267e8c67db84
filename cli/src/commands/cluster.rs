//! `paddock cluster status`: one row per member, from its admin endpoint's
//! `GET /status` (JSON: id, role, leader_id, term, commit_index, applied_index, digest,
//! znode_count, session_count, watch_count).
//!
//! Admin addresses come from `--admin`, or are asked of the members themselves: one
//! short-lived session per `--servers` entry, pinned to that member, reads the admin
//! address the member announced in the handshake. A member that cannot be reached (or
//! whose endpoint does not answer) still gets a row, saying why. The command fails
//! (exit 1) only if no member answered at all.
use anyhow::bail;
use futures::future::join_all;
use serde_json::{json, Map, Value};

use super::admin::{self, discover_admin, parse_json};
use super::Ctx;
use crate::args::split_list;
use crate::http;
use crate::output::{emit, table, Align};

/// Status columns of the text table: (header, `/status` field).
const COLUMNS: [(&str, &str); 10] = [
    ("ID", "id"),
    ("ROLE", "role"),
    ("LEADER", "leader_id"),
    ("TERM", "term"),
    ("COMMIT", "commit_index"),
    ("APPLIED", "applied_index"),
    ("DIGEST", "digest"),
    ("ZNODES", "znode_count"),
    ("SESSIONS", "session_count"),
    ("WATCHES", "watch_count"),
];

/// One member as far as we got with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// Client address from `--servers`, if the row came from discovery.
    pub server: Option<String>,
    /// Admin address, if known.
    pub admin: Option<String>,
    /// The `/status` document, or why there is none.
    pub status: Result<Map<String, Value>, String>,
}

/// Runs the command.
pub async fn status(ctx: &Ctx, admin: Option<&str>) -> anyhow::Result<()> {
    let targets: Vec<(Option<String>, Result<String, String>)> = match admin {
        Some(list) => {
            let list = split_list(list);
            if list.is_empty() {
                return Err(crate::UsageError("--admin: no addresses given".into()).into());
            }
            list.into_iter().map(|a| (None, Ok(a))).collect()
        }
        None => {
            join_all(ctx.servers.iter().map(|s| async move {
                (
                    Some(s.clone()),
                    discover_admin(ctx, std::slice::from_ref(s)).await,
                )
            }))
            .await
        }
    };
    let members: Vec<Member> = join_all(targets.into_iter().map(|(server, admin)| async move {
        match admin {
            Ok(addr) => {
                let status = fetch_status(ctx, &addr).await.map_err(|e| format!("{e:#}"));
                Member {
                    server,
                    admin: Some(addr),
                    status,
                }
            }
            Err(e) => Member {
                server,
                admin: None,
                status: Err(e),
            },
        }
    }))
    .await;
    emit(
        ctx.output,
        || render_text(&members),
        || render_json(&members),
    );
    if members.iter().all(|m| m.status.is_err()) {
        bail!("no member answered");
    }
    Ok(())
}

/// Fetches and decodes `GET /status` from an admin address.
async fn fetch_status(ctx: &Ctx, addr: &str) -> anyhow::Result<Map<String, Value>> {
    parse_status(&admin::get(ctx, addr, "/status").await?)
}

/// Decodes a `/status` response: a 200 with a JSON object.
pub fn parse_status(resp: &http::Response) -> anyhow::Result<Map<String, Value>> {
    match parse_json(resp, "/status")? {
        Value::Object(m) => Ok(m),
        _ => bail!("/status is not a JSON object"),
    }
}

/// The aligned table: member addresses, the status columns, and a note for failures.
pub fn render_text(members: &[Member]) -> String {
    let mut headers = vec![("MEMBER", Align::Left), ("ADMIN", Align::Left)];
    headers.extend(COLUMNS.iter().map(|(h, _)| {
        let align = if matches!(*h, "ROLE" | "DIGEST") {
            Align::Left
        } else {
            Align::Right
        };
        (*h, align)
    }));
    headers.push(("NOTE", Align::Left));
    let rows: Vec<Vec<String>> = members
        .iter()
        .map(|m| {
            let mut row = vec![
                m.server.clone().unwrap_or_else(|| "-".into()),
                m.admin.clone().unwrap_or_else(|| "-".into()),
            ];
            match &m.status {
                Ok(s) => {
                    row.extend(COLUMNS.iter().map(|(_, f)| cell(s.get(*f))));
                    row.push(String::new());
                }
                Err(e) => {
                    row.extend(COLUMNS.iter().map(|(h, _)| {
                        if *h == "ROLE" {
                            "down".to_string()
                        } else {
                            "-".to_string()
                        }
                    }));
                    row.push(e.clone());
                }
            }
            row
        })
        .collect();
    table(&headers, &rows)
}

/// The JSON array: each `/status` object plus `server`, `admin`, `ok` (and `error`).
pub fn render_json(members: &[Member]) -> Value {
    Value::Array(
        members
            .iter()
            .map(|m| {
                let mut obj = Map::new();
                obj.insert("server".into(), json!(m.server));
                obj.insert("admin".into(), json!(m.admin));
                match &m.status {
                    Ok(s) => {
                        obj.insert("ok".into(), json!(true));
                        for (k, v) in s {
                            obj.entry(k.clone()).or_insert_with(|| v.clone());
                        }
                    }
                    Err(e) => {
                        obj.insert("ok".into(), json!(false));
                        obj.insert("error".into(), json!(e));
                    }
                }
                Value::Object(obj)
            })
            .collect(),
    )
}

fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_doc() -> Map<String, Value> {
        match json!({
            "id": 1, "role": "leader", "leader_id": 1, "term": 3, "commit_index": 120,
            "applied_index": 120, "digest": "9f2c", "znode_count": 42, "session_count": 5,
            "watch_count": 7, "extra": true
        }) {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn members() -> Vec<Member> {
        vec![
            Member {
                server: Some("127.0.0.1:7181".into()),
                admin: Some("127.0.0.1:7180".into()),
                status: Ok(status_doc()),
            },
            Member {
                server: Some("127.0.0.1:7281".into()),
                admin: None,
                status: Err("unreachable: connection loss: refused".into()),
            },
        ]
    }

    #[test]
    fn status_response_parsing() {
        let ok = http::Response {
            status: 200,
            reason: "OK".into(),
            body: br#"{"id":2,"role":"follower"}"#.to_vec(),
        };
        let m = parse_status(&ok).unwrap();
        assert_eq!(m["id"], 2);
        let not_ok = http::Response {
            status: 503,
            reason: "Service Unavailable".into(),
            body: b"no leader\n".to_vec(),
        };
        assert_eq!(
            parse_status(&not_ok).unwrap_err().to_string(),
            "HTTP 503 Service Unavailable no leader"
        );
        let not_obj = http::Response {
            status: 200,
            reason: "OK".into(),
            body: b"[1]".to_vec(),
        };
        assert!(parse_status(&not_obj).is_err());
        let not_json = http::Response {
            status: 200,
            reason: "OK".into(),
            body: b"<html>".to_vec(),
        };
        assert!(parse_status(&not_json).is_err());
    }

    #[test]
    fn text_table() {
        let t = render_text(&members());
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(
            lines[0].starts_with("MEMBER          ADMIN           ID  ROLE    LEADER"),
            "{t}"
        );
        assert!(lines[1].contains("leader"), "{t}");
        assert!(lines[1].contains("9f2c"), "{t}");
        assert!(lines[2].contains("down"), "{t}");
        assert!(
            lines[2].ends_with("unreachable: connection loss: refused"),
            "{t}"
        );
        // Columns line up: every row has the ROLE column at the same offset.
        let role_at = lines[0].find("ROLE").unwrap();
        assert_eq!(&lines[1][role_at..role_at + 6], "leader");
        assert_eq!(&lines[2][role_at..role_at + 4], "down");
    }

    #[test]
    fn json_array() {
        let v = render_json(&members());
        let a = v.as_array().unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(a[0]["ok"], true);
        assert_eq!(a[0]["role"], "leader");
        assert_eq!(a[0]["admin"], "127.0.0.1:7180");
        assert_eq!(a[0]["extra"], true);
        assert_eq!(a[1]["ok"], false);
        assert_eq!(a[1]["admin"], Value::Null);
        assert!(a[1]["error"].as_str().unwrap().starts_with("unreachable"));
    }
}
