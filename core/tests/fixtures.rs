//! The sample provider answers under `tests/fixtures/` through the public parsers.
#![allow(clippy::unwrap_used, missing_docs)]

use token_manager_core::config::{ups, ClientAuth, ProviderConfig};
use token_manager_core::token::{parse_error_response, parse_token_response};
use token_manager_core::{ErrorCode, ProviderErrorKind, Timestamp};

const NOW: Timestamp = Timestamp::from_millis(1_795_957_510_000);
const S: i64 = 1000;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn ups_token_numbers_as_strings() {
    let g = parse_token_response(200, &fixture("ups_token.json"), NOW).unwrap();
    assert_eq!(
        g.access_token.secret(),
        "eyJraWQiOiJ1cHMtYWNjZXNzIn0.ups-access-1"
    );
    assert_eq!(g.refresh_token.as_ref().unwrap().secret(), "ups-refresh-1");
    assert_eq!(g.token_type, "Bearer");
    assert_eq!(g.scope.as_deref(), Some("read"));
    assert_eq!(g.token_created, Timestamp(1_795_957_509_123));
    // Lifetimes count from the answer's arrival (NOW), the provider's times are shown.
    assert_eq!(g.token_expires, Timestamp(NOW.0 + 14_399 * S));
    assert_eq!(g.refresh_created, Some(Timestamp(1_795_957_509_123)));
    assert_eq!(g.refresh_expires, Some(Timestamp(NOW.0 + 5_183_999 * S)));
    assert_eq!(g.token_created.format_grid(0), "11-29-2026 01:05:09 PM");
}

#[test]
fn ups_refresh_answer() {
    // Received four hours after the first grant, a second after UPS issued it.
    let at = Timestamp(1_795_971_609_123);
    let g = parse_token_response(200, &fixture("ups_refresh.json"), at).unwrap();
    assert_eq!(g.refresh_token.as_ref().unwrap().secret(), "ups-refresh-2");
    assert_eq!(g.token_created, Timestamp(1_795_971_608_123));
    // A provider clock ahead of ours: created is the arrival, not the future.
    let early = parse_token_response(200, &fixture("ups_refresh.json"), NOW).unwrap();
    assert_eq!(early.token_created, NOW);
}

#[test]
fn rfc6749_section_5_1_example() {
    let g = parse_token_response(200, &fixture("rfc6749_token.json"), NOW).unwrap();
    assert_eq!(g.access_token.secret(), "2YotnFZFEjr1zCsicMWpAA");
    assert_eq!(g.token_type, "example");
    assert_eq!(g.token_created, NOW);
    assert_eq!(g.token_expires, Timestamp(NOW.as_millis() + 3600 * S));
    assert_eq!(g.refresh_created, Some(NOW));
    assert_eq!(g.refresh_expires, None);
}

#[test]
fn keycloak_refresh_expires_in() {
    let g = parse_token_response(200, &fixture("keycloak_token.json"), NOW).unwrap();
    assert_eq!(g.token_expires, Timestamp(NOW.as_millis() + 300 * S));
    assert_eq!(
        g.refresh_expires,
        Some(Timestamp(NOW.as_millis() + 1800 * S))
    );
}

/// The example answer of UPS's own sample (`UPS-API/java-api-examples`, `oauth_AuthCode/readme.md`),
/// verbatim: every value a string, placeholders for the secrets, an empty scope.
#[test]
fn ups_sample_token_answer() {
    let g = parse_token_response(200, &fixture("ups_token_sample.json"), NOW).unwrap();
    assert_eq!(g.access_token.secret(), "<you can get new generated token>");
    assert_eq!(g.token_type, "Bearer");
    assert_eq!(g.token_created, Timestamp(1_666_267_689_724));
    assert_eq!(g.token_expires, Timestamp(NOW.0 + 14_399 * S));
    assert_eq!(g.refresh_expires, Some(Timestamp(NOW.0 + 604_799 * S)));
    assert_eq!(g.scope.as_deref(), Some(""));
}

