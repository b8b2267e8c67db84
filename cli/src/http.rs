//! A minimal HTTP/1.1 GET client for the members' admin endpoints (`/status`), over
//! TCP or TLS.
//!
//! Why hand-written: the CLI needs one small JSON document from a loopback or LAN
//! address, once per member; a full HTTP client (and its TLS and connection pool)
//! would dominate the binary and the build for that. The request asks the server to
//! close the connection, so the response is simply read to EOF (bounded by a size
//! limit and a timeout) and then parsed: status line, headers, and a body framed by
//! `Content-Length`, `Transfer-Encoding: chunked`, or the end of the stream.
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use paddock::tls::{ClientTls, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response accepted (a status document is a few hundred bytes).
const MAX_RESPONSE: usize = 1 << 20;

/// A parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code, e.g. 200.
    pub status: u16,
    /// Reason phrase, e.g. "OK".
    pub reason: String,
    /// The body with any transfer framing removed.
    pub body: Vec<u8>,
}

/// `GET {path}` from `addr` with an overall timeout: `host:port` or `http://host:port`
/// is plain HTTP, `https://host:port` is HTTPS verified with `tls` (required then).
pub async fn get(
    addr: &str,
    path: &str,
    tls: Option<&ClientTls>,
    timeout: Duration,
) -> anyhow::Result<Response> {
    tokio::time::timeout(timeout, get_inner(addr, path, tls))
        .await
        .map_err(|_| anyhow!("{addr}: no answer within {timeout:?}"))?
}

async fn get_inner(addr: &str, path: &str, tls: Option<&ClientTls>) -> anyhow::Result<Response> {
    let (secure, host_port) = match addr.strip_prefix("https://") {
        Some(rest) => (true, rest),
        None => (false, addr.strip_prefix("http://").unwrap_or(addr)),
    };
    let tcp = TcpStream::connect(host_port)
        .await
        .with_context(|| format!("{addr}: connect"))?;
    let mut stream = match (secure, tls) {
        (false, _) => Stream::Plain(tcp),
        (true, Some(tls)) => tls
            .connect(host_port, tcp)
            .await
            .with_context(|| format!("{addr}: TLS"))?,
        (true, None) => bail!("{addr} serves HTTPS: pass --tls-ca to verify it"),
    };
    let addr = host_port;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\n\
         User-Agent: paddock-cli\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .with_context(|| format!("{addr}: send"))?;
    let mut raw = Vec::new();
    let read = (&mut stream)
        .take(MAX_RESPONSE as u64 + 1)
        .read_to_end(&mut raw)
        .await;
    match read {
        Ok(_) => {}
        // A TLS server that closes without close_notify: the response is framed by
        // Content-Length or chunking anyway, and parsing checks it is whole.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e).with_context(|| format!("{addr}: read")),
    }
    if raw.len() > MAX_RESPONSE {
        bail!("{addr}: response larger than {MAX_RESPONSE} bytes");
    }
    parse_response(&raw).map_err(|e| anyhow!("{addr}: bad HTTP response: {e}"))
}

/// Parses a complete HTTP/1.x response (everything up to EOF).
pub fn parse_response(raw: &[u8]) -> Result<Response, String> {
    let head_end = find(raw, b"\r\n\r\n").ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..head_end]).map_err(|_| "headers are not UTF-8")?;
    let rest = &raw[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1 status line: {status_line:?}"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line: {status_line:?}"))?;
    let reason = parts.next().unwrap_or_default().to_string();
    let mut content_length = None;
    let mut chunked = false;
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header: {line:?}"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| format!("bad Content-Length: {value:?}"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .to_ascii_lowercase()
                .split(',')
                .any(|t| t.trim() == "chunked");
        }
    }
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(n) = content_length {
        rest.get(..n)
            .ok_or_else(|| format!("body shorter than Content-Length {n}"))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status,
        reason,
        body,
    })
}

/// Removes chunked transfer framing (chunk extensions and trailers are ignored).
fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line_end = find(data, b"\r\n").ok_or("truncated chunk size")?;
        let line = std::str::from_utf8(&data[..line_end]).map_err(|_| "bad chunk size")?;
        let size_hex = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| format!("bad chunk size {size_hex:?}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        let chunk = data.get(..size).ok_or("truncated chunk")?;
        body.extend_from_slice(chunk);
        data = data
            .get(size..)
            .and_then(|d| d.strip_prefix(b"\r\n"))
            .ok_or("chunk without CRLF")?;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_body() {
        let raw = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nContent-Length: 9\r\n\r\n{\"id\":1}\nGARBAGE";
        let r = parse_response(raw).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.reason, "OK");
        assert_eq!(r.body, b"{\"id\":1}\n");
    }

    #[test]
    fn chunked_body() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3;ext=1\r\n:1}\r\n0\r\nX-Trailer: y\r\n\r\n";
        let r = parse_response(raw).unwrap();
        assert_eq!(r.body, b"{\"a\":1}");
    }

    #[test]
    fn body_to_eof_and_errors() {
        let r = parse_response(b"HTTP/1.0 503 Service Unavailable\r\n\r\nnot ready").unwrap();
        assert_eq!((r.status, r.reason.as_str()), (503, "Service Unavailable"));
        assert_eq!(r.body, b"not ready");
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n").is_err());
        assert!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 abc OK\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort").is_err());
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err()
        );
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab")
                .is_err()
        );
    }

    #[tokio::test]
    async fn get_over_tcp() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 1024];
            let n = s.read(&mut buf).await.unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                .await
                .unwrap();
            req
        });
        let r = get(&addr, "/status", None, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
        let req = server.await.unwrap();
        assert!(req.starts_with("GET /status HTTP/1.1\r\n"), "{req}");
        assert!(req.contains("Connection: close\r\n"));
    }
}
