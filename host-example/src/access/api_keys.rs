//! The portal backend's API keys: `--api-key-file` (created 0600 with one random key on first
//! run; one key per line, so a new key can be added before the old one is removed) or
//! `TOKEN_MANAGER_API_KEY`. Only SHA-256 digests are kept in memory; a presented key is
//! compared with every one of them in constant time. A key is known in logs and audit rows by
//! its [`KeyId`], never by its value.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::crypto::{read_or_create_private, SecretFileError, SecretSource};

/// Environment variable holding the API key(s), separated by commas or whitespace.
pub const API_KEY_ENV: &str = "TOKEN_MANAGER_API_KEY";

/// Shortest key accepted (characters): keys are secrets, not passwords.
const MIN_KEY_LEN: usize = 32;
/// Longest key accepted.
const MAX_KEY_LEN: usize = 256;

/// A key's public name: the first 8 bytes of its SHA-256, in hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub String);

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where the keys came from (for the startup banner; never a key).
pub type ApiKeysSource = SecretSource;

/// Why the keys could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiKeyError {
    /// The file could not be read or created.
    #[error("API key file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The file can be read by other users.
    #[error("API key file {0} is readable by other users; run `chmod 600 {0}`")]
    Permissions(String),
    /// A key is too short, too long, or not printable ASCII.
    #[error("{0}: every API key must be {MIN_KEY_LEN}-{MAX_KEY_LEN} printable ASCII characters")]
    Malformed(String),
    /// No key at all.
    #[error("{0} holds no API key")]
    Empty(String),
}

/// The accepted keys, as digests.
pub struct ApiKeys {
    digests: Vec<([u8; 32], KeyId)>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeys")
            .field(
                "ids",
                &self.digests.iter().map(|(_, id)| id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn digest(key: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, key.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl ApiKeys {
    /// These keys (each checked for shape).
    pub fn new<'a>(
        keys: impl IntoIterator<Item = &'a str>,
        what: &str,
    ) -> Result<Self, ApiKeyError> {
        let mut digests = Vec::new();
        for key in keys {
            if !(MIN_KEY_LEN..=MAX_KEY_LEN).contains(&key.len())
                || !key.bytes().all(|b| b.is_ascii_graphic())
            {
                return Err(ApiKeyError::Malformed(what.to_owned()));
            }
            let d = digest(key);
            let id = KeyId(d[..8].iter().map(|b| format!("{b:02x}")).collect());
            digests.push((d, id));
        }
        if digests.is_empty() {
            return Err(ApiKeyError::Empty(what.to_owned()));
        }
        Ok(Self { digests })
    }

    /// Accept one more key (e.g. the demo portal's own backend), returning its id.
    pub fn add(&mut self, key: &str) -> Result<KeyId, ApiKeyError> {
        let extra = Self::new([key], "an added API key")?;
        let (d, id) = extra
            .digests
            .into_iter()
            .next()
            .ok_or(ApiKeyError::Empty("an added API key".into()))?;
        self.digests.push((d, id.clone()));
        Ok(id)
    }

    /// A fresh random key: `tmk_` and 32 random bytes, base64url.
    pub fn generate() -> String {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        format!("tmk_{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    /// `TOKEN_MANAGER_API_KEY` when set (`env_value`), else the file at `path`, created with
    /// mode 0600 and one new key when absent. Lines that are empty or start with `#` are
    /// skipped.
    pub fn load(
        env_value: Option<&str>,
        path: &Path,
    ) -> Result<(Self, ApiKeysSource), ApiKeyError> {
        if let Some(v) = env_value.filter(|v| !v.trim().is_empty()) {
            let keys = v
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|k| !k.is_empty());
            return Ok((Self::new(keys, API_KEY_ENV)?, ApiKeysSource::Env));
        }
        let shown = path.display().to_string();
        let (text, source) =
            read_or_create_private(path, || zeroize::Zeroizing::new(Self::generate())).map_err(
                |e| match e {
                    SecretFileError::Io(source) => ApiKeyError::Io {
                        path: shown.clone(),
                        source,
                    },
                    SecretFileError::Permissions => ApiKeyError::Permissions(shown.clone()),
                },
            )?;
        let keys = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        Ok((Self::new(keys, &shown)?, source))
    }

    /// The id of the key `presented` is, if it is one of ours. Every stored digest is compared,
    /// in constant time, whatever matches.
    pub fn verify(&self, presented: &str) -> Option<KeyId> {
        let d = digest(presented);
        let mut found = None;
        for (stored, id) in &self.digests {
            if bool::from(stored.ct_eq(&d)) {
                found = Some(id.clone());
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::fs;

    use super::*;

    #[test]
    fn keys_verify_by_id_and_refuse_anything_else() {
        let (a, b) = (ApiKeys::generate(), ApiKeys::generate());
        let keys = ApiKeys::new([a.as_str(), b.as_str()], "test").unwrap();
        let (ia, ib) = (keys.verify(&a).unwrap(), keys.verify(&b).unwrap());
        assert_ne!(ia, ib);
        assert_eq!(ia.0.len(), 16);
        assert!(keys.verify(&ApiKeys::generate()).is_none());
        assert!(keys.verify(&a[..a.len() - 1]).is_none());
        assert!(keys.verify("").is_none());
        // Debug names ids only.
        let dbg = format!("{keys:?}");
        assert!(!dbg.contains(&a) && dbg.contains(&ia.0));
        assert!(ApiKeys::new(["short"], "t").is_err());
        assert!(ApiKeys::new([] as [&str; 0], "t").is_err());
    }

    #[test]
    fn the_file_is_created_private_and_read_back_with_rotation_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api-key");
        let (keys, source) = ApiKeys::load(None, &path).unwrap();
        assert!(matches!(source, SecretSource::Created(_)));
        let text = fs::read_to_string(&path).unwrap();
        let first = text.trim().to_owned();
        assert!(first.starts_with("tmk_"));
        assert!(keys.verify(&first).is_some());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        // Rotation: a second key added on its own line; both work.
        let second = ApiKeys::generate();
        fs::write(&path, format!("# portal backend\n{first}\n\n{second}\n")).unwrap();
        let (keys, source) = ApiKeys::load(None, &path).unwrap();
        assert!(matches!(source, SecretSource::File(_)));
        assert!(keys.verify(&first).is_some() && keys.verify(&second).is_some());
        // The environment wins over the file.
        let env = ApiKeys::generate();
        let (keys, source) = ApiKeys::load(Some(&format!(" {env} ")), &path).unwrap();
        assert_eq!(source, SecretSource::Env);
        assert!(keys.verify(&env).is_some() && keys.verify(&first).is_none());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                ApiKeys::load(None, &path),
                Err(ApiKeyError::Permissions(_))
            ));
        }
    }
}
