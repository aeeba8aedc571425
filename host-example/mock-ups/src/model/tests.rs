//! The model's rules without HTTP or a clock: codes, PKCE, refresh rotation, password
//! change, client authentication, fingerprints.
#![allow(clippy::unwrap_used)]
use url::Url;

use super::*;
use crate::config::Settings;
use crate::error::UpsError;

const REDIRECT: &str = "http://127.0.0.1:8080/admin/token-manager";

fn setup() -> (State, Settings) {
    let config = MockConfig::default();
    let settings = Settings {
        public_url: config.public_url.clone(),
        access_ttl: Duration::from_secs(10),
        refresh_ttl: Duration::from_secs(100),
        code_ttl: Duration::from_secs(60),
        keep_refresh_tokens: false,
        no_refresh_tokens: false,
    };
    (State::new(&config), settings)
}

fn txn(challenge: Option<String>) -> Txn {
    Txn {
        client_id: "demo-client".into(),
        redirect_uri: Url::parse(REDIRECT).unwrap(),
        state: Some("s".into()),
        scope: "read".into(),
        challenge,
        created_ms: 1_000,
        step: Step::Identify,
        failed_passwords: 0,
    }
}

/// demo-client, with its secret proven, redeems `code` for [`REDIRECT`] without a verifier
/// (the cases below override what they vary).
fn redemption(code: &str) -> Redemption<'_> {
    Redemption {
        client_id: "demo-client",
        secret_proven: true,
        code,
        redirect_uri: REDIRECT,
        code_verifier: None,
    }
}

#[test]
fn code_is_single_use_and_replay_revokes() {
    let (mut s, set) = setup();
    let code = s.issue_code(&set, &txn(None), "Demo", 1_000);
    let t = s.redeem_code(&set, &redemption(&code), 2_000).unwrap();
    assert_eq!(t.refresh_count, "0");
    assert!(s.data_call(Some(&t.access_token), 3_000).is_ok());
    let replay = s.redeem_code(&set, &redemption(&code), 3_000).unwrap_err();
    assert_eq!(replay.code, "10400");
    assert_eq!(
        s.data_call(Some(&t.access_token), 3_000),
        Err(UpsError::invalid_bearer())
    );
    assert!(s
        .refresh(
            &set,
            "demo-client",
            t.refresh_token.as_deref().unwrap(),
            3_000
        )
        .is_err());
    assert_eq!(s.stats(3_000).codes_replayed, 1);
}

#[test]
fn code_expiry_and_redirect_and_pkce() {
    let (mut s, set) = setup();
    let code = s.issue_code(&set, &txn(None), "demo", 1_000);
    let e = s.redeem_code(&set, &redemption(&code), 61_000).unwrap_err();
    assert!(e.detail().contains("expired"));

    let code = s.issue_code(&set, &txn(None), "demo", 1_000);
    let e = s
        .redeem_code(
            &set,
            &Redemption {
                redirect_uri: "http://127.0.0.1:8080/x",
                ..redemption(&code)
            },
            2_000,
        )
        .unwrap_err();
    assert!(e.detail().contains("redirect_uri"));

    let verifier = "a".repeat(43);
    let challenge = pkce::code_challenge(verifier.as_bytes());
    let code = s.issue_code(&set, &txn(Some(challenge.clone())), "demo", 1_000);
    let e = s
        .redeem_code(
            &set,
            &Redemption {
                code_verifier: Some(&"b".repeat(43)),
                ..redemption(&code)
            },
            2_000,
        )
        .unwrap_err();
    assert!(e.detail().contains("code_verifier"));
    let code = s.issue_code(&set, &txn(Some(challenge)), "demo", 1_000);
    assert!(s
        .redeem_code(
            &set,
            &Redemption {
                secret_proven: false,
                code_verifier: Some(&verifier),
                ..redemption(&code)
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
                secret_proven: false,
                ..redemption(&code)
            },
            2_000
        )
        .unwrap_err(),
        UpsError::missing_auth()
    );
}

/// A server that keeps refresh tokens: each refresh answers a new access token only, no
/// refresh token or refresh lifetime, and the same refresh token works again until it expires.
#[test]
fn refresh_tokens_are_kept_when_configured() {
    let (mut s, mut set) = setup();
    set.keep_refresh_tokens = true;
    let code = s.issue_code(&set, &txn(None), "demo", 1_000);
    let t0 = s.redeem_code(&set, &redemption(&code), 1_000).unwrap();
    let kept = t0.refresh_token.clone().unwrap();
    assert!(
        t0.refresh_token_expires_in.is_some(),
        "the first answer states the lifetime"
    );
    for (i, at) in [2_000, 3_000, 4_000].into_iter().enumerate() {
        let t = s.refresh(&set, "demo-client", &kept, at).unwrap();
        assert_eq!(t.refresh_count, (i + 1).to_string());
        assert!(t.refresh_token.is_none() && t.refresh_token_expires_in.is_none());
        assert!(t.refresh_token_issued_at.is_none() && t.refresh_token_status.is_none());
        let json = serde_json::to_value(&t).unwrap();
        assert!(
            json.get("refresh_token").is_none() && json.get("refresh_token_expires_in").is_none()
        );
        assert_ne!(t.access_token, t0.access_token);
    }
    let stats = s.stats(4_000);
    assert_eq!(
        (stats.refreshes_succeeded, stats.refresh_tokens_spent),
        (3, 0)
    );
    // It expires with its own lifetime (100 s here).
    let e = s.refresh(&set, "demo-client", &kept, 101_000).unwrap_err();
    assert!(e.detail().contains("expired"), "{}", e.detail());
}

#[test]
fn refresh_rotates_and_password_change_revokes() {
    let (mut s, set) = setup();
    let code = s.issue_code(&set, &txn(None), "demo", 1_000);
    let t0 = s.redeem_code(&set, &redemption(&code), 1_000).unwrap();
    let t1 = s
        .refresh(
            &set,
            "demo-client",
            t0.refresh_token.as_deref().unwrap(),
            2_000,
        )
        .unwrap();
    assert_eq!(t1.refresh_count, "1");
    assert_ne!(t1.refresh_token, t0.refresh_token);
    let e = s
        .refresh(
            &set,
            "demo-client",
            t0.refresh_token.as_deref().unwrap(),
            2_000,
        )
        .unwrap_err();
    assert!(e.detail().contains("already been used"));
    assert_eq!(s.stats(2_000).refreshes_refused, 1);
    assert!(s
        .refresh(&set, "other", t1.refresh_token.as_deref().unwrap(), 2_000)
        .is_err());
    let change = s.change_password("DEMO", "new").unwrap();
    assert_eq!(change.revoked_refresh_tokens, 1);
    assert_eq!(change.revoked_access_tokens, 2);
    assert!(s
        .refresh(
            &set,
            "demo-client",
            t1.refresh_token.as_deref().unwrap(),
            3_000
        )
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
