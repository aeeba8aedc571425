//! Driving tests: the whole opt-in against an in-memory fake authorization server, with a tab
//! (widget side) and a host shell that executes the lifecycle's actions. Time only moves when a
//! test steps it, in the style of quinn-proto's `Pair::drive`.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use oauth2::{AccessToken, RefreshToken};
use token_manager_core::api::ConfigResponse;
use token_manager_core::config::ProviderConfig;
use token_manager_core::flow::ExchangeRequest;
use token_manager_core::flow::{
    code_challenge, strip_callback_params, CallbackError, CallbackParams, PendingAuthorization,
    DEFAULT_MAX_AGE,
};
use token_manager_core::history::{
    paginate, sort_newest_first, PerPage, RecordStatus, TokenRecord,
};
use token_manager_core::lifecycle::{Action, Authorization, Event, RefreshPolicy, REFRESH_EXPIRED};
use token_manager_core::token::{parse_token_response, ProviderError};
use token_manager_core::webhook::EventType;
use token_manager_core::{AuthorizationStatus, ErrorCode, Messages, ProviderErrorKind, Timestamp};
use url::Url;

/// What the host sends the token endpoint for a validated return (RFC 6749 §4.1.3).
struct TokenRequest {
    code: String,
    code_verifier: String,
    redirect_uri: String,
}

/// The host turns core's [`ExchangeRequest`] into its token request.
trait IntoTokenRequest {
    fn into_body(self) -> TokenRequest;
}

impl IntoTokenRequest for ExchangeRequest {
    fn into_body(self) -> TokenRequest {
        TokenRequest {
            code: self.code.into_secret(),
            code_verifier: self.code_verifier.into_secret(),
            redirect_uri: self.redirect_uri,
        }
    }
}

const HOUR: Duration = Duration::from_secs(3600);
const ACCESS_TTL: u64 = 14_399;
const REFRESH_TTL: u64 = 5_183_999;
const REDIRECT: &str = "http://127.0.0.1:8080/admin/token-manager";
const COMPANY: &str = "Demonstration Co";

/// An in-memory UPS-like authorization server.
#[derive(Default)]
struct FakeAs {
    /// code → (challenge, redirect_uri, issued_at, used)
    codes: HashMap<String, (String, String, Timestamp, bool)>,
    /// live refresh tokens → expiry
    refresh_tokens: HashMap<String, Timestamp>,
    serial: u32,
    /// Answer every token request with 503.
    down: bool,
    token_calls: u32,
}