/// The same UPS code means different things at different endpoints: the message decides, as
/// whole words.
#[test]
fn ups_10400_is_read_by_endpoint_and_words() {
    use token_manager_core::token::{parse_error_response_at, Endpoint};
    let at = |endpoint, file: &str| parse_error_response_at(endpoint, 400, &fixture(file)).kind;
    assert_eq!(
        at(Endpoint::Refresh, "ups_error_refresh_invalid.json"),
        ProviderErrorKind::InvalidGrant
    );
    assert_eq!(
        at(Endpoint::Token, "ups_error_code_invalid.json"),
        ProviderErrorKind::InvalidGrant
    );
    // A code message at /refresh, or a refresh-token message at /token, is not a dead grant.
    assert_eq!(
        at(Endpoint::Refresh, "ups_error_code_invalid.json"),
        ProviderErrorKind::Other
    );
    assert_eq!(
        at(Endpoint::Token, "ups_error_refresh_invalid.json"),
        ProviderErrorKind::Other
    );
    // "Invalid grant_type" names a parameter, not a dead token.
    assert_eq!(
        at(Endpoint::Refresh, "ups_error_grant_type.json"),
        ProviderErrorKind::Other
    );
    assert_eq!(
        at(Endpoint::Authorize, "ups_error_redirect_invalid.json"),
        ProviderErrorKind::InvalidClient
    );
    let body =
        |m: &str| format!(r#"{{"response":{{"errors":[{{"code":"10400","message":"{m}"}}]}}}}"#);
    for (m, kind) in [
        (
            "The refresh token has been revoked",
            ProviderErrorKind::InvalidGrant,
        ),
        ("Refresh token expired", ProviderErrorKind::InvalidGrant),
        ("refresh_token is invalid", ProviderErrorKind::InvalidGrant),
        ("Refreshing is unavailable", ProviderErrorKind::Other),
        ("Missing parameter: refresh_token", ProviderErrorKind::Other),
        ("Unsupported response type", ProviderErrorKind::Other),
    ] {
        assert_eq!(
            parse_error_response_at(Endpoint::Refresh, 400, body(m).as_bytes()).kind,
            kind,
            "{m}"
        );
    }
}

#[test]
fn error_fixtures_classify() {
    let cases = [
        (
            "ups_error_invalid_client.json",
            401,
            ProviderErrorKind::InvalidClient,
            "10401",
            ErrorCode::InvalidClient,
        ),
        (
            "ups_error_missing_auth_header.json",
            401,
            ProviderErrorKind::InvalidClient,
            "10400",
            ErrorCode::InvalidClient,
        ),
        (
            "ups_error_refresh_invalid.json",
            400,
            ProviderErrorKind::InvalidGrant,
            "10400",
            ErrorCode::InvalidGrant,
        ),
        (
            "ups_error_redirect_invalid.json",
            400,
            ProviderErrorKind::InvalidClient,
            "10400",
            ErrorCode::InvalidClient,
        ),
        (
            "ups_error_grant_type.json",
            400,
            ProviderErrorKind::Other,
            "10400",
            ErrorCode::ProviderError,
        ),
        (
            "ups_error_code_invalid.json",
            400,
            ProviderErrorKind::InvalidGrant,
            "10400",
            ErrorCode::InvalidGrant,
        ),
        (
            "ups_error_rate_limit.json",
            429,
            ProviderErrorKind::Temporary,
            "10429",
            ErrorCode::ProviderUnavailable,
        ),
        (
            "rfc6749_error_invalid_grant.json",
            400,
            ProviderErrorKind::InvalidGrant,
            "invalid_grant",
            ErrorCode::InvalidGrant,
        ),
        (
            "rfc6749_error_invalid_client.json",
            401,
            ProviderErrorKind::InvalidClient,
            "invalid_client",
            ErrorCode::InvalidClient,
        ),
        (
            "rfc6749_error_invalid_scope.json",
            400,
            ProviderErrorKind::Other,
            "invalid_scope",
            ErrorCode::ProviderError,
        ),
    ];
    for (name, status, kind, code, error_code) in cases {
        let body = fixture(name);
        let e = parse_error_response(status, &body);
        assert_eq!(
            (e.kind, e.code.as_str(), e.status),
            (kind, code, Some(status)),
            "{name}"
        );
        assert_eq!(e.error_code(), error_code, "{name}");
        assert!(!e.message.is_empty(), "{name}");
        // The same answer through the token parser gives the same error.
        assert_eq!(
            parse_token_response(status, &body, NOW).unwrap_err(),
            e,
            "{name}"
        );
    }
}

#[test]
fn validate_client_and_metadata() {
    let mut c = ProviderConfig::ups(
        ups::PRODUCTION_HOST,
        "cid",
        "https://portal.example/admin/token-manager",
    )
    .unwrap();
    c.apply_validate_client(200, &fixture("ups_validate_client.json"))
        .unwrap();
    assert_eq!(c.public().authorize_url, "https://www.ups.com/lasso/signin");
    assert_eq!(c.public().extra_params["type"], "ups_com_api");

    let m = ProviderConfig::from_metadata(
        &fixture("rfc8414_metadata.json"),
        "cid",
        "https://portal.example/admin/token-manager",
        "openid",
    )
    .unwrap();
    assert_eq!(m.token_url.as_str(), "https://server.example.com/token");
    assert_eq!(m.refresh_url, m.token_url);
    assert_eq!(m.client_auth, ClientAuth::Basic);
    assert_eq!(m.display_name, "server.example.com");
    assert_eq!(m.public().provider, "generic");
}
