//! JWT access and refresh tokens (HS256, simplejwt's claims), and the cookies that carry them.

use chanx::auth::JwtHs256;
use serde::{Deserialize, Serialize};

use crate::db::Db;
use crate::timestamp::{unix_now, unix_now_micros};

/// The cookie holding the access token.
pub const ACCESS_COOKIE: &str = "my-jwt-auth";
/// The cookie holding the refresh token.
pub const REFRESH_COOKIE: &str = "my-jwt-refresh";

/// How long after its rotation a refresh token presented again is taken for another tab of the
/// same browser renewing at the same moment (refused, nothing revoked) rather than for a copy
/// (its whole family revoked), in seconds.
pub const REUSE_LEEWAY_SECONDS: u64 = 10;

/// The condition, on a row of `refresh_tokens`, that no token of its family is revoked.
///
/// Rotation marks the old token and inserts its successor in two statements; a revocation of the
/// family landing between them misses the successor, whose own `revoked` stays 0. Checking the
/// family rather than the row makes such a successor dead on arrival: a family, once any of it
/// is revoked, never works again.
const FAMILY_NOT_REVOKED: &str =
    "NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.family = refresh_tokens.family AND r.revoked = 1)";

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenType {
    /// Authenticates requests and sockets.
    Access,
    /// Obtains new access tokens, once: each use replaces it; revoked at logout.
    Refresh,
}

/// The claims of both kinds of token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Access or refresh.
    pub token_type: TokenType,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issued at, Unix seconds.
    pub iat: u64,
    /// Issued at, Unix microseconds: a logout ends the access tokens issued before it, and a
    /// login may follow a logout within the same second. 0 in tokens of earlier versions.
    #[serde(default)]
    pub iat_us: u64,
    /// A unique id: refresh tokens are recorded (and revoked) by it.
    pub jti: String,
    /// The user.
    pub user_id: i64,
}

/// What using a refresh token did.
#[derive(Debug, Clone)]
pub enum Rotation {
    /// It was live: here is its replacement; the old one no longer works.
    Rotated {
        /// The user.
        user_id: i64,
        /// The new refresh token.
        refresh: Issued,
    },
    /// It was rotated within the last [`REUSE_LEEWAY_SECONDS`]: most likely another tab of the
    /// same browser renewed at the same moment, and the browser already holds the new token.
    /// Refused, and nothing revoked.
    Raced,
    /// It had been rotated before that: its family is now revoked.
    Reused {
        /// The user whose login was stolen.
        user_id: i64,
    },
    /// Invalid, expired, revoked, or unknown.
    Refused,
}

/// A signed token and when it expires.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The JWT.
    pub token: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
}

/// Signs and checks tokens.
#[derive(Debug)]
pub struct Tokens {
    jwt: JwtHs256<Claims>,
    access_ttl: u64,
    refresh_ttl: u64,
    secure_cookies: bool,
}

impl Tokens {
    /// Tokens signed with `secret`; cookies get `Secure` when `secure_cookies`.
    pub fn new(
        secret: &str,
        access_ttl: std::time::Duration,
        refresh_ttl: std::time::Duration,
        secure_cookies: bool,
    ) -> Self {
        Tokens {
            jwt: JwtHs256::new(secret),
            access_ttl: access_ttl.as_secs(),
            refresh_ttl: refresh_ttl.as_secs(),
            secure_cookies,
        }
    }

    fn sign(&self, user_id: i64, token_type: TokenType, exp: u64) -> Result<(Issued, Claims), String> {
        let now_us = unix_now_micros();
        let jti = uuid::Uuid::new_v4().simple().to_string();
        let claims = Claims { token_type, exp, iat: now_us / 1_000_000, iat_us: now_us, jti, user_id };
        let token = self.jwt.sign(&claims).map_err(|e| e.to_string())?;
        Ok((Issued { token, exp: claims.exp }, claims))
    }

    /// A new access token for `user_id`.
    pub fn access(&self, user_id: i64) -> Result<Issued, String> {
        self.sign(user_id, TokenType::Access, unix_now() + self.access_ttl).map(|(issued, _)| issued)
    }

    /// A new refresh token for `user_id`, the first of a new family (a login), recorded so that
    /// it can be rotated and revoked.
    pub async fn refresh(&self, db: &Db, user_id: i64) -> Result<Issued, String> {
        self.record_refresh(db, user_id, None, unix_now() + self.refresh_ttl).await.map_err(|e| e.to_string())
    }

    /// Signs and records a refresh token of `family` (a new family when `None`) expiring at `exp`.
    async fn record_refresh(
        &self,
        db: &Db,
        user_id: i64,
        family: Option<&str>,
        exp: u64,
    ) -> Result<Issued, sqlx::Error> {
        let (issued, claims) = self.sign(user_id, TokenType::Refresh, exp).map_err(sqlx::Error::Protocol)?;
        sqlx::query("INSERT INTO refresh_tokens (jti, user_id, expires_at, family) VALUES ($1, $2, $3, $4)")
            .bind(&claims.jti)
            .bind(user_id)
            .bind(i64::try_from(claims.exp).unwrap_or(i64::MAX))
            .bind(family.unwrap_or(&claims.jti))
            .execute(db.pool())
            .await?;
        Ok(issued)
    }

    /// The claims of a valid, unexpired token of `kind`.
    pub fn verify(&self, token: &str, kind: TokenType) -> Option<Claims> {
        self.jwt.verify(token).ok().filter(|claims| claims.token_type == kind)
    }

