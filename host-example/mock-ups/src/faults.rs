//! Fault injection for the mock UPS: what the token and refresh endpoints do wrong, and
//! how the sign-in screens misbehave. See the [crate docs](crate#faults) for the JSON shape.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Delay of [`FaultKind::Slow`] when `slow_ms` is not given.
pub const DEFAULT_SLOW_MS: u64 = 2_000;
/// Upper bound of `slow_ms` (longer delays are cut to this).
pub const MAX_SLOW_MS: u64 = 120_000;
/// How long [`FaultKind::Timeout`] hangs before it finally answers 504.
pub const TIMEOUT_HANG: std::time::Duration = std::time::Duration::from_secs(120);

/// Every fault the mock can inject. `Faults::default()` is "behave normally".
///
/// Serialized as
/// `{"token":{"kind":"status_503","times":2},"refresh":{"kind":"slow","slow_ms":1500},"wrong_state":false,"decline_consent":false}`;
/// every field may be left out (it then means "no fault"), unknown fields are rejected.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Fault of `POST /security/v1/oauth/token` (code exchange).
    pub token: EndpointFault,
    /// Fault of `POST /security/v1/oauth/refresh`.
    pub refresh: EndpointFault,
    /// After a successful sign-in, redirect back with a `state` different from the one sent.
    pub wrong_state: bool,
    /// After a successful sign-in, redirect back with `error=access_denied` (consent declined).
    pub decline_consent: bool,
}

impl Faults {
    /// `true` when no fault is set.
    pub fn is_none(&self) -> bool {
        *self == Self::default()
    }
}

impl FromStr for Faults {
    type Err = String;

    /// Parse the JSON form (as given to the binary's `--faults '<json>'`, the host's
    /// `--mock-faults`, or `POST /mock/faults`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_str(s).map_err(|e| format!("invalid mock UPS faults JSON: {e}"))
    }
}

/// The fault of one endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EndpointFault {
    /// What goes wrong.
    pub kind: FaultKind,
    /// Delay for [`FaultKind::Slow`] in milliseconds (default [`DEFAULT_SLOW_MS`], at most
    /// [`MAX_SLOW_MS`]). Ignored by the other kinds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slow_ms: Option<u64>,
    /// Apply to the next `times` requests only, then behave normally again; `None` = until
    /// changed. `Some(0)` means no fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub times: Option<u32>,
}

impl EndpointFault {
    /// A fault that applies until it is changed.
    pub fn always(kind: FaultKind) -> Self {
        Self {
            kind,
            slow_ms: None,
            times: None,
        }
    }

    /// A fault that applies to the next `times` requests only.
    pub fn times(kind: FaultKind, times: u32) -> Self {
        Self {
            kind,
            slow_ms: None,
            times: Some(times),
        }
    }

    /// Take one application of this fault: returns the fault to apply to the current request
    /// (if any) and counts `times` down, clearing the fault when it is used up.
    pub(crate) fn take(&mut self) -> Option<AppliedFault> {
        if self.kind == FaultKind::None || self.times == Some(0) {
            return None;
        }
        let applied = match self.kind {
            FaultKind::None => return None,
            FaultKind::Status500 => AppliedFault::Status(500),
            FaultKind::Status503 => AppliedFault::Status(503),
            FaultKind::Slow => AppliedFault::Slow(std::time::Duration::from_millis(
                self.slow_ms.unwrap_or(DEFAULT_SLOW_MS).min(MAX_SLOW_MS),
            )),
            FaultKind::Timeout => AppliedFault::Timeout,
            FaultKind::MalformedJson => AppliedFault::MalformedJson,
            FaultKind::Refused => AppliedFault::Refused,
        };
        if let Some(n) = self.times.as_mut() {
            *n -= 1;
            if *n == 0 {
                *self = Self::default();
            }
        }
        Some(applied)
    }
}

/// What an endpoint does wrong.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum FaultKind {
    /// Behave normally.
    #[default]
    #[serde(rename = "none")]
    None,
    /// Answer HTTP 500 with a UPS error body, without processing the request.
    #[serde(rename = "status_500")]
    Status500,
    /// Answer HTTP 503 with a UPS error body, without processing the request.
    #[serde(rename = "status_503")]
    Status503,
    /// Wait `slow_ms`, then process the request and answer normally.
    #[serde(rename = "slow")]
    Slow,
    /// Hang for [`TIMEOUT_HANG`] (120 s) without processing the request, then answer 504.
    #[serde(rename = "timeout")]
    Timeout,
    /// Answer HTTP 200 `application/json` with a truncated, unparsable JSON body, without
    /// processing the request.
    #[serde(rename = "malformed_json")]
    MalformedJson,
    /// Answer HTTP 400 with UPS's general `10400` and a message that names no known cause
    /// ("The request could not be processed"), without processing the request: a refusal
    /// nobody can classify.
    #[serde(rename = "refused")]
    Refused,
}

/// One application of an [`EndpointFault`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AppliedFault {
    Status(u16),
    Slow(std::time::Duration),
    Timeout,
    MalformedJson,
    Refused,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn json_shape_round_trips() {
        let f: Faults = r#"{"token":{"kind":"status_503","times":2},"refresh":{"kind":"slow","slow_ms":1500},"wrong_state":true}"#
            .parse()
            .unwrap();
        assert_eq!(f.token, EndpointFault::times(FaultKind::Status503, 2));
        assert_eq!(f.refresh.kind, FaultKind::Slow);
        assert_eq!(f.refresh.slow_ms, Some(1500));
        assert!(f.wrong_state && !f.decline_consent);
        let back: Faults = serde_json::to_string(&f).unwrap().parse().unwrap();
        assert_eq!(back, f);
        assert!("{}".parse::<Faults>().unwrap().is_none());
        assert!(r#"{"tokn":{}}"#.parse::<Faults>().is_err());
        assert!(r#"{"token":{"kind":"explode"}}"#.parse::<Faults>().is_err());
    }

    #[test]
    fn times_counts_down_then_clears() {
        let mut f = EndpointFault::times(FaultKind::Status500, 2);
        assert_eq!(f.take(), Some(AppliedFault::Status(500)));
        assert_eq!(f.take(), Some(AppliedFault::Status(500)));
        assert_eq!(f.take(), None);
        assert_eq!(f, EndpointFault::default());
        let mut always = EndpointFault::always(FaultKind::MalformedJson);
        for _ in 0..5 {
            assert_eq!(always.take(), Some(AppliedFault::MalformedJson));
        }
        let mut slow = EndpointFault {
            kind: FaultKind::Slow,
            slow_ms: Some(10_000_000),
            times: None,
        };
        assert_eq!(
            slow.take(),
            Some(AppliedFault::Slow(std::time::Duration::from_millis(
                MAX_SLOW_MS
            )))
        );
    }
}
