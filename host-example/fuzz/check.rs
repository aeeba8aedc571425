//! The checks of the `api_bodies` fuzz target, shared with the corpus replay in
//! `host-example/tests/host/hostile.rs` (`#[path]`-included by both, so CI replays the corpus on
//! stable with exactly the fuzzer's assertions).
//!
//! Input: one selector byte, then the bytes a client sent. Selector `% 3`: `0` an `/exchange`
//! body (deserialised as the handler does, then [`validate_exchange`]), `1` a `/clear` body,
//! `2` the query string of `/tokens`. Whatever the bytes, nothing panics, a rejection is a 4xx
//! with a stable code and a bounded message, and an accepted exchange body satisfies every rule
//! the host promises before it looks the state up (code VSCHAR 1-2048, state VSCHAR 1-128).

use std::sync::{Arc, OnceLock};

use axum::extract::Query;
use axum::http::{StatusCode, Uri};
use axum::Json;
use host_example::access::{Access, ApiKeys, SessionSigner};
use host_example::config::{HostConfig, HttpLimits};
use host_example::crypto::{TokenCipher, TokenKey};
use host_example::ops::{validate_exchange, MAX_CODE, MAX_STATE};
use host_example::provider::Provider;
use host_example::store::SqliteStore;
use host_example::{AppError, AppState};
use oauth2::ClientSecret;
use token_manager_core::api::{ApiErrorBody, ClearBody, ExchangeBody, TokensQuery};
use token_manager_core::config::ProviderConfig;
use token_manager_core::ErrorCode;

/// The redirect URI the checked host allows.
pub(crate) const REDIRECT: &str = "http://127.0.0.1:8080/admin/token-manager";

/// A host state (no network is ever used: validation runs before any provider call).
pub(crate) fn state() -> &'static AppState {
    static STATE: OnceLock<AppState> = OnceLock::new();
    STATE.get_or_init(|| {
        let config = HostConfig::new(url::Url::parse("http://127.0.0.1:8080").expect("static URL"));
        let provider = Provider::new(
            ProviderConfig::ups("http://127.0.0.1:9", "demo-client", REDIRECT)
                .expect("static provider config"),
            ClientSecret::new("fuzz-secret".into()),
            HttpLimits::default(),
            None,
        )
        .expect("an HTTP client builds");
        let key = TokenKey::generate();
        let store = SqliteStore::open_in_memory(TokenCipher::new(&key))
            .expect("an in-memory database opens");
        let access = Access {
            api_keys: ApiKeys::new([ApiKeys::generate().as_str()], "fuzz")
                .expect("a generated key has the right shape"),
            sessions: SessionSigner::new(&key, &[]),
        };
        AppState::new(
            config,
            provider,
            Arc::new(store),
            access,
            host_example::webhooks::Webhooks::disabled(),
        )
    })
}

/// Run one input through the parser it selects; panics if a promise is broken.
pub(crate) fn check(data: &[u8]) {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    match selector % 3 {
        0 => exchange(body),
        1 => clear(body),
        _ => tokens_query(body),
    }
}

fn exchange(body: &[u8]) {
    let parsed = match Json::<ExchangeBody>::from_bytes(body) {
        Ok(Json(b)) => b,
        Err(rejection) => return refused(&AppError::from(rejection), &[ErrorCode::InvalidRequest]),
    };
    match validate_exchange(&parsed) {
        Ok(()) => {
            let code = parsed.code.as_bytes();
            assert!((1..=MAX_CODE).contains(&code.len()));
            assert!(code.iter().all(|b| (0x21..=0x7e).contains(b)));
            let s = parsed.state.as_bytes();
            assert!((1..=MAX_STATE).contains(&s.len()));
            assert!(s.iter().all(|b| (0x21..=0x7e).contains(b)));
        }
        Err(e) => refused(&AppError::from(e), &[ErrorCode::InvalidRequest]),
    }
}

fn clear(body: &[u8]) {
    match Json::<ClearBody>::from_bytes(body) {
        Ok(Json(b)) => {
            // The handler's only check: the company is configured (ids are a-z 0-9 - _).
            if state().config().companies.get(&b.company).is_some() {
                assert!(b.company.bytes().all(|c| c.is_ascii_lowercase()
                    || c.is_ascii_digit()
                    || c == b'-'
                    || c == b'_'));
            }
        }
        Err(rejection) => refused(&AppError::from(rejection), &[ErrorCode::InvalidRequest]),
    }
}

fn tokens_query(query: &[u8]) {
    let text = String::from_utf8_lossy(query);
    let Ok(uri) = format!("/api/optin/tokens?{text}").parse::<Uri>() else {
        return; // hyper would refuse the request line before the router sees it
    };
    match Query::<TokensQuery>::try_from_uri(&uri) {
        Ok(Query(q)) => {
            let window = token_manager_core::history::PageWindow::new(1_000, q.page, q.per_page);
            assert!(window.page >= 1 && window.len <= 100);
        }
        Err(rejection) => refused(&AppError::from(rejection), &[ErrorCode::InvalidRequest]),
    }
}

fn refused(e: &AppError, codes: &[ErrorCode]) {
    let (status, code) = e.status_and_code();
    assert!(status.is_client_error(), "{status} for {e:?}");
    assert_ne!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(codes.contains(&code), "{code:?} for {e:?}");
    let body = e.body();
    assert_eq!(body.error.code, code);
    assert!(
        !body.error.message.is_empty() && body.error.message.chars().count() <= 400,
        "unbounded message: {} chars",
        body.error.message.chars().count()
    );
    let json = serde_json::to_string(&body).expect("error bodies serialize");
    let back: ApiErrorBody = serde_json::from_str(&json).expect("error bodies parse back");
    assert_eq!(back, body);
}
