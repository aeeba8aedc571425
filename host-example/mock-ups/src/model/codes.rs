//! Authorization codes: issued at the end of a sign-in, redeemed once at the token endpoint
//! (with the PKCE check), remembered a while after they expire to recognise a replay.

use subtle::ConstantTimeEq as _;

use super::{digest, random_secret, ttl_ms, user_key, State};
use crate::config::Settings;
use crate::error::UpsError;
use crate::model::{TokenAnswer, Txn};

/// How long spent codes are remembered after they expire (to recognise a replay).
const CODE_MEMORY_MS: u64 = 10 * 60 * 1000;

#[derive(Debug)]
pub(super) struct Code {
    client_id: String,
    redirect_uri: String,
    pub(super) user: String,
    scope: String,
    challenge: Option<String>,
    expires_ms: u64,
    pub(super) used: bool,
    pub(super) revoked: bool,
    /// The grant whose tokens this code produced (revoked if the code is replayed).
    grant: Option<u64>,
}

/// A token request with `grant_type=authorization_code`, after client authentication.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Redemption<'a> {
    /// The authenticated client.
    pub(crate) client_id: &'a str,
    /// Whether the client proved its secret (Basic auth) rather than only naming itself.
    pub(crate) secret_proven: bool,
    pub(crate) code: &'a str,
    pub(crate) redirect_uri: &'a str,
    pub(crate) code_verifier: Option<&'a str>,
}

impl State {
    /// Finish a sign-in: issue a single-use authorization code for `txn`'s client, redirect
    /// URI, scope and PKCE challenge.
    pub(crate) fn issue_code(
        &mut self,
        settings: &Settings,
        txn: &Txn,
        typed_user: &str,
        now: u64,
    ) -> String {
        self.prune_codes(now);
        let key = user_key(typed_user);
        if let Some(u) = self.users.get_mut(&key) {
            u.codes_issued += 1;
        }
        self.counters.signins_completed += 1;
        let code = random_secret(24);
        self.codes.insert(
            digest(&code),
            Code {
                client_id: txn.client_id.clone(),
                redirect_uri: txn.redirect_uri.as_str().to_owned(),
                user: key,
                scope: txn.scope.clone(),
                challenge: txn.challenge.clone(),
                expires_ms: now.saturating_add(ttl_ms(settings.code_ttl)),
                used: false,
                revoked: false,
                grant: None,
            },
        );
        code
    }

    fn prune_codes(&mut self, now: u64) {
        self.pruning.codes.run(&mut self.codes, |_, c| {
            c.expires_ms.saturating_add(CODE_MEMORY_MS) > now
        });
    }

    // ---- token endpoint ------------------------------------------------------------------

    /// `grant_type=authorization_code`: redeem a code (RFC 6749 §4.1.3, RFC 7636 §4.6).
    ///
    /// The code is spent by the first redemption attempt of its client, whether that attempt
    /// succeeds or not. A second attempt is a replay: it fails and revokes every token issued
    /// from the code (RFC 6749 §4.1.2).
    pub(crate) fn redeem_code(
        &mut self,
        settings: &Settings,
        r: &Redemption<'_>,
        now: u64,
    ) -> Result<TokenAnswer, UpsError> {
        let Redemption {
            client_id,
            secret_proven,
            code,
            redirect_uri,
            code_verifier,
        } = *r;
        let key = digest(code);
        let Some(c) = self.codes.get_mut(&key) else {
            return Err(UpsError::invalid_code(
                "The authorization code is invalid or expired",
            ));
        };
        if c.client_id != client_id {
            // Not this client's code: do not let it burn the code for the rightful client.
            return Err(UpsError::invalid_code(
                "The authorization code was issued to another client",
            ));
        }
        if c.used {
            let grant = c.grant;
            self.counters.codes_replayed += 1;
            if let Some(g) = grant {
                self.revoke_grant(g);
            }
            return Err(UpsError::invalid_code(
                "The authorization code has already been used; the tokens issued from it are revoked",
            ));
        }
        c.used = true;
        if c.revoked {
            return Err(UpsError::invalid_code(
                "The authorization code has been revoked",
            ));
        }
        if now >= c.expires_ms {
            return Err(UpsError::invalid_code("The authorization code has expired"));
        }
        if c.redirect_uri != redirect_uri {
            tracing::info!("mock UPS: redirect_uri differs from the authorization request's");
            return Err(UpsError::invalid_redirect());
        }
        match (&c.challenge, code_verifier) {
            (Some(challenge), Some(verifier)) => {
                if !valid_verifier(verifier) {
                    return Err(UpsError::invalid_code(
                        "code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]",
                    ));
                }
                let computed = pkce::code_challenge(verifier.as_bytes());
                if !bool::from(computed.as_bytes().ct_eq(challenge.as_bytes())) {
                    return Err(UpsError::invalid_code(
                        "code_verifier does not match the code_challenge",
                    ));
                }
            }
            (Some(_), None) => {
                return Err(UpsError::invalid_code(
                    "code_verifier is required: the authorization request sent a code_challenge",
                ))
            }
            (None, _) if !secret_proven => return Err(UpsError::missing_auth()),
            // No challenge was sent: a verifier, if any, is ignored (as servers without PKCE do).
            (None, _) => {}
        }
        let (user, scope) = (c.user.clone(), c.scope.clone());
        let grant = self.next_grant;
        self.next_grant += 1;
        if let Some(c) = self.codes.get_mut(&key) {
            c.grant = Some(grant);
        }
        self.counters.tokens_issued += 1;
        if let Some(u) = self.users.get_mut(&user) {
            u.tokens_issued += 1;
        }
        Ok(self.issue_pair(settings, client_id, &user, &scope, grant, 0, now))
    }
}

/// RFC 7636 §4.1: 43–128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`.
fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// An S256 code challenge: base64url of 32 bytes, 43 characters.
pub(crate) fn valid_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}
