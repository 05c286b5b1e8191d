//! Where a token is found in the handshake: header, cookie or `Sec-WebSocket-Protocol`.

use super::{Credential, Location};
use crate::Scope;

/// The longest token the ready-made sources read, in bytes; a longer one is absent. A browser
/// keeps cookies to 4 KiB, and identity providers' tokens are a few KiB at most, so this only
/// keeps a peer's oversized header from reaching the token lookup.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Finds the token of a connection in its handshake. Implementations never fail: a missing or
/// malformed credential is `None`, and the connection is anonymous. The sources of this module
/// read headers in time linear in their length and ignore tokens over [`MAX_TOKEN_LEN`].
pub trait CredentialSource: Send + Sync + 'static {
    /// The token, if the handshake carries a well-formed one.
    fn token(&self, scope: &Scope) -> Option<String>;

    /// What this source reads, for AsyncAPI.
    fn credentials(&self) -> Vec<Credential>;
}

/// `Authorization: Bearer <token>` (the scheme is matched case-insensitively).
///
/// ```
/// use chanx::auth::{BearerToken, CredentialSource};
/// let scope = chanx::Scope::builder("/").header("authorization", "Bearer abc.def").build();
/// assert_eq!(BearerToken.token(&scope).as_deref(), Some("abc.def"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct BearerToken;

impl CredentialSource for BearerToken {
    fn token(&self, scope: &Scope) -> Option<String> {
        let value = scope.header("authorization")?.trim();
        let (scheme, token) = value.split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && well_sized(token) && !token.contains(' ')).then(|| token.to_owned())
    }

    fn credentials(&self) -> Vec<Credential> {
        vec![Credential::new("Authorization", Location::Header).description("`Bearer <token>`")]
    }
}

/// A cookie holding the token, such as a session id.
///
/// ```
/// use chanx::auth::{CookieToken, CredentialSource};
/// let scope = chanx::Scope::builder("/").header("cookie", "sessionid=s3cr3t").build();
/// assert_eq!(CookieToken::new("sessionid").token(&scope).as_deref(), Some("s3cr3t"));
/// ```
#[derive(Debug, Clone)]
pub struct CookieToken {
    name: String,
}

impl CookieToken {
    /// Reads the cookie `name`.
    pub fn new(name: impl Into<String>) -> Self {
        CookieToken { name: name.into() }
    }
}

impl CredentialSource for CookieToken {
    fn token(&self, scope: &Scope) -> Option<String> {
        scope.cookie(&self.name).filter(|v| well_sized(v)).map(str::to_owned)
    }

    fn credentials(&self) -> Vec<Credential> {
        vec![Credential::new(self.name.clone(), Location::Cookie)]
    }
}

/// A token sent as a WebSocket subprotocol, for browsers, which cannot set headers on a
/// WebSocket: `new WebSocket(url, ["access_token", token])` sends
/// `Sec-WebSocket-Protocol: access_token, <token>`. The server answers with the marker
/// (`access_token`), never the token.
///
/// ```
/// use chanx::auth::{CredentialSource, ProtocolToken};
/// let scope = chanx::Scope::builder("/").header("sec-websocket-protocol", "access_token, abc").build();
/// assert_eq!(ProtocolToken::new("access_token").token(&scope).as_deref(), Some("abc"));
/// ```
#[derive(Debug, Clone)]
pub struct ProtocolToken {
    marker: String,
}

impl ProtocolToken {
    /// Reads the protocol entry after `marker`.
    pub fn new(marker: impl Into<String>) -> Self {
        ProtocolToken { marker: marker.into() }
    }
}

impl CredentialSource for ProtocolToken {
    fn token(&self, scope: &Scope) -> Option<String> {
        let offered = scope.headers().get_all(http::header::SEC_WEBSOCKET_PROTOCOL);
        let mut entries = offered.iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).map(str::trim);
        entries.find(|entry| *entry == self.marker)?;
        entries.next().filter(|token| well_sized(token)).map(str::to_owned)
    }

    fn credentials(&self) -> Vec<Credential> {
        vec![
            Credential::new(self.marker.clone(), Location::Subprotocol)
                .description("`Sec-WebSocket-Protocol: <marker>, <token>`"),
        ]
    }
}

fn well_sized(token: &str) -> bool {
    !token.is_empty() && token.len() <= MAX_TOKEN_LEN
}

/// Tries several sources in order; the first token found wins.
impl CredentialSource for Vec<Box<dyn CredentialSource>> {
    fn token(&self, scope: &Scope) -> Option<String> {
        self.iter().find_map(|source| source.token(scope))
    }

    fn credentials(&self) -> Vec<Credential> {
        self.iter().flat_map(|source| source.credentials()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(name: &str, value: &str) -> Scope {
        Scope::builder("/").header(name, value).build()
    }

    #[test]
    fn malformed_credentials_are_absent() {
        for value in ["", "Bearer", "Bearer ", "Basic abc", "Bearer a b", "bearer"] {
            assert_eq!(BearerToken.token(&scope("authorization", value)), None, "{value:?}");
        }
        assert_eq!(BearerToken.token(&scope("authorization", "bearer  tok ")).as_deref(), Some("tok"));
        let cookie = CookieToken::new("sessionid");
        for value in ["", ";;;", "sessionid", "sessionid=", "=x", "other=1; session=2"] {
            assert_eq!(cookie.token(&scope("cookie", value)), None, "{value:?}");
        }
        let protocol = ProtocolToken::new("access_token");
        for value in ["", "access_token", "chat, access_token", "access_token, "] {
            assert_eq!(protocol.token(&scope("sec-websocket-protocol", value)), None, "{value:?}");
        }
    }

    #[test]
    fn oversized_tokens_are_absent() {
        let longest = "t".repeat(MAX_TOKEN_LEN);
        let over = "t".repeat(MAX_TOKEN_LEN + 1);
        let cookie = CookieToken::new("sessionid");
        let protocol = ProtocolToken::new("access_token");
        for (token, expected) in [(&longest, Some(longest.clone())), (&over, None)] {
            assert_eq!(BearerToken.token(&scope("authorization", &format!("Bearer {token}"))), expected);
            assert_eq!(cookie.token(&scope("cookie", &format!("sessionid={token}"))), expected);
            assert_eq!(protocol.token(&scope("sec-websocket-protocol", &format!("access_token, {token}"))), expected);
        }
    }

    #[test]
    fn many_cookies_and_protocol_entries_are_read_in_one_pass() {
        let many = "a=1; ".repeat(50_000) + "sessionid=s";
        assert_eq!(CookieToken::new("sessionid").token(&scope("cookie", &many)).as_deref(), Some("s"));
        let entries = "chat, ".repeat(50_000) + "access_token, t";
        assert_eq!(
            ProtocolToken::new("access_token").token(&scope("sec-websocket-protocol", &entries)).as_deref(),
            Some("t")
        );
    }
}
