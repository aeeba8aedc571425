//! The mock's memory and its rules: clients, users, sign-in transactions, authorization
//! codes, access and refresh tokens, counters. Every function takes `now` (ms since the
//! epoch) so the rules are testable without a clock; the HTTP layer (`oauth`, `signin`,
//! `control`) only parses requests and renders answers.
//!
//! Secrets (codes, tokens, transaction ids) are stored only as SHA-256 digests, so a map
//! lookup never compares a secret byte by byte; client secrets, passwords and PKCE
//! challenges are compared with [`subtle::ConstantTimeEq`].

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use serde::Serialize;
use subtle::ConstantTimeEq as _;
use url::Url;

use super::faults::Faults;
use super::{MockClient, MockConfig, MockStats, UserStats};

/// How long a sign-in transaction (Log In → Password) stays usable.
pub(super) const TXN_TTL_MS: u64 = 15 * 60 * 1000;
/// Wrong passwords allowed in one sign-in transaction before it is ended with `access_denied`.
pub(super) const MAX_PASSWORD_ATTEMPTS: u32 = 5;
/// Maps of sign-ins, codes and tokens are pruned of dead entries once they reach this size…
const PRUNE_MIN: usize = 256;
/// How long spent codes are remembered after they expire (to recognise a replay).
const CODE_MEMORY_MS: u64 = 10 * 60 * 1000;

/// Milliseconds since the Unix epoch.
pub(super) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// `BASE64URL(SHA-256(secret))`. `pkce::code_challenge` is exactly this transform
/// (RFC 7636 §4.2), so it doubles as the mock's SHA-256 without another dependency.
pub(super) fn digest(secret: &str) -> String {
    pkce::code_challenge(secret.as_bytes())
}

/// A short, non-reversible name for a token in stats and logs: the first 12 hex digits of
/// its SHA-256.
pub fn token_fingerprint(token: &str) -> String {
    let bytes = URL_SAFE_NO_PAD
        .decode(digest(token))
        .unwrap_or_else(|_| vec![0; 6]);
    bytes.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// `n` random bytes from the OS, base64url without padding.
pub(super) fn random_secret(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Constant-time equality of two secrets of any length (compares their digests).
pub(super) fn secret_eq(a: &str, b: &str) -> bool {
    digest(a).as_bytes().ct_eq(digest(b).as_bytes()).into()
}

fn ttl_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// An OAuth error in UPS's shape: `{"response":{"errors":[{"code","message"}]}}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct UpsError {
    pub(super) status: u16,
    pub(super) code: &'static str,
    pub(super) message: String,
}

impl UpsError {
    pub(super) fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }
    /// 401 `10400`: the Basic header is missing or cannot be decoded.
    pub(super) fn missing_auth() -> Self {
        Self::new(401, "10400", "Invalid/Missing Authorization Header")
    }
    /// 401 `10401`: unknown client or wrong secret.
    pub(super) fn invalid_client() -> Self {
        Self::new(401, "10401", "ClientId is Invalid")
    }
    /// 400 `invalid_grant` (RFC 6749 §5.2).
    pub(super) fn invalid_grant(message: impl Into<String>) -> Self {
        Self::new(400, "invalid_grant", message)
    }
    /// 400 `invalid_request` (RFC 6749 §5.2).
    pub(super) fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(400, "invalid_request", message)
    }
    /// 401 `250002`: what UPS's APIs answer for an unknown, expired or revoked bearer token.
    pub(super) fn invalid_bearer() -> Self {
        Self::new(401, "250002", "Invalid Authentication Information.")
    }
    /// The JSON body.
    pub(super) fn body(&self) -> serde_json::Value {
        serde_json::json!({"response": {"errors": [{"code": self.code, "message": self.message}]}})
    }
}

/// UPS's token answer (`generateTokenSuccessResponse` / `refreshTokenSuccessResponse`):
/// every property a string, times in ms since the epoch, lifetimes in seconds.
#[derive(Clone, Debug, Serialize)]
pub(super) struct TokenAnswer {
    pub(super) token_type: &'static str,
    pub(super) issued_at: String,
    pub(super) client_id: String,
    pub(super) access_token: String,
    pub(super) refresh_token: String,
    pub(super) expires_in: String,
    pub(super) refresh_token_expires_in: String,
    pub(super) refresh_token_issued_at: String,
    pub(super) refresh_token_status: &'static str,
    pub(super) refresh_count: String,
    pub(super) status: &'static str,
    pub(super) scope: String,
}

