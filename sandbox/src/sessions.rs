//! Ending a user's access ends their open sockets too.
//!
//! A socket is authorized once, when it connects; without more, a user deactivated in `/admin/`,
//! deleted, or signed out would keep receiving every chat, list and answer it had open. So every
//! socket of a signed-in user joins the user's group ([`user_group`]), and
//! [`close_user_sockets`] closes the whole group with [`SESSION_ENDED`] when the account is
//! deactivated or deleted, and when the user logs out. A logout also ends every access token
//! issued before it (the user's `sessions_ended_at`), so the check below catches it too.
//!
//! A check at connect and a revocation can cross: the socket is checked, the account is
//! deactivated and its group closed, then the socket joins the group and misses the close. Each
//! consumer therefore checks again *after* joining its groups ([`still_signed_in`], and the chat
//! room its membership): whichever
//! comes second, the check or the close, catches it.

use chanx::layer::safe_group_name;
use chanx::{Context, Layer};

use crate::accounts::User;
use crate::accounts::tokens::Tokens;
use crate::db::Db;

/// The close code of a socket whose user's access ended (logout, deactivation, deletion).
///
/// 4401, "not authenticated", rather than 4403: what authorized the socket is no longer valid.
/// The pages' script answers a 4401 by renewing the session once: that works on another device
/// of a user who logged out here (its own session is still valid, so it reconnects), and fails
/// for a logged-out browser or a deactivated or deleted account, whose page then stays
/// disconnected.
pub const SESSION_ENDED: u16 = 4401;

/// The close reason sent with [`SESSION_ENDED`].
pub const SESSION_ENDED_REASON: &str = "session ended: signed out, deactivated or deleted";

/// The close reason sent with 1011 when access cannot be checked because the database failed.
pub const DATABASE_UNAVAILABLE: &str = "database unavailable";

/// The group of every socket of user `user_id`: `user.{id}`.
///
/// ```
/// assert_eq!(sandbox::sessions::user_group(42), "user.42");
/// ```
pub fn user_group(user_id: i64) -> String {
    safe_group_name(Some("user"), &[&user_id.to_string()])
}

/// Closes every open socket of user `user_id`, in this process and in any other sharing the
/// channel layer, with [`SESSION_ENDED`]. Call it after the change that ends the access is
/// saved. A failure is logged: the change stands, and the sockets still die at their next
/// reconnect, but until then they are open, so it is logged as an error.
pub async fn close_user_sockets(layer: &Layer, user_id: i64) {
    if let Err(err) = layer.close_group(&user_group(user_id), SESSION_ENDED, SESSION_ENDED_REASON).await {
        tracing::error!(error = %err, user = user_id, "could not close the user's sockets");
    }
}

/// Ends every session of user `user_id` (a password change or reset): every refresh token is
/// revoked, every access token issued until now stops working, and their open sockets are closed
/// with [`SESSION_ENDED`], as a deactivation does.
pub async fn end_all(db: &Db, tokens: &Tokens, layer: &Layer, user_id: i64) -> Result<(), sqlx::Error> {
    tokens.revoke_user(db, user_id).await?;
    User::end_sessions(db, user_id).await?;
    close_user_sockets(layer, user_id).await;
    Ok(())
}

/// The group of the signed-in user of `ctx`, for a consumer's `groups()`; none for a visitor.
pub fn group_of(ctx: &Context) -> Option<String> {
    ctx.extension::<User>().map(|user| user_group(user.id))
}

/// Checks again, once the socket is in its groups, that its signed-in user is still active and
/// has not logged out since the socket's token was issued (a visitor's socket passes); closes the socket with [`SESSION_ENDED`] otherwise and says so. A
/// database failure closes it too (1011): access that cannot be checked is not granted.
pub async fn still_signed_in(ctx: &Context, db: &Db) -> bool {
    let Some(user) = ctx.extension::<User>() else { return true };
    match User::find_signed_in(db, user.id, user.token_issued_us).await {
        Ok(Some(_)) => true,
        Ok(None) => {
            ctx.close(SESSION_ENDED, SESSION_ENDED_REASON);
            false
        }
        Err(err) => {
            tracing::error!(error = %err, "could not check the socket's user again");
            ctx.close(chanx::close_code::INTERNAL_ERROR, DATABASE_UNAVAILABLE);
            false
        }
    }
}
