//! The mock UPS over real HTTP on loopback: sign-in screens, code exchange, PKCE, replay,
//! refresh rotation, password change, data API counters, every fault, control endpoints.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::{Duration, Instant};

use host_example::mock_ups::{
    spawn, token_fingerprint, EndpointFault, FaultKind, Faults, MockClient, MockConfig, MockStats,
    MockUps,
};
use reqwest::header::{AUTHORIZATION, CONTENT_SECURITY_POLICY, LOCATION};
use reqwest::StatusCode;
use serde_json::{json, Value};
use url::Url;

const REDIRECT: &str = "http://127.0.0.1:8080/admin/token-manager";
const AGREEMENT: &str = "By continuing, I agree to the UPS Technology Agreement and authorize Token Manager Demo to access data associated with my UPS.com username listed above, including UPS shipping account numbers, contact information, rates, and package tracking status.";

struct Mock {
    base: String,
    mock: MockUps,
    http: reqwest::Client,
}

/// A verifier and its S256 challenge.
fn pkce_pair() -> (String, String) {
    let verifier = String::from_utf8(pkce::code_verifier(64)).unwrap();
    let challenge = pkce::code_challenge(verifier.as_bytes());
    (verifier, challenge)
}

fn query(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// The value of the hidden `txn` field.
fn txn_of(html: &str) -> String {
    let start = html
        .find(r#"name="txn" value=""#)
        .expect("page has a txn field")
        + 18;
    let end = start + html[start..].find('"').unwrap();
    html[start..end].to_owned()
}

fn ups_error_code(body: &Value) -> &str {
    body["response"]["errors"][0]["code"].as_str().unwrap()
}

impl Mock {
    async fn new() -> Self {
        Self::with(MockConfig::default()).await
    }

    async fn with(config: MockConfig) -> Self {
        let (addr, mock) = spawn(config).await.unwrap();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            base: format!("http://{addr}"),
            mock,
            http,
        }
    }

    fn signin_url(&self, state: &str, challenge: Option<&str>) -> String {
        let mut url = Url::parse(&format!("{}/lasso/signin", self.base)).unwrap();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", "demo-client")
                .append_pair("redirect_uri", REDIRECT)
                .append_pair("response_type", "code")
                .append_pair("scope", "read")
                .append_pair("type", "ups_com_api")
                .append_pair("state", state);
            if let Some(c) = challenge {
                q.append_pair("code_challenge", c)
                    .append_pair("code_challenge_method", "S256");
            }
        }
        url.into()
    }

    async fn get(&self, url: &str) -> reqwest::Response {
        self.http.get(url).send().await.unwrap()
    }

    async fn post_signin(&self, fields: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}/lasso/signin", self.base))
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    /// Open the Log In screen; returns the transaction id.
    async fn open(&self, state: &str, challenge: Option<&str>) -> String {
        let resp = self.get(&self.signin_url(state, challenge)).await;
        assert_eq!(resp.status(), StatusCode::OK);
        txn_of(&resp.text().await.unwrap())
    }

    /// Log In → Password → redirect; returns the redirect target.
    async fn sign_in_as(
        &self,
        user: &str,
        password: &str,
        state: &str,
        challenge: Option<&str>,
    ) -> Url {
        let txn = self.open(state, challenge).await;
        let resp = self
            .post_signin(&[
                ("txn", &txn),
                ("action", "continue"),
                ("username", user),
                ("agree", "yes"),
            ])
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.text().await.unwrap().contains("Welcome back,"));
        let resp = self
            .post_signin(&[("txn", &txn), ("action", "login"), ("password", password)])
            .await;
        assert_eq!(resp.status(), StatusCode::FOUND, "sign-in should redirect");
        Url::parse(resp.headers()[LOCATION].to_str().unwrap()).unwrap()
    }

    async fn code(&self, challenge: Option<&str>) -> String {
        let back = self
            .sign_in_as("demo", "demo-password", "st-1", challenge)
            .await;
        assert_eq!(query(&back, "state").as_deref(), Some("st-1"));
        query(&back, "code").expect("redirect carries a code")
    }

    async fn exchange(
        &self,
        code: &str,
        redirect_uri: &str,
        verifier: Option<&str>,
    ) -> reqwest::Response {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        self.http
            .post(format!("{}/security/v1/oauth/token", self.base))
            .basic_auth("demo-client", Some("demo-secret"))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    async fn tokens(&self) -> Value {
        let code = self.code(None).await;
        let resp = self.exchange(&code, REDIRECT, None).await;
        assert_eq!(resp.status(), StatusCode::OK);
        resp.json().await.unwrap()
    }

    async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/security/v1/oauth/refresh", self.base))
            .basic_auth("demo-client", Some("demo-secret"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ])
            .send()
            .await
            .unwrap()
    }

    async fn track(&self, access_token: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(format!(
            "{}/api/track/v1/details/1Z999AA10123456784",
            self.base
        ));
        if let Some(t) = access_token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    async fn set_faults(&self, faults: Value) -> reqwest::Response {
        self.http
            .post(format!("{}/mock/faults", self.base))
            .json(&faults)
            .send()
            .await
            .unwrap()
    }

    async fn stats(&self) -> MockStats {
        self.get(&format!("{}/mock/stats", self.base))
            .await
            .json()
            .await
            .unwrap()
    }
}