impl FakeAs {
    /// The sign-in page: consent or decline; returns the redirect back to the portal.
    fn sign_in(&mut self, authorize: &Url, consent: bool, now: Timestamp) -> String {
        let q: BTreeMap<String, String> = authorize.query_pairs().into_owned().collect();
        // UPS's `/authorize` with exactly its documented parameters (OAuthAuthCode.yaml).
        assert_eq!(authorize.path(), "/security/v1/oauth/authorize");
        assert_eq!(q["response_type"], "code");
        let mut names: Vec<&str> = q.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "client_id",
                "code_challenge",
                "redirect_uri",
                "response_type",
                "scope",
                "state"
            ]
        );
        let mut back = Url::parse(&q["redirect_uri"]).unwrap();
        if consent {
            self.serial += 1;
            let code = format!("code-{}", self.serial);
            self.codes.insert(
                code.clone(),
                (
                    q["code_challenge"].clone(),
                    q["redirect_uri"].clone(),
                    now,
                    false,
                ),
            );
            back.query_pairs_mut()
                .append_pair("code", &code)
                .append_pair("state", &q["state"]);
        } else {
            back.query_pairs_mut()
                .append_pair("error", "access_denied")
                .append_pair("error_description", "The user declined")
                .append_pair("state", &q["state"]);
        }
        back.to_string()
    }

    fn issue(&mut self, now: Timestamp) -> (u16, Vec<u8>) {
        self.serial += 1;
        let rt = format!("rt-{}", self.serial);
        self.refresh_tokens
            .insert(rt.clone(), now.add(Duration::from_secs(REFRESH_TTL)));
        let body = serde_json::json!({
            "token_type": "Bearer", "issued_at": now.as_millis().to_string(), "client_id": "demo-client",
            "access_token": format!("at-{}", self.serial), "refresh_token": rt,
            "expires_in": ACCESS_TTL.to_string(), "refresh_token_expires_in": REFRESH_TTL.to_string(),
            "refresh_token_issued_at": now.as_millis().to_string(), "refresh_token_status": "approved",
            "refresh_count": "0", "status": "approved", "scope": "read",
        });
        (200, serde_json::to_vec(&body).unwrap())
    }

    fn ups_error(status: u16, code: &str, message: &str) -> (u16, Vec<u8>) {
        let body =
            serde_json::json!({"response": {"errors": [{"code": code, "message": message}]}});
        (status, serde_json::to_vec(&body).unwrap())
    }

    /// `POST /security/v1/oauth/token`.
    fn token(&mut self, body: &TokenRequest, now: Timestamp) -> (u16, Vec<u8>) {
        self.token_calls += 1;
        if self.down {
            return (503, b"<html>Service Unavailable</html>".to_vec());
        }
        let Some(entry) = self.codes.get_mut(&body.code) else {
            return Self::ups_error(400, "10400", "Authorization code is invalid");
        };
        let (challenge, redirect, issued, used) = entry.clone();
        entry.3 = true;
        if used || now.since(issued) > Duration::from_secs(300) {
            return Self::ups_error(400, "10400", "Authorization code is invalid or has expired");
        }
        if redirect != body.redirect_uri || code_challenge(&body.code_verifier) != challenge {
            return Self::ups_error(400, "10400", "Invalid authorization code for this request");
        }
        self.issue(now)
    }

    /// `POST /security/v1/oauth/refresh`: refresh tokens rotate (a used one is dead).
    fn refresh(&mut self, rt: &RefreshToken, now: Timestamp) -> (u16, Vec<u8>) {
        self.token_calls += 1;
        if self.down {
            return (503, Vec::new());
        }
        match self.refresh_tokens.remove(rt.secret()) {
            Some(expiry) if expiry > now => self.issue(now),
            _ => Self::ups_error(400, "10400", "Invalid Refresh Token"),
        }
    }

    /// The UPS.com password changed: every refresh token dies.
    fn password_changed(&mut self) {
        self.refresh_tokens.clear();
    }
}

/// The host shell: executes actions, keeps tokens and history.
struct Host {
    auth: Authorization,
    tokens: Option<(AccessToken, Option<RefreshToken>)>,
    records: Vec<TokenRecord>,
    timer: Option<Timestamp>,
    retrieving: bool,
    revocations: u32,
    policy: RefreshPolicy,
}

impl Host {
    fn new() -> Self {
        Self {
            auth: Authorization::NotAuthorized,
            tokens: None,
            records: Vec::new(),
            timer: None,
            retrieving: false,
            revocations: 0,
            policy: RefreshPolicy::default(),
        }
    }

    fn feed(
        &mut self,
        event: Event,
        pending_tokens: Option<(AccessToken, Option<RefreshToken>)>,
        now: Timestamp,
    ) {
        let (next, actions) = std::mem::replace(&mut self.auth, Authorization::NotAuthorized)
            .handle(event, now, &self.policy);
        self.auth = next;
        let mut pending_tokens = pending_tokens;
        for action in actions {
            match action {
                Action::StoreTokens => {
                    self.tokens = Some(
                        pending_tokens
                            .take()
                            .expect("StoreTokens comes with a grant"),
                    )
                }
                Action::SupersedeRecords => {
                    for r in self
                        .records
                        .iter_mut()
                        .filter(|r| r.status == RecordStatus::Active)
                    {
                        r.status = RecordStatus::Refreshed;
                    }
                }
                Action::AppendRecord(t) => {
                    let id = self.records.len() as i64 + 1;
                    self.records.push(TokenRecord {
                        id,
                        company: COMPANY.into(),
                        token_created: t.token_created,
                        token_expires: t.token_expires,
                        refresh_created: t.refresh_created,
                        refresh_expires: t.refresh_expires,
                        status: RecordStatus::Active,
                        cleared_at: None,
                        authorized_by: Some("admin".into()),
                        cleared_by: None,
                        superseded_by: None,
                        revocation: None,
                    });
                }
                Action::ScheduleRefresh { at } | Action::RetryRefresh { at, .. } => {
                    self.timer = Some(at)
                }
                // The portal retrieves from the grant on, and stops when it hears the end.
                Action::Notify(EventType::Granted) => self.retrieving = true,
                Action::Notify(EventType::Invalidated | EventType::Cleared) => {
                    self.retrieving = false;
                    self.timer = None;
                }
                Action::Notify(_) => {}
                Action::RevokeTokens => self.revocations += 1,
                Action::WipeTokens => self.tokens = None,
                Action::MarkCleared { at } => {
                    for r in self
                        .records
                        .iter_mut()
                        .filter(|r| r.status == RecordStatus::Active)
                    {
                        r.status = RecordStatus::Cleared;
                        r.cleared_at = Some(at);
                    }
                }
                Action::MarkInvalidated => {
                    for r in self
                        .records
                        .iter_mut()
                        .filter(|r| r.status == RecordStatus::Active)
                    {
                        r.status = RecordStatus::Invalidated;
                    }
                }
                other => panic!("unexpected action {other:?}"),
            }
        }
    }

