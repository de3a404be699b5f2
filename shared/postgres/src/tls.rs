//! rustls client configuration for each `sslmode` (one crypto provider: aws-lc-rs).

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::config::SslMode;
use crate::error::PgError;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Load a PEM CA bundle (any number of certificates).
pub(crate) fn load_roots(path: &Path) -> Result<RootCertStore, PgError> {
    let pem = std::fs::read(path).map_err(|source| PgError::Io {
        context: "reading CA bundle",
        path: path.to_path_buf(),
        source,
    })?;
    let mut roots = RootCertStore::empty();
    let mut count = 0;
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        let cert = cert.map_err(|e| PgError::Tls(format!("CA bundle {}: {e}", path.display())))?;
        roots.add(cert).map_err(|e| {
            PgError::Tls(format!(
                "CA bundle {}: unusable certificate: {e}",
                path.display()
            ))
        })?;
        count += 1;
    }
    if count == 0 {
        return Err(PgError::Tls(format!(
            "CA bundle {} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(roots)
}

/// Amazon's RDS, Aurora and RDS Proxy CAs (`certs/README.md`: provenance, refresh).
const RDS_CA_PEM: &[u8] = include_bytes!("../certs/amazon-rds-ca.pem");

/// Which certificate authorities verify the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Roots<'a> {
    /// A PEM bundle (`sslrootcert`).
    Bundle(&'a Path),
    /// The public web roots (webpki-roots, Mozilla's list).
    Public,
    /// The public roots and Amazon's RDS CAs (RDS and Aurora host names).
    PublicAndRds,
}

impl<'a> Roots<'a> {
    /// `sslrootcert` if given (libpq's `system` = the public roots); else the public roots,
    /// with Amazon's RDS CAs added for hosts under `.rds.amazonaws.com(.cn)`.
    pub(crate) fn for_host(host: &str, sslrootcert: Option<&'a Path>) -> Self {
        match sslrootcert {
            Some(p) if p == Path::new("system") => Roots::Public,
            Some(p) => Roots::Bundle(p),
            None if is_rds_host(host) => Roots::PublicAndRds,
            None => Roots::Public,
        }
    }

    fn store(self) -> Result<RootCertStore, PgError> {
        let mut store = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        match self {
            Roots::Bundle(p) => load_roots(p),
            Roots::Public => Ok(store),
            Roots::PublicAndRds => {
                for cert in rustls_pemfile::certs(&mut &RDS_CA_PEM[..]) {
                    let cert = cert.map_err(|e| PgError::Tls(format!("built-in RDS CAs: {e}")))?;
                    store
                        .add(cert)
                        .map_err(|e| PgError::Tls(format!("built-in RDS CAs: {e}")))?;
                }
                Ok(store)
            }
        }
    }
}

/// An Amazon RDS / Aurora / RDS Proxy endpoint name.
fn is_rds_host(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h.ends_with(".rds.amazonaws.com") || h.ends_with(".rds.amazonaws.com.cn")
}

/// The TLS connector for `mode`, verifying against `roots`.
pub(crate) fn make_tls(mode: SslMode, roots: Roots<'_>) -> Result<MakeRustlsConnect, PgError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| PgError::Tls(e.to_string()))?;
    let config = match mode {
        SslMode::VerifyFull => builder
            .with_root_certificates(roots.store()?)
            .with_no_client_auth(),
        SslMode::VerifyCa => {
            let roots = roots.store()?;
            let inner =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| PgError::Tls(e.to_string()))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnly { inner }))
                .with_no_client_auth()
        }
        SslMode::Disable | SslMode::Prefer | SslMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify {
                algs: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

/// `verify-ca`: the chain must verify, the name need not match.
#[derive(Debug)]
struct ChainOnly {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(v) => Ok(v),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `require`/`prefer`: encryption without authentication of the server (as libpq); the
/// handshake signatures are still checked against the presented certificate.
#[derive(Debug)]
struct NoVerify {
    algs: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_or_missing_bundle_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        assert!(matches!(
            make_tls(SslMode::VerifyFull, Roots::Bundle(&empty)),
            Err(PgError::Tls(_))
        ));
        let missing = dir.path().join("missing.pem");
        assert!(matches!(
            make_tls(SslMode::VerifyFull, Roots::Bundle(&missing)),
            Err(PgError::Io { .. })
        ));
        assert!(make_tls(SslMode::VerifyFull, Roots::Public).is_ok());
        assert!(make_tls(SslMode::VerifyFull, Roots::PublicAndRds).is_ok());
        assert!(make_tls(SslMode::Require, Roots::Public).is_ok());
    }

    #[test]
    fn rds_bundle_parses() {
        let certs: Vec<_> = rustls_pemfile::certs(&mut &RDS_CA_PEM[..])
            .collect::<Result<_, _>>()
            .expect("PEM");
        assert_eq!(certs.len(), 92, "certs/amazon-rds-ca.pem");
        let public = Roots::Public.store().unwrap().len();
        let both = Roots::PublicAndRds.store().unwrap().len();
        assert_eq!(
            both,
            public + certs.len(),
            "every RDS CA is a usable trust anchor"
        );
    }

    #[test]
    fn rds_hosts_get_the_rds_roots() {
        let aurora = "lake.cluster-c9akciq32.eu-west-1.rds.amazonaws.com";
        assert_eq!(Roots::for_host(aurora, None), Roots::PublicAndRds);
        assert_eq!(
            Roots::for_host("db.proxy-abc.us-east-1.RDS.amazonaws.com.", None),
            Roots::PublicAndRds
        );
        assert_eq!(
            Roots::for_host("x.cn-north-1.rds.amazonaws.com.cn", None),
            Roots::PublicAndRds
        );
        assert_eq!(Roots::for_host("db.example.com", None), Roots::Public);
        assert_eq!(
            Roots::for_host("rds.amazonaws.com.evil.example", None),
            Roots::Public
        );
        let own = Path::new("/etc/ca.pem");
        assert_eq!(Roots::for_host(aurora, Some(own)), Roots::Bundle(own));
        assert_eq!(
            Roots::for_host(aurora, Some(Path::new("system"))),
            Roots::Public
        );
    }
}