fn s(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is a string"))
        .to_owned()
}

#[tokio::test]
async fn validate_client_json_is_exact() {
    let m = Mock::new().await;
    let url = |client: &str, redirect: &str| {
        let mut u = Url::parse(&format!("{}/security/v1/oauth/validate-client", m.base)).unwrap();
        u.query_pairs_mut()
            .append_pair("client_id", client)
            .append_pair("redirect_uri", redirect);
        u.to_string()
    };
    let resp = m.get(&url("demo-client", REDIRECT)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    assert_eq!(
        text,
        format!(
            r#"{{"result":"success","type":"ups_com_api","LassoRedirectURL":"{}/lasso/signin"}}"#,
            m.base
        )
    );

    let resp = m.get(&url("nobody", REDIRECT)).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"response":{"errors":[{"code":"10401","message":"ClientId is Invalid"}]}})
    );

    for bad in [
        "http://127.0.0.1:8080/admin/token-manager/",
        "http://127.0.0.1:8080/admin/token-manager?x=1",
        "http://localhost:8080/admin/token-manager",
        "https://evil.example/admin/token-manager",
    ] {
        let resp = m.get(&url("demo-client", bad)).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(ups_error_code(&body), "invalid_request");
    }
    let resp = m
        .get(&format!(
            "{}/security/v1/oauth/validate-client?client_id=demo-client",
            m.base
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // A redirect URI registered at run time (host on an ephemeral port).
    m.mock
        .add_redirect_uri("demo-client", "http://127.0.0.1:45678/admin/token-manager");
    let resp = m
        .get(&url(
            "demo-client",
            "http://127.0.0.1:45678/admin/token-manager",
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(m.stats().await.validate_client_requests, 8);
}

#[tokio::test]
async fn authorize_redirects_to_the_signin_screens() {
    let m = Mock::new().await;
    let (_, challenge) = pkce_pair();
    let mut u = Url::parse(&format!("{}/security/v1/oauth/authorize", m.base)).unwrap();
    u.query_pairs_mut()
        .append_pair("client_id", "demo-client")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("response_type", "code")
        .append_pair("scope", "read")
        .append_pair("state", "abc")
        .append_pair("code_challenge", &challenge);
    let resp = m.get(u.as_str()).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert_eq!(resp.headers()["appname"], "Token Manager Demo");
    let loc = Url::parse(resp.headers()[LOCATION].to_str().unwrap()).unwrap();
    assert_eq!(loc.path(), "/lasso/signin");
    assert_eq!(query(&loc, "type").as_deref(), Some("ups_com_api"));
    assert_eq!(query(&loc, "state").as_deref(), Some("abc"));
    assert_eq!(
        query(&loc, "code_challenge").as_deref(),
        Some(challenge.as_str())
    );
    assert_eq!(m.get(loc.as_str()).await.status(), StatusCode::OK);

    let resp = m
        .get(&format!(
            "{}/security/v1/oauth/authorize?client_id=x&redirect_uri=y&response_type=code",
            m.base
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn signin_screens_and_full_code_exchange() {
    let m = Mock::new().await;
    // Screen 1: Log In.
    let resp = m.get(&m.signin_url("state-123", None)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let csp = resp.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(
        csp.contains("form-action 'self' http://127.0.0.1:8080"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(resp.headers().get("set-cookie").is_none());
    let html = resp.text().await.unwrap();
    for needle in [
        "<title>Log In</title>",
        r#"<h1 id="page-title">Log In</h1>"#,
        "Don't have a profile?",
        "Sign up",
        r#"<label for="username">Email or Username</label>"#,
        r#"id="username""#,
        r#"<label for="agree">"#,
        AGREEMENT,
        r#"value="continue" class="primary">Continue</button>"#,
        "Forgot Username/Password",
        r#"value="cancel" class="secondary" formnovalidate>Cancel</button>"#,
    ] {
        assert!(html.contains(needle), "Log In page lacks {needle:?}");
    }
    let css = m.get(&format!("{}/lasso/assets/signin.css", m.base)).await;
    assert_eq!(css.status(), StatusCode::OK);
    assert!(css.text().await.unwrap().contains("--ups-brown"));

    let txn = txn_of(&html);
    // Continue without the agreement: same screen, clear message, username kept.
    let resp = m
        .post_signin(&[("txn", &txn), ("action", "continue"), ("username", "demo")])
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    assert!(html.contains(r#"<h1 id="page-title">Log In</h1>"#));
    assert!(html.contains("To continue, check the box to agree"));
    assert!(html.contains(r#"value="demo""#));
    assert!(html.contains(r#"role="alert""#));
    // The checkbox is the field in error: it gets focus and aria-invalid.
    assert!(html.contains(
        r#"type="checkbox" value="yes" required autofocus aria-invalid="true" aria-describedby="form-error">"#
    ));
    // Empty username.
    let resp = m
        .post_signin(&[("txn", &txn), ("action", "continue"), ("agree", "yes")])
        .await;
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("Enter your Email or Username."));

    // Screen 2: Welcome back.
    let resp = m
        .post_signin(&[
            ("txn", &txn),
            ("action", "continue"),
            ("username", "Demo"),
            ("agree", "yes"),
        ])
        .await;
    let html = resp.text().await.unwrap();
    assert!(html.contains("Welcome back, demo"), "{html}");
    assert!(html.contains(r#"<label for="password">Password</label>"#));
    assert!(html.contains(r#"type="password""#));
    assert!(html.contains(r#"class="primary">Login</button>"#));
    assert!(html.contains("Forgot Username/Password"));
    assert!(html.contains(">Cancel</button>"));

    // Wrong password: same screen with an error.
    let resp = m
        .post_signin(&[("txn", &txn), ("action", "login"), ("password", "nope")])
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Welcome back, demo"));
    assert!(html.contains("don&#39;t match our records"));

    // Right password: 302 back with code and the same state.
    let resp = m
        .post_signin(&[
            ("txn", &txn),
            ("action", "login"),
            ("password", "demo-password"),
        ])
        .await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    let back = Url::parse(resp.headers()[LOCATION].to_str().unwrap()).unwrap();
    assert!(back.as_str().starts_with(REDIRECT));
    assert_eq!(query(&back, "state").as_deref(), Some("state-123"));
    let code = query(&back, "code").unwrap();
    assert!(code.len() >= 32);

    // The transaction is over: replaying the form shows the expired page.
    let resp = m
        .post_signin(&[
            ("txn", &txn),
            ("action", "login"),
            ("password", "demo-password"),
        ])
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.headers().get(LOCATION).is_none());

    // Exchange: UPS's token JSON, every value a string.
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let resp = m.exchange(&code, REDIRECT, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let t: Value = resp.json().await.unwrap();
    let obj = t.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "access_token",
            "client_id",
            "expires_in",
            "issued_at",
            "refresh_count",
            "refresh_token",
            "refresh_token_expires_in",
            "refresh_token_issued_at",
            "refresh_token_status",
            "scope",
            "status",
            "token_type"
        ]
    );
    assert!(obj.values().all(Value::is_string), "{t}");
    assert_eq!(s(&t, "token_type"), "Bearer");
    assert_eq!(s(&t, "client_id"), "demo-client");
    assert_eq!(s(&t, "expires_in"), "14399");
    assert_eq!(s(&t, "refresh_token_expires_in"), "5183999");
    assert_eq!(s(&t, "refresh_token_status"), "approved");
    assert_eq!(s(&t, "status"), "approved");
    assert_eq!(s(&t, "refresh_count"), "0");
    assert_eq!(s(&t, "scope"), "read");
    let issued: u128 = s(&t, "issued_at").parse().unwrap();
    assert!(issued >= before && issued < before + 60_000, "ms epoch");
    assert_eq!(s(&t, "refresh_token_issued_at"), s(&t, "issued_at"));
    assert_ne!(s(&t, "access_token"), s(&t, "refresh_token"));

    // Core reads it as a grant.
    let grant = token_manager_core::token::parse_token_response(
        200,
        t.to_string().as_bytes(),
        token_manager_core::time::Timestamp(i64::try_from(issued).unwrap()),
    )
    .unwrap();
    assert_eq!(grant.access_token.secret(), &s(&t, "access_token"));

    let stats = m.stats().await;
    assert_eq!(stats.token_requests, 1);
    assert_eq!(stats.tokens_issued, 1);
    assert_eq!(stats.signins_completed, 1);
    assert_eq!(stats.active_access_tokens, 1);
    assert_eq!(stats.users["demo"].tokens_issued, 1);
}

#[tokio::test]
async fn client_authentication_is_checked() {
    let m = Mock::new().await;
    let code = m.code(None).await;
    let url = format!("{}/security/v1/oauth/token", m.base);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let cases: [(Option<&str>, &str); 4] = [
        (None, "10400"),
        (Some("Basic !!!not-base64"), "10400"),
        (Some("Bearer abc"), "10400"),
        (Some("Basic ZGVtby1jbGllbnQ6d3Jvbmc="), "10401"), // demo-client:wrong
    ];
    for (header, expected) in cases {
        let mut req = m.http.post(&url).form(&form);
        if let Some(h) = header {
            req = req.header(AUTHORIZATION, h);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{header:?}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(ups_error_code(&body), expected, "{header:?}");
    }
    let resp = m
        .http
        .post(&url)
        .basic_auth("other-client", Some("demo-secret"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // Failed client authentication does not spend the code.
    assert_eq!(
        m.exchange(&code, REDIRECT, None).await.status(),
        StatusCode::OK
    );
    // Wrong secret on refresh too.
    let resp = m
        .http
        .post(format!("{}/security/v1/oauth/refresh", m.base))
        .basic_auth("demo-client", Some("nope"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn form_encoded_basic_credentials_are_decoded() {
    let config = MockConfig {
        clients: vec![MockClient {
            client_id: "id:with space".into(),
            client_secret: "s3cr&t+%".into(),
            redirect_uris: vec![REDIRECT.into()],
        }],
        ..MockConfig::default()
    };
    let m = Mock::with(config).await;
    let resp = m
        .http
        .post(format!("{}/security/v1/oauth/refresh", m.base))
        // RFC 6749 §2.3.1: form-urlencode, then Basic.
        .basic_auth("id%3Awith+space", Some("s3cr%26t%2B%25"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    // Authenticated: the refresh token is what fails.
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(ups_error_code(&body), "invalid_grant");
}

#[tokio::test]
async fn pkce_is_verified() {
    let m = Mock::new().await;
    let (verifier, challenge) = pkce_pair();

    // Wrong verifier.
    let code = m.code(Some(&challenge)).await;
    let (other, _) = pkce_pair();
    let resp = m.exchange(&code, REDIRECT, Some(&other)).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(ups_error_code(&body), "invalid_grant");
    assert!(body.to_string().contains("code_verifier"));
    // The failed attempt spent the code.
    assert_eq!(
        m.exchange(&code, REDIRECT, Some(&verifier)).await.status(),
        StatusCode::BAD_REQUEST
    );

    // Missing verifier.
    let code = m.code(Some(&challenge)).await;
    assert_eq!(
        m.exchange(&code, REDIRECT, None).await.status(),
        StatusCode::BAD_REQUEST
    );

    // Right verifier.
    let code = m.code(Some(&challenge)).await;
    assert_eq!(
        m.exchange(&code, REDIRECT, Some(&verifier)).await.status(),
        StatusCode::OK
    );

    // UPS's PKCE flow 2: no Basic header, client_id and code_verifier in the body.
    let code = m.code(Some(&challenge)).await;
    let resp = m
        .http
        .post(format!("{}/security/v1/oauth/token", m.base))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", "demo-client"),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    // A bad challenge or method never reaches the screens: the error goes back.
    let mut u = Url::parse(&m.signin_url("st", Some("short"))).unwrap();
    let resp = m.get(u.as_str()).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    let back = Url::parse(resp.headers()[LOCATION].to_str().unwrap()).unwrap();
    assert_eq!(query(&back, "error").as_deref(), Some("invalid_request"));
    assert_eq!(query(&back, "state").as_deref(), Some("st"));
    u.set_query(Some(
        &u.query()
            .unwrap()
            .replace("short", &challenge)
            .replace("S256", "plain"),
    ));
    let resp = m.get(u.as_str()).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
}

#[tokio::test]
async fn code_replay_is_rejected_and_revokes_its_tokens() {
    let m = Mock::new().await;
    let code = m.code(None).await;
    let t: Value = m
        .exchange(&code, REDIRECT, None)
        .await
        .json()
        .await
        .unwrap();
    let access = s(&t, "access_token");
    assert_eq!(m.track(Some(&access)).await.status(), StatusCode::OK);

    let resp = m.exchange(&code, REDIRECT, None).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(ups_error_code(&body), "invalid_grant");

    // RFC 6749 §4.1.2: the tokens issued from the code are revoked.
    assert_eq!(
        m.track(Some(&access)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let resp = m.refresh(&s(&t, "refresh_token")).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(m.stats().await.codes_replayed, 1);
}

#[tokio::test]
async fn code_expires_and_redirect_uri_must_match() {
    let config = MockConfig {
        code_ttl: Duration::from_millis(300),
        ..MockConfig::default()
    };
    let m = Mock::with(config).await;
    let code = m.code(None).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let resp = m.exchange(&code, REDIRECT, None).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(ups_error_code(&body), "invalid_grant");
    assert!(body.to_string().contains("expired"));

    let code = m.code(None).await;
    let resp = m
        .exchange(&code, "http://127.0.0.1:8080/admin/token-manager/", None)
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(ups_error_code(&body), "invalid_grant");

    let resp = m.exchange("no-such-code", REDIRECT, None).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // Wrong grant type, missing parameters, not a form.
    let url = format!("{}/security/v1/oauth/token", m.base);
    let resp = m
        .http
        .post(&url)
        .basic_auth("demo-client", Some("demo-secret"))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(ups_error_code(&body), "unsupported_grant_type");
    let resp = m
        .http
        .post(&url)
        .basic_auth("demo-client", Some("demo-secret"))
        .form(&[("grant_type", "authorization_code")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(ups_error_code(&body), "invalid_request");
    let resp = m
        .http
        .post(&url)
        .basic_auth("demo-client", Some("demo-secret"))
        .json(&json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(ups_error_code(&body), "invalid_request");
}

#[tokio::test]
async fn refresh_rotates_and_the_old_refresh_token_is_dead() {
    let m = Mock::new().await;
    let t0 = m.tokens().await;
    let resp = m.refresh(&s(&t0, "refresh_token")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let t1: Value = resp.json().await.unwrap();
    assert!(t1.as_object().unwrap().values().all(Value::is_string));
    assert_eq!(s(&t1, "refresh_count"), "1");
    assert_eq!(s(&t1, "refresh_token_status"), "approved");
    assert_ne!(s(&t1, "access_token"), s(&t0, "access_token"));
    assert_ne!(s(&t1, "refresh_token"), s(&t0, "refresh_token"));

    // The spent refresh token: invalid_grant, every time.
    for _ in 0..2 {
        let resp = m.refresh(&s(&t0, "refresh_token")).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(ups_error_code(&body), "invalid_grant");
        let err = token_manager_core::token::parse_error_response(400, body.to_string().as_bytes());
        assert_eq!(
            err.kind,
            token_manager_core::token::ProviderErrorKind::InvalidGrant
        );
    }
    // The new one works and rotates again.
    let t2: Value = m
        .refresh(&s(&t1, "refresh_token"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s(&t2, "refresh_count"), "2");
    // Access tokens stay valid until they expire.
    assert_eq!(
        m.track(Some(&s(&t0, "access_token"))).await.status(),
        StatusCode::OK
    );

    let stats = m.stats().await;
    assert_eq!(stats.refresh_requests, 4);
    assert_eq!(stats.refreshes_succeeded, 2);
    assert_eq!(stats.refresh_tokens_spent, 2);
    assert_eq!(stats.active_refresh_tokens, 1);
    assert_eq!(stats.active_access_tokens, 3);
    assert_eq!(stats.users["demo"].refreshes, 2);

    // Wrong grant type on refresh.
    let resp = m
        .http
        .post(format!("{}/security/v1/oauth/refresh", m.base))
        .basic_auth("demo-client", Some("demo-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("refresh_token", &s(&t2, "refresh_token")),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(ups_error_code(&body), "unsupported_grant_type");
}

#[tokio::test]
async fn password_change_invalidates_refresh_and_access_tokens() {
    let m = Mock::new().await;
    let t = m.tokens().await;
    let access = s(&t, "access_token");
    assert_eq!(m.track(Some(&access)).await.status(), StatusCode::OK);

    let resp = m
        .http
        .post(format!("{}/mock/password-change", m.base))
        .json(&json!({"user": "demo", "new_password": "changed-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let change: Value = resp.json().await.unwrap();
    assert_eq!(change["revoked_refresh_tokens"], 1);
    assert_eq!(change["revoked_access_tokens"], 1);

    let resp = m.refresh(&s(&t, "refresh_token")).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(ups_error_code(&body), "invalid_grant");
    assert!(body.to_string().contains("revoked"));

    let resp = m.track(Some(&access)).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"response":{"errors":[{"code":"250002","message":"Invalid Authentication Information."}]}})
    );

    // The old password no longer signs in; the new one does.
    let txn = m.open("s", None).await;
    m.post_signin(&[
        ("txn", &txn),
        ("action", "continue"),
        ("username", "demo"),
        ("agree", "yes"),
    ])
    .await;
    let resp = m
        .post_signin(&[
            ("txn", &txn),
            ("action", "login"),
            ("password", "demo-password"),
        ])
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let back = m.sign_in_as("demo", "changed-1", "s2", None).await;
    assert!(query(&back, "code").is_some());

    // The Rust API does the same.
    let code = query(&back, "code").unwrap();
    let t2: Value = m
        .exchange(&code, REDIRECT, None)
        .await
        .json()
        .await
        .unwrap();
    m.mock.change_password("demo", "changed-2");
    assert_eq!(
        m.refresh(&s(&t2, "refresh_token")).await.status(),
        StatusCode::BAD_REQUEST
    );
    let stats = m.mock.stats();
    assert_eq!(stats.users["demo"].password_changes, 2);
    assert_eq!(stats.active_access_tokens, 0);
    assert_eq!(stats.active_refresh_tokens, 0);

    // Unknown user / bad body.
    let resp = m
        .http
        .post(format!("{}/mock/password-change", m.base))
        .json(&json!({"user": "nobody", "new_password": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = m
        .http
        .post(format!("{}/mock/password-change", m.base))
        .json(&json!({"usr": "demo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn data_api_counts_calls_per_token() {
    let m = Mock::new().await;
    let t = m.tokens().await;
    let access = s(&t, "access_token");
    for _ in 0..3 {
        let resp = m.track(Some(&access)).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let body: Value = resp.json().await.unwrap();
        let pkg = &body["trackResponse"]["shipment"][0]["package"][0];
        assert_eq!(pkg["trackingNumber"], "1Z999AA10123456784");
        assert_eq!(pkg["currentStatus"]["description"], "Delivered");
    }
    assert_eq!(m.track(None).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        m.track(Some("forged")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let resp = m
        .http
        .get(format!("{}/api/track/v1/details/not-a-number!", m.base))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    let stats = m.stats().await;
    let fp = token_fingerprint(&access);
    assert_eq!(fp.len(), 12);
    assert_eq!(stats.data_calls_by_token[&fp], 4);
    assert_eq!(stats.data_calls_by_token[&token_fingerprint("forged")], 1);
    assert_eq!(stats.data_calls_total, 6);
    assert_eq!(stats.data_calls_rejected, 2);
    assert_eq!(stats.users["demo"].data_calls, 4);

    // Stats never carry a token.
    let raw = m
        .get(&format!("{}/mock/stats", m.base))
        .await
        .text()
        .await
        .unwrap();
    assert!(!raw.contains(&access));
    assert!(!raw.contains(&s(&t, "refresh_token")));
}

#[tokio::test]
async fn expired_access_tokens_are_refused() {
    let config = MockConfig {
        access_ttl: Duration::from_millis(1500),
        ..MockConfig::default()
    };
    let m = Mock::with(config).await;
    let t = m.tokens().await;
    assert_eq!(s(&t, "expires_in"), "1", "whole seconds, rounded down");
    let access = s(&t, "access_token");
    assert_eq!(m.track(Some(&access)).await.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(
        m.track(Some(&access)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(m.stats().await.active_access_tokens, 0);
    // The refresh token still works.
    assert_eq!(
        m.refresh(&s(&t, "refresh_token")).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn token_endpoint_status_faults_do_not_spend_the_code() {
    let m = Mock::new().await;
    for (kind, status) in [("status_500", 500), ("status_503", 503)] {
        let code = m.code(None).await;
        let resp = m
            .set_faults(json!({"token": {"kind": kind, "times": 1}}))
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
        let resp = m.exchange(&code, REDIRECT, None).await;
        assert_eq!(resp.status().as_u16(), status);
        let body: Value = resp.json().await.unwrap();
        assert!(body["response"]["errors"][0]["code"].is_string());
        // times: 1 → the next request is normal, and the code was not spent.
        assert_eq!(
            m.exchange(&code, REDIRECT, None).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(m.stats().await.faults_applied, 2);
}

#[tokio::test]
async fn malformed_json_fault() {
    let m = Mock::new().await;
    m.set_faults(json!({"token": {"kind": "malformed_json"}}))
        .await;
    let code = m.code(None).await;
    for _ in 0..2 {
        let resp = m.exchange(&code, REDIRECT, None).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-type"], "application/json");
        let text = resp.text().await.unwrap();
        assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
    }
    let resp = m
        .http
        .post(format!("{}/mock/reset", m.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(m.mock.faults().is_none());
    assert_eq!(
        m.exchange(&code, REDIRECT, None).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn slow_fault_delays_then_answers() {
    let m = Mock::new().await;
    let t = m.tokens().await;
    m.mock.set_faults(Faults {
        refresh: EndpointFault {
            kind: FaultKind::Slow,
            slow_ms: Some(400),
            times: Some(1),
        },
        ..Faults::default()
    });
    let started = Instant::now();
    let resp = m.refresh(&s(&t, "refresh_token")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert!(m.mock.faults().is_none(), "times: 1 used up");
}

#[tokio::test]
async fn timeout_fault_hangs() {
    let m = Mock::new().await;
    let t = m.tokens().await;
    m.set_faults(json!({"refresh": {"kind": "timeout"}})).await;
    let started = Instant::now();
    let err = m
        .http
        .post(format!("{}/security/v1/oauth/refresh", m.base))
        .basic_auth("demo-client", Some("demo-secret"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &s(&t, "refresh_token")),
        ])
        .timeout(Duration::from_millis(500))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The token endpoint is not affected by a refresh fault, and the refresh token is unspent.
    let code = m.code(None).await;
    assert_eq!(
        m.exchange(&code, REDIRECT, None).await.status(),
        StatusCode::OK
    );
    m.mock.set_faults(Faults::default());
    assert_eq!(
        m.refresh(&s(&t, "refresh_token")).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn refresh_status_fault_is_separate_from_token() {
    let m = Mock::new().await;
    let t = m.tokens().await;
    m.set_faults(json!({"refresh": {"kind": "status_503", "times": 2}}))
        .await;
    for _ in 0..2 {
        assert_eq!(
            m.refresh(&s(&t, "refresh_token")).await.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    let faults: Value = m
        .get(&format!("{}/mock/faults", m.base))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(faults["refresh"]["kind"], "none");
    assert_eq!(
        m.refresh(&s(&t, "refresh_token")).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn invalid_fault_json_is_refused() {
    let m = Mock::new().await;
    for bad in [
        json!({"token": {"kind": "explode"}}),
        json!({"tokn": {}}),
        json!({"token": "status_500"}),
    ] {
        let resp = m.set_faults(bad.clone()).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_request");
    }
    assert!(m.mock.faults().is_none());
}

#[tokio::test]
async fn wrong_state_fault() {
    let m = Mock::new().await;
    m.set_faults(json!({"wrong_state": true})).await;
    let back = m
        .sign_in_as("demo", "demo-password", "the-state", None)
        .await;
    assert!(query(&back, "code").is_some());
    let state = query(&back, "state").unwrap();
    assert_ne!(state, "the-state");
}

#[tokio::test]
async fn declined_consent_and_cancel_return_access_denied() {
    let m = Mock::new().await;
    // Fault: a correct sign-in ends with access_denied.
    m.set_faults(json!({"decline_consent": true})).await;
    let back = m.sign_in_as("demo", "demo-password", "st-d", None).await;
    assert!(back.as_str().starts_with(REDIRECT));
    assert_eq!(query(&back, "error").as_deref(), Some("access_denied"));
    assert!(query(&back, "error_description").is_some());
    assert_eq!(query(&back, "state").as_deref(), Some("st-d"));
    assert!(query(&back, "code").is_none());
    m.mock.set_faults(Faults::default());

    // Cancel on the Log In screen.
    let txn = m.open("st-c1", None).await;
    let resp = m.post_signin(&[("txn", &txn), ("action", "cancel")]).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    let back = Url::parse(resp.headers()[LOCATION].to_str().unwrap()).unwrap();
    assert_eq!(query(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(query(&back, "state").as_deref(), Some("st-c1"));

    // Cancel on the Password screen.
    let txn = m.open("st-c2", None).await;
    m.post_signin(&[
        ("txn", &txn),
        ("action", "continue"),
        ("username", "demo"),
        ("agree", "yes"),
    ])
    .await;
    let resp = m.post_signin(&[("txn", &txn), ("action", "cancel")]).await;
    let back = Url::parse(resp.headers()[LOCATION].to_str().unwrap()).unwrap();
    assert_eq!(query(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(query(&back, "state").as_deref(), Some("st-c2"));

    // Too many wrong passwords.
    let txn = m.open("st-p", None).await;
    m.post_signin(&[
        ("txn", &txn),
        ("action", "continue"),
        ("username", "demo"),
        ("agree", "yes"),
    ])
    .await;
    let mut last = None;
    for _ in 0..5 {
        last = Some(
            m.post_signin(&[("txn", &txn), ("action", "login"), ("password", "wrong")])
                .await,
        );
    }
    let resp = last.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let back = Url::parse(resp.headers()[LOCATION].to_str().unwrap()).unwrap();
    assert_eq!(query(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(m.stats().await.signins_declined, 4);
}

#[tokio::test]
async fn signin_never_redirects_to_an_unregistered_uri() {
    let m = Mock::new().await;
    for (client, redirect) in [
        ("nobody", REDIRECT),
        ("demo-client", "https://evil.example/steal"),
        ("demo-client", "http://127.0.0.1:8080/admin/token-manager/x"),
    ] {
        let mut u = Url::parse(&format!("{}/lasso/signin", m.base)).unwrap();
        u.query_pairs_mut()
            .append_pair("client_id", client)
            .append_pair("redirect_uri", redirect)
            .append_pair("response_type", "code")
            .append_pair("state", "x");
        let resp = m.get(u.as_str()).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{redirect}");
        assert!(resp.headers().get(LOCATION).is_none());
        let html = resp.text().await.unwrap();
        assert!(html.contains("We can't complete this sign-in"), "{html}");
    }
    // Valid redirect URI but wrong response_type: the error goes back to the app.
    let url = m
        .signin_url("rt", None)
        .replace("response_type=code", "response_type=token");
    let resp = m.get(&url).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
    let back = Url::parse(resp.headers()[LOCATION].to_str().unwrap()).unwrap();
    assert_eq!(
        query(&back, "error").as_deref(),
        Some("unsupported_response_type")
    );
    // Unknown transaction.
    let resp = m
        .post_signin(&[("txn", "forged"), ("action", "continue")])
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.headers().get(LOCATION).is_none());
}

#[tokio::test]
async fn control_endpoints_answer_only_on_loopback() {
    use axum::body::Body;
    use axum::extract::connect_info::MockConnectInfo;
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    let mock = MockUps::new(MockConfig::default());
    let request = || {
        axum::http::Request::builder()
            .uri("/mock/stats")
            .body(Body::empty())
            .unwrap()
    };
    // No peer address known: refused.
    let resp = mock.router().oneshot(request()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // A remote peer: refused.
    let remote: std::net::SocketAddr = "192.0.2.7:5555".parse().unwrap();
    let resp = mock
        .router()
        .layer(MockConnectInfo(remote))
        .oneshot(request())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "forbidden");
    // Loopback: answered.
    let local: std::net::SocketAddr = "127.0.0.1:5555".parse().unwrap();
    let resp = mock
        .router()
        .layer(MockConnectInfo(local))
        .oneshot(request())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // The OAuth endpoints do not need the peer address.
    let resp = mock
        .router()
        .oneshot(
            axum::http::Request::builder()
                .uri(format!(
                    "/security/v1/oauth/validate-client?client_id=demo-client&redirect_uri={}",
                    url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
                ))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn faults_parse_from_a_cli_flag() {
    let f: Faults = r#"{"token":{"kind":"timeout"},"decline_consent":true}"#
        .parse()
        .unwrap();
    assert_eq!(f.token.kind, FaultKind::Timeout);
    assert!(f.decline_consent);
    let err = "{".parse::<Faults>().unwrap_err();
    assert!(err.contains("invalid mock UPS faults JSON"), "{err}");
    // Faults from the config apply from the start.
    let m = Mock::with(MockConfig {
        faults: Faults {
            token: EndpointFault::times(FaultKind::Status500, 1),
            ..Faults::default()
        },
        ..MockConfig::default()
    })
    .await;
    let code = m.code(None).await;
    assert_eq!(
        m.exchange(&code, REDIRECT, None).await.status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
}
