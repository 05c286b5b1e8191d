//! JWT access and refresh tokens (HS256, simplejwt's claims), and the cookies that carry them.

use chanx::auth::JwtHs256;
use serde::{Deserialize, Serialize};

use crate::db::Db;
use crate::timestamp::unix_now;

/// The cookie holding the access token.
pub const ACCESS_COOKIE: &str = "my-jwt-auth";
/// The cookie holding the refresh token.
pub const REFRESH_COOKIE: &str = "my-jwt-refresh";

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenType {
    /// Authenticates requests and sockets.
    Access,
    /// Obtains new access tokens; revoked at logout.
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
    /// A unique id: refresh tokens are recorded (and revoked) by it.
    pub jti: String,
    /// The user.
    pub user_id: i64,
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

    fn sign(&self, user_id: i64, token_type: TokenType, ttl: u64) -> Result<(Issued, Claims), String> {
        let now = unix_now();
        let claims =
            Claims { token_type, exp: now + ttl, iat: now, jti: uuid::Uuid::new_v4().simple().to_string(), user_id };
        let token = self.jwt.sign(&claims).map_err(|e| e.to_string())?;
        Ok((Issued { token, exp: claims.exp }, claims))
    }

    /// A new access token for `user_id`.
    pub fn access(&self, user_id: i64) -> Result<Issued, String> {
        self.sign(user_id, TokenType::Access, self.access_ttl).map(|(issued, _)| issued)
    }

    /// A new refresh token for `user_id`, recorded so that it can be revoked.
    pub async fn refresh(&self, db: &Db, user_id: i64) -> Result<Issued, String> {
        let (issued, claims) = self.sign(user_id, TokenType::Refresh, self.refresh_ttl)?;
        sqlx::query("INSERT INTO refresh_tokens (jti, user_id, expires_at) VALUES ($1, $2, $3)")
            .bind(&claims.jti)
            .bind(user_id)
            .bind(i64::try_from(claims.exp).unwrap_or(i64::MAX))
            .execute(db.pool())
            .await
            .map_err(|e| e.to_string())?;
        Ok(issued)
    }

    /// The claims of a valid, unexpired token of `kind`.
    pub fn verify(&self, token: &str, kind: TokenType) -> Option<Claims> {
        self.jwt.verify(token).ok().filter(|claims| claims.token_type == kind)
    }

    /// The claims of a refresh token that is valid and not revoked.
    pub async fn verify_refresh(&self, db: &Db, token: &str) -> Result<Option<Claims>, sqlx::Error> {
        let Some(claims) = self.verify(token, TokenType::Refresh) else { return Ok(None) };
        let live: Option<(i64,)> =
            sqlx::query_as("SELECT user_id FROM refresh_tokens WHERE jti = $1 AND revoked = 0 AND user_id = $2")
                .bind(&claims.jti)
                .bind(claims.user_id)
                .fetch_optional(db.pool())
                .await?;
        Ok(live.map(|_| claims))
    }

    /// Revokes a refresh token; expired records are swept at the same time.
    pub async fn revoke(&self, db: &Db, jti: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE jti = $1").bind(jti).execute(db.pool()).await?;
        sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1")
            .bind(i64::try_from(unix_now()).unwrap_or(i64::MAX))
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
