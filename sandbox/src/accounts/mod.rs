//! Accounts: users identified by email, password login with JWT cookies or Bearer headers, and
//! the extractors that give handlers the current user.

mod manage;
pub mod pages;
pub mod password;
pub mod reset;
pub mod routes;
pub mod secret_key;
pub mod sockets;
pub mod tokens;

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use serde::Serialize;

use crate::db::Db;
use crate::rest::ApiError;
use password::Hasher;
use tokens::{ACCESS_COOKIE, TokenType, Tokens, bearer, cookie};

/// A user, as handlers and sockets see it (never with the password hash).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct User {
    /// The id.
    pub id: i64,
    /// The unique, lowercased email.
    pub email: String,
    /// First name, may be empty.
    pub first_name: String,
    /// Last name, may be empty.
    pub last_name: String,
    /// May use `/admin/`.
    #[sqlx(try_from = "crate::db::Flag")]
    pub is_staff: bool,
    /// Has every permission.
    #[sqlx(try_from = "crate::db::Flag")]
    pub is_superuser: bool,
    /// When the access token this user was resolved from was issued (Unix microseconds); 0 when
    /// not resolved from one. A socket checks it again once joined ([`crate::sessions`]).
    #[sqlx(skip)]
    #[serde(skip)]
    pub token_issued_us: u64,
}

/// An account as the admin lists it, active or not, with its dates.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Account {
    /// The id.
    pub id: i64,
    /// The unique, lowercased email.
    pub email: String,
    /// May sign in.
    #[sqlx(try_from = "crate::db::Flag")]
    pub is_active: bool,
    /// May use `/admin/`.
    #[sqlx(try_from = "crate::db::Flag")]
    pub is_staff: bool,
    /// Has every permission.
    #[sqlx(try_from = "crate::db::Flag")]
    pub is_superuser: bool,
    /// When the account was created.
    pub date_joined: String,
    /// When its user last logged in.
    pub last_login: Option<String>,
}

impl Account {
    /// The `limit` newest accounts, active or not.
    pub async fn newest(db: &Db, limit: i64) -> Result<Vec<Account>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, email, is_active, is_staff, is_superuser, date_joined, last_login FROM users \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(db.pool())
        .await
    }
}

impl Account {
    /// Account `id`, active or not.
    pub async fn get(db: &Db, id: i64) -> Result<Option<Account>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, email, is_active, is_staff, is_superuser, date_joined, last_login FROM users WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(db.pool())
        .await
    }

    /// Sets account `id`'s active and staff flags and, when given, its password (hashed here),
    /// active or not; whether it was active before, `None` when there is no such account. Ending
    /// the sessions a change ends is the caller's ([`crate::sessions`]).
    pub async fn change(
        db: &Db,
        hasher: &Hasher,
        id: i64,
        is_active: bool,
        is_staff: bool,
        password: Option<&str>,
    ) -> Result<Option<bool>, AuthenticateError> {
        let hash = match password {
            Some(password) => Some(hasher.hash(password.to_owned()).await?),
            None => None,
        };
        let mut tx = db.pool().begin().await?;
        let before: Option<(i64,)> =
            sqlx::query_as("SELECT is_active FROM users WHERE id = $1").bind(id).fetch_optional(&mut *tx).await?;
        let Some((was_active,)) = before else { return Ok(None) };
        sqlx::query("UPDATE users SET is_active = $1, is_staff = $2 WHERE id = $3")
            .bind(i64::from(is_active))
            .bind(i64::from(is_staff))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if let Some(hash) = hash {
            sqlx::query("UPDATE users SET password = $1 WHERE id = $2").bind(hash).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(Some(was_active != 0))
    }
}

const USER_COLUMNS: &str = "id, email, first_name, last_name, is_staff, is_superuser";

