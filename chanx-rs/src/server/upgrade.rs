//! WebSocket handshakes read and answered without hyper, for [`serve`](crate::serve).
//!
//! A connection whose first request is a WebSocket handshake on one of the router's paths is
//! answered here, and its socket then runs in the task that accepted it: one task per
//! connection, no HTTP state kept for its life, the head parsed once. Every other request (an
//! AsyncAPI page, a plain request, a path the router lacks) and every head not taken here (over
//! [`MAX_HEAD`] bytes or [`MAX_HEADERS`] headers, malformed, with a body, not HTTP/1.1) goes to
//! hyper with the bytes read so far, as if hyper had read them: hyper's answers stay the only
//! answers to anything unusual. `chanx::axum::serve` does not come here, so that the app's
//! middleware sees every request.
//!
//! Which handshakes are accepted, and how each refusal is answered and counted, is decided in
//! [`super::handshake`] for both paths.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use super::handshake::{Refused, Upgrade, accept, websocket_request};
use crate::Router;

/// The longest request head read here: a browser's handshake, cookies included, is far shorter.
/// A longer one is hyper's, which has its own limits.
pub(crate) const MAX_HEAD: usize = 8 * 1024;

/// The most headers a head read here may have (a browser sends about 15).
pub(crate) const MAX_HEADERS: usize = 48;

/// What the first request of a connection is.
#[allow(clippy::large_enum_variant)] // one per connection, for as long as its head is sorted
pub(crate) enum Head {
    /// A WebSocket handshake on a routed path, accepted or refused; `rest` holds the bytes the
    /// client sent after the head (its first frames, if it did not wait for the answer).
    WebSocket { answer: Result<Upgrade, Refused>, rest: Vec<u8> },
    /// Anything else: hyper's, starting with these bytes.
    Http(Vec<u8>),
}

/// Reads from `io` up to the end of the first request head, [`MAX_HEAD`] bytes, or the end of
/// the stream, whichever comes first. Only the bytes each read adds are searched for the end of
/// the head, so a client sending its head a byte at a time costs time linear in its length.
pub(crate) async fn read_head<I: AsyncRead + Unpin>(io: &mut I) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(1024);
    while head.len() < MAX_HEAD {
        let searched = head.len();
        let room = (MAX_HEAD - head.len()) as u64;
        if (&mut *io).take(room).read_buf(&mut head).await? == 0 || head_end(&head, searched).is_some() {
            break;
        }
    }
    Ok(head)
}

/// Where the head in `bytes` ends (just after its empty line, `\n\n` or `\n\r\n`), looking only
/// at terminators that end at or after `from`.
fn head_end(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from.saturating_sub(2);
    while let Some(found) = bytes.get(at..)?.iter().position(|&b| b == b'\n') {
        let newline = at + found;
        let after = |n: usize| bytes.get(newline + n).copied();
        match (after(1), after(2)) {
            (Some(b'\n'), _) => return Some(newline + 2),
            (Some(b'\r'), Some(b'\n')) => return Some(newline + 3),
            _ => at = newline + 1,
        }
    }
    None
}

/// Sorts the first request head of a connection: a WebSocket handshake on one of `router`'s
/// paths (decided as hyper's path decides it), or hyper's.
pub(crate) fn take(router: &Router, head: Vec<u8>, peer: Option<SocketAddr>) -> Head {
    // Empty lines before the request line (which httparse skips) are hyper's: [`read_head`]
    // stops at the first empty line, so what was read would depend on how the bytes arrived.
    if head.first().is_some_and(|&b| b == b'\r' || b == b'\n') {
        return Head::Http(head);
    }
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut slots);
    let Ok(httparse::Status::Complete(len)) = parsed.parse(&head) else {
        return Head::Http(head);
    };
    let (Some("GET"), Some(1), Some(target)) = (parsed.method, parsed.version, parsed.path) else {
        return Head::Http(head);
    };
    // An absolute-form or asterisk target is hyper's, and so is one hyper would refuse: the
    // path and query are parsed as hyper parses them (a fragment cut off, `<` refused...).
    if !target.starts_with('/') {
        return Head::Http(head);
    }
    let Ok(target) = http::uri::PathAndQuery::try_from(target) else {
        return Head::Http(head);
    };
    let Some(mut headers) = header_map(parsed.headers) else {
        return Head::Http(head);
    };
    // A handshake has no body; one that claims one is hyper's to read or refuse.
    if headers.contains_key(header::CONTENT_LENGTH) || headers.contains_key(header::TRANSFER_ENCODING) {
        return Head::Http(head);
    }
    let (path, query) = (target.path(), target.query().unwrap_or(""));
    let Some((route, params, key)) = websocket_request(router, &Method::GET, path, &headers) else {
        return Head::Http(head);
    };
    headers.remove(header::SEC_WEBSOCKET_KEY);
    let answer = accept(router, route, params, (path, query), &key, headers, peer);
    Head::WebSocket { answer, rest: head[len..].to_vec() }
}

