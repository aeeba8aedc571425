//! `host-example` binary: reads config, binds, serves.

fn main() {}