/// A new account's fields.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    /// The email; normalized by [`normalize_email`] first.
    pub email: String,
    /// The plain password; hashed here.
    pub password: String,
    /// Staff flag.
    pub is_staff: bool,
    /// Superuser flag.
    pub is_superuser: bool,
}

/// Why an account could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    /// The email is not an address.
    #[error("Enter a valid email address.")]
    InvalidEmail,
    /// Someone has it already.
    #[error("A user is already registered with this email address.")]
    Taken,
    /// Too weak.
    #[error("{0}")]
    WeakPassword(&'static str),
    /// The hasher is busy or stopped.
    #[error(transparent)]
    Hash(#[from] password::HashError),
    /// The database failed.
    #[error("{0}")]
    Internal(String),
}

/// Why a login could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum AuthenticateError {
    /// The hasher is busy or stopped.
    #[error(transparent)]
    Hash(#[from] password::HashError),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl From<AuthenticateError> for ApiError {
    fn from(err: AuthenticateError) -> Self {
        match err {
            AuthenticateError::Hash(err) => err.into(),
            AuthenticateError::Db(err) => err.into(),
        }
    }
}

/// The canonical form of an email (trimmed, lowercased), or `None` if it is not an address.
pub fn normalize_email(email: &str) -> Option<String> {
    let email = email.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let valid = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && email.len() <= 255
        && !email.chars().any(|c| c.is_whitespace() || c.is_control() || "<>\"(),;:\\[]".contains(c));
    valid.then_some(email)
}

impl User {
    /// Creates an account; the password is hashed by `hasher`.
    pub async fn create(db: &Db, hasher: &Hasher, new: NewUser) -> Result<User, CreateUserError> {
        let email = normalize_email(&new.email).ok_or(CreateUserError::InvalidEmail)?;
        if let Some(reason) = password::weakness(&new.password, &email) {
            return Err(CreateUserError::WeakPassword(reason));
        }
        let hash = hasher.hash(new.password).await?;
        let sql = format!(
            "INSERT INTO users (email, password, is_staff, is_superuser, date_joined) VALUES ($1, $2, $3, $4, $5) \
             RETURNING {USER_COLUMNS}"
        );
        sqlx::query_as(&sql)
            .bind(&email)
            .bind(hash)
            .bind(i64::from(new.is_staff))
            .bind(i64::from(new.is_superuser))
            .bind(crate::timestamp::now())
            .fetch_one(db.pool())
            .await
            .map_err(|err| {
                if crate::db::is_unique_violation(&err) {
                    CreateUserError::Taken
                } else {
                    CreateUserError::Internal(err.to_string())
                }
            })
    }

    /// The active user `id`.
    pub async fn find(db: &Db, id: i64) -> Result<Option<User>, sqlx::Error> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND is_active = 1");
        sqlx::query_as(&sql).bind(id).fetch_optional(db.pool()).await
    }

    /// The active user with `email` (any case).
    pub async fn find_by_email(db: &Db, email: &str) -> Result<Option<User>, sqlx::Error> {
        let Some(email) = normalize_email(email) else { return Ok(None) };
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email = $1 AND is_active = 1");
        sqlx::query_as(&sql).bind(email).fetch_optional(db.pool()).await
    }

    /// The active user whose password is `password`; as slow for an unknown email as a known one.
    pub async fn authenticate(
        db: &Db,
        hasher: &Hasher,
        email: &str,
        password: &str,
    ) -> Result<Option<User>, AuthenticateError> {
        let email = normalize_email(email).unwrap_or_default();
        let row: Option<(i64, String)> =
            sqlx::query_as("SELECT id, password FROM users WHERE email = $1 AND is_active = 1")
                .bind(&email)
                .fetch_optional(db.pool())
                .await?;
        let (id, hash) = row.map_or((None, None), |(id, hash)| (Some(id), Some(hash)));
        if !hasher.verify(password.to_owned(), hash).await? {
            return Ok(None);
        }
        let Some(id) = id else { return Ok(None) };
        sqlx::query("UPDATE users SET last_login = $1 WHERE id = $2")
            .bind(crate::timestamp::now())
            .bind(id)
            .execute(db.pool())
            .await?;
        Ok(User::find(db, id).await?)
    }

    /// The active user `id`, if they have not logged out since `issued_us` (Unix microseconds),
    /// when their access token was issued: a logout ends every access token issued before it.
    pub async fn find_signed_in(db: &Db, id: i64, issued_us: u64) -> Result<Option<User>, sqlx::Error> {
        let sql =
            format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1 AND is_active = 1 AND sessions_ended_at <= $2");
        let user: Option<User> = sqlx::query_as(&sql)
            .bind(id)
            .bind(i64::try_from(issued_us).unwrap_or(i64::MAX))
            .fetch_optional(db.pool())
            .await?;
        Ok(user.map(|user| User { token_issued_us: issued_us, ..user }))
    }

    /// Ends every access token of user `id` issued until now (a logout); their refresh tokens
    /// are left alone, so other devices renew.
    pub async fn end_sessions(db: &Db, id: i64) -> Result<(), sqlx::Error> {
        let now = i64::try_from(crate::timestamp::unix_now_micros()).unwrap_or(i64::MAX);
        // Never backwards, should the clock be.
        sqlx::query(
            "UPDATE users SET sessions_ended_at = CASE WHEN sessions_ended_at < $1 THEN $2 ELSE sessions_ended_at END \
             WHERE id = $3",
        )
        .bind(now)
        .bind(now)
        .bind(id)
        .execute(db.pool())
        .await?;
        Ok(())
    }

    /// Whether account `id` exists, active or not.
    pub async fn exists(db: &Db, id: i64) -> Result<bool, sqlx::Error> {
        let found: Option<(i64,)> =
            sqlx::query_as("SELECT id FROM users WHERE id = $1").bind(id).fetch_optional(db.pool()).await?;
        Ok(found.is_some())
    }

    /// Deactivates account `id` if it is active, reactivates it otherwise; whether it is active
    /// now, or `None` when there is no such account. An inactive account's tokens stop resolving
    /// at once: every lookup above requires `is_active`.
    pub async fn toggle_active(db: &Db, id: i64) -> Result<Option<bool>, sqlx::Error> {
        let toggled: Option<(i64,)> =
            sqlx::query_as("UPDATE users SET is_active = 1 - is_active WHERE id = $1 RETURNING is_active")
                .bind(id)
                .fetch_optional(db.pool())
                .await?;
        Ok(toggled.map(|(active,)| active != 0))
    }

    /// Deletes account `id` with everything it owns (its rows' foreign keys cascade).
    pub async fn delete(db: &Db, id: i64) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(db.pool()).await?;
        Ok(())
    }

    /// The state a password-reset link of active user `id` signs ([`reset::AccountState`]).
    pub async fn reset_state(db: &Db, id: i64) -> Result<Option<reset::AccountState>, sqlx::Error> {
        let row: Option<(i64, String, String, Option<String>)> =
            sqlx::query_as("SELECT id, email, password, last_login FROM users WHERE id = $1 AND is_active = 1")
                .bind(id)
                .fetch_optional(db.pool())
                .await?;
        Ok(row.map(|(user_id, email, password_hash, last_login)| reset::AccountState {
            user_id,
            email,
            password_hash,
            last_login,
        }))
    }

    /// Whether `password` is the password of active user `id`.
    pub async fn check_password(db: &Db, hasher: &Hasher, id: i64, password: &str) -> Result<bool, AuthenticateError> {
        let hash: Option<(String,)> = sqlx::query_as("SELECT password FROM users WHERE id = $1 AND is_active = 1")
            .bind(id)
            .fetch_optional(db.pool())
            .await?;
        Ok(hasher.verify(password.to_owned(), hash.map(|(hash,)| hash)).await?)
    }

    /// Sets the password of active user `id` to `password` (hashed here); with `replacing`, only
    /// if the stored hash is still that one, so that of two uses of one reset link, one wins.
    /// Whether it was set. Ending the user's sessions is the caller's:
    /// [`sessions::end_all`](crate::sessions::end_all).
    pub async fn set_password(
        db: &Db,
        hasher: &Hasher,
        id: i64,
        password: &str,
        replacing: Option<&str>,
    ) -> Result<bool, AuthenticateError> {
        let hash = hasher.hash(password.to_owned()).await?;
        let done = match replacing {
            Some(old) => {
                sqlx::query("UPDATE users SET password = $1 WHERE id = $2 AND is_active = 1 AND password = $3")
                    .bind(hash)
                    .bind(id)
                    .bind(old)
                    .execute(db.pool())
                    .await?
            }
            None => {
                sqlx::query("UPDATE users SET password = $1 WHERE id = $2 AND is_active = 1")
                    .bind(hash)
                    .bind(id)
                    .execute(db.pool())
                    .await?
            }
        };
        Ok(done.rows_affected() == 1)
    }

    /// Sets the names of active user `id`; the user as saved, `None` if there is no such user.
    pub async fn update_names(
        db: &Db,
        id: i64,
        first_name: &str,
        last_name: &str,
    ) -> Result<Option<User>, sqlx::Error> {
        let sql = format!(
            "UPDATE users SET first_name = $1, last_name = $2 WHERE id = $3 AND is_active = 1 RETURNING {USER_COLUMNS}"
        );
        sqlx::query_as(&sql).bind(first_name).bind(last_name).bind(id).fetch_optional(db.pool()).await
    }

    /// The user of a valid access token, issued since their last logout.
    pub async fn from_access_token(tokens: &Tokens, db: &Db, token: &str) -> Result<Option<User>, sqlx::Error> {
        match tokens.verify(token, TokenType::Access) {
            Some(claims) => User::find_signed_in(db, claims.user_id, claims.iat_us).await,
            None => Ok(None),
        }
    }
}

