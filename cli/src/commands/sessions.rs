//! `paddock sessions`: the sessions one member knows (every live session of the
//! ensemble, as replicated through Raft), from its admin endpoint's `GET /sessions`.
//!
//! The member is `--admin HOST:PORT`, or else the first member of `--servers` that
//! accepts a session (its announced admin address; see `cluster status`). Text: a
//! table `ID TIMEOUT_MS EPHEMERALS EXPIRES_IN_MS` (the last is `-` unless the member is
//! the leader, which alone tracks deadlines); JSON: the endpoint's array unchanged,
//! objects `{id: "0x..", timeout_ms, ephemerals, expires_in_ms: number|null}`.
use anyhow::{anyhow, Context};
use serde::Deserialize;
use serde_json::Value;

use super::admin::{discover_admin, fetch_json};
use super::Ctx;
use crate::output::{emit, table, Align};

/// One row of `GET /sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SessionRow {
    /// Session id, `0x`-prefixed hex.
    pub id: String,
    /// Negotiated timeout in ms.
    pub timeout_ms: u64,
    /// Ephemeral nodes the session owns.
    pub ephemerals: u64,
    /// Time left before the leader expires it (only reported by the leader).
    #[serde(default)]
    pub expires_in_ms: Option<u64>,
}

/// Runs the command.
pub async fn run(ctx: &Ctx, admin: Option<&str>) -> anyhow::Result<()> {
    let addr = match admin.map(str::trim) {
        Some("") => return Err(crate::UsageError("--admin: no address given".into()).into()),
        Some(a) => a.to_string(),
        None => discover_admin(ctx, &ctx.servers)
            .await
            .map_err(|e| anyhow!("no admin endpoint found: {e}"))?,
    };
    let doc = fetch_json(ctx, &addr, "/sessions").await?;
    let rows = parse_rows(&doc).with_context(|| format!("{addr}: bad /sessions answer"))?;
    emit(ctx.output, || render_text(&rows), || doc);
    Ok(())
}

/// Decodes the `/sessions` array.
pub fn parse_rows(doc: &Value) -> anyhow::Result<Vec<SessionRow>> {
    Ok(Vec::<SessionRow>::deserialize(doc)?)
}

/// The aligned table (just the header when there are no sessions).
pub fn render_text(rows: &[SessionRow]) -> String {
    let headers = [
        ("ID", Align::Left),
        ("TIMEOUT_MS", Align::Right),
        ("EPHEMERALS", Align::Right),
        ("EXPIRES_IN_MS", Align::Right),
    ];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.timeout_ms.to_string(),
                r.ephemerals.to_string(),
                r.expires_in_ms
                    .map_or_else(|| "-".to_string(), |ms| ms.to_string()),
            ]
        })
        .collect();
    table(&headers, &cells)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_from_json() {
        let doc = json!([
            {"id": "0x1a2b", "timeout_ms": 10000, "ephemerals": 1, "expires_in_ms": 9400},
            {"id": "0x3", "timeout_ms": 4000, "ephemerals": 0, "expires_in_ms": null},
            {"id": "0x4", "timeout_ms": 4000, "ephemerals": 2}
        ]);
        let rows = parse_rows(&doc).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[0],
            SessionRow {
                id: "0x1a2b".into(),
                timeout_ms: 10_000,
                ephemerals: 1,
                expires_in_ms: Some(9400)
            }
        );
        assert_eq!((rows[1].expires_in_ms, rows[2].expires_in_ms), (None, None));
        assert!(parse_rows(&json!({"id": "0x1"})).is_err());
        assert!(parse_rows(&json!([{"id": 1}])).is_err());
        assert!(parse_rows(&json!([])).unwrap().is_empty());
    }

    #[test]
    fn text_table() {
        let rows = vec![
            SessionRow {
                id: "0x100000000000001".into(),
                timeout_ms: 10_000,
                ephemerals: 1,
                expires_in_ms: Some(9400),
            },
            SessionRow {
                id: "0x2".into(),
                timeout_ms: 400,
                ephemerals: 0,
                expires_in_ms: None,
            },
        ];
        let expected = "\
ID                 TIMEOUT_MS  EPHEMERALS  EXPIRES_IN_MS
0x100000000000001       10000           1           9400
0x2                       400           0              -
";
        assert_eq!(render_text(&rows), expected);
        assert_eq!(
            render_text(&[]),
            "ID  TIMEOUT_MS  EPHEMERALS  EXPIRES_IN_MS\n"
        );
    }
}
