//! UPS as UPS publishes it (`OAuthAuthCode.yaml`, see `core/UPS-CONTRACT.md`), against a mock
//! that refuses what UPS would: both documented token flows, the 2022 validate-client entry,
//! raw Basic credentials, and refusals in words nobody recognises.

use std::time::Duration;

use axum::http::StatusCode;
use host_example::jobs::refresh_due;
use host_example::ops::RefreshOutcome;
use mock_ups::{EndpointFault, FaultKind, Faults};
use token_manager_core::config::{UpsEntry, UpsFlow};
use token_manager_core::AuthorizationStatus;

use crate::harness::*;

#[tokio::test]
async fn both_documented_token_flows_work_and_each_is_what_it_says() {
    for flow in [UpsFlow::Pkce, UpsFlow::Plain] {
        let h = Harness::builder()
            .ups(UpsEntry::Authorize, flow)
            .start()
            .await;
        let started = h.start(COMPANY).await.expect(StatusCode::OK);
        let challenge = url::Url::parse(&started.authorize_url)
            .unwrap()
            .query_pairs()
            .any(|(k, _)| k == "code_challenge");
        assert_eq!(challenge, flow == UpsFlow::Pkce, "{flow:?}");
        let body = h.finish_sign_in(started, "demo-password").await;
        // The mock refuses the undocumented mix (Basic + verifier): a 201 here means the
        // host sent exactly one of the two flows.
        let r = h.exchange(&body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{flow:?}: {r:?}");
        // Refresh is Basic in both.
        h.clock.advance(FOUR_HOURS);
        assert_eq!(
            refresh_due(&h.state).await,
            vec![(COMPANY.to_owned(), RefreshOutcome::Refreshed)],
            "{flow:?}"
        );
    }
}

#[tokio::test]
async fn the_2022_validate_client_entry_still_works_when_chosen() {
    let h = Harness::builder()
        .ups(UpsEntry::ValidateClient, UpsFlow::Pkce)
        .start()
        .await;
    assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
    let stats = h.stats();
    assert_eq!(
        (stats.validate_client_requests, stats.authorize_requests),
        (1, 0)
    );
}

#[tokio::test]
async fn a_secret_with_url_special_characters_is_sent_raw_as_ups_sdks_do() {
    // The oauth2 crate form-encodes Basic credentials (RFC 6749 §2.3.1): `+ / = ~ %` and the
    // space would change, and UPS compares them raw.
    let h = Harness::builder()
        .ups(UpsEntry::Authorize, UpsFlow::Plain)
        .client_secret("s3cr+t/=~%2B x")
        .start()
        .await;
    assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
    h.clock.advance(FOUR_HOURS);
    assert_eq!(
        refresh_due(&h.state).await,
        vec![(COMPANY.to_owned(), RefreshOutcome::Refreshed)]
    );
}

#[tokio::test]
async fn refusals_in_unknown_words_end_the_opt_in_once_the_access_token_has_expired() {
    let h = Harness::new().await;
    assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
    h.mock.set_faults(Faults {
        refresh: EndpointFault::always(FaultKind::Refused),
        ..Faults::default()
    });
    // Due but not expired (1-hour tokens, 5-minute skew): refusals are retried.
    h.clock.advance(Duration::from_secs(3_400));
    assert_eq!(
        refresh_due(&h.state).await,
        vec![(COMPANY.to_owned(), RefreshOutcome::Retrying)]
    );
    // Expired: the run of refusals ends it after `refusals_before_invalid` in a row.
    h.clock.advance(Duration::from_secs(3_600));
    let mut outcomes = Vec::new();
    for _ in 0..5 {
        outcomes.extend(refresh_due(&h.state).await.into_iter().map(|(_, o)| o));
        h.clock.advance(Duration::from_secs(600));
    }
    assert_eq!(
        outcomes,
        [
            RefreshOutcome::Retrying,
            RefreshOutcome::Ended(AuthorizationStatus::Invalidated)
        ],
        "the 3rd refusal in a row, the first two before and after expiry"
    );
    let status = h.status(COMPANY).await.expect(StatusCode::OK);
    assert_eq!(status.reason.as_deref(), Some("unknown_provider_refusal"));
    assert!(h.ciphertexts(COMPANY).iter().all(Option::is_none));
}

#[tokio::test]
async fn a_dead_refresh_token_is_read_from_ups_own_words() {
    let h = Harness::new().await;
    assert_eq!(h.authorize(COMPANY).await.status, StatusCode::CREATED);
    h.mock.change_password("demo", "a-new-password");
    h.clock.advance(FOUR_HOURS);
    assert_eq!(
        refresh_due(&h.state).await,
        vec![(
            COMPANY.to_owned(),
            RefreshOutcome::Ended(AuthorizationStatus::Invalidated)
        )]
    );
    let status = h.status(COMPANY).await.expect(StatusCode::OK);
    // The mock answered 10400 "Invalid Refresh Token" (UPS's general code); core read the words.
    assert_eq!(status.reason.as_deref(), Some("invalid_grant"));
}
