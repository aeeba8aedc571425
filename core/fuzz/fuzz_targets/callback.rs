//! The return URL / query parser and its helpers, on arbitrary text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use token_manager_core::flow::{is_safe_return_to, strip_callback_params, CallbackParams, MAX_PARAM_LEN};

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    if let Ok(Some(p)) = CallbackParams::parse(&input) {
        for v in [&p.state, &p.error, &p.error_description].into_iter().flatten() {
            assert!(v.len() <= MAX_PARAM_LEN);
        }
        if let Some(code) = &p.code {
            assert!(code.secret().len() <= MAX_PARAM_LEN);
        }
    }
    let stripped = strip_callback_params(&input);
    assert_eq!(strip_callback_params(&stripped), stripped);
    let _ = is_safe_return_to(&input);
});