    /// `POST /exchange`.
    fn exchange(
        &mut self,
        server: &mut FakeAs,
        body: &TokenRequest,
        now: Timestamp,
    ) -> Result<(), ProviderError> {
        let (status, answer) = server.token(body, now);
        let grant = parse_token_response(status, &answer, now)?;
        let tokens = (grant.access_token.clone(), grant.refresh_token.clone());
        self.feed(Event::Granted(grant.times()), Some(tokens), now);
        Ok(())
    }

    /// The refresher's tick.
    fn refresh(&mut self, server: &mut FakeAs, now: Timestamp) {
        self.timer = None;
        let Some((_, Some(rt))) = &self.tokens else {
            return;
        };
        let (status, answer) = server.refresh(rt, now);
        match parse_token_response(status, &answer, now) {
            Ok(grant) => {
                let tokens = (grant.access_token.clone(), grant.refresh_token.clone());
                self.feed(Event::Refreshed(grant.times()), Some(tokens), now);
            }
            Err(e) => self.feed(Event::RefreshFailed(e), None, now),
        }
    }

    fn page(&self, page: u32, per_page: PerPage, now: Timestamp) -> (String, Vec<RecordStatus>) {
        let mut rows = self.records.clone();
        sort_newest_first(&mut rows);
        let (w, rows) = paginate(&rows, page, per_page);
        (
            w.range_label(),
            rows.iter().map(|r| r.status_at(now)).collect(),
        )
    }
}

/// Browser tab + host + fake UPS, one clock.
struct Pair {
    now: Timestamp,
    server: FakeAs,
    host: Host,
    config: ConfigResponse,
    entropy_counter: u8,
}

impl Pair {
    fn new() -> Self {
        let provider =
            ProviderConfig::ups("http://127.0.0.1:8081", "demo-client", REDIRECT).unwrap();
        Self {
            now: Timestamp(1_795_957_509_123),
            server: FakeAs::default(),
            host: Host::new(),
            config: provider.public(),
            entropy_counter: 0,
        }
    }

    fn step(&mut self, d: Duration) {
        self.now = self.now.add(d);
    }

    /// Run the host's timers up to `now + d`, in order.
    fn drive(&mut self, d: Duration) {
        let until = self.now.add(d);
        while let Some(at) = self.host.timer.filter(|&at| at <= until) {
            self.now = self.now.max(at);
            self.host.refresh(&mut self.server, self.now);
        }
        self.now = until;
    }

    fn authorize(&mut self) -> (Url, PendingAuthorization) {
        self.entropy_counter += 1;
        let entropy = [self.entropy_counter; 64];
        PendingAuthorization::start(
            &self.config,
            &entropy,
            self.now,
            COMPANY,
            Some("/admin/token-manager"),
        )
        .unwrap()
    }

    /// Authorize → sign in → return → exchange, with `think` between Authorize and the return.
    fn opt_in(&mut self, consent: bool, think: Duration) -> Result<(), ErrorCode> {
        let (url, pending) = self.authorize();
        self.step(think);
        let back = self.server.sign_in(&url, consent, self.now);
        let params = CallbackParams::parse(&back)
            .unwrap()
            .expect("an OAuth return");
        assert_eq!(strip_callback_params(&back), REDIRECT);
        let exchange = pending
            .handle_callback(params, self.now, DEFAULT_MAX_AGE)
            .map_err(|e| e.error_code())?;
        self.step(Duration::from_millis(300));
        let body = exchange.into_body();
        self.host
            .exchange(&mut self.server, &body, self.now)
            .map_err(|e| e.error_code())
    }
}

