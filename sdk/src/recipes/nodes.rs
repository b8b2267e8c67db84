//! Node helpers shared by the recipes: parents created on demand, Curator's
//! protected sequential names, and their ordering.
use rand::Rng;

use crate::path::parent;
use crate::{Client, Code, CreateMode, Error, Result};

/// A random version-4 UUID in its usual text form, as Curator's protected names use.
pub(crate) fn guid() -> String {
    let b: [u8; 16] = rand::thread_rng().gen();
    let hex: String = b
        .iter()
        .enumerate()
        .map(|(i, x)| match i {
            // Version 4, variant 10xx.
            6 => format!("{:02x}", (x & 0x0f) | 0x40),
            8 => format!("{:02x}", (x & 0x3f) | 0x80),
            _ => format!("{x:02x}"),
        })
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The sequence number of a child named `<anything><marker><10 digits>`, the way
/// Curator orders lock nodes (by what follows the last `marker`).
pub(crate) fn sequence(name: &str, marker: &str) -> Option<u64> {
    let at = name.rfind(marker)?;
    let digits = &name[at + marker.len()..];
    if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The children of a recipe node that carry `marker`, ordered by sequence number.
pub(crate) fn ordered(children: Vec<String>, marker: &str) -> Vec<(u64, String)> {
    ordered_any(children, &[marker])
}

/// The children of a recipe node that carry any of `markers`, ordered by sequence
/// number (they share the parent's counter, so the order is their creation order).
pub(crate) fn ordered_any(children: Vec<String>, markers: &[&str]) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, String)> = children
        .into_iter()
        .filter_map(|c| {
            let seq = markers.iter().find_map(|m| sequence(&c, m))?;
            Some((seq, c))
        })
        .collect();
    out.sort();
    out
}

/// Creates `path` as a container if it is missing, and its missing ancestors as
/// persistent nodes, as Curator's `creatingParentContainersIfNeeded` does. Succeeds
/// when the node exists, whoever created it.
pub(crate) async fn ensure_container(client: &Client, path: &str) -> Result<()> {
    ensure(client, path, CreateMode::Container).await
}

async fn ensure(client: &Client, path: &str, mode: CreateMode) -> Result<()> {
    // Walk down from the highest missing ancestor.
    let mut missing = Vec::new();
    let mut at = path.to_string();
    loop {
        if at == "/" || client.exists(&at).await?.is_some() {
            break;
        }
        let up = parent(&at)
            .ok_or_else(|| Error::BadArguments(format!("not a path: {path}")))?
            .to_string();
        missing.push(std::mem::replace(&mut at, up));
    }
    while let Some(p) = missing.pop() {
        let m = if p == path {
            mode
        } else {
            CreateMode::Persistent
        };
        match client.create(&p, b"", m).await {
            Ok(_) => {}
            Err(e) if e.code() == Code::NodeExists => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_are_read_after_the_last_marker() {
        assert_eq!(sequence("_c_abc-lock-0000000042", "-lock-"), Some(42));
        assert_eq!(sequence("lock-lock-0000000001", "lock-"), Some(1));
        assert_eq!(sequence("_c_abc-lock-42", "-lock-"), None);
        assert_eq!(sequence("other", "-lock-"), None);
        let names = vec![
            "_c_b-lock-0000000010".to_string(),
            "lease".to_string(),
            "_c_a-lock-0000000002".to_string(),
        ];
        assert_eq!(
            ordered(names, "-lock-"),
            vec![
                (2, "_c_a-lock-0000000002".to_string()),
                (10, "_c_b-lock-0000000010".to_string())
            ]
        );
    }

    #[test]
    fn guids_look_like_uuids() {
        let g = guid();
        assert_eq!(g.len(), 36);
        assert_eq!(g.as_bytes()[14], b'4');
        assert_ne!(g, guid());
    }
}