/// The user of a request: its Bearer token, else its access cookie; `Ok(None)` without either.
/// A token that is invalid, expired or names no active user is an error, not anonymity.
async fn user_of<S>(parts: &Parts, state: &S) -> Result<Option<User>, ApiError>
where
    Arc<Tokens>: FromRef<S>,
    Db: FromRef<S>,
{
    let Some(token) = bearer(&parts.headers).or_else(|| cookie(&parts.headers, ACCESS_COOKIE)) else {
        return Ok(None);
    };
    let (tokens, db) = (Arc::<Tokens>::from_ref(state), Db::from_ref(state));
    User::from_access_token(&tokens, &db, token).await?.map(Some).ok_or(ApiError::InvalidToken)
}

impl<S: Send + Sync> FromRequestParts<S> for User
where
    Arc<Tokens>: FromRef<S>,
    Db: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        user_of(parts, state).await?.ok_or(ApiError::NotAuthenticated)
    }
}

/// The user if the request has valid credentials; for pages, which anyone may see. An invalid or
/// expired token reads as anonymous.
#[derive(Debug, Clone)]
pub struct Viewer(pub Option<User>);

impl<S: Send + Sync> FromRequestParts<S> for Viewer
where
    Arc<Tokens>: FromRef<S>,
    Db: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match user_of(parts, state).await {
            Ok(user) => Ok(Viewer(user)),
            Err(ApiError::InvalidToken) => Ok(Viewer(None)),
            Err(err) => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn emails_are_normalized_or_refused() {
        assert_eq!(super::normalize_email("  Ada@Example.COM ").as_deref(), Some("ada@example.com"));
        for bad in
            ["", "ada", "@example.com", "ada@", "ada@example", "a b@example.com", "ada@@example.com", "<a>@x.com"]
        {
            assert_eq!(super::normalize_email(bad), None, "{bad:?}");
        }
    }
}
