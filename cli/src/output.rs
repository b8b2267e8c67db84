//! Printing results: the text forms (zkCli-style stat lists, aligned tables, UTC
//! times) and the JSON forms of znode data and stats. Pure formatting: the commands
//! decide *what* to print, this module decides *how*; everything returns strings or
//! JSON values so it can be tested without a terminal.
use std::io::Write;

use paddock::Stat;
use serde_json::{json, Value};

use crate::args::OutputFormat;

/// Prints either a text block or a JSON document, depending on the format.
/// `text` is printed as is (a trailing newline is added if missing and non-empty).
pub fn emit(format: OutputFormat, text: impl FnOnce() -> String, json: impl FnOnce() -> Value) {
    match format {
        OutputFormat::Text => {
            let t = text();
            if !t.is_empty() {
                if t.ends_with('\n') {
                    print!("{t}");
                } else {
                    println!("{t}");
                }
            }
        }
        OutputFormat::Json => println!("{}", json_string(&json())),
    }
}

/// Pretty JSON; serialising a `Value` cannot fail.
pub fn json_string(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// Writes znode data to stdout as raw bytes. Text that does not end in a newline gets
/// one, so a shell prompt does not glue onto it; binary data is written unchanged.
pub fn write_data(data: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(data)?;
    if needs_newline(data) {
        out.write_all(b"\n")?;
    }
    out.flush()
}

fn needs_newline(data: &[u8]) -> bool {
    !data.is_empty() && !data.ends_with(b"\n") && std::str::from_utf8(data).is_ok()
}

/// The JSON form of a node's data: lossy UTF-8 plus the exact length.
pub fn data_json(path: &str, data: &[u8], stat: &Stat) -> Value {
    json!({
        "path": path,
        "data": String::from_utf8_lossy(data),
        "data_len": data.len(),
        "stat": stat_json(stat),
    })
}

/// The JSON form of a stat, with zkCli's field names; numbers stay numbers.
pub fn stat_json(s: &Stat) -> Value {
    json!({
        "cZxid": s.czxid,
        "ctime": s.ctime,
        "mZxid": s.mzxid,
        "mtime": s.mtime,
        "pZxid": s.pzxid,
        "cversion": s.cversion,
        "dataVersion": s.version,
        "aclVersion": s.aversion,
        "ephemeralOwner": s.ephemeral_owner,
        "dataLength": s.data_length,
        "numChildren": s.num_children,
    })
}

/// zkCli's `stat` listing: `name = value` per line; zxids and the owner session in
/// hex, times as milliseconds plus UTC.
pub fn stat_text(s: &Stat) -> String {
    let time = |ms: i64| format!("{ms} ({})", format_utc_millis(ms));
    let rows = [
        ("cZxid", hex(s.czxid)),
        ("ctime", time(s.ctime)),
        ("mZxid", hex(s.mzxid)),
        ("mtime", time(s.mtime)),
        ("pZxid", hex(s.pzxid)),
        ("cversion", s.cversion.to_string()),
        ("dataVersion", s.version.to_string()),
        ("aclVersion", s.aversion.to_string()),
        ("ephemeralOwner", hex(s.ephemeral_owner)),
        ("dataLength", s.data_length.to_string()),
        ("numChildren", s.num_children.to_string()),
    ];
    let mut out = String::new();
    for (name, value) in rows {
        out.push_str(&format!("{name} = {value}\n"));
    }
    out
}

/// Writes one line to stdout and flushes, for commands that print as things happen;
/// `Ok(false)` if the reader has gone (broken pipe).
pub fn print_line(line: &str) -> anyhow::Result<bool> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{line}").and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(anyhow::anyhow!("writing to stdout: {e}")),
    }
}

/// `0x` plus lower-case hex of the value's bits (as zkCli prints zxids).
pub fn hex(v: u64) -> String {
    format!("{v:#x}")
}

