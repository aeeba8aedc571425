//! Token encryption at rest: AES-256-GCM, a random 96-bit nonce per value, and the company and
//! field name as associated data (a ciphertext copied to another row or column fails to open).
//!
//! The key comes from `TOKEN_MANAGER_KEY` (base64 of 32 bytes) or a key file created with mode
//! 0600 on first run. [`TokenKey`] never prints its bytes.

use std::fs;
use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;

/// Environment variable holding the base64 key.
pub const KEY_ENV: &str = "TOKEN_MANAGER_KEY";
/// Environment variable holding previous keys (base64, separated by commas or whitespace) during
/// a key rotation: values sealed under them still open, and the host re-encrypts them on start.
pub const OLD_KEYS_ENV: &str = "TOKEN_MANAGER_OLD_KEYS";

/// Why the key could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The value is not base64 of exactly 32 bytes.
    #[error("{0} is not base64 of exactly 32 bytes")]
    Malformed(&'static str),
    /// The key file could not be read or created.
    #[error("key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The key file can be read by other users.
    #[error("key file {0} is readable by other users; run `chmod 600 {0}`")]
    Permissions(String),
}

/// The 256-bit token-encryption key. `Debug` prints `TokenKey([redacted])`.
#[derive(Clone)]
pub struct TokenKey([u8; 32]);

impl Drop for TokenKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey([redacted])")
    }
}

/// Where a secret (the token key, the API keys) came from: for the startup banner, never the
/// secret itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// An environment variable.
    Env,
    /// An existing file.
    File(String),
    /// A file created now.
    Created(String),
}

/// Where the token key came from.
pub type KeySource = SecretSource;

impl SecretSource {
    /// For the banner: `from VAR`, the path, or the path marked `(created)`.
    pub fn describe(&self, env_var: &str) -> String {
        match self {
            SecretSource::Env => format!("from {env_var}"),
            SecretSource::File(p) => p.clone(),
            SecretSource::Created(p) => format!("{p} (created)"),
        }
    }
}

/// Why a secret file could not be had.
#[derive(Debug)]
pub(crate) enum SecretFileError {
    /// Reading, creating or writing it failed.
    Io(std::io::Error),
    /// It can be read by other users.
    Permissions,
}

/// The contents of the secret file at `path`, which must not be readable by other users; or,
/// when there is none, a new file with mode 0600 holding `create()` and a newline.
pub(crate) fn read_or_create_private(
    path: &Path,
    create: impl FnOnce() -> zeroize::Zeroizing<String>,
) -> Result<(zeroize::Zeroizing<String>, SecretSource), SecretFileError> {
    let shown = path.display().to_string();
    match fs::read_to_string(path) {
        Ok(text) => {
            check_permissions(path).map_err(|e| match e {
                Some(err) => SecretFileError::Io(err),
                None => SecretFileError::Permissions,
            })?;
            Ok((zeroize::Zeroizing::new(text), SecretSource::File(shown)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let value = create();
            let mut file = create_private(path).map_err(SecretFileError::Io)?;
            file.write_all(format!("{}\n", value.as_str()).as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(SecretFileError::Io)?;
            Ok((value, SecretSource::Created(shown)))
        }
        Err(e) => Err(SecretFileError::Io(e)),
    }
}

impl TokenKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut key = Aes256Gcm::generate_key(OsRng);
        let out = Self(key.into());
        zeroize::Zeroize::zeroize(key.as_mut_slice());
        out
    }

    /// From base64 (standard alphabet, padding optional, surrounding whitespace ignored).
    pub fn from_base64(s: &str, what: &'static str) -> Result<Self, KeyError> {
        let s = s.trim();
        let bytes = B64
            .decode(s)
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(s))
            .map_err(|_| KeyError::Malformed(what))?;
        let mut bytes = zeroize::Zeroizing::new(bytes);
        let arr: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::Malformed(what))?;
        zeroize::Zeroize::zeroize(&mut *bytes);
        Ok(Self(arr))
    }

    /// Keys listed in one string (base64, separated by commas or whitespace), as in
    /// `TOKEN_MANAGER_OLD_KEYS`.
    pub fn list_from_base64(s: &str, what: &'static str) -> Result<Vec<Self>, KeyError> {
        s.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|k| !k.is_empty())
            .map(|k| Self::from_base64(k, what))
            .collect()
    }

    /// An existing key file (never created; must not be readable by other users).
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let shown = path.display().to_string();
        let io = |source| KeyError::Io {
            path: shown.clone(),
            source,
        };
        let text = zeroize::Zeroizing::new(fs::read_to_string(path).map_err(io)?);
        check_permissions(path).map_err(|e| match e {
            Some(err) => io(err),
            None => KeyError::Permissions(shown.clone()),
        })?;
        Self::from_base64(&text, "an old key file")
    }

    /// `TOKEN_MANAGER_KEY` when set (`env_value`), else the key file at `path`, created with
    /// mode 0600 when absent.
    pub fn load(env_value: Option<&str>, path: &Path) -> Result<(Self, KeySource), KeyError> {
        if let Some(v) = env_value.filter(|v| !v.trim().is_empty()) {
            return Ok((Self::from_base64(v, KEY_ENV)?, KeySource::Env));
        }
        let shown = path.display().to_string();
        let mut created = None;
        let (text, source) = read_or_create_private(path, || {
            let key = Self::generate();
            let text = zeroize::Zeroizing::new(B64.encode(key.0));
            created = Some(key);
            text
        })
        .map_err(|e| match e {
            SecretFileError::Io(source) => KeyError::Io {
                path: shown.clone(),
                source,
            },
            SecretFileError::Permissions => KeyError::Permissions(shown.clone()),
        })?;
        match created {
            Some(key) => Ok((key, source)),
            None => Ok((Self::from_base64(&text, "the key file")?, source)),
        }
    }
}

