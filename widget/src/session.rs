//! The portal session the panel's host calls carry: a session token (the `sessionToken`
//! option, or what `getSessionToken` resolves to), or the portal's cookies when there is none.
//!
//! ```text
//!  sessionToken prop ──────────────▶ current token ──▶ Auth::Bearer on every call
//!  getSessionToken() ─▶ one renewal ─┘     ▲  │
//!      ▲    (shared by every caller,       │  └─ expiresAt known: renew RENEW_BEFORE_MS earlier
//!      │     RENEWAL_TIMEOUT_MS at most)   │
//!      └─ a call answered `unauthenticated` (then that call is retried once)
//!      └─ no token yet (first call)
//! ```
//!
//! A generation number tells a call whether the token it was sent with is still the current
//! one: when several calls fail with the same token, the first starts the renewal and the
//! others wait for it (or find it done) instead of asking again.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use gloo_timers::callback::Timeout;
use token_manager_core::Timestamp;
use wasm_bindgen_futures::spawn_local;
use yew::Callback;

use crate::io::{Auth, Browser, LocalFuture, SessionToken};

/// A fresh session token from the embedding page, and when it expires, if it said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionGrant {
    /// The token.
    pub token: SessionToken,
    /// When the token expires (the panel renews it [`RENEW_BEFORE_MS`] earlier).
    pub expires_at: Option<Timestamp>,
}

/// The embedding page's way to get a fresh session token from the portal's backend
/// (`getSessionToken` in JavaScript). Resolves to `None` when it failed.
pub type GetSessionToken = Callback<(), LocalFuture<Option<SessionGrant>>>;

/// A token whose expiry is known is renewed this long before it (ms).
pub const RENEW_BEFORE_MS: i64 = 60_000;
/// A token that lives less than [`RENEW_BEFORE_MS`] is renewed at half its remaining life, but
/// never sooner than this (ms), so short-lived tokens cannot make the panel ask in a loop.
const MIN_RENEW_DELAY_MS: i64 = 1_000;
/// `getSessionToken` gets this long (ms) before the calls waiting for it fail.
const RENEWAL_TIMEOUT_MS: u32 = 15_000;
/// The longest delay `setTimeout` honours (a longer one fires at once).
const MAX_TIMER_MS: i64 = i32::MAX as i64;

/// The session of one panel (it outlives the panel's runs: a new company keeps the token).
/// Cheap to clone; every clone is the same session.
#[derive(Clone, Default)]
pub(crate) struct Session(Rc<RefCell<Inner>>);

#[derive(Default)]
struct Inner {
    /// What calls carry; `None`: cookies, or a first token to get.
    token: Option<SessionToken>,
    /// Bumped whenever `token` changes.
    generation: u32,
    /// The `sessionToken` prop as last seen (a new value replaces `token`).
    prop: Option<SessionToken>,
    /// The `getSessionToken` prop.
    get: Option<GetSessionToken>,
    /// The renewal in flight.
    renewal: Option<Rc<Renewal>>,
    /// The renewal scheduled before the current token expires.
    timer: Option<Timeout>,
    /// The panel is gone: schedule nothing more.
    stopped: bool,
}

/// One `getSessionToken` call, awaited by every call that needs its result.
#[derive(Default)]
struct Renewal {
    /// The generation it started from.
    from: Cell<u32>,
    done: Cell<bool>,
    /// It produced a token (or a newer one came meanwhile).
    renewed: Cell<bool>,
    wakers: RefCell<Vec<Waker>>,
    /// Ends it if `getSessionToken` never settles.
    deadline: RefCell<Option<Timeout>>,
}

/// Resolves when the renewal is done.
struct Done(Rc<Renewal>);

impl Future for Done {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.done.get() {
            Poll::Ready(())
        } else {
            self.0.wakers.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        }
    }
}

impl Session {
    /// The latest props (every render): a new `token` replaces the current one, without
    /// restarting anything; `get` is used from the next renewal on.
    pub(crate) fn set_props(&self, token: Option<&SessionToken>, get: Option<&GetSessionToken>) {
        let mut inner = self.0.borrow_mut();
        inner.get = get.cloned();
        if inner.prop.as_ref() != token {
            inner.prop = token.cloned();
            inner.token = token.cloned();
            inner.generation = inner.generation.wrapping_add(1);
            // The page's token has no known expiry.
            inner.timer = None;
        }
    }

    /// The panel is gone: no more scheduled renewals.
    pub(crate) fn stop(&self) {
        let mut inner = self.0.borrow_mut();
        inner.stopped = true;
        inner.timer = None;
    }

    /// What the next call carries, and the generation to hand to [`renew`](Self::renew) if it
    /// is refused. With no token but a `getSessionToken`, a first token is fetched (or the
    /// fetch in flight awaited); `None` when that failed.
    pub(crate) async fn auth(&self, browser: &Rc<dyn Browser>) -> Option<(Auth, u32)> {
        let (needs_token, generation) = {
            let inner = self.0.borrow();
            (
                inner.token.is_none() && inner.get.is_some(),
                inner.generation,
            )
        };
        if needs_token {
            self.renew(generation, browser).await;
        }
        let inner = self.0.borrow();
        let auth = match &inner.token {
            Some(token) => Auth::Bearer(token.clone()),
            None if inner.get.is_some() => return None,
            None => Auth::Cookies,
        };
        Some((auth, inner.generation))
    }

