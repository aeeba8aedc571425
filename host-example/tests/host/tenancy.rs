//! Who may do what, and for which company: every widget API endpoint and the demo's Exports
//! page against an authenticated user of another company, a viewer, broken tokens and an
//! unknown company (each refused, the database byte-identical); and the flow bound to the
//! session that started it (a code started in one session or for one company is refused in
//! another, nothing is stored, and the legitimate exchange still succeeds).

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use host_example::access::{CompanyGrant, KeyId, Role, SessionClaims, SessionSigner};
use host_example::crypto::TokenKey;
use serde_json::{json, Value};
use token_manager_core::{ErrorCode, Timestamp};

use crate::harness::*;

/// A table request: method, path, JSON body (POSTs).
fn request(method: &Method, uri: &str, body: &Value, auth: Option<&str>) -> Request<Body> {
    let mut b = Request::builder().method(method.clone()).uri(uri);
    if let Some(token) = auth {
        b = b.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if *method == Method::POST {
        b = b
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ORIGIN, PUBLIC)
            .header("X-Token-Manager", "1");
    }
    b.body(Body::from(if *method == Method::POST {
        body.to_string()
    } else {
        String::new()
    }))
    .unwrap()
}

/// `(status, code)` of an answer.
async fn answer(h: &Harness, req: Request<Body>) -> (StatusCode, String) {
    let (s, _, b) = h.send(req).await;
    (s, b["error"]["code"].as_str().unwrap_or("").to_owned())
}

fn claims(user: &str, company: &str, role: Role, expires_at: i64) -> SessionClaims {
    SessionClaims {
        user: user.into(),
        name: user.into(),
        companies: vec![CompanyGrant {
            id: company.into(),
            role,
        }],
        issued_at: Timestamp(chrono_now() - 60_000),
        expires_at: Timestamp(expires_at),
        key_id: KeyId("test".into()),
    }
}

