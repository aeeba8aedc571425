//! Typed calls of the widget API, as the widget makes them: core's `api` types in and out.

use axum::http::StatusCode;
use rand::RngCore;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use token_manager_core::api::{
    ApiErrorBody, ClearResponse, ConfigResponse, ExchangeBody, ExchangeResponse, StatusResponse,
    TokensResponse,
};
use token_manager_core::flow::{CallbackParams, PendingAuthorization, DEFAULT_MAX_AGE};
use token_manager_core::{ErrorCode, PerPage, Timestamp};

use super::{chrono_now, exchange_json, Harness};

/// A typed answer: the status and either the success body or the API's error body.
#[derive(Debug)]
pub struct Reply<T> {
    pub status: StatusCode,
    pub body: Result<T, ApiErrorBody>,
}

impl<T: std::fmt::Debug> Reply<T> {
    /// Read a status and JSON body: a 2xx as `T`, anything else as the error body.
    pub fn from_json(status: StatusCode, body: Value) -> Self
    where
        T: DeserializeOwned,
    {
        let parsed = if status.is_success() {
            Ok(serde_json::from_value(body.clone())
                .unwrap_or_else(|e| panic!("{status}: {e}: {body}")))
        } else {
            Err(serde_json::from_value(body.clone())
                .unwrap_or_else(|e| panic!("{status}: not an error body ({e}): {body}")))
        };
        Self {
            status,
            body: parsed,
        }
    }

    /// The success body; panics (with the error) otherwise.
    #[track_caller]
    pub fn ok(self) -> T {
        match self.body {
            Ok(t) => t,
            Err(e) => panic!("{}: {e:?}", self.status),
        }
    }

    /// The success body, which must have come with `status`.
    #[track_caller]
    pub fn expect(self, status: StatusCode) -> T {
        assert_eq!(self.status, status, "{:?}", self.body);
        self.ok()
    }

    /// The error body; panics (with the success body) otherwise.
    #[track_caller]
    pub fn err(self) -> ApiErrorBody {
        match self.body {
            Err(e) => e,
            Ok(t) => panic!("{}: expected an error, got {t:?}", self.status),
        }
    }

    /// The error code, if the call failed.
    pub fn code(&self) -> Option<ErrorCode> {
        self.body.as_ref().err().map(|e| e.error.code)
    }
}

impl Harness {
    /// `GET /config?company=`.
    pub async fn config(&self, company: &str) -> Reply<ConfigResponse> {
        let (s, b) = self
            .get(&format!("/api/optin/config?company={company}"))
            .await;
        Reply::from_json(s, b)
    }

    /// `POST /exchange`.
    pub async fn exchange(&self, body: &ExchangeBody) -> Reply<ExchangeResponse> {
        let (s, b) = self.post("/api/optin/exchange", &exchange_json(body)).await;
        Reply::from_json(s, b)
    }

    /// `GET /tokens?company=&page=&per_page=`.
    pub async fn tokens_page(
        &self,
        company: &str,
        page: u32,
        per_page: PerPage,
    ) -> Reply<TokensResponse> {
        let (s, b) = self
            .get(&format!(
                "/api/optin/tokens?company={company}&page={page}&per_page={}",
                per_page.get()
            ))
            .await;
        Reply::from_json(s, b)
    }

    /// The first 100 rows of the company's history (must succeed).
    pub async fn tokens(&self, company: &str) -> TokensResponse {
        self.tokens_page(company, 1, PerPage::Hundred).await.ok()
    }

    /// `GET /status?company=`.
    pub async fn status(&self, company: &str) -> Reply<StatusResponse> {
        let (s, b) = self
            .get(&format!("/api/optin/status?company={company}"))
            .await;
        Reply::from_json(s, b)
    }

    /// `POST /clear {company}`.
    pub async fn clear(&self, company: &str) -> Reply<ClearResponse> {
        let (s, b) = self
            .post("/api/optin/clear", &json!({ "company": company }))
            .await;
        Reply::from_json(s, b)
    }

    /// What the widget does on Authorize + return: `/config`, core's flow, the mock's
    /// sign-in screens (Log In → Password), core's callback check. Returns the exchange body.
    pub async fn sign_in(&self, company: &str) -> ExchangeBody {
        self.sign_in_with(company, "demo-password").await
    }

    pub async fn sign_in_with(&self, company: &str, password: &str) -> ExchangeBody {
        let config = self.config(company).await.ok();
        let mut entropy = [0u8; 64];
        rand::thread_rng().fill_bytes(&mut entropy);
        let now = Timestamp(chrono_now());
        let (authorize, pending) =
            PendingAuthorization::start(&config, &entropy, now, company, None).unwrap();
        let back = self
            .mock_sign_in(authorize.as_str(), "demo", password)
            .await;
        let params = CallbackParams::parse(back.as_str()).unwrap().unwrap();
        pending
            .handle_callback(params, Timestamp(chrono_now()), DEFAULT_MAX_AGE)
            .unwrap()
            .into_body()
    }

    /// Full opt-in for `company`.
    pub async fn authorize(&self, company: &str) -> Reply<ExchangeResponse> {
        self.authorize_with_password(company, "demo-password").await
    }

    pub async fn authorize_with_password(
        &self,
        company: &str,
        password: &str,
    ) -> Reply<ExchangeResponse> {
        let body = self.sign_in_with(company, password).await;
        self.exchange(&body).await
    }
}
