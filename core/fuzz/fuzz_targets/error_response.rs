//! Provider error bodies (UPS and RFC 6749 shapes) and validate-client answers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use token_manager_core::config::ProviderConfig;
use token_manager_core::token::{parse_error_response, MAX_ERROR_TEXT};

fuzz_target!(|data: &[u8]| {
    let (status, body) = match data {
        [a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]) % 600, rest),
        _ => (400, data),
    };
    let e = parse_error_response(status, body);
    assert_eq!(e.status, Some(status));
    assert!(e.code.len() <= MAX_ERROR_TEXT && e.message.len() <= MAX_ERROR_TEXT);
    let _ = e.error_code();
    let mut c = ProviderConfig::ups("https://wwwcie.ups.com", "cid", "https://portal.example/cb")
        .expect("static config is valid");
    let _ = c.apply_validate_client(status, body);
    let _ = ProviderConfig::from_metadata(body, "cid", "https://portal.example/cb", "");
});
