//! The signed-in user of a socket: the access token a handshake carries (the `my-jwt-auth`
//! cookie, else a Bearer header), resolved to an active user, for every app's consumers.
//!
//! Pages and the REST API find their user with the [`User`] extractor; sockets are authenticated
//! by chanx before any handler runs, so they resolve the same token through a [`ResolveUser`].

use std::sync::Arc;

use chanx::auth::{
    AuthError, BearerToken, CookieToken, CredentialSource, IsAuthenticated, ResolveUser, TokenAuthenticator,
};

use super::User;
use super::tokens::{ACCESS_COOKIE, TokenType, Tokens};
use crate::db::Db;

/// Resolves an access token (cookie `my-jwt-auth` or `Authorization: Bearer`) to an active user.
#[derive(Debug, Clone)]
pub struct UserResolver {
    tokens: Arc<Tokens>,
    db: Db,
}

impl UserResolver {
    /// A resolver over `tokens` and `db`.
    pub fn new(tokens: Arc<Tokens>, db: Db) -> Self {
        UserResolver { tokens, db }
    }

    /// Where sockets find the access token: the `my-jwt-auth` cookie, else a Bearer header.
    pub(crate) fn sources() -> Vec<Box<dyn CredentialSource>> {
        vec![Box::new(CookieToken::new(ACCESS_COOKIE)), Box::new(BearerToken)]
    }
}

#[chanx::async_trait]
impl ResolveUser<User> for UserResolver {
    async fn resolve(&self, token: &str) -> Result<Option<User>, AuthError> {
        let Some(claims) = self.tokens.verify(token, TokenType::Access) else { return Ok(None) };
        User::find_signed_in(&self.db, claims.user_id, claims.iat_us).await.map_err(AuthError::new)
    }
}

/// Signed-in users only.
pub type UserAuth = TokenAuthenticator<User>;

/// The authenticator of sockets for signed-in users (`/ws/chat/group/`, `/ws/discussion/`): 401
/// without a valid token.
pub fn user_auth(resolver: UserResolver) -> UserAuth {
    TokenAuthenticator::new(UserResolver::sources(), resolver).permission(IsAuthenticated)
}
