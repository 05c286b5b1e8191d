//! Who may connect, and to what: [`Authenticator`]s, the [`CredentialSource`]s they read tokens
//! from, and [`Permission`]s checked against the user and a looked-up object.
//!
//! An authenticator runs once per connection, after the WebSocket handshake and before anything
//! else. Its decision is an [`AuthenticationPayload`]: the client receives it as the
//! `authentication` frame, and a non-2xx status closes the connection with 4000 + status, joining
//! no group and running no handler. What it learns (the user, the object) it stores with
//! [`Context::insert_extension`], where `post_authentication` and every handler find it.
//!
//! [`TokenAuthenticator`] is the ready-made one: a credential source, a way from token to user,
//! permissions, and optionally an object looked up from a path parameter. See
//! `docs/authentication.md` for the frames a client receives in each case.

mod credentials;
#[cfg(feature = "jwt")]
mod jwt;
mod permission;
mod token;

use std::future::Future;

pub use credentials::{BearerToken, CookieToken, CredentialSource, MAX_TOKEN_LEN, ProtocolToken};
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub use jwt::{JwtError, JwtHs256};
pub use permission::{AllowAny, IsAuthenticated, ObjectCheck, Permission};
pub use token::{ObjectLookup, ResolveUser, TokenAuthenticator};

use crate::Context;
use crate::messages::AuthenticationPayload;

/// Decides whether a connection may proceed. Runs once, after the handshake.
///
/// Return a 2xx [`AuthenticationPayload`] to accept and any other status to refuse; return an
/// error (or panic) for a failure of your own, which the client sees as status 500 (close 4500)
/// and the log records. [`Settings::authentication_timeout`](crate::Settings::authentication_timeout)
/// bounds the whole call.
///
/// ```
/// use chanx::auth::{AuthError, Authenticator};
/// use chanx::messages::AuthenticationPayload;
/// use chanx::Context;
///
/// /// Lets in whoever sends the `x-api-key` header with the right key.
/// struct ApiKey(String);
///
/// impl Authenticator for ApiKey {
///     async fn authenticate(&self, ctx: &Context) -> Result<AuthenticationPayload, AuthError> {
///         Ok(match ctx.scope().header("x-api-key") {
///             Some(key) if key == self.0 => AuthenticationPayload::ok(),
///             _ => AuthenticationPayload::status(401),
///         })
///     }
/// }
/// ```
pub trait Authenticator: Send + Sync + 'static {
    /// Whether the authentication step runs at all. Only [`AllowAll`] turns it off, so that a
    /// consumer without an authenticator sends no `authentication` frame, as in chanx.
    const ENABLED: bool = true;

    /// Decides for the connection of `ctx`.
    fn authenticate(&self, ctx: &Context) -> impl Future<Output = Result<AuthenticationPayload, AuthError>> + Send;

    /// The credentials this authenticator reads, for the AsyncAPI document's security schemes.
    fn credentials(&self) -> Vec<Credential> {
        Vec::new()
    }
}

/// No authentication: every connection is accepted and no `authentication` frame is sent. The
/// authenticator of every consumer that names none.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Authenticator for AllowAll {
    const ENABLED: bool = false;

    async fn authenticate(&self, _ctx: &Context) -> Result<AuthenticationPayload, AuthError> {
        Ok(AuthenticationPayload::ok())
    }
}

/// An authenticator's own failure (a database down, a bug): the client gets status 500.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct AuthError(Box<dyn std::error::Error + Send + Sync>);

impl AuthError {
    /// Wraps any error.
    ///
    /// ```
    /// let err = chanx::auth::AuthError::new("database unavailable");
    /// assert_eq!(err.to_string(), "database unavailable");
    /// ```
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        AuthError(error.into())
    }
}

/// Where a credential travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// An HTTP header of the handshake, such as `Authorization`.
    Header,
    /// A cookie.
    Cookie,
    /// A query-string parameter.
    Query,
    /// An entry of `Sec-WebSocket-Protocol`, after the marker protocol [`Credential::name`],
    /// which the server echoes back to accept the handshake.
    Subprotocol,
}

/// A credential an authenticator reads, declared for the AsyncAPI document.
///
/// ```
/// use chanx::auth::{Credential, Location};
/// let session = Credential::new("sessionid", Location::Cookie).description("Django-style session cookie");
/// assert_eq!(session.location, Location::Cookie);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Credential {
    /// The header, cookie or query parameter name, or the marker subprotocol.
    pub name: String,
    /// Where it travels.
    pub location: Location,
    /// What it is, for readers of the document.
    pub description: Option<String>,
}

impl Credential {
    /// A credential named `name` travelling in `location`.
    pub fn new(name: impl Into<String>, location: Location) -> Self {
        Credential { name: name.into(), location, description: None }
    }

    /// Adds a description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }
}
