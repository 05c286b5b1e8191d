//! Where a token is found in the handshake: header, cookie or `Sec-WebSocket-Protocol`.

use super::{Credential, Location};
use crate::Scope;

/// Finds the token of a connection in its handshake. Implementations never fail: a missing or
/// malformed credential is `None`, and the connection is anonymous.
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
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' ')).then(|| token.to_owned())
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
        scope.cookie(&self.name).filter(|v| !v.is_empty()).map(str::to_owned)
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
        entries.next().filter(|token| !token.is_empty()).map(str::to_owned)
    }

    fn credentials(&self) -> Vec<Credential> {
        vec![
            Credential::new(self.marker.clone(), Location::Subprotocol)
                .description("`Sec-WebSocket-Protocol: <marker>, <token>`"),
        ]
    }
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
}
