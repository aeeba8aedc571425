//! The mock's OAuth errors, in UPS's `tokenErrorResponse` shape.

/// An OAuth error in UPS's shape: `{"response":{"errors":[{"code","message"}]}}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UpsError {
    pub(crate) status: u16,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl UpsError {
    pub(crate) fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
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
    /// 400 `invalid_grant` (RFC 6749 §5.2).
    pub(crate) fn invalid_grant(message: impl Into<String>) -> Self {
        Self::new(400, "invalid_grant", message)
    }
    /// 400 `invalid_request` (RFC 6749 §5.2).
    pub(crate) fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(400, "invalid_request", message)
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