/// The headers, owned; `None` when a name or value is not valid in an `http::HeaderMap`.
fn header_map(parsed: &[httparse::Header<'_>]) -> Option<HeaderMap> {
    let mut headers = HeaderMap::with_capacity(parsed.len());
    for header in parsed {
        let name = HeaderName::from_bytes(header.name.as_bytes()).ok()?;
        headers.append(name, HeaderValue::from_bytes(header.value).ok()?);
    }
    Some(headers)
}

/// The bytes of the answer to a handshake: 101, or the refusal's status with its text (and
/// `Connection: close`: the socket is closed after it).
pub(crate) fn answer_bytes(answer: &Result<Upgrade, Refused>) -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    match answer {
        Ok(upgrade) => {
            out.extend_from_slice(
                b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-accept: ",
            );
            out.extend_from_slice(upgrade.accept_key.as_bytes());
            if let Some(protocol) = &upgrade.protocol {
                out.extend_from_slice(b"\r\nsec-websocket-protocol: ");
                out.extend_from_slice(protocol.as_bytes());
            }
            out.extend_from_slice(b"\r\n\r\n");
        }
        Err(refused) => {
            let reason = refused.status.canonical_reason().unwrap_or("");
            // With a `Date`, as hyper's answers have (RFC 9110 §6.6.1: required on a 4xx or 5xx).
            let head = format!(
                "HTTP/1.1 {} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n\
                 connection: close\r\ndate: {}\r\n\r\n",
                refused.status.as_u16(),
                refused.body.len(),
                httpdate::fmt_http_date(std::time::SystemTime::now()),
            );
            out.extend_from_slice(head.as_bytes());
            out.extend_from_slice(refused.body.as_bytes());
        }
    }
    out
}

/// A stream whose first bytes were already read: they are read again from `prefix`, then from
/// the stream. Given to hyper for the requests [`take`] leaves to it.
pub(crate) struct Prefixed<I> {
    prefix: Vec<u8>,
    /// How much of `prefix` was read.
    at: usize,
    io: I,
}

impl<I> Prefixed<I> {
    pub(crate) fn new(prefix: Vec<u8>, io: I) -> Self {
        Prefixed { prefix, at: 0, io }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Prefixed<I> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.at < this.prefix.len() {
            let n = buf.remaining().min(this.prefix.len() - this.at);
            buf.put_slice(&this.prefix[this.at..this.at + n]);
            this.at += n;
            if this.at == this.prefix.len() {
                // Not kept for the life of the connection.
                this.prefix = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Prefixed<I> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_of_a_head_is_found_across_reads_with_either_line_ending() {
        let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nrest";
        assert_eq!(head_end(head, 0), Some(27));
        // Found when the read that completed it began just before the terminator.
        // Every read adds a byte at least, so the search starts at 26 at the latest.
        for from in 0..27 {
            assert_eq!(head_end(&head[..27], from), Some(27), "from {from}");
        }
        assert_eq!(head_end(b"GET / HTTP/1.1\nHost: x\n\n", 0), Some(24));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n", 0), None);
    }

    #[tokio::test]
    async fn a_head_that_never_ends_is_read_a_byte_at_a_time_up_to_the_limit() {
        // Newlines that never make an empty line: every byte could be the end, none is.
        let mut line = b"GET / HTTP/1.1\r\n".to_vec();
        line.extend(b"X: y\r\n".repeat(MAX_HEAD));
        let (mut client, mut server) = tokio::io::duplex(1);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let _ = client.write_all(&line).await;
        });
        let head = read_head(&mut server).await.expect("read");
        // Stopped at the limit, never more: the rest is hyper's to refuse.
        assert_eq!(head.len(), MAX_HEAD);
        drop(server);
        writer.await.expect("writer");
    }
}
