//! `Debug` of every type that carries a secret prints `[redacted]`, never the secret.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;

use token_manager_core::api::ConfigResponse;
use token_manager_core::flow::{CallbackParams, PendingAuthorization, DEFAULT_MAX_AGE};
use token_manager_core::token::parse_token_response;
use token_manager_core::Timestamp;

const CODE: &str = "SECRET-CODE-0123456789";
const ACCESS: &str = "SECRET-ACCESS-0123456789";
const REFRESH: &str = "SECRET-REFRESH-0123456789";

fn assert_redacted(what: &str, dbg: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!dbg.contains(s), "{what} leaks {s}: {dbg}");
    }
    assert!(dbg.contains("[redacted]"), "{what}: {dbg}");
}

#[test]
fn secrets_never_reach_debug_output() {
    let config = ConfigResponse {
        provider: "generic".into(),
        provider_name: "IdP".into(),
        authorize_url: "https://idp.example/authorize".into(),
        client_id: "cid".into(),
        redirect_uri: "https://portal.example/cb".into(),
        scope: String::new(),
        pkce: true,
        challenge_method: true,
        extra_params: BTreeMap::new(),
    };
    let (url, pending) =
        PendingAuthorization::start(&config, &[9u8; 64], Timestamp(0), "c", None).unwrap();
    let state = url
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let verifier = serde_json::to_value(&pending).unwrap()["code_verifier"]
        .as_str()
        .unwrap()
        .to_owned();
    let secrets = [state.as_str(), verifier.as_str(), CODE];

    assert_redacted("PendingAuthorization", &format!("{pending:?}"), &secrets);
    assert_redacted("CsrfToken", &format!("{:?}", pending.state()), &secrets);

    let params = CallbackParams::parse(&format!("?code={CODE}&state={state}"))
        .unwrap()
        .unwrap();
    assert_redacted("CallbackParams", &format!("{params:?}"), &secrets);
    assert_redacted(
        "CallbackParams (alternate)",
        &format!("{params:#?}"),
        &secrets,
    );

    let marker = pending.marker();
    assert_redacted("ReturnMarker", &format!("{marker:?}"), &secrets);
    let body = marker
        .handle_callback(
            CallbackParams::parse(&format!("?code={CODE}&state={}", pending.state().secret()))
                .unwrap()
                .unwrap(),
            Timestamp(1),
            DEFAULT_MAX_AGE,
        )
        .unwrap();
    assert_redacted("ExchangeBody", &format!("{body:?}"), &secrets);
    let exchange = pending
        .handle_callback(params, Timestamp(1), DEFAULT_MAX_AGE)
        .unwrap();
    assert_redacted("ExchangeRequest", &format!("{exchange:?}"), &secrets);

    let grant = parse_token_response(
        200,
        format!(r#"{{"access_token":"{ACCESS}","refresh_token":"{REFRESH}","expires_in":"60"}}"#)
            .as_bytes(),
        Timestamp(0),
    )
    .unwrap();
    assert_redacted("TokenGrant", &format!("{grant:?}"), &[ACCESS, REFRESH]);
    assert_redacted(
        "TokenGrant (alternate)",
        &format!("{grant:#?}"),
        &[ACCESS, REFRESH],
    );
}
