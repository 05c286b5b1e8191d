//! [`Permission`]: checks on the user, and on the object the connection is about.

use async_trait::async_trait;

use super::AuthError;
use crate::Scope;

/// A check a [`TokenAuthenticator`](super::TokenAuthenticator) runs for every connection:
/// [`has_permission`](Self::has_permission) first, then, when an object was looked up,
/// [`has_object_permission`](Self::has_object_permission). Every permission of the list must
/// pass. A refusal is status 401 when the connection has no user and 403 when it has one.
///
/// [`TokenAuthenticator`](super::TokenAuthenticator) keeps a list of different permissions, as trait
/// objects, so this is an [`async_trait`](crate::async_trait) trait: implement it with
/// `#[chanx::async_trait]`.
///
/// `U` is the user type, `O` the object type (`()` without an object). A check that cannot decide
/// (its database is down, say) returns an error: the client gets status 500, and the log the
/// error.
///
/// ```
/// use chanx::auth::{AuthError, Permission};
/// use chanx::Scope;
///
/// struct User { id: u64 }
/// struct Room { members: Vec<u64> }
///
/// /// Only the room's members may join it.
/// struct IsMember;
///
/// #[chanx::async_trait]
/// impl Permission<User, Room> for IsMember {
///     async fn has_object_permission(&self, user: Option<&User>, _scope: &Scope, room: &Room) -> Result<bool, AuthError> {
///         Ok(user.is_some_and(|user| room.members.contains(&user.id)))
///     }
/// }
/// ```
#[async_trait]
pub trait Permission<U, O = ()>: Send + Sync + 'static
where
    U: Send + Sync + 'static,
    O: Send + Sync + 'static,
{
    /// Whether this user (`None`: anonymous) may connect at all.
    async fn has_permission(&self, user: Option<&U>, scope: &Scope) -> Result<bool, AuthError> {
        let _ = (user, scope);
        Ok(true)
    }

    /// Whether this user may connect to this object.
    async fn has_object_permission(&self, user: Option<&U>, scope: &Scope, object: &O) -> Result<bool, AuthError> {
        let _ = (user, scope, object);
        Ok(true)
    }
}

/// Only connections with a user.
#[derive(Debug, Clone, Copy, Default)]
pub struct IsAuthenticated;

#[async_trait]
impl<U: Send + Sync + 'static, O: Send + Sync + 'static> Permission<U, O> for IsAuthenticated {
    async fn has_permission(&self, user: Option<&U>, _scope: &Scope) -> Result<bool, AuthError> {
        Ok(user.is_some())
    }
}

/// Everyone, anonymous included (the explicit form of an empty permission list).
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAny;

#[async_trait]
impl<U: Send + Sync + 'static, O: Send + Sync + 'static> Permission<U, O> for AllowAny {}

/// An object-level check from a plain function of the user and the object.
///
/// ```
/// use chanx::auth::ObjectCheck;
/// struct User { id: u64 }
/// struct Room { owner: u64 }
/// let is_owner = ObjectCheck(|user: Option<&User>, room: &Room| user.is_some_and(|u| u.id == room.owner));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ObjectCheck<F>(pub F);

#[async_trait]
impl<U, O, F> Permission<U, O> for ObjectCheck<F>
where
    U: Send + Sync + 'static,
    O: Send + Sync + 'static,
    F: Fn(Option<&U>, &O) -> bool + Send + Sync + 'static,
{
    async fn has_object_permission(&self, user: Option<&U>, _scope: &Scope, object: &O) -> Result<bool, AuthError> {
        Ok((self.0)(user, object))
    }
}