/// Lifetimes and the mock's origin (fixed at construction).
#[derive(Clone, Debug)]
pub(super) struct Settings {
    pub(super) public_url: String,
    pub(super) access_ttl: Duration,
    pub(super) refresh_ttl: Duration,
    pub(super) code_ttl: Duration,
}

/// A registered demo user.
#[derive(Debug)]
pub(super) struct User {
    /// The name as configured (shown on screens and in stats).
    pub(super) name: String,
    password: String,
    password_changes: u64,
    codes_issued: u64,
    tokens_issued: u64,
    refreshes: u64,
    data_calls: u64,
}

/// Where a sign-in transaction stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// Log In screen: asks for Email or Username and the agreement.
    Identify,
    /// Password screen for the username typed (which may not exist: the mock does not tell).
    Password { typed: String },
}

/// One sign-in, from `GET /lasso/signin` to the redirect back (kept server-side; the page
/// only carries its random id).
#[derive(Clone, Debug)]
pub(super) struct Txn {
    pub(super) client_id: String,
    pub(super) redirect_uri: Url,
    pub(super) state: Option<String>,
    pub(super) scope: String,
    pub(super) challenge: Option<String>,
    pub(super) created_ms: u64,
    pub(super) step: Step,
    pub(super) failed_passwords: u32,
}

#[derive(Debug)]
struct Code {
    client_id: String,
    redirect_uri: String,
    user: String,
    scope: String,
    challenge: Option<String>,
    expires_ms: u64,
    used: bool,
    revoked: bool,
    /// The grant whose tokens this code produced (revoked if the code is replayed).
    grant: Option<u64>,
}

#[derive(Debug)]
struct Access {
    user: String,
    grant: u64,
    expires_ms: u64,
    revoked: bool,
}

#[derive(Debug)]
struct Refresh {
    user: String,
    client_id: String,
    grant: u64,
    scope: String,
    expires_ms: u64,
    refresh_count: u64,
    spent: bool,
    revoked: bool,
}

#[derive(Debug, Default)]
struct Counters {
    validate_client_requests: u64,
    authorize_requests: u64,
    signins_completed: u64,
    signins_declined: u64,
    token_requests: u64,
    tokens_issued: u64,
    refresh_requests: u64,
    refreshes_succeeded: u64,
    refresh_tokens_spent: u64,
    data_calls_total: u64,
    data_calls_rejected: u64,
    data_calls_by_token: BTreeMap<String, u64>,
    faults_applied: u64,
    codes_replayed: u64,
}

/// What an endpoint was asked (for counters).
#[derive(Clone, Copy, Debug)]
pub(super) enum Request {
    ValidateClient,
    Authorize,
    Token,
    Refresh,
}

/// A token request with `grant_type=authorization_code`, after client authentication.
#[derive(Clone, Copy, Debug)]
pub(super) struct Redemption<'a> {
    /// The authenticated client.
    pub(super) client_id: &'a str,
    /// Whether the client proved its secret (Basic auth) rather than only naming itself.
    pub(super) secret_proven: bool,
    pub(super) code: &'a str,
    pub(super) redirect_uri: &'a str,
    pub(super) code_verifier: Option<&'a str>,
}

/// Result of a password change.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub(super) struct PasswordChange {
    pub(super) user: String,
    pub(super) revoked_access_tokens: u64,
    pub(super) revoked_refresh_tokens: u64,
    pub(super) revoked_codes: u64,
}

/// When to prune one map: once it has grown a quarter past what the last pruning kept (at
/// least [`PRUNE_MIN`]), so a long run's memory stays within 1.25× the live entries and
/// pruning costs O(1) per insert, amortised (a scan of n entries every n/4 inserts). (At 2×,
/// the refresher benchmark's 10,000 companies kept ~20,000 dead tokens in the mock.)
#[derive(Debug)]
struct Pruning {
    next_at: usize,
}

impl Default for Pruning {
    fn default() -> Self {
        Self { next_at: PRUNE_MIN }
    }
}

