//! [`JwtHs256`]: signed JSON Web Tokens (HS256) as credentials (feature `jwt`).

use std::marker::PhantomData;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::Sha256;

use super::{AuthError, ResolveUser};

type HmacSha256 = Hmac<Sha256>;

/// [`JwtHs256::max_len`]'s default.
const DEFAULT_MAX_LEN: usize = 8 * 1024;

/// Why a token was not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// Not three base64url parts, or a part is not JSON.
    #[error("malformed token")]
    Malformed,
    /// Longer than [`JwtHs256::max_len`]; refused before any decoding.
    #[error("token of {0} bytes is over the length limit")]
    TooLong(usize),
    /// The header names another algorithm than HS256 (`none` included).
    #[error("unsupported algorithm {0:?}")]
    Algorithm(String),
    /// The signature does not match.
    #[error("bad signature")]
    Signature,
    /// `exp` has passed (or is missing while required).
    #[error("expired")]
    Expired,
    /// `nbf` is still ahead.
    #[error("not valid yet")]
    NotYetValid,
    /// The claims do not fit the claims type.
    #[error("unexpected claims: {0}")]
    Claims(serde_json::Error),
}

/// Verifies (and issues) HS256 JSON Web Tokens whose claims deserialize into `C`. As a
/// [`ResolveUser`], a valid token's claims are the user; any invalid token is status 401.
///
/// `exp` is required unless [`require_exp(false)`](Self::require_exp); `exp` and `nbf` are
/// checked with [`leeway`](Self::leeway) (30 s by default). Only HS256 is accepted, so a token
/// claiming `alg: none` or an asymmetric algorithm is refused. A token longer than
/// [`max_len`](Self::max_len) (8 KiB by default) is refused before it is decoded.
///
/// ```
/// use chanx::auth::JwtHs256;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, Debug, PartialEq)]
/// struct Claims { sub: String, exp: u64 }
///
/// let jwt = JwtHs256::<Claims>::new(b"a secret of at least 32 bytes....");
/// let claims = Claims { sub: "ada".into(), exp: 4_000_000_000 };
/// let token = jwt.sign(&claims).unwrap();
/// assert_eq!(jwt.verify(&token).unwrap(), claims);
/// assert!(jwt.verify(&format!("{token}x")).is_err());
/// ```
pub struct JwtHs256<C> {
    key: Vec<u8>,
    max_len: usize,
    leeway: u64,
    require_exp: bool,
    _claims: PhantomData<fn() -> C>,
}

impl<C> std::fmt::Debug for JwtHs256<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("JwtHs256")
            .field("max_len", &self.max_len)
            .field("leeway", &self.leeway)
            .field("require_exp", &self.require_exp)
            .finish()
    }
}

impl<C: DeserializeOwned> JwtHs256<C> {
    /// A verifier with this shared secret.
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        JwtHs256 {
            key: secret.as_ref().to_vec(),
            max_len: DEFAULT_MAX_LEN,
            leeway: 30,
            require_exp: true,
            _claims: PhantomData,
        }
    }

    /// The longest token accepted, in bytes (8 KiB by default: an identity provider's tokens are
    /// a few hundred bytes to a few KiB). Longer ones are refused with [`JwtError::TooLong`]
    /// before any decoding, so a peer's megabyte of base64 costs nothing.
    ///
    /// ```
    /// use chanx::auth::{JwtError, JwtHs256};
    /// let jwt = JwtHs256::<serde_json::Value>::new(b"a secret of at least 32 bytes....").max_len(1024);
    /// assert!(matches!(jwt.verify(&"a".repeat(2048)), Err(JwtError::TooLong(2048))));
    /// ```
    pub fn max_len(mut self, bytes: usize) -> Self {
        self.max_len = bytes;
        self
    }

    /// Seconds of clock difference tolerated on `exp` and `nbf`.
    pub fn leeway(mut self, seconds: u64) -> Self {
        self.leeway = seconds;
        self
    }

    /// Whether a token without `exp` is refused (the default).
    pub fn require_exp(mut self, required: bool) -> Self {
        self.require_exp = required;
        self
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length.
        HmacSha256::new_from_slice(&self.key).unwrap_or_else(|_| unreachable!("HMAC accepts every key length"))
    }

    /// Signs `claims` into a token.
    pub fn sign(&self, claims: &impl Serialize) -> Result<String, serde_json::Error> {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?);
        let signed = format!("{header}.{payload}");
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        Ok(format!("{signed}.{signature}"))
    }

    /// The claims of a valid token.
    pub fn verify(&self, token: &str) -> Result<C, JwtError> {
        if token.len() > self.max_len {
            return Err(JwtError::TooLong(token.len()));
        }
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let signed = &token.as_bytes()[..header.len() + 1 + payload.len()];
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| JwtError::Malformed);
        let header: Value = serde_json::from_slice(&decode(header)?).map_err(|_| JwtError::Malformed)?;
        match header.get("alg").and_then(Value::as_str) {
            Some("HS256") => {}
            other => return Err(JwtError::Algorithm(other.unwrap_or_default().to_owned())),
        }
        let mut mac = self.mac();
        mac.update(signed);
        mac.verify_slice(&decode(signature)?).map_err(|_| JwtError::Signature)?;
        let claims: Value = serde_json::from_slice(&decode(payload)?).map_err(|_| JwtError::Malformed)?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        match claims.get("exp").map(Value::as_u64) {
            Some(Some(exp)) if now > exp.saturating_add(self.leeway) => return Err(JwtError::Expired),
            Some(None) => return Err(JwtError::Malformed),
            None if self.require_exp => return Err(JwtError::Expired),
            _ => {}
        }
        match claims.get("nbf").map(Value::as_u64) {
            Some(Some(nbf)) if now.saturating_add(self.leeway) < nbf => return Err(JwtError::NotYetValid),
            Some(None) => return Err(JwtError::Malformed),
            _ => {}
        }
        serde_json::from_value(claims).map_err(JwtError::Claims)
    }
}

