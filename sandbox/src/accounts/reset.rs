//! Password-reset links: signed, single-use and expiring, with nothing stored.
//!
//! A link carries `uid` (the user id, base64url as Django writes it) and `token`
//! (`{issued, base 36}-{signature}`). The signature is an HMAC-SHA256, under a key derived from
//! `SECRET_KEY` for this purpose only, of the user id, the issue time and the account's state:
//! its email, its password hash and its last login. Setting a password changes the hash (a new
//! salt every time, even for the same password), and a login changes the last login, so a link
//! stops working once used or once its user signs in; and it stops working
//! [`ResetTokens::ttl`] after it was issued. The same scheme as Django's
//! `PasswordResetTokenGenerator`.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The longest `uid` and `token` read, in bytes: ours are far shorter, and nothing longer is
/// decoded or hashed.
const MAX_PART: usize = 64;

/// Bytes of the signature kept in a token: 128 bits, as hex.
const SIGNATURE_BYTES: usize = 16;

/// What the signature covers: the state of the account the link resets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountState {
    /// The user.
    pub user_id: i64,
    /// Their email.
    pub email: String,
    /// Their password hash.
    pub password_hash: String,
    /// Their last login, if any.
    pub last_login: Option<String>,
}

/// Makes and checks reset tokens.
///
/// ```
/// use std::time::Duration;
/// use sandbox::accounts::reset::{AccountState, ResetTokens};
///
/// let resets = ResetTokens::new("the app's secret key", Duration::from_secs(3600));
/// let ada = AccountState { user_id: 7, email: "ada@example.com".into(), password_hash: "$argon2id$…".into(), last_login: None };
/// let (uid, token) = resets.make(&ada, 1_700_000_000);
/// assert_eq!(ResetTokens::user_id(&uid), Some(7));
/// assert!(resets.check(&ada, &token, 1_700_000_000 + 60));
/// assert!(!resets.check(&ada, &token, 1_700_000_000 + 3601), "expired");
/// let changed = AccountState { password_hash: "$argon2id$other".into(), ..ada.clone() };
/// assert!(!resets.check(&changed, &token, 1_700_000_000 + 60), "used: the password changed");
/// ```
#[derive(Clone)]
pub struct ResetTokens {
    key: [u8; 32],
    ttl: Duration,
}

impl std::fmt::Debug for ResetTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResetTokens").field("key", &"[redacted]").field("ttl", &self.ttl).finish()
    }
}

impl ResetTokens {
    /// Tokens signed under a key derived from `secret`, valid for `ttl`.
    pub fn new(secret: &str, ttl: Duration) -> Self {
        // A key of its own: a reset signature can never pass for a JWT signature, or back.
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable_key());
        mac.update(b"sandbox.accounts.password-reset");
        ResetTokens { key: mac.finalize().into_bytes().into(), ttl }
    }

    /// How long a link works.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The `uid` and `token` of a link resetting `account`, issued at `now` (Unix seconds).
    pub fn make(&self, account: &AccountState, now: u64) -> (String, String) {
        let uid = URL_SAFE_NO_PAD.encode(account.user_id.to_string());
        let issued = to_base36(now);
        let signature = self.signature(account, &issued);
        (uid, format!("{issued}-{}", hex(&signature[..SIGNATURE_BYTES])))
    }

    /// The user id a `uid` names, if it is one of ours.
    pub fn user_id(uid: &str) -> Option<i64> {
        if uid.len() > MAX_PART {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(uid).ok()?;
        std::str::from_utf8(&bytes).ok()?.parse().ok().filter(|id: &i64| *id > 0)
    }

    /// Whether `token` resets `account` as it is now, at `now` (Unix seconds): signed by us for
    /// this state of the account, and not expired. The signature is compared in constant time.
    pub fn check(&self, account: &AccountState, token: &str, now: u64) -> bool {
        if token.len() > MAX_PART {
            return false;
        }
        let Some((issued, signature)) = token.split_once('-') else { return false };
        let Some(at) = from_base36(issued) else { return false };
        // A token from the future (a clock set back) is not trusted either.
        if at > now || now - at > self.ttl.as_secs() {
            return false;
        }
        let Some(signature) = unhex(signature).filter(|s| s.len() == SIGNATURE_BYTES) else { return false };
        self.mac(account, issued).verify_truncated_left(&signature).is_ok()
    }

    fn mac(&self, account: &AccountState, issued: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).unwrap_or_else(|_| unreachable_key());
        // Each part is length-prefixed, so that no two states sign the same bytes.
        let id = account.user_id.to_string();
        let last_login = account.last_login.as_deref().unwrap_or("");
        for part in [id.as_str(), issued, account.email.as_str(), account.password_hash.as_str(), last_login] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac
    }

    fn signature(&self, account: &AccountState, issued: &str) -> Vec<u8> {
        self.mac(account, issued).finalize().into_bytes().to_vec()
    }
}

/// HMAC takes keys of any length: `new_from_slice` cannot fail for it.
fn unreachable_key() -> HmacSha256 {
    unreachable!("HMAC-SHA256 accepts keys of any length")
}

fn to_base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

fn from_base36(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 13 {
        return None;
    }
    u64::from_str_radix(text, 36).ok()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ada() -> AccountState {
        AccountState {
            user_id: 42,
            email: "ada@example.com".into(),
            password_hash: "$argon2id$v=19$one".into(),
            last_login: Some("2025-01-02T03:04:05.000000Z".into()),
        }
    }

    #[test]
    fn a_token_resets_one_state_of_one_account_for_a_while() {
        let resets = ResetTokens::new("k", Duration::from_secs(600));
        let (uid, token) = resets.make(&ada(), 1000);
        assert_eq!(ResetTokens::user_id(&uid), Some(42));
        assert!(resets.check(&ada(), &token, 1000));
        assert!(resets.check(&ada(), &token, 1600));
        assert!(!resets.check(&ada(), &token, 1601), "expired");
        assert!(!resets.check(&ada(), &token, 999), "issued in the future");
        let signed_in = AccountState { last_login: Some("2025-01-03T00:00:00.000000Z".into()), ..ada() };
        assert!(!resets.check(&signed_in, &token, 1000), "a login since ends the link");
        let other = AccountState { user_id: 43, ..ada() };
        assert!(!resets.check(&other, &token, 1000));
        let other_key = ResetTokens::new("another key", Duration::from_secs(600));
        assert!(!other_key.check(&ada(), &token, 1000));
    }

    #[test]
    fn malformed_parts_are_refused_without_work() {
        let resets = ResetTokens::new("k", Duration::from_secs(600));
        let (_, token) = resets.make(&ada(), 1000);
        let (issued, signature) = token.split_once('-').expect("two parts");
        let tampered = format!("{}-{signature}", to_base36(1001));
        for bad in [
            "",
            "-",
            "abc",
            issued,
            &format!("{issued}-"),
            &format!("{issued}-zz"),
            &format!("{issued}-{}", &signature[..30]),
            &format!("{issued}-é{}", &signature[2..]),
            &tampered,
            &"a".repeat(10_000),
        ] {
            assert!(!resets.check(&ada(), bad, 1000), "{bad:?}");
        }
        for bad in ["", "!!", "MA", &"QQ".repeat(100), &URL_SAFE_NO_PAD.encode("-3"), &URL_SAFE_NO_PAD.encode("x")] {
            assert_eq!(ResetTokens::user_id(bad), None, "{bad:?}");
        }
        assert_eq!(from_base36(&to_base36(u64::MAX)), Some(u64::MAX));
    }
}
