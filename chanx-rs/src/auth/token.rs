//! [`TokenAuthenticator`]: token → user → permissions → object → object permissions.

use std::future::Future;

use async_trait::async_trait;
use serde_json::json;

use super::{AuthError, Authenticator, Credential, CredentialSource, Permission};
use crate::Context;
use crate::messages::AuthenticationPayload;

/// Finds the user a token belongs to: `Ok(None)` for a token that is not valid (status 401).
///
/// [`TokenAuthenticator`] keeps it as a trait object, so it is an [`async_trait`](crate::async_trait)
/// trait: implement it with `#[chanx::async_trait]` on a type holding what the lookup needs (a
/// pool, a key); the future borrows `&self` and the token, so nothing is cloned per connection.
/// A lookup that fails (a database error) returns an error: status 500.
///
/// ```
/// use chanx::auth::{AuthError, ResolveUser};
///
/// struct User { name: String }
/// /// Tokens are user names, in this toy example.
/// struct Users { names: Vec<String> }
///
/// #[chanx::async_trait]
/// impl ResolveUser<User> for Users {
///     async fn resolve(&self, token: &str) -> Result<Option<User>, AuthError> {
///         Ok(self.names.iter().find(|name| *name == token).map(|name| User { name: name.clone() }))
///     }
/// }
/// ```
///
/// Any `Fn(String) -> impl Future<Output = Option<U>>` (a closure over cloned state) is one too,
/// for lookups that cannot fail.
#[async_trait]
pub trait ResolveUser<U>: Send + Sync + 'static {
    /// The user of `token`.
    async fn resolve(&self, token: &str) -> Result<Option<U>, AuthError>;
}

#[async_trait]
impl<U, F, Fut> ResolveUser<U> for F
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<U>> + Send + 'static,
    U: Send + 'static,
{
    async fn resolve(&self, token: &str) -> Result<Option<U>, AuthError> {
        Ok(self(token.to_owned()).await)
    }
}

/// Finds the object a path parameter names: `Ok(None)` when there is none (status 404).
///
/// Like [`ResolveUser`], an [`async_trait`](crate::async_trait) trait whose future borrows
/// `&self` and the key; any `Fn(String) -> impl Future<Output = Option<O>>` is one too.
#[async_trait]
pub trait ObjectLookup<O>: Send + Sync + 'static {
    /// The object whose key is `key`, the path parameter's decoded value.
    async fn lookup(&self, key: &str) -> Result<Option<O>, AuthError>;
}

#[async_trait]
impl<O, F, Fut> ObjectLookup<O> for F
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<O>> + Send + 'static,
    O: Send + 'static,
{
    async fn lookup(&self, key: &str) -> Result<Option<O>, AuthError> {
        Ok(self(key.to_owned()).await)
    }
}

/// The ready-made authenticator, in the order DRF runs a view:
///
/// 1. the token, from the [`CredentialSource`] (none: the connection is anonymous);
/// 2. its user, from the [`ResolveUser`] (a token without user: 401 `Invalid token.`);
/// 3. every [`Permission::has_permission`] (refused: 401 when anonymous, else 403);
/// 4. with [`for_object`](Self::for_object), the object named by a path parameter (none: 404);
/// 5. every [`Permission::has_object_permission`] (refused: 401 / 403).
///
/// On success the client gets status 200 with `{"detail": "OK"}`, and the user (`U`) and the
/// object (`O`) are in the connection's extensions: `ctx.extension::<U>()`.
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Arc;
/// use chanx::auth::{BearerToken, IsAuthenticated, ObjectCheck, TokenAuthenticator};
///
/// #[derive(Clone)]
/// struct User { name: String }
/// struct Room { members: Vec<String> }
///
/// let tokens: Arc<HashMap<String, User>> = Arc::default();
/// let rooms: Arc<HashMap<String, Arc<Room>>> = Arc::default();
/// let auth = TokenAuthenticator::for_object(
///     BearerToken,
///     move |token: String| { let tokens = tokens.clone(); async move { tokens.get(&token).cloned() } },
///     "room",
///     move |key: String| { let rooms = rooms.clone(); async move { rooms.get(&key).cloned() } },
/// )
/// .permission(IsAuthenticated)
/// .permission(ObjectCheck(|user: Option<&User>, room: &Arc<Room>| {
///     user.is_some_and(|user| room.members.contains(&user.name))
/// }));
/// ```
pub struct TokenAuthenticator<U, O = ()> {
    source: Box<dyn CredentialSource>,
    resolver: Box<dyn ResolveUser<U>>,
    object: Option<(String, Box<dyn ObjectLookup<O>>)>,
    permissions: Vec<Box<dyn Permission<U, O>>>,
}

