//! The host's HTTP APIs. Today one: the widget's, mounted at `/api/optin`
//! ([`widget::router`]). Handlers are thin: they extract, call [`crate::ops`] or the store,
//! and answer with core's [`api`](token_manager_core::api) types.

pub mod widget;

/// The OpenAPI 3.1 document of the widget API (kept by hand beside the code).
pub const OPENAPI: &str = include_str!("../../openapi.json");
