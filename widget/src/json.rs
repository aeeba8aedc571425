//! JSON through the browser's own `JSON.parse` / `JSON.stringify` and `serde-wasm-bindgen`, so
//! the wasm carries no JSON parser of its own (a size budget decision: see the crate README).

use serde::de::DeserializeOwned;
use serde::Serialize;

/// `JSON.stringify` of `value`; `None` if it cannot be represented.
pub(crate) fn to_string<T: Serialize + ?Sized>(value: &T) -> Option<String> {
    let js = value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .ok()?;
    js_sys::JSON::stringify(&js).ok()?.as_string()
}

/// `JSON.parse` of `text` into `T`; `None` when it is not JSON or not a `T`.
pub(crate) fn from_str<T: DeserializeOwned>(text: &str) -> Option<T> {
    let js = js_sys::JSON::parse(text).ok()?;
    serde_wasm_bindgen::from_value(js).ok()
}
