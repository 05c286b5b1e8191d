//! Credentials in the handshake's headers: cookies (`Cookie`, several headers allowed),
//! `Authorization: Bearer`, and tokens in `Sec-WebSocket-Protocol`.
//!
//! The input's first line is a name (cookie name, protocol marker), each further line one header
//! value. Invariants: no panic; every parsed cookie has a non-empty trimmed name without `=` or
//! `;`, and a value without `;`; a lookup by name finds the first cookie of that name; the
//! sources return only non-empty tokens of at most `MAX_TOKEN_LEN` bytes that appear in the
//! header as sent.
#![no_main]

use chanx::Scope;
use chanx::auth::{BearerToken, CookieToken, CredentialSource, MAX_TOKEN_LEN, ProtocolToken};
use http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|&b| b == b'\n');
    let name = String::from_utf8_lossy(lines.next().unwrap_or_default());
    let mut headers = HeaderMap::new();
    // hyper accepts 100 headers in a request by default.
    for line in lines.take(100) {
        // Every byte a client may send in a header value: visible ASCII, space, tab, obs-text.
        let Ok(value) = HeaderValue::from_bytes(line) else { continue };
        for name in [header::COOKIE, header::AUTHORIZATION, header::SEC_WEBSOCKET_PROTOCOL] {
            headers.append(name, value.clone());
        }
    }
    let scope = Scope::builder("/").headers(headers).build();
    let sent: Vec<&str> = scope.headers().get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).collect();

    let mut first = None;
    for (cookie, value) in scope.cookies() {
        assert!(!cookie.is_empty() && cookie == cookie.trim(), "cookie name {cookie:?}");
        assert!(!cookie.contains(['=', ';']), "cookie name {cookie:?}");
        assert!(!value.contains(';'), "cookie value {value:?}");
        if first.is_none() && cookie == name {
            first = Some(value);
        }
    }
    assert_eq!(scope.cookie(&name), first);
    let token = CookieToken::new(name.as_ref()).token(&scope);
    assert_eq!(token.as_deref(), first.filter(|v| !v.is_empty() && v.len() <= MAX_TOKEN_LEN));

    if let Some(token) = BearerToken.token(&scope) {
        assert!(!token.is_empty() && token.len() <= MAX_TOKEN_LEN && !token.contains(' '), "bearer token {token:?}");
        let header = scope.header("authorization").unwrap_or_default();
        assert!(header.trim().ends_with(token.as_str()), "bearer token {token:?} of {header:?}");
    }
    if let Some(token) = ProtocolToken::new(name.as_ref()).token(&scope) {
        assert!(token.len() <= MAX_TOKEN_LEN, "protocol token of {} bytes", token.len());
        assert!(!token.is_empty() && token == token.trim() && !token.contains(','), "protocol token {token:?}");
        assert!(sent.iter().any(|line| line.contains(token.as_str())), "protocol token {token:?}");
    }
});
