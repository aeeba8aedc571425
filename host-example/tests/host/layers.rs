//! The host's module graph, checked from its source: every `crate::` import points to a lower
//! layer (so there is no circle and no upward import), and only the HTTP-facing modules name
//! axum. The layers are the ones ARCHITECTURE.md draws.

use std::collections::BTreeMap;
use std::path::Path;

/// Top-level modules of `host-example/src`, lowest layer first.
const LAYERS: &[&[&str]] = &[
    &["clock", "config", "crypto", "locks", "tokens", "sessions"],
    &["access", "store", "provider", "settings"],
    &["reports", "cli", "webhooks"],
    &["state"],
    &["ops"],
    &["error"],
    &["auth", "http"],
    &["api", "pages", "jobs"],
    &["startup"],
    &["lib"],
];

/// The modules that may use axum types: the HTTP layer, its error mapping, the extractors'
/// `FromRef` source, the demo pages, and the wiring.
const AXUM: &[&str] = &[
    "api", "auth", "error", "http", "pages", "state", "startup", "lib",
];

fn layer_of(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|l| l.contains(&module))
        .unwrap_or_else(|| panic!("module `{module}` is in no layer: add it to LAYERS"))
}

/// `crate::x` paths named in code (comments skipped), grouped imports expanded.
fn imports(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in code.lines().map(str::trim).filter(|l| !l.starts_with("//")) {
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                for item in group[..end].split(',') {
                    let name: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        out.push(name);
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    out.push(name);
                }
            }
        }
    }
    out
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn imports_point_down_the_layers_and_only_the_http_side_names_axum() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut edges = BTreeMap::<(String, String), String>::new();
    let mut violations = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = first.trim_end_matches(".rs").to_owned();
        if module == "main" {
            continue; // the binary: uses the library from outside
        }
        let code = std::fs::read_to_string(file).unwrap();
        for target in imports(&code) {
            if target == module || target == "app" {
                continue; // within the module; `crate::app` is lib's router
            }
            if layer_of(&target) >= layer_of(&module) {
                violations.push(format!(
                    "{}: `{module}` imports `{target}` (same or higher layer)",
                    rel.display()
                ));
            }
            edges.insert((module.clone(), target), rel.display().to_string());
        }
        let names_axum = code
            .lines()
            .map(str::trim)
            .any(|l| !l.starts_with("//") && l.contains("axum::"));
        if names_axum && !AXUM.contains(&module.as_str()) {
            violations.push(format!("{}: `{module}` uses axum", rel.display()));
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");
    // The check sees real edges (the parser works): a few the design relies on.
    for (from, to) in [
        ("ops", "store"),
        ("api", "ops"),
        ("state", "store"),
        ("store", "crypto"),
    ] {
        assert!(
            edges.contains_key(&(from.to_owned(), to.to_owned())),
            "expected {from} → {to} in {edges:?}"
        );
    }
    assert!(!edges.contains_key(&("provider".to_owned(), "store".to_owned())));
}

#[test]
fn grouped_imports_are_seen() {
    assert_eq!(
        imports("use crate::{app, jobs, ops};\n// crate::ignored\nlet x = crate::store::Y;"),
        ["app", "jobs", "ops", "store"]
    );
}