#[async_trait::async_trait]
impl<C: DeserializeOwned + Send + 'static> ResolveUser<C> for JwtHs256<C> {
    async fn resolve(&self, token: &str) -> Result<Option<C>, AuthError> {
        Ok(self.verify(token).map_err(|err| tracing::debug!(error = %err, "refused a JWT")).ok())
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Claims {
        sub: String,
    }

    fn jwt() -> JwtHs256<Claims> {
        JwtHs256::new("secret")
    }

    #[test]
    fn tokens_of_other_implementations_verify() {
        // jwt.io's sample token, signed with "your-256-bit-secret" by another implementation.
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
        let jwt = JwtHs256::<Claims>::new("your-256-bit-secret").require_exp(false);
        assert_eq!(jwt.verify(token).expect("valid"), Claims { sub: "1234567890".into() });
        assert!(matches!(JwtHs256::<Claims>::new("other").require_exp(false).verify(token), Err(JwtError::Signature)));
    }

    #[test]
    fn tokens_over_the_length_limit_are_refused_before_decoding() {
        let big = jwt().sign(&json!({"sub": "x".repeat(10_000), "exp": 4_000_000_000u64})).expect("signed");
        assert!(matches!(jwt().verify(&big), Err(JwtError::TooLong(n)) if n == big.len()));
        assert_eq!(jwt().max_len(64 * 1024).verify(&big).expect("valid").sub.len(), 10_000);
        // A megabyte of one base64 segment, and of dots: refused the same way, whatever the shape.
        for token in ["e".repeat(1 << 20), format!("{}.e.e", "e".repeat(1 << 20)), ".".repeat(1 << 20)] {
            assert!(matches!(jwt().verify(&token), Err(JwtError::TooLong(_))));
        }
    }

    #[test]
    fn signed_tokens_round_trip() {
        let token = jwt().sign(&json!({"sub": "ada", "exp": 4_000_000_000u64})).expect("signed");
        assert_eq!(jwt().verify(&token).expect("valid"), Claims { sub: "ada".into() });
    }

    #[test]
    fn forged_expired_and_malformed_tokens_are_refused() {
        let valid = jwt().sign(&json!({"sub": "ada", "exp": 4_000_000_000u64})).expect("signed");
        let other_key = JwtHs256::<Claims>::new("other").sign(&json!({"sub": "ada", "exp": 4_000_000_000u64}));
        assert!(matches!(jwt().verify(&other_key.expect("signed")), Err(JwtError::Signature)));
        let expired = jwt().sign(&json!({"sub": "ada", "exp": 1})).expect("signed");
        assert!(matches!(jwt().verify(&expired), Err(JwtError::Expired)));
        let no_exp = jwt().sign(&json!({"sub": "ada"})).expect("signed");
        assert!(matches!(jwt().verify(&no_exp), Err(JwtError::Expired)));
        assert!(jwt().require_exp(false).verify(&no_exp).is_ok());
        let early = jwt().sign(&json!({"sub": "ada", "exp": 4_000_000_000u64, "nbf": 3_999_999_999u64}));
        assert!(matches!(jwt().verify(&early.expect("signed")), Err(JwtError::NotYetValid)));
        // alg "none" with the signature stripped.
        let (_, rest) = valid.split_once('.').expect("three parts");
        let (payload, _) = rest.split_once('.').expect("three parts");
        let none = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#));
        assert!(matches!(jwt().verify(&none), Err(JwtError::Algorithm(alg)) if alg == "none"));
        for garbage in ["", ".", "..", "a.b.c", "a.b.c.d", "🦀.🦀.🦀", &format!("{valid}.x")] {
            assert!(jwt().verify(garbage).is_err(), "{garbage:?}");
        }
        let wrong_claims = jwt().sign(&json!({"user": 1, "exp": 4_000_000_000u64})).expect("signed");
        assert!(matches!(jwt().verify(&wrong_claims), Err(JwtError::Claims(_))));
    }
}
