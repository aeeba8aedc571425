//! Sign-in transactions (Log In → Password, kept server-side under a random id) and the
//! users' passwords.

use url::Url;

use super::{digest, random_secret, secret_eq, user_key, State};

/// How long a sign-in transaction (Log In → Password) stays usable.
const TXN_TTL_MS: u64 = 15 * 60 * 1000;
/// Wrong passwords allowed in one sign-in transaction before it is ended with `access_denied`.
pub(crate) const MAX_PASSWORD_ATTEMPTS: u32 = 5;

/// Where a sign-in transaction stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Log In screen: asks for Email or Username and the agreement.
    Identify,
    /// Password screen for the username typed (which may not exist: the mock does not tell).
    Password { typed: String },
}

/// One sign-in, from `GET /lasso/signin` to the redirect back (kept server-side; the page
/// only carries its random id).
#[derive(Clone, Debug)]
pub(crate) struct Txn {
    pub(crate) client_id: String,
    pub(crate) redirect_uri: Url,
    pub(crate) state: Option<String>,
    pub(crate) scope: String,
    pub(crate) challenge: Option<String>,
    pub(crate) created_ms: u64,
    pub(crate) step: Step,
    pub(crate) failed_passwords: u32,
}

impl State {
    /// Start a sign-in; returns its id (to be put in the page's hidden field).
    /// Keep the PKCE challenge `/authorize` received for the sign-in it redirects to (at most
    /// [`TXN_TTL_MS`], bounded: the oldest go first past 10,000).
    pub(crate) fn remember_challenge(
        &mut self,
        client_id: &str,
        redirect_uri: &str,
        state: &str,
        challenge: &str,
        now: u64,
    ) {
        self.challenges
            .retain(|_, (_, at)| now.saturating_sub(*at) < TXN_TTL_MS);
        if self.challenges.len() >= 10_000 {
            if let Some(oldest) = self
                .challenges
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(k, _)| k.clone())
            {
                self.challenges.remove(&oldest);
            }
        }
        self.challenges.insert(
            digest(&format!("{client_id}\n{redirect_uri}\n{state}")),
            (challenge.to_owned(), now),
        );
    }

    /// The challenge `/authorize` kept for this sign-in, taken (single use).
    pub(crate) fn take_challenge(
        &mut self,
        client_id: &str,
        redirect_uri: &str,
        state: &str,
        now: u64,
    ) -> Option<String> {
        let (c, at) = self
            .challenges
            .remove(&digest(&format!("{client_id}\n{redirect_uri}\n{state}")))?;
        (now.saturating_sub(at) < TXN_TTL_MS).then_some(c)
    }

    pub(crate) fn start_txn(&mut self, txn: Txn) -> String {
        let now = txn.created_ms;
        self.pruning.txns.run(&mut self.txns, |_, t| {
            now.saturating_sub(t.created_ms) < TXN_TTL_MS
        });
        let id = random_secret(24);
        self.txns.insert(digest(&id), txn);
        id
    }

    /// The live transaction with this id (expired ones are removed).
    pub(crate) fn txn(&mut self, id: &str, now: u64) -> Option<Txn> {
        let key = digest(id);
        let t = self.txns.get(&key)?;
        if now.saturating_sub(t.created_ms) >= TXN_TTL_MS {
            self.txns.remove(&key);
            return None;
        }
        Some(t.clone())
    }

    pub(crate) fn update_txn(&mut self, id: &str, txn: Txn) {
        self.txns.insert(digest(id), txn);
    }

    pub(crate) fn end_txn(&mut self, id: &str) -> Option<Txn> {
        self.txns.remove(&digest(id))
    }

    /// The display name of a configured user, if `typed` names one.
    pub(crate) fn known_user(&self, typed: &str) -> Option<&str> {
        self.users.get(&user_key(typed)).map(|u| u.name.as_str())
    }

    /// Check a password in constant time (also for unknown users).
    pub(crate) fn check_password(&self, typed_user: &str, password: &str) -> bool {
        let user = self.users.get(&user_key(typed_user));
        let expected = user.map_or("\u{0}no-such-user", |u| u.password.as_str());
        let ok = secret_eq(password, expected);
        user.is_some() && ok
    }

    pub(crate) fn count_declined(&mut self) {
        self.counters.signins_declined += 1;
    }
}
