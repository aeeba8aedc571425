//! UTC offsets of an IANA time zone through the browser's `Intl` (no tz database in the wasm).
//! Formatting itself is core's [`Timestamp::format_grid`].

use js_sys::{Array, Date, Object, Reflect};
use token_manager_core::Timestamp;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// `Intl.DateTimeFormat`, constructed with `catch` (an unknown zone throws `RangeError`).
    #[wasm_bindgen(js_namespace = Intl, js_name = DateTimeFormat)]
    type Dtf;

    #[wasm_bindgen(catch, constructor, js_namespace = Intl, js_class = "DateTimeFormat", js_name = DateTimeFormat)]
    fn new(locales: &str, options: &Object) -> Result<Dtf, JsValue>;

    #[wasm_bindgen(method, js_class = "DateTimeFormat", js_name = formatToParts)]
    fn format_to_parts(this: &Dtf, date: &Date) -> Array;
}

/// The viewer's time zone (an IANA name, or the browser's own), answering "what is the UTC offset
/// at this instant".
#[derive(Debug, Clone)]
pub struct Zone {
    /// The IANA name; `None`: the browser's zone.
    name: Option<String>,
    /// The `Intl.DateTimeFormat` of `name`; `None`: `Date.prototype.getTimezoneOffset`.
    format: Option<JsValue>,
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Zone {
    /// The browser's own zone.
    pub fn local() -> Self {
        Self {
            name: None,
            format: None,
        }
    }

    /// `time_zone` (e.g. `America/New_York`); the browser's own when `None`. `Err` with the
    /// browser's message when the name is not a zone the browser knows.
    pub fn new(time_zone: Option<&str>) -> Result<Self, String> {
        let Some(name) = time_zone.map(str::trim).filter(|n| !n.is_empty()) else {
            return Ok(Self::local());
        };
        let options = Object::new();
        let set = |k: &str, v: &str| Reflect::set(&options, &k.into(), &v.into()).is_ok();
        if !(set("timeZone", name) && set("timeZoneName", "longOffset")) {
            return Err("could not build the Intl options".into());
        }
        let format = Dtf::new("en-US", &options).map_err(|e| {
            e.dyn_ref::<js_sys::Error>().map_or_else(
                || format!("unknown time zone {name:?}"),
                |e| e.message().into(),
            )
        })?;
        Ok(Self {
            name: Some(name.to_owned()),
            format: Some(format.into()),
        })
    }

    /// UTC offset in minutes at `at` (e.g. `-300` for New York in winter).
    pub fn offset_minutes(&self, at: Timestamp) -> i32 {
        // Timestamps are whole milliseconds; f64 holds them exactly in the Date range.
        #[allow(clippy::cast_precision_loss)]
        let date = Date::new(&JsValue::from_f64(at.as_millis() as f64));
        let local = || {
            // getTimezoneOffset is "UTC minus local" in whole minutes.
            #[allow(clippy::cast_possible_truncation)]
            let offset = -(date.get_timezone_offset() as i32);
            offset
        };
        let Some(format) = self.format.as_ref().map(|f| f.unchecked_ref::<Dtf>()) else {
            return local();
        };
        format
            .format_to_parts(&date)
            .iter()
            .find(|part| {
                Reflect::get(part, &"type".into())
                    .ok()
                    .and_then(|t| t.as_string())
                    .as_deref()
                    == Some("timeZoneName")
            })
            .and_then(|part| Reflect::get(&part, &"value".into()).ok()?.as_string())
            .and_then(|name| parse_gmt_offset(&name))
            .unwrap_or_else(local)
    }

    /// The grid text and the UTC tooltip of `at`.
    pub fn format(&self, at: Timestamp) -> (String, String) {
        (at.format_grid(self.offset_minutes(at)), at.to_iso8601())
    }
}

/// `GMT`, `GMT+5`, `GMT-05:00`, `GMT+05:30`, `UTC+1` → minutes east of UTC.
pub fn parse_gmt_offset(name: &str) -> Option<i32> {
    let rest = name
        .trim()
        .strip_prefix("GMT")
        .or_else(|| name.trim().strip_prefix("UTC"))?;
    if rest.is_empty() {
        return Some(0);
    }
    // Some locales write U+2212 MINUS SIGN instead of '-'.
    let (sign, rest) = if let Some(rest) = rest.strip_prefix('+') {
        (1, rest)
    } else if let Some(rest) = rest.strip_prefix(['-', '\u{2212}']) {
        (-1, rest)
    } else {
        return None;
    };
    let (hours, minutes) = rest.split_once(':').unwrap_or((rest, "0"));
    let hours: i32 = hours.parse().ok()?;
    let minutes: i32 = minutes.parse().ok()?;
    if hours > 18 || minutes > 59 {
        return None;
    }
    Some(sign * (hours * 60 + minutes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmt_offsets() {
        assert_eq!(parse_gmt_offset("GMT"), Some(0));
        assert_eq!(parse_gmt_offset("GMT-05:00"), Some(-300));
        assert_eq!(parse_gmt_offset("GMT+05:30"), Some(330));
        assert_eq!(parse_gmt_offset("GMT+5"), Some(300));
        assert_eq!(parse_gmt_offset("GMT\u{2212}03:00"), Some(-180));
        assert_eq!(parse_gmt_offset("UTC+01:00"), Some(60));
        assert_eq!(parse_gmt_offset("EST"), None);
        assert_eq!(parse_gmt_offset("GMT+99:00"), None);
    }
}
