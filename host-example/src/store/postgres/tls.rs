//! TLS to PostgreSQL. `sslmode=require` in the URL (or `prefer`) connects with rustls and
//! **verifies** the server's certificate and name — what libpq calls `verify-full`; libpq's
//! own `require` checks neither, which stops passive listening only. The roots are Mozilla's
//! (`webpki-roots`, as the host's HTTPS client uses), or only the CA certificates of
//! `--db-ca-file` when given (a private or cloud provider's CA). Without `sslmode`, or with
//! `disable`, the connection is plain: loopback, a Unix socket or a private network.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::StoreError;

pub use crate::config::PgTls;

/// Does the URL ask for TLS (`sslmode=require` or `prefer`)?
pub(super) fn wanted(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| {
        u.query_pairs().any(|(k, v)| {
            k == "sslmode"
                && (v.eq_ignore_ascii_case("require") || v.eq_ignore_ascii_case("prefer"))
        })
    })
}

/// The connector: rustls (ring) over `tls`'s roots.
pub(super) fn connector(tls: &PgTls) -> Result<MakeRustlsConnect, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    match &tls.ca_file {
        Some(file) => {
            let certs = read_certs(file)?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(StoreError::Config(format!(
                    "--db-ca-file {}: no usable CA certificate in it",
                    file.display()
                )));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| StoreError::Config(format!("TLS to PostgreSQL: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

fn read_certs(file: &Path) -> Result<Vec<CertificateDer<'static>>, StoreError> {
    let unreadable = |e: &dyn std::fmt::Display| {
        StoreError::Config(format!("--db-ca-file {}: {e}", file.display()))
    };
    CertificateDer::pem_file_iter(file)
        .map_err(|e| unreadable(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unreadable(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_is_used_when_the_url_asks_for_it() {
        assert!(wanted("postgres://tm@db.internal/tm?sslmode=require"));
        assert!(wanted(
            "postgres://tm@db.internal/tm?application_name=x&sslmode=Prefer"
        ));
        assert!(!wanted("postgres://tm@127.0.0.1/tm"));
        assert!(!wanted("postgres://tm@127.0.0.1/tm?sslmode=disable"));
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused_with_its_name() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let file = dir.path().join("ca.pem");
        std::fs::write(&file, "not a certificate\n").expect("written");
        let err = connector(&PgTls {
            ca_file: Some(file.clone()),
        })
        .map(|_| ())
        .expect_err("refused");
        assert!(err.to_string().contains("ca.pem"), "{err}");
        let missing = connector(&PgTls {
            ca_file: Some(dir.path().join("absent.pem")),
        })
        .map(|_| ())
        .expect_err("refused");
        assert!(missing.to_string().contains("absent.pem"), "{missing}");
    }
}