impl TokenKey {
    /// A 256-bit key for another purpose, derived from this one with HKDF-SHA256 (RFC 5869;
    /// `info` names the purpose), so every host sharing the token key shares it too and
    /// neither key reveals the other.
    pub(crate) fn derive(&self, info: &[u8]) -> [u8; 32] {
        let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"token-manager");
        let prk = salt.extract(&self.0);
        let info = [info];
        let okm = prk
            .expand(&info, ring::hkdf::HKDF_SHA256)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        let mut out = [0u8; 32];
        okm.fill(&mut out)
            .expect("the output buffer has the requested length");
        out
    }
}

/// Create `path` for writing, failing if it exists; mode 0600 on Unix.
#[cfg(unix)]
pub(crate) fn create_private(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
pub(crate) fn create_private(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// `Err(None)`: readable by group/others; `Err(Some(io))`: cannot stat.
#[cfg(unix)]
pub(crate) fn check_permissions(path: &Path) -> Result<(), Option<std::io::Error>> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path).map_err(Some)?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(None);
    }
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn check_permissions(_path: &Path) -> Result<(), Option<std::io::Error>> {
    Ok(())
}

/// One encrypted value: its nonce and the ciphertext (with the 16-byte GCM tag).
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// 96-bit random nonce.
    pub nonce: [u8; 12],
    /// Ciphertext and tag.
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({} bytes)", self.ciphertext.len())
    }
}

/// The token field a value belongs to (part of the associated data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The access token.
    AccessToken,
    /// The refresh token.
    RefreshToken,
    /// A pending authorization (its state and PKCE verifier), between `/start` and `/exchange`.
    Pending,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::AccessToken => "access_token",
            Field::RefreshToken => "refresh_token",
            Field::Pending => "pending_authorization",
        }
    }
}

/// Decryption failed: wrong key, or the value was moved or tampered with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a stored {0} could not be decrypted (wrong key, or the database was altered)")]
pub struct OpenError(&'static str);

/// AES-256-GCM with the associated data `company NUL field`.
///
/// Seals under the current key; opens under the current key or, during a key rotation, any of
/// the old keys given to [`TokenCipher::with_old_keys`] (see
/// [`Store::reencrypt`](crate::store::Store::reencrypt)).
#[derive(Clone)]
pub struct TokenCipher {
    cipher: Aes256Gcm,
    old: Vec<Aes256Gcm>,
}

impl std::fmt::Debug for TokenCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCipher([redacted])")
    }
}

impl TokenCipher {
    /// A cipher under `key`.
    pub fn new(key: &TokenKey) -> Self {
        Self::with_old_keys(key, &[])
    }

