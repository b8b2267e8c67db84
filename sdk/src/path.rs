//! Znode path rules, exactly as ZooKeeper's `PathUtils.validatePath`.
//!
//! A valid path is absolute (`/` or `/a/b`), has no empty segment (`//`), no trailing
//! slash, no `.` or `..` segment, no NUL, and none of the characters ZooKeeper
//! forbids: U+0001–U+001F, U+007F–U+009F, U+D800–U+F8FF (surrogates cannot occur in Rust strings) and U+FFF0–U+FFFF.
//! Sequential creates append a counter, so for them a trailing slash is allowed
//! (`/queue/` creates `/queue/0000000001`).

/// Checks a path; the error says what is wrong with it.
pub fn validate(path: &str) -> Result<(), String> {
    validate_inner(path, false)
}

/// Checks the path given to a sequential create (the counter is appended after it).
pub fn validate_sequential(path: &str) -> Result<(), String> {
    validate_inner(path, true)
}

fn validate_inner(path: &str, sequential: bool) -> Result<(), String> {
    if path.is_empty() {
        return Err("path must not be empty".into());
    }
    if !path.starts_with('/') {
        return Err(format!("path must start with / character: {path:?}"));
    }
    if path.len() == 1 {
        return Ok(());
    }
    if path.ends_with('/') && !sequential {
        return Err(format!("path must not end with / character: {path:?}"));
    }
    let body = if sequential && path.ends_with('/') {
        // The counter completes the last segment.
        &path[1..path.len() - 1]
    } else {
        &path[1..]
    };
    if body.is_empty() {
        return Ok(());
    }
    for segment in body.split('/') {
        if segment.is_empty() {
            return Err(format!("empty node name specified: {path:?}"));
        }
        if segment == "." || segment == ".." {
            return Err(format!("relative paths not allowed: {path:?}"));
        }
    }
    for c in path.chars() {
        let bad = c == '\u{0}'
            || ('\u{1}'..='\u{1f}').contains(&c)
            || ('\u{7f}'..='\u{9f}').contains(&c)
            || ('\u{e000}'..='\u{f8ff}').contains(&c)
            || ('\u{fff0}'..='\u{ffff}').contains(&c);
        if bad {
            return Err(format!("invalid character {:?} in path {path:?}", c));
        }
    }
    Ok(())
}

/// The parent of a valid path (`/` for top-level nodes); `None` for `/` itself.
pub fn parent(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    match path.rfind('/') {
        Some(0) => Some("/"),
        Some(i) => Some(&path[..i]),
        None => None,
    }
}

/// The last segment of a valid path (empty for `/`).
pub fn name(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// Joins a parent path and a child name.
pub fn join(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_table() {
        let cases: &[(&str, bool, bool)] = &[
            // (path, sequential, valid)
            ("/", false, true),
            ("/a", false, true),
            ("/a/b/c", false, true),
            ("/a.b", false, true),
            ("/a/..b", false, true),
            ("/ünïcödé", false, true),
            ("", false, false),
            ("a", false, false),
            ("a/b", false, false),
            ("/a/", false, false),
            ("/a//b", false, false),
            ("//", false, false),
            ("/.", false, false),
            ("/..", false, false),
            ("/a/./b", false, false),
            ("/a/../b", false, false),
            ("/a\u{0}b", false, false),
            ("/a\u{1}b", false, false),
            ("/a\u{1f}", false, false),
            ("/a\u{7f}", false, false),
            ("/a\u{9f}", false, false),
            ("/a\u{e000}", false, false),
            ("/a\u{f8ff}", false, false),
            ("/a\u{fff5}", false, false),
            ("/a/", true, true),
            ("/", true, true),
            ("/a//", true, false),
            ("/a/b-", true, true),
        ];
        for (path, seq, ok) in cases {
            let got = if *seq {
                validate_sequential(path)
            } else {
                validate(path)
            };
            assert_eq!(got.is_ok(), *ok, "{path:?} sequential={seq}: {got:?}");
        }
    }

    #[test]
    fn parent_name_join() {
        assert_eq!(parent("/"), None);
        assert_eq!(parent("/a"), Some("/"));
        assert_eq!(parent("/a/b"), Some("/a"));
        assert_eq!(name("/a/b"), "b");
        assert_eq!(name("/"), "");
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
    }
}