impl<U, O> std::fmt::Debug for TokenAuthenticator<U, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenAuthenticator")
            .field("credentials", &self.source.credentials())
            .field("object_param", &self.object.as_ref().map(|(param, _)| param))
            .field("permissions", &self.permissions.len())
            .finish()
    }
}

impl<U: Send + Sync + 'static> TokenAuthenticator<U> {
    /// Authenticates the user of the token `source` finds, with `resolver`; no object.
    pub fn new(source: impl CredentialSource, resolver: impl ResolveUser<U>) -> Self {
        TokenAuthenticator { source: Box::new(source), resolver: Box::new(resolver), object: None, permissions: vec![] }
    }
}

impl<U: Send + Sync + 'static, O: Send + Sync + 'static> TokenAuthenticator<U, O> {
    /// Also looks up the object named by the path parameter `param` (as in `/ws/rooms/{room}/`).
    pub fn for_object(
        source: impl CredentialSource,
        resolver: impl ResolveUser<U>,
        param: &str,
        lookup: impl ObjectLookup<O>,
    ) -> Self {
        TokenAuthenticator {
            source: Box::new(source),
            resolver: Box::new(resolver),
            object: Some((param.to_owned(), Box::new(lookup))),
            permissions: vec![],
        }
    }

    /// Adds a permission; all must pass.
    pub fn permission(mut self, permission: impl Permission<U, O>) -> Self {
        self.permissions.push(Box::new(permission));
        self
    }
}

fn refusal(status: u16, detail: &str) -> AuthenticationPayload {
    AuthenticationPayload::status(status).with_data(json!({ "detail": detail }))
}

/// DRF's answer to a refused permission: 401 without credentials, 403 with.
fn denied<U>(user: &Option<U>) -> AuthenticationPayload {
    match user {
        None => refusal(401, "Authentication credentials were not provided."),
        Some(_) => refusal(403, "You do not have permission to perform this action."),
    }
}

impl<U: Send + Sync + 'static, O: Send + Sync + 'static> Authenticator for TokenAuthenticator<U, O> {
    async fn authenticate(&self, ctx: &Context) -> Result<AuthenticationPayload, AuthError> {
        let scope = ctx.scope();
        let user = match self.source.token(scope) {
            None => None,
            Some(token) => match self.resolver.resolve(&token).await? {
                Some(user) => Some(user),
                None => return Ok(refusal(401, "Invalid token.")),
            },
        };
        for permission in &self.permissions {
            if !permission.has_permission(user.as_ref(), scope).await? {
                return Ok(denied(&user));
            }
        }
        let object = match &self.object {
            None => None,
            Some((param, lookup)) => match lookup.lookup(ctx.param(param).unwrap_or_default()).await? {
                Some(object) => Some(object),
                None => return Ok(refusal(404, "Not found.")),
            },
        };
        if let Some(object) = &object {
            for permission in &self.permissions {
                if !permission.has_object_permission(user.as_ref(), scope, object).await? {
                    return Ok(denied(&user));
                }
            }
        }
        if let Some(user) = user {
            ctx.insert_extension(user);
        }
        if let Some(object) = object {
            ctx.insert_extension(object);
        }
        Ok(AuthenticationPayload::ok().with_data(json!({"detail": "OK"})))
    }

    fn credentials(&self) -> Vec<Credential> {
        self.source.credentials()
    }
}
