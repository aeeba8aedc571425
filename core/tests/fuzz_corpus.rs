//! Replays every file of the fuzz corpus (`core/fuzz/corpus/<target>/`) and any crash
//! reproducer (`core/fuzz/artifacts/<target>/`) through the parsers, with the same checks as the
//! cargo-fuzz targets — so CI exercises the corpus on stable, without nightly or libFuzzer.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::{Path, PathBuf};

use token_manager_core::config::ProviderConfig;
use token_manager_core::flow::{
    is_safe_return_to, strip_callback_params, CallbackParams, MAX_PARAM_LEN,
};
use token_manager_core::token::{parse_error_response, parse_token_response, MAX_ERROR_TEXT};
use token_manager_core::Timestamp;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut out = Vec::new();
    for dir in [
        root.join("corpus").join(target),
        root.join("artifacts").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_file() {
                out.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Mirrors `fuzz/fuzz_targets/callback.rs`.
fn callback(data: &[u8]) {
    let input = String::from_utf8_lossy(data);
    if let Ok(Some(p)) = CallbackParams::parse(&input) {
        for v in [&p.state, &p.error, &p.error_description]
            .into_iter()
            .flatten()
        {
            assert!(v.len() <= MAX_PARAM_LEN);
        }
        if let Some(code) = &p.code {
            assert!(code.secret().len() <= MAX_PARAM_LEN);
        }
    }
    let stripped = strip_callback_params(&input);
    assert_eq!(strip_callback_params(&stripped), stripped);
    let _ = is_safe_return_to(&input);
}

/// Mirrors `fuzz/fuzz_targets/token_response.rs`.
fn token_response(data: &[u8]) {
    let (status, body) = match data {
        [a, b, rest @ ..] => (200 + u16::from_le_bytes([*a, *b]) % 400, rest),
        _ => (200, data),
    };
    for status in [200, status] {
        if let Ok(g) = parse_token_response(status, body, Timestamp::from_millis(1_795_957_509_123))
        {
            assert!(g.token_expires >= g.token_created);
            assert!(format!("{g:?}").contains("AccessToken([redacted])"));
        }
    }
}

/// Mirrors `fuzz/fuzz_targets/error_response.rs`.
fn error_response(data: &[u8]) {
    let (status, body) = match data {
        [a, b, rest @ ..] => (u16::from_le_bytes([*a, *b]) % 600, rest),
        _ => (400, data),
    };
    let e = parse_error_response(status, body);
    assert_eq!(e.status, Some(status));
    assert!(e.code.len() <= MAX_ERROR_TEXT && e.message.len() <= MAX_ERROR_TEXT);
    let _ = e.error_code();
    let mut c =
        ProviderConfig::ups("https://wwwcie.ups.com", "cid", "https://portal.example/cb").unwrap();
    let _ = c.apply_validate_client(status, body);
    let _ = ProviderConfig::from_metadata(body, "cid", "https://portal.example/cb", "");
}

fn replay(target: &str, run: fn(&[u8])) -> usize {
    let files = inputs(target);
    for (path, data) in &files {
        if std::panic::catch_unwind(|| run(data)).is_err() {
            panic!("{target}: {} fails", path.display());
        }
    }
    files.len()
}

#[test]
fn callback_corpus() {
    assert!(replay("callback", callback) >= 10, "seed corpus is missing");
}

#[test]
fn token_response_corpus() {
    assert!(
        replay("token_response", token_response) >= 9,
        "seed corpus is missing"
    );
}

#[test]
fn error_response_corpus() {
    assert!(
        replay("error_response", error_response) >= 13,
        "seed corpus is missing"
    );
}

#[test]
fn fixtures_through_every_parser() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for entry in std::fs::read_dir(dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        callback(&data);
        token_response(&data);
        error_response(&data);
    }
}