    /// A call sent with generation `seen` was refused: get a new token, unless one already
    /// replaced it. `true` when the call should be retried (there is a newer token, or the
    /// page's token changed meanwhile).
    pub(crate) async fn renew(&self, seen: u32, browser: &Rc<dyn Browser>) -> bool {
        let renewal = {
            let inner = self.0.borrow();
            if inner.generation != seen {
                return true;
            }
            match (&inner.renewal, &inner.get) {
                (Some(renewal), _) => Some(renewal.clone()),
                (None, Some(_)) => None,
                (None, None) => return false,
            }
        };
        let renewal = match renewal {
            Some(renewal) => renewal,
            None => self.start_renewal(browser),
        };
        Done(renewal.clone()).await;
        renewal.renewed.get()
    }

    /// Call `getSessionToken` (no borrow is held meanwhile: the page's function may update the
    /// panel synchronously).
    fn start_renewal(&self, browser: &Rc<dyn Browser>) -> Rc<Renewal> {
        let renewal = Rc::new(Renewal::default());
        let get = {
            let mut inner = self.0.borrow_mut();
            renewal.from.set(inner.generation);
            inner.renewal = Some(renewal.clone());
            inner.get.clone()
        };
        let deadline = {
            let (session, renewal, browser) = (self.clone(), renewal.clone(), browser.clone());
            Timeout::new(RENEWAL_TIMEOUT_MS, move || {
                // Deferred: finishing drops this very timer.
                spawn_local(async move { session.finish(&renewal, None, &browser) });
            })
        };
        *renewal.deadline.borrow_mut() = Some(deadline);
        let answer = get.map(|get| get.emit(()));
        let (session, pending, browser) = (self.clone(), renewal.clone(), browser.clone());
        spawn_local(async move {
            let grant = match answer {
                Some(answer) => answer.await,
                None => None,
            };
            session.finish(&pending, grant, &browser);
        });
        renewal
    }

    /// The renewal's outcome (the first one counts: the answer or the deadline).
    fn finish(
        &self,
        renewal: &Rc<Renewal>,
        grant: Option<SessionGrant>,
        browser: &Rc<dyn Browser>,
    ) {
        if renewal.done.replace(true) {
            return;
        }
        let deadline = renewal.deadline.borrow_mut().take();
        {
            let mut inner = self.0.borrow_mut();
            if inner
                .renewal
                .as_ref()
                .is_some_and(|r| Rc::ptr_eq(r, renewal))
            {
                inner.renewal = None;
            }
            if inner.generation != renewal.from.get() {
                // The page set a token meanwhile: it wins, and the caller retries with it.
                renewal.renewed.set(true);
            } else if let Some(grant) = grant {
                inner.token = Some(grant.token);
                inner.generation = inner.generation.wrapping_add(1);
                renewal.renewed.set(true);
                inner.timer = None;
                if !inner.stopped {
                    if let Some(at) = grant.expires_at {
                        inner.timer = self.schedule(at, inner.generation, browser);
                    }
                }
            }
        }
        // Dropped outside the borrow.
        drop(deadline);
        for waker in renewal.wakers.take() {
            waker.wake();
        }
    }

    /// A timer that renews the token of `generation` before it expires at `at`.
    fn schedule(
        &self,
        at: Timestamp,
        generation: u32,
        browser: &Rc<dyn Browser>,
    ) -> Option<Timeout> {
        let remaining = at.as_millis().saturating_sub(browser.now().as_millis());
        if remaining <= 0 {
            web_sys::console::warn_1(
                &"token-manager: getSessionToken's expiresAt is not in the future (it is in ms since the epoch); the token is renewed when the host refuses it"
                    .into(),
            );
            return None;
        }
        let delay = renewal_delay(remaining);
        let weak: Weak<RefCell<Inner>> = Rc::downgrade(&self.0);
        let browser = browser.clone();
        // The delay is clamped to `MAX_TIMER_MS`, which fits a u32.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let delay = delay as u32;
        Some(Timeout::new(delay, move || {
            let Some(inner) = weak.upgrade() else { return };
            let session = Session(inner);
            spawn_local(async move {
                session.renew(generation, &browser).await;
            });
        }))
    }
}

/// How long (ms) to wait before renewing a token with `remaining` ms to live: until
/// [`RENEW_BEFORE_MS`] before its expiry, or half its life when it is shorter (at least
/// [`MIN_RENEW_DELAY_MS`]); at most what a browser timer can wait.
fn renewal_delay(remaining: i64) -> i64 {
    let delay = if remaining > RENEW_BEFORE_MS + MIN_RENEW_DELAY_MS {
        remaining - RENEW_BEFORE_MS
    } else {
        (remaining / 2).max(MIN_RENEW_DELAY_MS)
    };
    delay.min(MAX_TIMER_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_comes_a_minute_early_and_never_in_a_loop() {
        assert_eq!(renewal_delay(15 * 60_000), 14 * 60_000);
        assert_eq!(renewal_delay(60_000 + 1_500), 1_500);
        // Shorter than the margin: half of what is left, at least a second.
        assert_eq!(renewal_delay(30_000), 15_000);
        assert_eq!(renewal_delay(1_000), 1_000);
        assert_eq!(renewal_delay(10), 1_000);
        // Browser timers cannot wait longer than 2^31-1 ms.
        assert_eq!(renewal_delay(i64::MAX), i64::from(i32::MAX));
    }
}
