//! Typed calls of the widget API, as the widget makes them: core's `api` types in and out.

use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use token_manager_core::api::{
    ApiErrorBody, ClearResponse, ConfigResponse, ExchangeBody, ExchangeResponse, StartResponse,
    StatusResponse, TokensResponse,
};
use token_manager_core::flow::{CallbackParams, DEFAULT_MAX_AGE};
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
    /// A GET of the widget API, typed.
    pub async fn get_reply<T: DeserializeOwned + std::fmt::Debug>(&self, uri: &str) -> Reply<T> {
        let (s, b) = self.get(uri).await;
        Reply::from_json(s, b)
    }

    /// A POST of the widget API, typed.
    pub async fn post_reply<T: DeserializeOwned + std::fmt::Debug>(
        &self,
        uri: &str,
        body: &Value,
    ) -> Reply<T> {
        let (s, b) = self.post(uri, body).await;
        Reply::from_json(s, b)
    }

    /// `GET /config?company=`.
    pub async fn config(&self, company: &str) -> Reply<ConfigResponse> {
        self.get_reply(&format!("/api/optin/config?company={company}"))
            .await
    }

    /// `POST /exchange`.
    pub async fn exchange(&self, body: &ExchangeBody) -> Reply<ExchangeResponse> {
        self.post_reply("/api/optin/exchange", &exchange_json(body))
            .await
    }

    /// `GET /tokens?company=&page=&per_page=`.
    pub async fn tokens_page(
        &self,
        company: &str,
        page: u32,
        per_page: PerPage,
    ) -> Reply<TokensResponse> {
        self.get_reply(&format!(
            "/api/optin/tokens?company={company}&page={page}&per_page={}",
            per_page.get()
        ))
        .await
    }

    /// The first 100 rows of the company's history (must succeed).
    pub async fn tokens(&self, company: &str) -> TokensResponse {
        self.tokens_page(company, 1, PerPage::Hundred).await.ok()
    }

    /// `GET /status?company=`.
    pub async fn status(&self, company: &str) -> Reply<StatusResponse> {
        self.get_reply(&format!("/api/optin/status?company={company}"))
            .await
    }

    /// `POST /clear {company}`.
    pub async fn clear(&self, company: &str) -> Reply<ClearResponse> {
        self.post_reply("/api/optin/clear", &json!({ "company": company }))
            .await
    }

    /// `POST /start {company}`.
    pub async fn start(&self, company: &str) -> Reply<StartResponse> {
        self.post_reply("/api/optin/start", &json!({ "company": company }))
            .await
    }

    /// What the widget does on Authorize + return: `/start` (the host keeps state and
    /// verifier), the mock's sign-in screens (Log In → Password), core's check of the return
    /// against the tab's marker. Returns the exchange body.
    pub async fn sign_in(&self, company: &str) -> ExchangeBody {
        self.sign_in_with(company, "demo-password").await
    }

    pub async fn sign_in_with(&self, company: &str, password: &str) -> ExchangeBody {
        let started = self.start(company).await.expect(StatusCode::OK);
        self.finish_sign_in(started, password).await
    }

    /// The rest of [`sign_in_with`](Self::sign_in_with) after `/start`.
    pub async fn finish_sign_in(&self, started: StartResponse, password: &str) -> ExchangeBody {
        let back = self
            .mock_sign_in(&started.authorize_url, "demo", password)
            .await;
        let params = CallbackParams::parse(back.as_str()).unwrap().unwrap();
        started
            .pending
            .handle_callback(params, Timestamp(chrono_now()), DEFAULT_MAX_AGE)
            .unwrap()
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
