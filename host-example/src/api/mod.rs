//! The host's HTTP APIs: the widget's, mounted at `/api/optin` ([`widget::router`]), and the
//! server API for the portal's backend, mounted at `/api/v1` ([`v1::router`]). Handlers are
//! thin: they extract, authorize, call [`crate::ops`] or the store, and answer with core's
//! [`api`](token_manager_core::api) types.

pub mod v1;
pub mod widget;

/// The OpenAPI 3.1 document of the widget API (kept by hand beside the code).
pub const OPENAPI: &str = include_str!("../../openapi.json");