#[tokio::test]
async fn another_companys_user_a_viewer_and_broken_tokens_are_refused_and_change_nothing() {
    let h = Harness::new().await;
    // Something to protect in both companies.
    h.authorize(COMPANY).await.expect(StatusCode::CREATED);
    h.authorize("acme").await.expect(StatusCode::CREATED);
    let acme_admin = h
        .mint_session("acme-admin", &[("acme".to_owned(), Role::Admin)])
        .await;
    let viewer = h
        .mint_session("viewer", &[(COMPANY.to_owned(), Role::Viewer)])
        .await;
    let later = chrono_now() + 3_600_000;
    let other_key = SessionSigner::new(&TokenKey::generate(), &[]).mint(&claims(
        "admin",
        COMPANY,
        Role::Admin,
        later,
    ));
    let expired = SessionSigner::new(&h.key, &[]).mint(&claims(
        "admin",
        COMPANY,
        Role::Admin,
        chrono_now() - 1,
    ));
    let forged = format!(
        "tms1.{}.AAAA",
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            r#"{"v":1,"u":"admin","n":"x","c":[["demo-co","admin"]],"iat":0,"exp":9999999999999,"k":"x"}"#
        )
    );
    let tampered = {
        let t = h.auth.trim_start_matches("Bearer ");
        let (payload, tag) = t.rsplit_once('.').unwrap();
        let mut p = payload.as_bytes().to_vec();
        let i = p.len() / 2;
        p[i] = if p[i] == b'A' { b'B' } else { b'A' };
        format!("{}.{tag}", String::from_utf8(p).unwrap())
    };
    // A state acme's admin started for acme, which demo-co's admin must not be able to use.
    let started_by_acme: token_manager_core::api::StartResponse = {
        let (s, _, b) = h
            .send(request(
                &Method::POST,
                "/api/optin/start",
                &json!({ "company": "acme" }),
                Some(&acme_admin),
            ))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        serde_json::from_value(b).unwrap()
    };
    let endpoints = |company: &str| -> Vec<(Method, String, Value, bool)> {
        // (method, uri, body, needs the admin role)
        vec![
            (
                Method::GET,
                format!("/api/optin/config?company={company}"),
                json!(null),
                false,
            ),
            (
                Method::GET,
                format!("/api/optin/tokens?company={company}"),
                json!(null),
                false,
            ),
            (
                Method::GET,
                format!("/api/optin/status?company={company}"),
                json!(null),
                false,
            ),
            (
                Method::POST,
                "/api/optin/start".into(),
                json!({ "company": company }),
                true,
            ),
            (
                Method::POST,
                "/api/optin/exchange".into(),
                json!({ "company": company, "code": "a-code", "state": started_by_acme.pending.state().secret() }),
                true,
            ),
            (
                Method::POST,
                "/api/optin/clear".into(),
                json!({ "company": company }),
                true,
            ),
        ]
    };
    let (bytes, dump) = hostile_snapshot(&h.db);
    let stats = h.stats();
    let mut checked = 0;
    for (method, uri, body, manage) in endpoints(COMPANY) {
        let who: Vec<(&str, Option<&str>, (StatusCode, &str))> = vec![
            (
                "acme's admin",
                Some(&acme_admin),
                (StatusCode::FORBIDDEN, "forbidden"),
            ),
            (
                "no token",
                None,
                (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ),
            (
                "another host's key",
                Some(&other_key),
                (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ),
            (
                "expired",
                Some(&expired),
                (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ),
            (
                "forged",
                Some(&forged),
                (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ),
            (
                "tampered",
                Some(&tampered),
                (StatusCode::UNAUTHORIZED, "unauthenticated"),
            ),
        ];
        for (name, token, (status, code)) in who {
            let got = answer(&h, request(&method, &uri, &body, token)).await;
            assert_eq!(got, (status, code.to_owned()), "{name}: {method} {uri}");
            checked += 1;
        }
        if manage {
            let got = answer(&h, request(&method, &uri, &body, Some(&viewer))).await;
            assert_eq!(
                got,
                (StatusCode::FORBIDDEN, "forbidden".to_owned()),
                "viewer: {method} {uri}"
            );
            checked += 1;
        }
    }
    // An unknown company answers exactly like another company's, for the admin of everything.
    for (method, uri, body, _) in endpoints("globex") {
        let own = h.auth.trim_start_matches("Bearer ").to_owned();
        let got = answer(&h, request(&method, &uri, &body, Some(&own))).await;
        assert_eq!(
            got,
            (StatusCode::FORBIDDEN, "forbidden".to_owned()),
            "unknown: {method} {uri}"
        );
        checked += 1;
    }
    // The demo's Exports page: a demo user of acme only does not see demo-co's.
    let (s, headers, _) = h
        .send(
            Request::post("/login")
                .header(header::ORIGIN, PUBLIC)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from("user=acme-admin"))
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let alan = session_cookie(&headers).unwrap();
    let (s, _, page) = h
        .send(
            Request::get(format!("/exports?company={COMPANY}"))
                .header(header::COOKIE, &alan)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{page}");
    assert!(!page.as_str().unwrap().contains("Last retrieval"));
    checked += 1;
    // Nothing changed, nothing reached the provider.
    let (bytes_after, dump_after) = hostile_snapshot(&h.db);
    assert_eq!(dump, dump_after);
    assert!(bytes == bytes_after, "the database bytes changed");
    assert_eq!(h.stats().token_requests, stats.token_requests);
    println!("tenancy table: {checked} refusals, database byte-identical");
    // The refusals were the session's, not the routes': the owners still get through.
    assert_eq!(h.tokens(COMPANY).await.total, 1);
    let acme = Harness {
        auth: format!("Bearer {acme_admin}"),
        ..h
    };
    assert_eq!(acme.tokens("acme").await.total, 1);
}

/// The main database file and its WAL, and the contents of every table, as the hostile table
/// takes them (the login above writes only the portal's memory).
fn hostile_snapshot(db: &std::path::Path) -> (Vec<u8>, String) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut dump = String::new();
    for table in [
        "authorizations",
        "history",
        "companies",
        "pending_authorizations",
    ] {
        let mut stmt = conn.prepare(&format!("SELECT * FROM {table}")).unwrap();
        let cols = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                (0..cols)
                    .map(|i| {
                        r.get::<_, rusqlite::types::Value>(i)
                            .map(|v| format!("{v:?}"))
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .unwrap();
        for row in rows {
            dump.push_str(&format!("{table}: {:?}\n", row.unwrap()));
        }
    }
    drop(conn);
    let mut bytes = std::fs::read(db).unwrap();
    if let Ok(wal) = std::fs::read(format!("{}-wal", db.display())) {
        bytes.extend(wal);
    }
    (bytes, dump)
}

#[tokio::test]
async fn a_flow_is_bound_to_the_user_and_company_that_started_it() {
    let h = Harness::new().await;
    let ada = h.auth.clone();
    // Ada starts for demo-co and signs in at the provider.
    let body = h.sign_in(COMPANY).await;
    let bob_token = h
        .mint_session(
            "bob",
            &[
                (COMPANY.to_owned(), Role::Admin),
                ("acme".to_owned(), Role::Admin),
            ],
        )
        .await;
    let bob = Harness {
        auth: format!("Bearer {bob_token}"),
        ..h
    };
    let (bytes, dump) = hostile_snapshot(&bob.db);
    // Bob (admin of the same company) presents Ada's code and state.
    let r = bob.exchange(&body).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, Some(ErrorCode::StateMismatch))
    );
    // Ada's own return, started for demo-co, presented for acme.
    let ada_view = Harness {
        auth: ada.clone(),
        ..bob
    };
    let mut for_acme = body.clone();
    for_acme.company = "acme".into();
    let r = ada_view.exchange(&for_acme).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, Some(ErrorCode::StateMismatch))
    );
    // Nothing stored, nothing sent.
    let (bytes2, dump2) = hostile_snapshot(&ada_view.db);
    assert_eq!(dump, dump2);
    assert!(bytes == bytes2);
    assert_eq!(ada_view.stats().token_requests, 0);
    // Ada's exchange still succeeds, once.
    let record = ada_view
        .exchange(&body)
        .await
        .expect(StatusCode::CREATED)
        .record;
    assert_eq!(record.authorized_by.as_deref(), Some("admin"));
    let replay = ada_view.exchange(&body).await;
    assert_eq!(
        (replay.status, replay.code()),
        (
            StatusCode::BAD_REQUEST,
            Some(ErrorCode::NoPendingAuthorization)
        )
    );
    // An authorization left pending for more than 10 minutes is refused (and forgotten).
    let late = ada_view.sign_in(COMPANY).await;
    ada_view.clock.advance(Duration::from_secs(601));
    let r = ada_view.exchange(&late).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, Some(ErrorCode::ExpiredAttempt))
    );
    let r = ada_view.exchange(&late).await;
    assert_eq!(r.code(), Some(ErrorCode::NoPendingAuthorization));
    ada_view.clock.reset();
    // The legitimate user's next opt-in works; another user's opt-in over it is recorded as
    // superseding it.
    let fresh = ada_view.sign_in(COMPANY).await;
    ada_view.exchange(&fresh).await.expect(StatusCode::CREATED);
    let bob_view = Harness {
        auth: format!("Bearer {bob_token}"),
        ..ada_view
    };
    let bobs = bob_view.sign_in(COMPANY).await;
    bob_view.exchange(&bobs).await.expect(StatusCode::CREATED);
    let rows = bob_view.tokens(COMPANY).await.rows;
    assert_eq!(rows[0].authorized_by.as_deref(), Some("bob"));
    assert_eq!(rows[1].status, token_manager_core::RecordStatus::Superseded);
    assert_eq!(rows[1].superseded_by.as_deref(), Some("bob"));
    // And Bob's Clear is recorded as his.
    bob_view.clear(COMPANY).await.expect(StatusCode::OK);
    let rows = bob_view.tokens(COMPANY).await.rows;
    assert_eq!(rows[0].cleared_by.as_deref(), Some("bob"));
}