#[test]
fn opt_in_then_a_day_of_refreshes() {
    let mut p = Pair::new();
    p.opt_in(true, Duration::from_secs(20)).unwrap();
    assert_eq!(p.host.auth.status(), AuthorizationStatus::Active);
    assert!(p.host.retrieving);
    assert_eq!(
        p.host.page(1, PerPage::Ten, p.now),
        ("1-1 of 1".into(), vec![RecordStatus::Active])
    );

    p.drive(HOUR * 24);
    // 4-hour tokens refreshed 5 minutes early: 6 refreshes in 24 hours.
    assert_eq!(p.host.records.len(), 7);
    let (label, statuses) = p.host.page(1, PerPage::Ten, p.now);
    assert_eq!(label, "1-7 of 7");
    assert_eq!(statuses[0], RecordStatus::Active);
    assert!(statuses[1..].iter().all(|s| *s == RecordStatus::Refreshed));
    // No access token was ever allowed to lapse.
    let mut rows = p.host.records.clone();
    rows.sort_by_key(|r| r.id);
    for pair in rows.windows(2) {
        assert!(pair[1].token_created < pair[0].token_expires);
    }
    assert_eq!(
        p.server.refresh_tokens.len(),
        1,
        "used refresh tokens are rotated out"
    );
}

#[test]
fn consent_declined_creates_nothing() {
    let mut p = Pair::new();
    assert_eq!(
        p.opt_in(false, Duration::from_secs(5)),
        Err(ErrorCode::ConsentDeclined)
    );
    assert_eq!(p.host.auth.status(), AuthorizationStatus::NotAuthorized);
    assert!(p.host.records.is_empty());
    assert_eq!(p.server.token_calls, 0);
    assert_eq!(
        Messages::default().error(ErrorCode::ConsentDeclined),
        "Authorization was declined at UPS.com. No token was created."
    );
}

#[test]
fn slow_user_gets_expired_attempt() {
    let mut p = Pair::new();
    assert_eq!(
        p.opt_in(true, Duration::from_secs(11 * 60)),
        Err(ErrorCode::ExpiredAttempt)
    );
    assert_eq!(
        p.server.token_calls, 0,
        "an expired attempt never reaches the token endpoint"
    );
}

#[test]
fn return_for_another_tab_is_rejected() {
    let mut p = Pair::new();
    let (url_a, _pending_a) = p.authorize();
    let (_url_b, pending_b) = p.authorize();
    let back = p.server.sign_in(&url_a, true, p.now);
    let params = CallbackParams::parse(&back).unwrap().unwrap();
    let err = pending_b
        .handle_callback(params, p.now, DEFAULT_MAX_AGE)
        .unwrap_err();
    assert_eq!(err, CallbackError::StateMismatch);
    assert_eq!(err.error_code(), ErrorCode::StateMismatch);
}

#[test]
fn replayed_code_is_invalid_grant() {
    let mut p = Pair::new();
    let (url, pending) = p.authorize();
    let back = p.server.sign_in(&url, true, p.now);
    let body = pending
        .handle_callback(
            CallbackParams::parse(&back).unwrap().unwrap(),
            p.now,
            DEFAULT_MAX_AGE,
        )
        .unwrap()
        .into_body();
    p.host.exchange(&mut p.server, &body, p.now).unwrap();
    let err = p.host.exchange(&mut p.server, &body, p.now).unwrap_err();
    assert_eq!(err.kind, ProviderErrorKind::InvalidGrant);
    assert_eq!(err.error_code(), ErrorCode::InvalidGrant);
    assert_eq!(p.host.records.len(), 1);
}

#[test]
fn stolen_code_without_verifier_is_refused() {
    let mut p = Pair::new();
    let (url, pending) = p.authorize();
    let back = p.server.sign_in(&url, true, p.now);
    let mut body = pending
        .handle_callback(
            CallbackParams::parse(&back).unwrap().unwrap(),
            p.now,
            DEFAULT_MAX_AGE,
        )
        .unwrap()
        .into_body();
    body.code_verifier = "attacker-guess-attacker-guess-attacker-guess".into();
    assert_eq!(
        p.host
            .exchange(&mut p.server, &body, p.now)
            .unwrap_err()
            .kind,
        ProviderErrorKind::InvalidGrant
    );
}