impl Pruning {
    fn run<K, V>(&mut self, map: &mut HashMap<K, V>, keep: impl FnMut(&K, &mut V) -> bool) {
        if map.len() >= self.next_at {
            map.retain(keep);
            self.next_at = map.len().saturating_add(map.len() / 4).max(PRUNE_MIN);
        }
    }
}

/// One [`Pruning`] per map of [`State`].
#[derive(Debug, Default)]
struct Prunings {
    txns: Pruning,
    codes: Pruning,
    access: Pruning,
    refresh: Pruning,
}

/// The whole mutable state, behind one `Mutex` in [`super::MockUps`].
#[derive(Debug)]
pub(super) struct State {
    clients: Vec<MockClient>,
    users: BTreeMap<String, User>,
    pub(super) faults: Faults,
    txns: HashMap<String, Txn>,
    codes: HashMap<String, Code>,
    access: HashMap<String, Access>,
    refresh: HashMap<String, Refresh>,
    /// When each of the four maps above is next pruned.
    pruning: Prunings,
    next_grant: u64,
    counters: Counters,
}

/// Usernames are matched case-insensitively ("Email or Username").
fn user_key(name: &str) -> String {
    name.trim().to_lowercase()
}

impl State {
    pub(super) fn new(config: &MockConfig) -> Self {
        let users = config
            .users
            .iter()
            .map(|(name, password)| {
                (
                    user_key(name),
                    User {
                        name: name.trim().to_owned(),
                        password: password.clone(),
                        password_changes: 0,
                        codes_issued: 0,
                        tokens_issued: 0,
                        refreshes: 0,
                        data_calls: 0,
                    },
                )
            })
            .collect();
        Self {
            clients: config.clients.clone(),
            users,
            faults: config.faults.clone(),
            txns: HashMap::new(),
            codes: HashMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            pruning: Prunings::default(),
            next_grant: 1,
            counters: Counters::default(),
        }
    }

    pub(super) fn count(&mut self, request: Request) {
        let c = &mut self.counters;
        match request {
            Request::ValidateClient => c.validate_client_requests += 1,
            Request::Authorize => c.authorize_requests += 1,
            Request::Token => c.token_requests += 1,
            Request::Refresh => c.refresh_requests += 1,
        }
    }

    pub(super) fn count_fault(&mut self) {
        self.counters.faults_applied += 1;
    }

    // ---- clients -------------------------------------------------------------------------

