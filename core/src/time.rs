//! Time as data: core never reads a clock; callers pass [`Timestamp`]s in.

use serde::{Deserialize, Serialize};
use time::{OffsetDateTime, UtcOffset};

/// Largest accepted UTC offset magnitude: ±18:00 (the ISO 8601 / JavaScript range).
const MAX_OFFSET_MINUTES: i32 = 18 * 60;
/// 0000-01-02T00:00:00Z: a day of margin so any offset stays inside year 0000.
const MIN_MILLIS: i64 = -62_167_132_800_000;
/// 9999-12-30T23:59:59.999Z: a day of margin so any offset stays inside year 9999.
const MAX_MILLIS: i64 = 253_402_214_399_999;

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
    #[allow(clippy::should_implement_trait)] // saturating, unlike `Add`; kept by name for the API contract
    pub fn add(self, d: std::time::Duration) -> Self {
        Self(
            self.0
                .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        )
    }
    /// `self - d` (saturating).
    #[allow(clippy::should_implement_trait)] // saturating, unlike `Sub`; kept by name for the API contract
    pub fn sub(self, d: std::time::Duration) -> Self {
        Self(
            self.0
                .saturating_sub(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        )
    }
    /// Time elapsed from `earlier` to `self`; zero when `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> std::time::Duration {
        std::time::Duration::from_millis(
            u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0),
        )
    }
    /// The seed's grid format, `mm-dd-yyyy hh:mm:ss AM/PM`, at a UTC offset in minutes
    /// (e.g. `-300` for US Eastern standard time). Out-of-range values are clamped.
    pub fn format_grid(self, utc_offset_minutes: i32) -> String {
        let minutes = utc_offset_minutes.clamp(-MAX_OFFSET_MINUTES, MAX_OFFSET_MINUTES);
        let offset = UtcOffset::from_whole_seconds(minutes * 60).unwrap_or(UtcOffset::UTC);
        let local = self
            .to_datetime()
            .checked_to_offset(offset)
            .unwrap_or_else(|| self.to_datetime());
        // The calendar comes from `time`; only the zero-padding is ours (its formatting
        // machinery costs the widget's download ~5 KB brotli for two fixed layouts).
        let (hour, period) = match local.hour() {
            0 => (12, "AM"),
            h @ 1..=11 => (h, "AM"),
            12 => (12, "PM"),
            h => (h - 12, "PM"),
        };
        format!(
            "{:02}-{:02}-{:04} {hour:02}:{:02}:{:02} {period}",
            u8::from(local.month()),
            local.day(),
            local.year(),
            local.minute(),
            local.second(),
        )
    }
    /// ISO-8601 / RFC 3339 in UTC with milliseconds, e.g. `2026-11-29T13:05:09.123Z` (the tooltip).
    pub fn to_iso8601(self) -> String {
        let t = self.to_datetime();
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond(),
        )
    }

    /// This instant as a `time` date-time in UTC, clamped to the years 0000–9999 (the range
    /// both formats can show).
    fn to_datetime(self) -> OffsetDateTime {
        let ms = self.0.clamp(MIN_MILLIS, MAX_MILLIS);
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

impl std::fmt::Display for Timestamp {
    /// ISO-8601 in UTC (see [`Timestamp::to_iso8601`]).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_iso8601())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-29T13:05:09.123Z
    const T: Timestamp = Timestamp(1_795_957_509_123);

    #[test]
    fn grid_format_is_twelve_hour_zero_padded() {
        assert_eq!(T.format_grid(0), "11-29-2026 01:05:09 PM");
        assert_eq!(T.format_grid(-300), "11-29-2026 08:05:09 AM");
        assert_eq!(T.format_grid(11 * 60), "11-30-2026 12:05:09 AM");
        assert_eq!(Timestamp(0).format_grid(0), "01-01-1970 12:00:00 AM");
        assert_eq!(
            Timestamp(12 * 3_600_000).format_grid(0),
            "01-01-1970 12:00:00 PM"
        );
    }

    #[test]
    fn iso_format_has_millis_and_z() {
        assert_eq!(T.to_iso8601(), "2026-11-29T13:05:09.123Z");
        assert_eq!(Timestamp(0).to_iso8601(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Timestamp(-1).to_iso8601(), "1969-12-31T23:59:59.999Z");
        assert_eq!(T.to_string(), T.to_iso8601());
    }

    #[test]
    fn extremes_are_clamped_not_panicking() {
        for ms in [i64::MIN, i64::MAX, MIN_MILLIS, MAX_MILLIS] {
            for off in [i32::MIN, -1080, 0, 1080, i32::MAX] {
                let s = Timestamp(ms).format_grid(off);
                assert_eq!(s.len(), "mm-dd-yyyy hh:mm:ss AM".len(), "{s}");
            }
            assert!(Timestamp(ms).to_iso8601().ends_with('Z'));
        }
        assert_eq!(Timestamp(i64::MAX).to_iso8601(), "9999-12-30T23:59:59.999Z");
        assert_eq!(T.format_grid(100_000), T.format_grid(18 * 60));
    }

    #[test]
    fn arithmetic_saturates() {
        let d = std::time::Duration::from_secs(1);
        assert_eq!(Timestamp(0).add(d), Timestamp(1000));
        assert_eq!(Timestamp(1000).sub(d), Timestamp(0));
        assert_eq!(Timestamp(i64::MAX).add(d), Timestamp(i64::MAX));
        assert_eq!(Timestamp(i64::MIN).sub(d), Timestamp(i64::MIN));
        assert_eq!(
            Timestamp(5000).since(Timestamp(2000)),
            std::time::Duration::from_secs(3)
        );
        assert_eq!(
            Timestamp(0).since(Timestamp(2000)),
            std::time::Duration::ZERO
        );
    }
}