    /// A cipher under `key` that also opens values sealed under `old` keys (key rotation).
    pub fn with_old_keys(key: &TokenKey, old: &[TokenKey]) -> Self {
        let cipher = |k: &TokenKey| Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&k.0));
        Self {
            cipher: cipher(key),
            old: old.iter().map(cipher).collect(),
        }
    }

    /// Whether old keys are configured.
    pub fn has_old_keys(&self) -> bool {
        !self.old.is_empty()
    }

    /// Decrypt a value; `Ok((plaintext, true))` when only an old key opened it (re-seal it).
    pub fn open_reporting_old(
        &self,
        company: &str,
        field: Field,
        sealed: &Sealed,
    ) -> Result<(String, bool), OpenError> {
        let aad = aad(company, field);
        let attempt = |cipher: &Aes256Gcm| {
            cipher
                .decrypt(
                    Nonce::from_slice(&sealed.nonce),
                    Payload {
                        msg: &sealed.ciphertext,
                        aad: &aad,
                    },
                )
                .ok()
        };
        let (plain, old) = match attempt(&self.cipher) {
            Some(p) => (p, false),
            None => (
                self.old
                    .iter()
                    .find_map(attempt)
                    .ok_or(OpenError(field.name()))?,
                true,
            ),
        };
        let text = String::from_utf8(plain).map_err(|_| OpenError(field.name()))?;
        Ok((text, old))
    }

    /// Encrypt `plaintext` for `company`'s `field` under a fresh random nonce.
    pub fn seal(&self, company: &str, field: Field, plaintext: &str) -> Sealed {
        let nonce = Aes256Gcm::generate_nonce(OsRng);
        let aad = aad(company, field);
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            .expect("AES-GCM encryption cannot fail for inputs below 64 GiB");
        Sealed {
            nonce: nonce.into(),
            ciphertext,
        }
    }

    /// Decrypt a value sealed for `company`'s `field`.
    pub fn open(&self, company: &str, field: Field, sealed: &Sealed) -> Result<String, OpenError> {
        self.open_reporting_old(company, field, sealed)
            .map(|(text, _)| text)
    }
}

fn aad(company: &str, field: Field) -> Vec<u8> {
    let mut v = Vec::with_capacity(company.len() + 1 + field.name().len());
    v.extend_from_slice(company.as_bytes());
    v.push(0);
    v.extend_from_slice(field.name().as_bytes());
    v
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trip_and_aad_binding() {
        let c = TokenCipher::new(&TokenKey::generate());
        let s = c.seal("acme", Field::AccessToken, "secret-token");
        assert_eq!(
            c.open("acme", Field::AccessToken, &s).unwrap(),
            "secret-token"
        );
        assert!(c.open("demo-co", Field::AccessToken, &s).is_err());
        assert!(c.open("acme", Field::RefreshToken, &s).is_err());
        let s2 = c.seal("acme", Field::AccessToken, "secret-token");
        assert_ne!(s.nonce, s2.nonce, "fresh nonce per value");
        let other = TokenCipher::new(&TokenKey::generate());
        assert!(other.open("acme", Field::AccessToken, &s).is_err());
    }

    #[test]
    fn old_keys_open_and_are_reported() {
        let (old, new) = (TokenKey::generate(), TokenKey::generate());
        let sealed = TokenCipher::new(&old).seal("acme", Field::RefreshToken, "rt");
        assert!(TokenCipher::new(&new)
            .open("acme", Field::RefreshToken, &sealed)
            .is_err());
        let rotating = TokenCipher::with_old_keys(&new, &[TokenKey::generate(), old.clone()]);
        assert_eq!(
            rotating.open_reporting_old("acme", Field::RefreshToken, &sealed),
            Ok(("rt".to_owned(), true))
        );
        let fresh = rotating.seal("acme", Field::RefreshToken, "rt");
        assert_eq!(
            rotating.open_reporting_old("acme", Field::RefreshToken, &fresh),
            Ok(("rt".to_owned(), false))
        );
        assert!(TokenCipher::new(&old)
            .open("acme", Field::RefreshToken, &fresh)
            .is_err());
        let b = B64.encode([3u8; 32]);
        assert_eq!(
            TokenKey::list_from_base64(&format!(" {b}, {b}\n"), "x")
                .unwrap()
                .len(),
            2
        );
        assert!(TokenKey::list_from_base64("nope", "x").is_err());
    }

    #[test]
    fn key_debug_is_redacted_and_base64_checked() {
        let k = TokenKey::generate();
        assert_eq!(format!("{k:?}"), "TokenKey([redacted])");
        assert!(TokenKey::from_base64("c2hvcnQ=", "x").is_err());
        let b = B64.encode([7u8; 32]);
        assert!(TokenKey::from_base64(&format!(" {b}\n"), "x").is_ok());
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_created_private_and_reloaded() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.key");
        let (k1, src) = TokenKey::load(None, &path).unwrap();
        assert!(matches!(src, KeySource::Created(_)));
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let (k2, src) = TokenKey::load(None, &path).unwrap();
        assert!(matches!(src, KeySource::File(_)));
        assert_eq!(k1.0, k2.0);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            TokenKey::load(None, &path),
            Err(KeyError::Permissions(_))
        ));
        let env = B64.encode([1u8; 32]);
        let (k3, src) = TokenKey::load(Some(&env), &path).unwrap();
        assert_eq!((src, k3.0), (KeySource::Env, [1u8; 32]));
    }
}
