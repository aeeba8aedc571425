//! host-example's request bodies and query: `/exchange` and `/clear` JSON (deserialised as the
//! handlers do, then validated), `/tokens` query strings. See `../check.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../check.rs"]
mod check;

fuzz_target!(|data: &[u8]| {
    check::check(data);
});
