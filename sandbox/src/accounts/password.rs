//! Password hashing with argon2id (the crate's recommended parameters) off the async threads.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use std::sync::LazyLock;

use argon2::Argon2;

/// A PHC string (`$argon2id$v=19$...`) for `password`.
pub async fn hash(password: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// A real hash of a random password, computed once, for logins with an unknown email.
static DUMMY: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    let password = uuid::Uuid::new_v4().to_string();
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|hash| hash.to_string()).unwrap_or_default()
});

/// Whether `password` matches `stored`. Without a stored hash (unknown email) a dummy hash is
/// checked anyway, so the answer takes as long either way.
pub async fn verify(password: String, stored: Option<String>) -> bool {
    let known = stored.is_some();
    let matched = tokio::task::spawn_blocking(move || {
        let stored = stored.unwrap_or_else(|| DUMMY.clone());
        PasswordHash::new(&stored)
            .is_ok_and(|hash| Argon2::default().verify_password(password.as_bytes(), &hash).is_ok())
    })
    .await
    .unwrap_or(false);
    known && matched
}

/// Why a new password is refused, or `None`.
pub fn weakness(password: &str, email: &str) -> Option<&'static str> {
    let local = email.split('@').next().unwrap_or_default();
    if password.chars().count() < 8 {
        Some("This password is too short. It must contain at least 8 characters.")
    } else if password.len() > 1024 {
        Some("This password is too long.")
    } else if password.chars().all(|c| c.is_ascii_digit()) {
        Some("This password is entirely numeric.")
    } else if !local.is_empty() && password.eq_ignore_ascii_case(local) || password.eq_ignore_ascii_case(email) {
        Some("The password is too similar to the email address.")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn hashes_verify_and_differ() {
        let one = super::hash("correct horse".into()).await.expect("hash");
        let two = super::hash("correct horse".into()).await.expect("hash");
        assert_ne!(one, two, "salted");
        assert!(super::verify("correct horse".into(), Some(one.clone())).await);
        assert!(!super::verify("wrong horse".into(), Some(one)).await);
        assert!(!super::verify("correct horse".into(), None).await);
        assert!(!super::verify("x".into(), Some("not a hash".into())).await);
    }

    #[test]
    fn weak_passwords() {
        assert!(super::weakness("short", "a@b.co").is_some());
        assert!(super::weakness("12345678901", "a@b.co").is_some());
        assert!(super::weakness("alice.smith", "alice.smith@b.co").is_some());
        assert_eq!(super::weakness("a good passphrase", "a@b.co"), None);
    }
}
