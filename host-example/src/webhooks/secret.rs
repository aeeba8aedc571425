//! The Standard Webhooks signing secret (`whsec_` + base64 of 32 random bytes), its file, and
//! the signature: `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")).

use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use ring::hmac;

use crate::crypto::{read_or_create_private, SecretFileError, SecretSource};

/// The prefix of a secret's text form.
pub const PREFIX: &str = "whsec_";

/// Why the secret could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookSecretError {
    /// The file could not be read or created.
    #[error("webhook secret file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The file can be read by other users.
    #[error("webhook secret file {0} is readable by other users; run `chmod 600 {0}`")]
    Permissions(String),
    /// Not `whsec_` + base64 of 24-64 bytes.
    #[error("{0}: the webhook secret must be whsec_ followed by base64 of 24 to 64 bytes")]
    Malformed(String),
}

/// The key events are signed with (the text form is shared with the portal's receivers).
pub struct WebhookSecret {
    key: hmac::Key,
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret([redacted])")
    }
}

impl WebhookSecret {
    /// A fresh secret's text form.
    pub fn generate() -> String {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        format!("{PREFIX}{}", STANDARD.encode(bytes))
    }

    /// Parse the text form (`whsec_` optional, as the reference libraries accept).
    pub fn parse(text: &str, what: &str) -> Result<Self, WebhookSecretError> {
        let text = text.trim();
        let b64 = text.strip_prefix(PREFIX).unwrap_or(text);
        let bytes = zeroize::Zeroizing::new(
            STANDARD
                .decode(b64)
                .map_err(|_| WebhookSecretError::Malformed(what.to_owned()))?,
        );
        if !(24..=64).contains(&bytes.len()) {
            return Err(WebhookSecretError::Malformed(what.to_owned()));
        }
        Ok(Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, &bytes),
        })
    }

    /// The secret in the file at `path`, created with mode 0600 when absent.
    pub fn load(path: &Path) -> Result<(Self, SecretSource), WebhookSecretError> {
        let shown = path.display().to_string();
        let (text, source) =
            read_or_create_private(path, || zeroize::Zeroizing::new(Self::generate())).map_err(
                |e| match e {
                    SecretFileError::Io(source) => WebhookSecretError::Io {
                        path: shown.clone(),
                        source,
                    },
                    SecretFileError::Permissions => WebhookSecretError::Permissions(shown.clone()),
                },
            )?;
        Ok((Self::parse(&text, &shown)?, source))
    }

    /// The `webhook-signature` header value for a message.
    pub fn sign(&self, id: &str, timestamp_secs: i64, body: &[u8]) -> String {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(id.as_bytes());
        ctx.update(b".");
        ctx.update(timestamp_secs.to_string().as_bytes());
        ctx.update(b".");
        ctx.update(body);
        format!("v1,{}", STANDARD.encode(ctx.sign().as_ref()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The example of the Standard Webhooks specification's reference implementations.
    #[test]
    fn matches_the_reference_signature() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "t").unwrap();
        let sig = secret.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn file_is_created_private_and_bad_secrets_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("webhook-secret");
        let (_, source) = WebhookSecret::load(&path).unwrap();
        assert!(matches!(source, SecretSource::Created(_)));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(PREFIX));
        let (_, source) = WebhookSecret::load(&path).unwrap();
        assert!(matches!(source, SecretSource::File(_)));
        assert!(WebhookSecret::parse("whsec_c2hvcnQ=", "t").is_err());
        assert!(WebhookSecret::parse("whsec_***", "t").is_err());
        assert!(!format!("{:?}", WebhookSecret::parse(&text, "t").unwrap()).contains(&text[6..]));
    }
}
