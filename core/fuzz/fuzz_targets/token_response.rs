//! Token endpoint answers: the first two bytes pick the HTTP status, the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use token_manager_core::token::parse_token_response;
use token_manager_core::Timestamp;

fuzz_target!(|data: &[u8]| {
    let (status, body) = match data {
        [a, b, rest @ ..] => (200 + u16::from_le_bytes([*a, *b]) % 400, rest),
        _ => (200, data),
    };
    // Also try as a 200 so success-path parsing always gets exercised.
    for status in [200, status] {
        if let Ok(g) = parse_token_response(status, body, Timestamp::from_millis(1_795_957_509_123)) {
            assert!(g.token_expires >= g.token_created);
            assert!(format!("{g:?}").contains("AccessToken([redacted])"));
        }
    }
});