#[test]
fn password_change_invalidates_at_next_refresh() {
    let mut p = Pair::new();
    p.opt_in(true, Duration::from_secs(10)).unwrap();
    p.drive(HOUR);
    p.server.password_changed();
    p.drive(HOUR * 4);
    assert_eq!(p.host.auth.status(), AuthorizationStatus::Invalidated);
    assert_eq!(p.host.auth.reason(), Some("invalid_grant"));
    assert!(p.host.tokens.is_none(), "tokens wiped");
    assert!(!p.host.retrieving, "retrieval stopped");
    assert_eq!(p.host.timer, None);
    assert_eq!(
        p.host.page(1, PerPage::Ten, p.now).1,
        vec![RecordStatus::Invalidated]
    );
    // Opt in again: Active with a new row on top.
    p.opt_in(true, Duration::from_secs(10)).unwrap();
    assert_eq!(
        p.host.page(1, PerPage::Ten, p.now).1,
        vec![RecordStatus::Active, RecordStatus::Invalidated]
    );
}

#[test]
fn outage_is_ridden_out_with_backoff() {
    let mut p = Pair::new();
    p.opt_in(true, Duration::from_secs(10)).unwrap();
    let first_expiry = p.host.records[0].token_expires;
    p.server.down = true;
    p.drive(HOUR * 5); // past the access token's expiry
    assert_eq!(
        p.host.auth.status(),
        AuthorizationStatus::Active,
        "still within the refresh token's life"
    );
    assert!(p.now > first_expiry);
    assert_eq!(
        p.host.page(1, PerPage::Ten, p.now).1,
        vec![RecordStatus::Expired]
    );
    let calls_during_outage = p.server.token_calls;
    // 5 s, 10 s, … capped at 5 min: roughly 12 retries/hour after the first few.
    assert!(
        (10..40).contains(&calls_during_outage),
        "{calls_during_outage}"
    );
    p.server.down = false;
    p.drive(Duration::from_secs(301));
    assert_eq!(p.host.auth.status(), AuthorizationStatus::Active);
    assert_eq!(
        p.host.page(1, PerPage::Ten, p.now).1,
        vec![RecordStatus::Active, RecordStatus::Refreshed]
    );
}

#[test]
fn outage_longer_than_the_refresh_token_invalidates() {
    let mut p = Pair::new();
    p.opt_in(true, Duration::from_secs(10)).unwrap();
    p.server.down = true;
    p.drive(Duration::from_secs(REFRESH_TTL + 3600));
    assert_eq!(p.host.auth.status(), AuthorizationStatus::Invalidated);
    assert_eq!(p.host.auth.reason(), Some(REFRESH_EXPIRED));
    assert!(p.host.tokens.is_none());
}

#[test]
fn clear_stops_everything_and_keeps_the_audit_trail() {
    let mut p = Pair::new();
    p.opt_in(true, Duration::from_secs(10)).unwrap();
    p.drive(HOUR * 8);
    let before = p.host.records.len();
    p.host.feed(Event::Cleared, None, p.now);
    assert_eq!(p.host.auth.status(), AuthorizationStatus::Cleared);
    assert!(!p.host.retrieving && p.host.tokens.is_none() && p.host.timer.is_none());
    assert_eq!(p.host.revocations, 1);
    assert_eq!(p.host.records.len(), before);
    assert_eq!(
        p.host.page(1, PerPage::Ten, p.now).1[0],
        RecordStatus::Cleared
    );
    assert!(p.host.records.iter().any(|r| r.cleared_at == Some(p.now)));
    // A refresh that raced the Clear changes nothing.
    let (status, body) = p.server.issue(p.now);
    let late = parse_token_response(status, &body, p.now).unwrap();
    p.host.feed(Event::Refreshed(late.times()), None, p.now);
    assert_eq!(p.host.auth.status(), AuthorizationStatus::Cleared);
    assert!(p.host.tokens.is_none());
    // Nothing more happens, however long we wait.
    let calls = p.server.token_calls;
    p.drive(HOUR * 48);
    assert_eq!(p.server.token_calls, calls);
}

#[test]
fn history_pages_after_many_refreshes() {
    let mut p = Pair::new();
    p.opt_in(true, Duration::from_secs(10)).unwrap();
    p.drive(HOUR * 24 * 4); // 4 days ≈ 25 rows
    let n = p.host.records.len();
    assert_eq!(n, 25);
    assert_eq!(p.host.page(1, PerPage::Ten, p.now).0, "1-10 of 25");
    assert_eq!(p.host.page(3, PerPage::Ten, p.now).0, "21-25 of 25");
    assert_eq!(p.host.page(9, PerPage::Ten, p.now).0, "21-25 of 25");
    assert_eq!(p.host.page(1, PerPage::TwentyFive, p.now).0, "1-25 of 25");
}