    /// The claims of a refresh token that is valid, not revoked and not yet rotated.
    pub async fn verify_refresh(&self, db: &Db, token: &str) -> Result<Option<Claims>, sqlx::Error> {
        let Some(claims) = self.verify(token, TokenType::Refresh) else { return Ok(None) };
        let live: Option<(i64,)> = sqlx::query_as(&format!(
            "SELECT user_id FROM refresh_tokens WHERE jti = $1 AND user_id = $2 AND revoked = 0 AND rotated = 0 \
             AND {FAMILY_NOT_REVOKED}"
        ))
        .bind(&claims.jti)
        .bind(claims.user_id)
        .fetch_optional(db.pool())
        .await?;
        Ok(live.map(|_| claims))
    }

    /// Uses a refresh token: a live one is marked rotated and replaced by a new token of its
    /// family, with the same expiry (a session lasts `REFRESH_TOKEN_DAYS` from its login). A token
    /// that was rotated more than [`REUSE_LEEWAY_SECONDS`] ago is being replayed by someone who
    /// copied it (or by the owner, after a thief used it first): every token of its family is
    /// revoked, the thief's included. Within the leeway it is only refused: two tabs renewing at
    /// once send the same token, and the loser must not sign the winner out.
    pub async fn rotate(&self, db: &Db, token: &str) -> Result<Rotation, sqlx::Error> {
        let Some(claims) = self.verify(token, TokenType::Refresh) else { return Ok(Rotation::Refused) };
        // One statement decides which of two concurrent uses wins: only one sees `rotated = 0`.
        let won: Option<(String,)> = sqlx::query_as(&format!(
            "UPDATE refresh_tokens SET rotated = 1, rotated_at = $1 \
             WHERE jti = $2 AND user_id = $3 AND revoked = 0 AND rotated = 0 AND {FAMILY_NOT_REVOKED} \
             RETURNING family"
        ))
        .bind(i64::try_from(unix_now()).unwrap_or(i64::MAX))
        .bind(&claims.jti)
        .bind(claims.user_id)
        .fetch_optional(db.pool())
        .await?;
        if let Some((family,)) = won {
            let refresh = self.record_refresh(db, claims.user_id, Some(&family), claims.exp).await?;
            return Ok(Rotation::Rotated { user_id: claims.user_id, refresh });
        }
        let record: Option<(i64, Option<i64>, i64)> =
            sqlx::query_as("SELECT rotated, rotated_at, revoked FROM refresh_tokens WHERE jti = $1 AND user_id = $2")
                .bind(&claims.jti)
                .bind(claims.user_id)
                .fetch_optional(db.pool())
                .await?;
        let Some((rotated, rotated_at, revoked)) = record else { return Ok(Rotation::Refused) };
        if rotated == 0 {
            return Ok(Rotation::Refused);
        }
        let since =
            rotated_at.and_then(|at| u64::try_from(at).ok()).map_or(u64::MAX, |at| unix_now().saturating_sub(at));
        if since < REUSE_LEEWAY_SECONDS && revoked == 0 {
            return Ok(Rotation::Raced);
        }
        self.revoke(db, &claims.jti).await?;
        tracing::warn!(user = claims.user_id, "a rotated refresh token was used again: its whole family is revoked");
        Ok(Rotation::Reused { user_id: claims.user_id })
    }

    /// Revokes a refresh token and every token of its family (its login); expired records are
    /// swept at the same time.
    pub async fn revoke(&self, db: &Db, jti: &str) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE refresh_tokens SET revoked = 1 \
             WHERE family = (SELECT family FROM refresh_tokens WHERE jti = $1) OR jti = $2",
        )
        .bind(jti)
        .bind(jti)
        .execute(db.pool())
        .await?;
        sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1")
            .bind(i64::try_from(unix_now()).unwrap_or(i64::MAX))
            .execute(db.pool())
            .await?;
        Ok(())
    }

    /// Revokes every refresh token of user `user_id`: all their logins end (a deactivation).
    pub async fn revoke_user(&self, db: &Db, user_id: i64) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE user_id = $1")
            .bind(user_id)
            .execute(db.pool())
            .await?;
        Ok(())
    }

    /// The `Set-Cookie` value carrying `issued` in `name`: HttpOnly, SameSite=Lax, Path=/.
    pub fn cookie(&self, name: &str, issued: &Issued) -> String {
        let max_age = issued.exp.saturating_sub(unix_now());
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        format!("{name}={}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age}{secure}", issued.token)
    }

    /// The `Set-Cookie` value that deletes `name`.
    pub fn expired_cookie(&self, name: &str) -> String {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        format!("{name}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0{secure}")
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'h>(headers: &'h axum::http::HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
}

/// The token of an `Authorization: Bearer` header.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn access_tokens_are_not_refresh_tokens() {
        let tokens = Tokens::new("k", Duration::from_secs(60), Duration::from_secs(60), false);
        let access = tokens.access(7).expect("signed");
        assert_eq!(tokens.verify(&access.token, TokenType::Access).map(|c| c.user_id), Some(7));
        assert!(tokens.verify(&access.token, TokenType::Refresh).is_none());
        let other = Tokens::new("another key", Duration::from_secs(60), Duration::from_secs(60), false);
        assert!(other.verify(&access.token, TokenType::Access).is_none());
        let cookie = tokens.cookie(ACCESS_COOKIE, &access);
        assert!(cookie.starts_with("my-jwt-auth=") && cookie.contains("; HttpOnly; SameSite=Lax; Path=/; Max-Age="));
    }

    #[test]
    fn cookies_and_bearer_are_read() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("cookie", "a=1; my-jwt-auth=tok ; b=2".parse().expect("header"));
        headers.insert("authorization", "Bearer   abc".parse().expect("header"));
        assert_eq!(cookie(&headers, ACCESS_COOKIE), Some("tok"));
        assert_eq!(cookie(&headers, "missing"), None);
        assert_eq!(bearer(&headers), Some("abc"));
    }
}
