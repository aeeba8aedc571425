//! The mock's OAuth errors, in UPS's `tokenErrorResponse` shape.

/// An OAuth error in UPS's shape: `{"response":{"errors":[{"code","message"}]}}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UpsError {
    pub(crate) status: u16,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    /// Which rule refused (logged and seen by tests; UPS's answer does not say).
    pub(crate) why: Option<String>,
}

impl UpsError {
    pub(crate) fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            why: None,
        }
    }
    /// 401 `10400`: the Basic header is missing or cannot be decoded.
    pub(crate) fn missing_auth() -> Self {
        Self::new(401, "10400", "Invalid/Missing Authorization Header")
    }
    /// 401 `10401`: unknown client or wrong secret.
    pub(crate) fn invalid_client() -> Self {
        Self::new(401, "10401", "ClientId is Invalid")
    }
    /// 400 `10400` "Invalid authorization code", as UPS answers a used, expired, revoked or
    /// foreign code (UPS's general error code, not RFC 6749's `invalid_grant`). `why` is
    /// logged, not sent: UPS's message does not say which.
    pub(crate) fn invalid_code(why: &str) -> Self {
        tracing::info!(why, "mock UPS: code refused");
        Self {
            why: Some(why.to_owned()),
            ..Self::new(400, "10400", "Invalid authorization code")
        }
    }
    /// 400 `10400` "Invalid Refresh Token", as UPS answers a used, expired, revoked or foreign
    /// refresh token (`why` is logged, not sent).
    pub(crate) fn invalid_refresh(why: &str) -> Self {
        tracing::info!(why, "mock UPS: refresh token refused");
        Self {
            why: Some(why.to_owned()),
            ..Self::new(400, "10400", "Invalid Refresh Token")
        }
    }
    /// 400 `10400` "Invalid Redirect URL": a redirect URI the app did not register (what
    /// `/authorize` answered in UPS-API/api-documentation issue #45).
    pub(crate) fn invalid_redirect() -> Self {
        Self {
            why: Some("redirect_uri does not match".into()),
            ..Self::new(400, "10400", "Invalid Redirect URL")
        }
    }
    /// What a test checks: the rule that refused, else the message.
    #[cfg(test)]
    pub(crate) fn detail(&self) -> &str {
        self.why.as_deref().unwrap_or(&self.message)
    }
    /// 400 `10400` with `message`: UPS's general error (missing or invalid parameters).
    pub(crate) fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(400, "10400", message)
    }
    /// 401 `250002`: what UPS's APIs answer for an unknown, expired or revoked bearer token.
    pub(crate) fn invalid_bearer() -> Self {
        Self::new(401, "250002", "Invalid Authentication Information.")
    }
    /// The JSON body.
    pub(crate) fn body(&self) -> serde_json::Value {
        serde_json::json!({"response": {"errors": [{"code": self.code, "message": self.message}]}})
    }
}
