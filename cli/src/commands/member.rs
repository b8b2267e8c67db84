//! `paddock member list|add|promote|remove`: the ensemble's membership.
//!
//! Every subcommand prints the member list (after the change, for a change). Text: a
//! table `ID ROLE PEER_ADDR CLIENT_ADDR` (ROLE is `voter` or `learner`, with `*` after
//! the leader's); JSON: an array of `{id, role, leader, peer_addr, client_addr}`.
use paddock::{Client, Member, NewMember};
use serde_json::{json, Value};

use super::Ctx;
use crate::args::MemberCommand;
use crate::output::{emit, table, Align};

/// Runs one `paddock member` subcommand.
pub async fn run(ctx: &Ctx, client: &Client, cmd: MemberCommand) -> anyhow::Result<()> {
    let members = match cmd {
        MemberCommand::List => client.members().await?,
        MemberCommand::Add {
            id,
            peer_addr,
            client_addr,
            learner,
        } => {
            client
                .add_member(NewMember {
                    id,
                    peer_addr,
                    client_addr: client_addr.unwrap_or_default(),
                    learner,
                })
                .await?
        }
        MemberCommand::Promote { id, replace } => client.promote_member(id, replace).await?,
        MemberCommand::Remove { id } => client.remove_member(id).await?,
    };
    emit(
        ctx.output,
        || render_text(&members),
        || render_json(&members),
    );
    Ok(())
}

fn role(m: &Member) -> &'static str {
    if m.learner {
        "learner"
    } else {
        "voter"
    }
}

/// The aligned table.
pub fn render_text(members: &[Member]) -> String {
    let headers = [
        ("ID", Align::Right),
        ("ROLE", Align::Left),
        ("PEER_ADDR", Align::Left),
        ("CLIENT_ADDR", Align::Left),
    ];
    let rows: Vec<Vec<String>> = members
        .iter()
        .map(|m| {
            vec![
                m.id.to_string(),
                format!("{}{}", role(m), if m.leader { "*" } else { "" }),
                m.peer_addr.clone(),
                if m.client_addr.is_empty() {
                    "-".into()
                } else {
                    m.client_addr.clone()
                },
            ]
        })
        .collect();
    table(&headers, &rows)
}

/// The JSON array.
pub fn render_json(members: &[Member]) -> Value {
    Value::Array(
        members
            .iter()
            .map(|m| {
                json!({
                    "id": m.id,
                    "role": role(m),
                    "leader": m.leader,
                    "peer_addr": m.peer_addr,
                    "client_addr": m.client_addr,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members() -> Vec<Member> {
        vec![
            Member {
                id: 1,
                peer_addr: "10.0.0.1:7182".into(),
                client_addr: "10.0.0.1:7181".into(),
                learner: false,
                leader: true,
            },
            Member {
                id: 4,
                peer_addr: "10.0.0.4:7182".into(),
                client_addr: String::new(),
                learner: true,
                leader: false,
            },
        ]
    }

    #[test]
    fn the_table_marks_the_leader_and_unknown_client_addresses() {
        let text = render_text(&members());
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("ID") && lines[0].contains("CLIENT_ADDR"));
        assert!(lines[1].contains("voter*") && lines[1].contains("10.0.0.1:7181"));
        assert!(lines[2].contains("learner") && lines[2].trim_end().ends_with('-'));
    }

    #[test]
    fn json_has_one_object_per_member() {
        let v = render_json(&members());
        assert_eq!(v[0]["role"], "voter");
        assert_eq!(v[0]["leader"], true);
        assert_eq!(v[1]["role"], "learner");
        assert_eq!(v[1]["client_addr"], "");
    }
}