    fn client(&self, client_id: &str) -> Option<&MockClient> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }

    /// validate-client / authorize / sign-in: the client exists and `redirect_uri` is one of
    /// its registered URIs, compared exactly (RFC 9700 §4.1.3).
    pub(super) fn check_client_redirect(
        &self,
        client_id: Option<&str>,
        redirect_uri: Option<&str>,
    ) -> Result<Url, UpsError> {
        let client_id = client_id
            .filter(|c| !c.is_empty())
            .ok_or_else(|| UpsError::invalid_request("Missing required parameter: client_id"))?;
        let redirect_uri = redirect_uri
            .filter(|r| !r.is_empty())
            .ok_or_else(|| UpsError::invalid_request("Missing required parameter: redirect_uri"))?;
        let client = self
            .client(client_id)
            .ok_or_else(UpsError::invalid_client)?;
        if !client.redirect_uris.iter().any(|r| r == redirect_uri) {
            return Err(UpsError::invalid_request(
                "redirect_uri is not registered for this client_id",
            ));
        }
        Url::parse(redirect_uri).map_err(|_| {
            UpsError::invalid_request("the registered redirect_uri is not an absolute URL")
        })
    }

    pub(super) fn add_redirect_uri(&mut self, client_id: &str, uri: &str) -> bool {
        match self.clients.iter_mut().find(|c| c.client_id == client_id) {
            Some(c) => {
                if !c.redirect_uris.iter().any(|r| r == uri) {
                    c.redirect_uris.push(uri.to_owned());
                }
                true
            }
            None => false,
        }
    }

    /// Client authentication at the token and refresh endpoints.
    ///
    /// - `basic` given: it must name a registered client with its secret (compared in constant
    ///   time); a `client_id` in the body, if any, must be the same client.
    /// - no `basic` and `allow_pkce_public` (UPS's "Auth-Code with PKCE" flow 2): the body's
    ///   `client_id` must name a registered client; the code's PKCE check then proves the caller.
    ///
    /// Returns the client id and whether the secret was proven.
    pub(super) fn authenticate(
        &self,
        basic: Option<Result<(String, String), ()>>,
        body_client_id: Option<&str>,
        allow_pkce_public: bool,
    ) -> Result<(String, bool), UpsError> {
        match basic {
            Some(Ok((id, secret))) => {
                let client = self.client(&id);
                // Compare against something even for an unknown id, so timing says nothing.
                let expected = client.map_or("\u{0}unknown-client", |c| c.client_secret.as_str());
                let secret_ok = secret_eq(&secret, expected);
                match client {
                    Some(c) if secret_ok => {
                        if body_client_id.is_some_and(|b| b != c.client_id) {
                            return Err(UpsError::invalid_client());
                        }
                        Ok((c.client_id.clone(), true))
                    }
                    _ => Err(UpsError::invalid_client()),
                }
            }
            Some(Err(())) => Err(UpsError::missing_auth()),
            None => match body_client_id {
                Some(id) if allow_pkce_public => match self.client(id) {
                    Some(c) => Ok((c.client_id.clone(), false)),
                    None => Err(UpsError::invalid_client()),
                },
                _ => Err(UpsError::missing_auth()),
            },
        }
    }

    // ---- sign-in transactions ------------------------------------------------------------

    /// Start a sign-in; returns its id (to be put in the page's hidden field).
    pub(super) fn start_txn(&mut self, txn: Txn) -> String {
        let now = txn.created_ms;
        self.pruning.txns.run(&mut self.txns, |_, t| {
            now.saturating_sub(t.created_ms) < TXN_TTL_MS
        });
        let id = random_secret(24);
        self.txns.insert(digest(&id), txn);
        id
    }

    /// The live transaction with this id (expired ones are removed).
    pub(super) fn txn(&mut self, id: &str, now: u64) -> Option<Txn> {
        let key = digest(id);
        let t = self.txns.get(&key)?;
        if now.saturating_sub(t.created_ms) >= TXN_TTL_MS {
            self.txns.remove(&key);
            return None;
        }
        Some(t.clone())
    }

    pub(super) fn update_txn(&mut self, id: &str, txn: Txn) {
        self.txns.insert(digest(id), txn);
    }

    pub(super) fn end_txn(&mut self, id: &str) -> Option<Txn> {
        self.txns.remove(&digest(id))
    }

    /// The display name of a configured user, if `typed` names one.
    pub(super) fn known_user(&self, typed: &str) -> Option<&str> {
        self.users.get(&user_key(typed)).map(|u| u.name.as_str())
    }

    /// Check a password in constant time (also for unknown users).
    pub(super) fn check_password(&self, typed_user: &str, password: &str) -> bool {
        let user = self.users.get(&user_key(typed_user));
        let expected = user.map_or("\u{0}no-such-user", |u| u.password.as_str());
        let ok = secret_eq(password, expected);
        user.is_some() && ok
    }

    pub(super) fn count_declined(&mut self) {
        self.counters.signins_declined += 1;
    }

    /// Finish a sign-in: issue a single-use authorization code for `txn`'s client, redirect
    /// URI, scope and PKCE challenge.
    pub(super) fn issue_code(
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
    pub(super) fn redeem_code(
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
            return Err(UpsError::invalid_grant(
                "The authorization code is invalid or expired",
            ));
        };
        if c.client_id != client_id {
            // Not this client's code: do not let it burn the code for the rightful client.
            return Err(UpsError::invalid_grant(
                "The authorization code was issued to another client",
            ));
        }
        if c.used {
            let grant = c.grant;
            self.counters.codes_replayed += 1;
            if let Some(g) = grant {
                self.revoke_grant(g);
            }
            return Err(UpsError::invalid_grant(
                "The authorization code has already been used; the tokens issued from it are revoked",
            ));
        }
        c.used = true;
        if c.revoked {
            return Err(UpsError::invalid_grant(
                "The authorization code has been revoked",
            ));
        }
        if now >= c.expires_ms {
            return Err(UpsError::invalid_grant(
                "The authorization code has expired",
            ));
        }
        if c.redirect_uri != redirect_uri {
            return Err(UpsError::invalid_grant(
                "redirect_uri does not match the one of the authorization request",
            ));
        }
        match (&c.challenge, code_verifier) {
            (Some(challenge), Some(verifier)) => {
                if !valid_verifier(verifier) {
                    return Err(UpsError::invalid_grant(
                        "code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~]",
                    ));
                }
                let computed = pkce::code_challenge(verifier.as_bytes());
                if !bool::from(computed.as_bytes().ct_eq(challenge.as_bytes())) {
                    return Err(UpsError::invalid_grant(
                        "code_verifier does not match the code_challenge",
                    ));
                }
            }
            (Some(_), None) => {
                return Err(UpsError::invalid_grant(
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

    // ---- refresh endpoint ----------------------------------------------------------------

    /// `grant_type=refresh_token`: spend a refresh token and issue a new pair (rotation; the
    /// old refresh token can never be used again).
    pub(super) fn refresh(
        &mut self,
        settings: &Settings,
        client_id: &str,
        refresh_token: &str,
        now: u64,
    ) -> Result<TokenAnswer, UpsError> {
        let Some(r) = self.refresh.get_mut(&digest(refresh_token)) else {
            return Err(UpsError::invalid_grant("The refresh token is invalid"));
        };
        if r.client_id != client_id {
            return Err(UpsError::invalid_grant(
                "The refresh token was issued to another client",
            ));
        }
        if r.revoked {
            return Err(UpsError::invalid_grant(
                "The refresh token has been revoked (the UPS.com password changed or the authorization was withdrawn)",
            ));
        }
        if r.spent {
            return Err(UpsError::invalid_grant(
                "The refresh token has already been used",
            ));
        }
        if now >= r.expires_ms {
            return Err(UpsError::invalid_grant("The refresh token has expired"));
        }
        r.spent = true;
        let (user, scope, grant, count) = (
            r.user.clone(),
            r.scope.clone(),
            r.grant,
            r.refresh_count + 1,
        );
        self.counters.refresh_tokens_spent += 1;
        self.counters.refreshes_succeeded += 1;
        if let Some(u) = self.users.get_mut(&user) {
            u.refreshes += 1;
        }
        Ok(self.issue_pair(settings, client_id, &user, &scope, grant, count, now))
    }

    #[allow(clippy::too_many_arguments)]
    fn issue_pair(
        &mut self,
        settings: &Settings,
        client_id: &str,
        user: &str,
        scope: &str,
        grant: u64,
        refresh_count: u64,
        now: u64,
    ) -> TokenAnswer {
        self.prune_tokens(now);
        let access_token = random_secret(48);
        let refresh_token = random_secret(32);
        self.access.insert(
            digest(&access_token),
            Access {
                user: user.to_owned(),
                grant,
                expires_ms: now.saturating_add(ttl_ms(settings.access_ttl)),
                revoked: false,
            },
        );
        self.refresh.insert(
            digest(&refresh_token),
            Refresh {
                user: user.to_owned(),
                client_id: client_id.to_owned(),
                grant,
                scope: scope.to_owned(),
                expires_ms: now.saturating_add(ttl_ms(settings.refresh_ttl)),
                refresh_count,
                spent: false,
                revoked: false,
            },
        );
        TokenAnswer {
            token_type: "Bearer",
            issued_at: now.to_string(),
            client_id: client_id.to_owned(),
            access_token,
            refresh_token,
            expires_in: settings.access_ttl.as_secs().to_string(),
            refresh_token_expires_in: settings.refresh_ttl.as_secs().to_string(),
            refresh_token_issued_at: now.to_string(),
            refresh_token_status: "approved",
            refresh_count: refresh_count.to_string(),
            status: "approved",
            scope: scope.to_owned(),
        }
    }

    fn prune_tokens(&mut self, now: u64) {
        self.pruning
            .access
            .run(&mut self.access, |_, a| !a.revoked && a.expires_ms > now);
        self.pruning.refresh.run(&mut self.refresh, |_, r| {
            !r.revoked && !r.spent && r.expires_ms > now
        });
    }

    fn revoke_grant(&mut self, grant: u64) {
        for a in self.access.values_mut().filter(|a| a.grant == grant) {
            a.revoked = true;
        }
        for r in self.refresh.values_mut().filter(|r| r.grant == grant) {
            r.revoked = true;
        }
    }

    // ---- data API ------------------------------------------------------------------------

    /// A data API call with `token`: counts it (by fingerprint, valid or not) and says
    /// whether the token is a live access token.
    pub(super) fn data_call(&mut self, token: Option<&str>, now: u64) -> Result<(), UpsError> {
        self.counters.data_calls_total += 1;
        let Some(token) = token else {
            self.counters.data_calls_rejected += 1;
            return Err(UpsError::invalid_bearer());
        };
        *self
            .counters
            .data_calls_by_token
            .entry(token_fingerprint(token))
            .or_insert(0) += 1;
        match self.access.get(&digest(token)) {
            Some(a) if !a.revoked && now < a.expires_ms => {
                if let Some(u) = self.users.get_mut(&a.user) {
                    u.data_calls += 1;
                }
                Ok(())
            }
            _ => {
                self.counters.data_calls_rejected += 1;
                Err(UpsError::invalid_bearer())
            }
        }
    }

    // ---- control -------------------------------------------------------------------------

    /// Change a user's password: every access token, refresh token and unused code of that
    /// user is revoked. `None` if there is no such user.
    pub(super) fn change_password(
        &mut self,
        user: &str,
        new_password: &str,
    ) -> Option<PasswordChange> {
        let key = user_key(user);
        let u = self.users.get_mut(&key)?;
        u.password = new_password.to_owned();
        u.password_changes += 1;
        let mut change = PasswordChange {
            user: u.name.clone(),
            ..PasswordChange::default()
        };
        for a in self
            .access
            .values_mut()
            .filter(|a| a.user == key && !a.revoked)
        {
            a.revoked = true;
            change.revoked_access_tokens += 1;
        }
        for r in self
            .refresh
            .values_mut()
            .filter(|r| r.user == key && !r.revoked)
        {
            r.revoked = true;
            if !r.spent {
                change.revoked_refresh_tokens += 1;
            }
        }
        for c in self
            .codes
            .values_mut()
            .filter(|c| c.user == key && !c.used && !c.revoked)
        {
            c.revoked = true;
            change.revoked_codes += 1;
        }
        Some(change)
    }

    pub(super) fn stats(&self, now: u64) -> MockStats {
        let c = &self.counters;
        let live_access = |a: &&Access| !a.revoked && now < a.expires_ms;
        let live_refresh = |r: &&Refresh| !r.revoked && !r.spent && now < r.expires_ms;
        let users = self
            .users
            .iter()
            .map(|(key, u)| {
                (
                    u.name.clone(),
                    UserStats {
                        codes_issued: u.codes_issued,
                        tokens_issued: u.tokens_issued,
                        refreshes: u.refreshes,
                        data_calls: u.data_calls,
                        password_changes: u.password_changes,
                        active_access_tokens: count(
                            self.access
                                .values()
                                .filter(live_access)
                                .filter(|a| &a.user == key),
                        ),
                        active_refresh_tokens: count(
                            self.refresh
                                .values()
                                .filter(live_refresh)
                                .filter(|r| &r.user == key),
                        ),
                    },
                )
            })
            .collect();
        MockStats {
            validate_client_requests: c.validate_client_requests,
            authorize_requests: c.authorize_requests,
            signins_completed: c.signins_completed,
            signins_declined: c.signins_declined,
            token_requests: c.token_requests,
            tokens_issued: c.tokens_issued,
            codes_replayed: c.codes_replayed,
            refresh_requests: c.refresh_requests,
            refreshes_succeeded: c.refreshes_succeeded,
            refresh_tokens_spent: c.refresh_tokens_spent,
            data_calls_total: c.data_calls_total,
            data_calls_rejected: c.data_calls_rejected,
            data_calls_by_token: c.data_calls_by_token.clone(),
            active_access_tokens: count(self.access.values().filter(live_access)),
            active_refresh_tokens: count(self.refresh.values().filter(live_refresh)),
            faults_applied: c.faults_applied,
            users,
        }
    }
}

fn count<I: Iterator>(it: I) -> u64 {
    u64::try_from(it.count()).unwrap_or(u64::MAX)
}

/// RFC 7636 §4.1: 43–128 characters of `[A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~"`.
pub(super) fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// An S256 code challenge: base64url of 32 bytes, 43 characters.
pub(super) fn valid_challenge(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A long run's churn (every entry dead soon after insertion, a few kept alive) keeps the
    /// map within 1.25× its live entries (or the minimum), and live entries survive every pruning.
    #[test]
    fn pruning_bounds_a_churning_map_and_keeps_live_entries() {
        let mut pruning = Pruning::default();
        let mut map: HashMap<u32, bool> = HashMap::new();
        let mut biggest = 0;
        for i in 0..100_000u32 {
            pruning.run(&mut map, |_, live| *live);
            // Every 10th entry stays live; the previous entry dies when the next arrives.
            if let Some(prev) = i.checked_sub(1).and_then(|p| map.get_mut(&p)) {
                *prev = (i - 1) % 10 == 0;
            }
            map.insert(i, true);
            biggest = biggest.max(map.len());
        }
        let live = map.values().filter(|l| **l).count();
        assert_eq!(live, 10_001, "10,000 kept plus the newest");
        assert!(
            biggest <= live + live / 4 + 1,
            "grew to {biggest} for {live} live"
        );
        assert!((0..100_000).step_by(10).all(|k| map.contains_key(&k)));
    }

    fn setup() -> (State, Settings) {
        let config = MockConfig::default();
        let settings = Settings {
            public_url: config.public_url.clone(),
            access_ttl: Duration::from_secs(10),
            refresh_ttl: Duration::from_secs(100),
            code_ttl: Duration::from_secs(60),
        };
        (State::new(&config), settings)
    }

    fn txn(challenge: Option<String>) -> Txn {
        Txn {
            client_id: "demo-client".into(),
            redirect_uri: Url::parse("http://127.0.0.1:8080/admin/token-manager").unwrap(),
            state: Some("s".into()),
            scope: "read".into(),
            challenge,
            created_ms: 1_000,
            step: Step::Identify,
            failed_passwords: 0,
        }
    }

    const REDIRECT: &str = "http://127.0.0.1:8080/admin/token-manager";

    #[test]
    fn code_is_single_use_and_replay_revokes() {
        let (mut s, set) = setup();
        let code = s.issue_code(&set, &txn(None), "Demo", 1_000);
        let t = s
            .redeem_code(
                &set,
                &Redemption {
                    client_id: "demo-client",
                    secret_proven: true,
                    code: &code,
                    redirect_uri: REDIRECT,
                    code_verifier: None,
                },
                2_000,
            )
            .unwrap();
        assert_eq!(t.refresh_count, "0");
        assert!(s.data_call(Some(&t.access_token), 3_000).is_ok());
        let replay = s
            .redeem_code(
                &set,
                &Redemption {
                    client_id: "demo-client",
                    secret_proven: true,
                    code: &code,
                    redirect_uri: REDIRECT,
                    code_verifier: None,
                },
                3_000,
            )
            .unwrap_err();
        assert_eq!(replay.code, "invalid_grant");
        assert_eq!(
            s.data_call(Some(&t.access_token), 3_000),
            Err(UpsError::invalid_bearer())
        );
        assert!(s
            .refresh(&set, "demo-client", &t.refresh_token, 3_000)
            .is_err());
        assert_eq!(s.stats(3_000).codes_replayed, 1);
    }

    #[test]
    fn code_expiry_and_redirect_and_pkce() {
        let (mut s, set) = setup();
        let code = s.issue_code(&set, &txn(None), "demo", 1_000);
        let e = s
            .redeem_code(
                &set,
                &Redemption {
                    client_id: "demo-client",
                    secret_proven: true,
                    code: &code,
                    redirect_uri: REDIRECT,
                    code_verifier: None,
                },
                61_000,
            )
            .unwrap_err();
        assert!(e.message.contains("expired"));

        let code = s.issue_code(&set, &txn(None), "demo", 1_000);
        let e = s
            .redeem_code(
                &set,
                &Redemption {
                    client_id: "demo-client",
                    secret_proven: true,
                    code: &code,
                    redirect_uri: "http://127.0.0.1:8080/x",
                    code_verifier: None,
                },
                2_000,
            )
            .unwrap_err();
        assert!(e.message.contains("redirect_uri"));

        let verifier = "a".repeat(43);
        let challenge = pkce::code_challenge(verifier.as_bytes());
        let code = s.issue_code(&set, &txn(Some(challenge.clone())), "demo", 1_000);
        let e = s
            .redeem_code(
                &set,
                &Redemption {
                    client_id: "demo-client",
                    secret_proven: true,
                    code: &code,
                    redirect_uri: REDIRECT,
                    code_verifier: Some(&"b".repeat(43)),
                },
                2_000,
            )
            .unwrap_err();
        assert!(e.message.contains("code_verifier"));
        let code = s.issue_code(&set, &txn(Some(challenge)), "demo", 1_000);
        assert!(s
            .redeem_code(
                &set,
                &Redemption {
                    client_id: "demo-client",
                    secret_proven: false,
                    code: &code,
                    redirect_uri: REDIRECT,
                    code_verifier: Some(&verifier)
                },
                2_000
            )
            .is_ok());
        // Public client without PKCE: no proof at all.
        let code = s.issue_code(&set, &txn(None), "demo", 1_000);
        assert_eq!(
            s.redeem_code(
                &set,
                &Redemption {
                    client_id: "demo-client",
                    secret_proven: false,
                    code: &code,
                    redirect_uri: REDIRECT,
                    code_verifier: None
                },
                2_000
            )
            .unwrap_err(),
            UpsError::missing_auth()
        );
    }

    #[test]
    fn refresh_rotates_and_password_change_revokes() {
        let (mut s, set) = setup();
        let code = s.issue_code(&set, &txn(None), "demo", 1_000);
        let t0 = s
            .redeem_code(
                &set,
                &Redemption {
                    client_id: "demo-client",
                    secret_proven: true,
                    code: &code,
                    redirect_uri: REDIRECT,
                    code_verifier: None,
                },
                1_000,
            )
            .unwrap();
        let t1 = s
            .refresh(&set, "demo-client", &t0.refresh_token, 2_000)
            .unwrap();
        assert_eq!(t1.refresh_count, "1");
        assert_ne!(t1.refresh_token, t0.refresh_token);
        let e = s
            .refresh(&set, "demo-client", &t0.refresh_token, 2_000)
            .unwrap_err();
        assert!(e.message.contains("already been used"));
        assert!(s.refresh(&set, "other", &t1.refresh_token, 2_000).is_err());
        let change = s.change_password("DEMO", "new").unwrap();
        assert_eq!(change.revoked_refresh_tokens, 1);
        assert_eq!(change.revoked_access_tokens, 2);
        assert!(s
            .refresh(&set, "demo-client", &t1.refresh_token, 3_000)
            .is_err());
        assert!(s.check_password("demo", "new"));
        assert!(!s.check_password("demo", "demo-password"));
        assert!(!s.check_password("nobody", "new"));
        assert!(s.change_password("nobody", "x").is_none());
        let stats = s.stats(3_000);
        assert_eq!(stats.active_access_tokens, 0);
        assert_eq!(stats.refresh_tokens_spent, 1);
        assert_eq!(stats.users["demo"].password_changes, 1);
    }

    #[test]
    fn client_authentication() {
        let (s, _) = setup();
        let ok = |id: &str, secret: &str| Some(Ok((id.to_owned(), secret.to_owned())));
        assert_eq!(
            s.authenticate(ok("demo-client", "demo-secret"), None, false),
            Ok(("demo-client".into(), true))
        );
        assert_eq!(
            s.authenticate(ok("demo-client", "nope"), None, false),
            Err(UpsError::invalid_client())
        );
        assert_eq!(
            s.authenticate(ok("demo-client", "demo-secret"), Some("other"), false),
            Err(UpsError::invalid_client())
        );
        assert_eq!(
            s.authenticate(Some(Err(())), None, true),
            Err(UpsError::missing_auth())
        );
        assert_eq!(
            s.authenticate(None, Some("demo-client"), false),
            Err(UpsError::missing_auth())
        );
        assert_eq!(
            s.authenticate(None, Some("demo-client"), true),
            Ok(("demo-client".into(), false))
        );
    }

    #[test]
    fn fingerprints_are_short_and_stable() {
        let f = token_fingerprint("abc");
        assert_eq!(f.len(), 12);
        assert_eq!(f, token_fingerprint("abc"));
        // SHA-256("abc") = ba7816bf8f01cfea…
        assert_eq!(f, "ba7816bf8f01");
    }
}
