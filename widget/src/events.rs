//! Events for the embedding page: a Rust callback prop, and `(name, detail)` calls of the JS
//! `onEvent` option (the npm wrapper turns them into DOM `CustomEvent`s).

use serde::Serialize;
use token_manager_core::{ErrorCode, Timestamp, TokenRecord};

/// Something the embedding page may want to know.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum WidgetEvent {
    /// The panel's view changed (`loading`, `not_authorized`, `redirecting`, `generating`,
    /// `authorized`, `invalidated`, `error`).
    StateChange {
        /// Company of the panel.
        company: String,
        /// The new view's name.
        state: &'static str,
    },
    /// A token was generated after the return from the provider.
    Authorized {
        /// Company of the panel.
        company: String,
        /// The new history row (metadata only; boxed, the other variants are small).
        record: Box<TokenRecord>,
    },
    /// The authorization was cleared.
    Cleared {
        /// Company of the panel.
        company: String,
        /// When the host cleared it.
        cleared_at: Timestamp,
    },
    /// An error is shown.
    Error {
        /// Company of the panel.
        company: String,
        /// Stable code.
        code: ErrorCode,
        /// The text shown (core's message or its locale override).
        message: String,
    },
}

/// `detail` of the JS events (camelCase, timestamps in ms since the epoch); fields that do not
/// apply are left out.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventDetail<'a> {
    company: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cleared_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    record: Option<RecordDetail>,
}

/// The `record` of an `authorized` event.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordDetail {
    id: i64,
    token_created: i64,
    token_expires: i64,
    refresh_created: Option<i64>,
    refresh_expires: Option<i64>,
    status: &'static str,
}

impl WidgetEvent {
    /// The JS event name: `statechange`, `authorized`, `cleared` or `error`.
    pub fn name(&self) -> &'static str {
        match self {
            WidgetEvent::StateChange { .. } => "statechange",
            WidgetEvent::Authorized { .. } => "authorized",
            WidgetEvent::Cleared { .. } => "cleared",
            WidgetEvent::Error { .. } => "error",
        }
    }

    /// The JS `detail`, e.g. `{"company":"demo-co","state":"authorized"}` or
    /// `{"company":"demo-co","code":"timeout","message":"…"}`.
    pub fn detail(&self) -> EventDetail<'_> {
        let empty = |company| EventDetail {
            company,
            state: None,
            code: None,
            message: None,
            cleared_at: None,
            record: None,
        };
        match self {
            WidgetEvent::StateChange { company, state } => EventDetail {
                state: Some(state),
                ..empty(company)
            },
            WidgetEvent::Authorized { company, record } => EventDetail {
                state: Some("authorized"),
                record: Some(RecordDetail {
                    id: record.id,
                    token_created: record.token_created.as_millis(),
                    token_expires: record.token_expires.as_millis(),
                    refresh_created: record.refresh_created.map(Timestamp::as_millis),
                    refresh_expires: record.refresh_expires.map(Timestamp::as_millis),
                    status: record.status.as_str(),
                }),
                ..empty(company)
            },
            WidgetEvent::Cleared {
                company,
                cleared_at,
            } => EventDetail {
                state: Some("not_authorized"),
                cleared_at: Some(cleared_at.as_millis()),
                ..empty(company)
            },
            WidgetEvent::Error {
                company,
                code,
                message,
            } => EventDetail {
                code: Some(code.as_str()),
                message: Some(message),
                ..empty(company)
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn details_are_plain_camel_case_objects() {
        let e = WidgetEvent::Error {
            company: "demo-co".into(),
            code: ErrorCode::Timeout,
            message: "slow".into(),
        };
        assert_eq!(e.name(), "error");
        assert_eq!(
            serde_json::to_value(e.detail()).unwrap(),
            serde_json::json!({"company": "demo-co", "code": "timeout", "message": "slow"})
        );
        let e = WidgetEvent::Cleared {
            company: "c".into(),
            cleared_at: Timestamp(5),
        };
        assert_eq!(
            serde_json::to_value(e.detail()).unwrap(),
            serde_json::json!({"company": "c", "state": "not_authorized", "clearedAt": 5})
        );
        let e = WidgetEvent::StateChange {
            company: "c".into(),
            state: "loading",
        };
        assert_eq!(e.name(), "statechange");
        assert_eq!(
            serde_json::to_value(e.detail()).unwrap(),
            serde_json::json!({"company": "c", "state": "loading"})
        );
    }
}
