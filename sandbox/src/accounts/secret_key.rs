//! The key that signs the JWTs when `SECRET_KEY` is not set (development): generated from the
//! operating system's random source at first start, kept in a file only its owner can read, and
//! read again on the next start, so that sessions survive a restart.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use argon2::password_hash::rand_core::{OsRng, RngCore};

/// The shortest key accepted, in bytes: HS256 keys shorter than its 32-byte output are guessable
/// offline from one token.
pub const MIN_SECRET_BYTES: usize = 32;

/// Why the key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Reading, writing or linking the file failed.
    #[error("secret key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Others may read it: a key anyone on the machine can read signs tokens for anyone.
    #[error("secret key file {path} is readable by others (mode {mode:o}): run `chmod 600 {path}`")]
    Exposed {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// It holds less than a key.
    #[error("secret key file {path} holds fewer than {MIN_SECRET_BYTES} bytes: delete it to generate a new key")]
    TooShort {
        /// The file.
        path: PathBuf,
    },
    /// The operating system's random source failed.
    #[error("no random bytes for a secret key: {0}")]
    Random(String),
}

/// A new random key: 32 bytes from the operating system, as 64 hex digits.
///
/// ```
/// let key = sandbox::accounts::secret_key::generate().expect("random bytes");
/// assert_eq!(key.len(), 64);
/// assert_ne!(key, sandbox::accounts::secret_key::generate().expect("random bytes"));
/// ```
pub fn generate() -> Result<String, KeyFileError> {
    let mut bytes = [0u8; MIN_SECRET_BYTES];
    OsRng.try_fill_bytes(&mut bytes).map_err(|err| KeyFileError::Random(err.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The key kept in `path`, created there first if there is none.
///
/// The file is written under a temporary name with mode 0600, then linked to `path`: a link
/// fails when `path` exists, so two processes starting at once agree on one key, and nobody ever
/// reads a half-written one.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("key-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).expect("dir");
/// let path = dir.join("app.secret_key");
/// let first = sandbox::accounts::secret_key::load_or_create(&path).expect("created");
/// assert_eq!(sandbox::accounts::secret_key::load_or_create(&path).expect("read"), first);
/// # std::fs::remove_dir_all(&dir).expect("cleaned");
/// ```
pub fn load_or_create(path: &Path) -> Result<String, KeyFileError> {
    if let Some(key) = read(path)? {
        return Ok(key);
    }
    let key = generate()?;
    let io = |source| KeyFileError::Io { path: path.to_owned(), source };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", uuid::Uuid::new_v4().simple()));
    let written = write_private(&temporary, &key).and_then(|()| fs::hard_link(&temporary, path));
    let _ = fs::remove_file(&temporary);
    match written {
        Ok(()) => Ok(key),
        // Another process created it first: use theirs.
        Err(err) if err.kind() == ErrorKind::AlreadyExists => read(path)?.ok_or_else(|| io(err)),
        Err(err) => Err(io(err)),
    }
}

/// Creates `path` (it must not exist), readable and writable by its owner only, holding `key`.
fn write_private(path: &Path, key: &str) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(format!("{key}\n").as_bytes())?;
    file.sync_all()
}

/// The key in `path`, `None` if there is no such file.
fn read(path: &Path) -> Result<Option<String>, KeyFileError> {
    let io = |source| KeyFileError::Io { path: path.to_owned(), source };
    let metadata = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(io(err)),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::Exposed { path: path.to_owned(), mode });
        }
    }
    #[cfg(not(unix))]
    let _ = metadata;
    let key = fs::read_to_string(path).map_err(io)?.trim().to_owned();
    if key.len() < MIN_SECRET_BYTES {
        return Err(KeyFileError::TooShort { path: path.to_owned() });
    }
    Ok(Some(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("chanx-key-{}", uuid::Uuid::new_v4().simple()));
        fs::create_dir_all(&dir).expect("dir");
        dir
    }

    #[test]
    fn a_key_is_created_once_privately_and_read_back() {
        let dir = temp_dir();
        let path = dir.join("db.sqlite3.secret_key");
        let key = load_or_create(&path).expect("created");
        assert_eq!(key.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&path).expect("exists").permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(load_or_create(&path).expect("read"), key);
        let leftovers = fs::read_dir(&dir).expect("dir").count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
        fs::remove_dir_all(&dir).expect("cleaned");
    }

    #[test]
    fn processes_starting_together_agree_on_one_key() {
        let dir = temp_dir();
        let path = dir.join("shared.secret_key");
        let keys: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8).map(|_| scope.spawn(|| load_or_create(&path).expect("key"))).collect();
            handles.into_iter().map(|h| h.join().expect("joined")).collect()
        });
        assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
        fs::remove_dir_all(&dir).expect("cleaned");
    }

    #[cfg(unix)]
    #[test]
    fn an_exposed_or_truncated_key_file_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir();
        let path = dir.join("exposed.secret_key");
        load_or_create(&path).expect("created");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(load_or_create(&path), Err(KeyFileError::Exposed { mode: 0o644, .. })));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        fs::write(&path, "short").expect("written");
        assert!(matches!(load_or_create(&path), Err(KeyFileError::TooShort { .. })));
        fs::remove_dir_all(&dir).expect("cleaned");
    }
}
