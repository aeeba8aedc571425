//! The mock's memory and its rules: clients, users, sign-in transactions, authorization
//! codes, access and refresh tokens, counters. Every function takes `now` (ms since the
//! epoch) so the rules are testable without a clock; the HTTP layer (`crate::http`) only
//! parses requests and renders answers.
//!
//! Secrets (codes, tokens, transaction ids) are stored only as SHA-256 digests, so a map
//! lookup never compares a secret byte by byte; client secrets, passwords and PKCE
//! challenges are compared with [`subtle::ConstantTimeEq`].
//!
//! [`State`] is one struct behind one lock; its methods are spread over one file per
//! concern: `clients` (client authentication, redirect URIs), `signin` (sign-in
//! transactions, passwords), `codes` (authorization codes: issue, redeem, PKCE), `tokens`
//! (access and refresh tokens: issue, rotate, revoke), `data_api`, `control` (password
//! change, stats) and `prune` (bounding the maps).

mod clients;
mod codes;
mod control;
mod data_api;
mod prune;
mod signin;
#[cfg(test)]
mod tests;
mod tokens;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore as _;
use subtle::ConstantTimeEq as _;

use crate::config::{MockClient, MockConfig};
use crate::faults::Faults;

pub(crate) use codes::{valid_challenge, Redemption};
pub(crate) use control::PasswordChange;
pub(crate) use signin::{Step, Txn, MAX_PASSWORD_ATTEMPTS};
pub(crate) use tokens::TokenAnswer;

use codes::Code;
use prune::Prunings;
use tokens::{Access, Refresh};

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// `BASE64URL(SHA-256(secret))`. `pkce::code_challenge` is exactly this transform
/// (RFC 7636 §4.2), so it doubles as the mock's SHA-256 without another dependency.
fn digest(secret: &str) -> String {
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
pub(crate) fn random_secret(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Constant-time equality of two secrets of any length (compares their digests).
fn secret_eq(a: &str, b: &str) -> bool {
    digest(a).as_bytes().ct_eq(digest(b).as_bytes()).into()
}

fn ttl_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A registered demo user.
#[derive(Debug)]
struct User {
    /// The name as configured (shown on screens and in stats).
    name: String,
    password: String,
    password_changes: u64,
    codes_issued: u64,
    tokens_issued: u64,
    refreshes: u64,
    data_calls: u64,
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
    refreshes_refused: u64,
    data_calls_total: u64,
    data_calls_rejected: u64,
    data_calls_by_token: BTreeMap<String, u64>,
    faults_applied: u64,
    codes_replayed: u64,
}

/// What an endpoint was asked (for counters).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Request {
    ValidateClient,
    Authorize,
    Token,
    Refresh,
}

/// The whole mutable state, behind one `Mutex` in [`crate::MockUps`].
#[derive(Debug)]
pub(crate) struct State {
    clients: Vec<MockClient>,
    users: BTreeMap<String, User>,
    pub(crate) faults: Faults,
    txns: HashMap<String, Txn>,
    /// PKCE challenges `/authorize` received, by (client, redirect URI, state), until the
    /// sign-in they lead to starts (the Location carries only the spec's parameters).
    challenges: HashMap<String, (String, u64)>,
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
    pub(crate) fn new(config: &MockConfig) -> Self {
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
            challenges: HashMap::new(),
            codes: HashMap::new(),
            access: HashMap::new(),
            refresh: HashMap::new(),
            pruning: Prunings::default(),
            next_grant: 1,
            counters: Counters::default(),
        }
    }

    pub(crate) fn count(&mut self, request: Request) {
        let c = &mut self.counters;
        match request {
            Request::ValidateClient => c.validate_client_requests += 1,
            Request::Authorize => c.authorize_requests += 1,
            Request::Token => c.token_requests += 1,
            Request::Refresh => c.refresh_requests += 1,
        }
    }

    pub(crate) fn count_fault(&mut self) {
        self.counters.faults_applied += 1;
    }
}

fn count<I: Iterator>(it: I) -> u64 {
    u64::try_from(it.count()).unwrap_or(u64::MAX)
}
