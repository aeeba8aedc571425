//! Time as data: core never reads a clock; callers pass [`Timestamp`]s in.

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch (UTC). The only notion of time in core.
///
/// Serialized as a plain integer (milliseconds), which is also what UPS sends (as a string).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// From milliseconds since the epoch.
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms)
    }
    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }
    /// `self + d` (saturating).
    pub fn add(self, d: std::time::Duration) -> Self {
        Self(self.0.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
    }
    /// `self - d` (saturating).
    pub fn sub(self, d: std::time::Duration) -> Self {
        Self(self.0.saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
    }
    /// Time elapsed from `earlier` to `self`; zero when `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> std::time::Duration {
        std::time::Duration::from_millis(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }
    /// The seed's grid format, `mm-dd-yyyy hh:mm:ss AM/PM`, at a UTC offset in minutes
    /// (e.g. `-300` for US Eastern standard time). Out-of-range values are clamped.
    pub fn format_grid(self, utc_offset_minutes: i32) -> String {
        todo!("{utc_offset_minutes}")
    }
    /// ISO-8601 / RFC 3339 in UTC with milliseconds, e.g. `2026-11-29T13:05:09.123Z` (the tooltip).
    pub fn to_iso8601(self) -> String {
        todo!()
    }
}