/// Milliseconds since the Unix epoch as `YYYY-MM-DD hh:mm:ss.mmm UTC`.
pub fn format_utc_millis(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{millis:03} UTC",
        tod / 3600,
        tod % 3600 / 60,
        tod % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Column alignment in [`table`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    /// Pad on the right (text).
    Left,
    /// Pad on the left (numbers).
    Right,
}

/// Renders an aligned table: a header row, then one line per row, columns separated
/// by two spaces, no trailing spaces. Rows shorter than the header are padded.
pub fn table(headers: &[(&str, Align)], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|(h, _)| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(widths.len()) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (_, align)) in headers.iter().enumerate() {
            let cell = cells.get(i).copied().unwrap_or("");
            let width = widths[i];
            if i > 0 {
                s.push_str("  ");
            }
            // `{:<w$}` pads by characters, like the width computed above.
            match align {
                Align::Left => s.push_str(&format!("{cell:<width$}")),
                Align::Right => s.push_str(&format!("{cell:>width$}")),
            }
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut out = line(headers.iter().map(|(h, _)| *h).collect());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Stat {
        Stat {
            czxid: 0x1a,
            mzxid: 0x2b,
            pzxid: 0x3c,
            ctime: 1_700_000_000_000,
            mtime: 1_700_000_000_123,
            version: 4,
            cversion: 5,
            aversion: 0,
            ephemeral_owner: 0x100_0000_0000_0001,
            data_length: 7,
            num_children: 2,
        }
    }

    #[test]
    fn utc_times() {
        assert_eq!(format_utc_millis(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(
            format_utc_millis(1_700_000_000_123),
            "2023-11-14 22:13:20.123 UTC"
        );
        assert_eq!(
            format_utc_millis(951_782_400_000),
            "2000-02-29 00:00:00.000 UTC"
        );
        assert_eq!(format_utc_millis(-1), "1969-12-31 23:59:59.999 UTC");
    }

    #[test]
    fn stat_as_text() {
        let text = stat_text(&sample());
        let expected = "\
cZxid = 0x1a
ctime = 1700000000000 (2023-11-14 22:13:20.000 UTC)
mZxid = 0x2b
mtime = 1700000000123 (2023-11-14 22:13:20.123 UTC)
pZxid = 0x3c
cversion = 5
dataVersion = 4
aclVersion = 0
ephemeralOwner = 0x100000000000001
dataLength = 7
numChildren = 2
";
        assert_eq!(text, expected);
        assert_eq!(hex(0), "0x0");
        assert_eq!(hex(u64::MAX), "0xffffffffffffffff");
    }

    #[test]
    fn stat_and_data_as_json() {
        let v = data_json("/a", b"hi \xff", &sample());
        assert_eq!(v["path"], "/a");
        assert_eq!(v["data"], "hi \u{fffd}");
        assert_eq!(v["data_len"], 4);
        let s = &v["stat"];
        assert_eq!(s["cZxid"], 0x1a);
        assert_eq!(s["dataVersion"], 4);
        assert_eq!(s["ephemeralOwner"], 0x100_0000_0000_0001_i64);
        assert_eq!(s["numChildren"], 2);
        assert_eq!(s.as_object().unwrap().len(), 11);
    }

    #[test]
    fn newline_rule() {
        assert!(needs_newline(b"abc"));
        assert!(!needs_newline(b"abc\n"));
        assert!(!needs_newline(b""));
        assert!(!needs_newline(b"\xff\x00"));
    }

    #[test]
    fn aligned_table() {
        let t = table(
            &[
                ("name", Align::Left),
                ("ops/s", Align::Right),
                ("note", Align::Left),
            ],
            &[
                vec!["get".into(), "12345.6".into(), "".into()],
                vec!["mixed".into(), "7.0".into(), "ok".into()],
                vec!["x".into()],
            ],
        );
        let expected = "\
name     ops/s  note
get    12345.6
mixed      7.0  ok
x
";
        assert_eq!(t, expected);
    }
}
