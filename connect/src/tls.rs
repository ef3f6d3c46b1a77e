//! TLS with rustls: one client configuration per target, built from the
//! `sslmode` family of settings, and failures explained in the operator's
//! terms (which setting, which file, which host name).
//!
//! rustls over OpenSSL: no system library to install or keep patched on
//! the operator's machine, memory-safe parsing of the server's certificate,
//! and only TLS 1.2/1.3 with modern ciphers (what libpq defaults to).

use super::settings::{Tls, Verify};
use anyhow::{bail, Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

/// The rustls configuration for these settings (`None` for `disable`).
pub fn client_config(tls: &Tls) -> Result<Option<ClientConfig>> {
    if tls.mode == super::SslMode::Disable {
        return Ok(None);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] =
        if tls.tls13_only { &[&rustls::version::TLS13] } else { rustls::DEFAULT_VERSIONS };
    let verifier: Arc<dyn ServerCertVerifier> = match (tls.verify, &tls.root_cert) {
        (Verify::Nothing, _) | (_, None) => Arc::new(EncryptOnly(provider.clone())),
        (verify, Some(root)) => {
            let mut roots = RootCertStore::empty();
            let certs = read_certs(root, "sslrootcert")?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                bail!("sslrootcert: {} holds no usable CA certificate", root.display());
            }
            let mut builder = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            if let Some(crl) = &tls.crl {
                let crls = CertificateRevocationListDer::pem_file_iter(crl)
                    .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| anyhow::anyhow!("sslcrl: cannot read {}: {e}", crl.display()))?;
                if crls.is_empty() {
                    bail!("sslcrl: {} holds no PEM revocation list; revocation would not be checked", crl.display());
                }
                builder = builder.with_crls(crls);
            }
            let webpki = builder.build().context("cannot build the certificate verifier")?;
            if verify == Verify::ChainAndName {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            }
        }
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .context("TLS protocol versions")?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match &tls.client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let certs = read_certs(cert, "sslcert")?;
            check_key_permissions(key)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| anyhow::anyhow!("sslkey: cannot read a private key from {}: {e}", key.display()))?;
            builder.with_client_auth_cert(certs, key).context("sslcert/sslkey: the key does not fit the certificate")?
        }
    };
    config.enable_sni = tls.sni;
    // As libpq 17: PostgreSQL's ALPN name, required by servers for direct
    // TLS negotiation and ignored by older ones.
    config.alpn_protocols = vec![b"postgresql".to_vec()];
    Ok(Some(config))
}

fn read_certs(path: &Path, setting: &str) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("{setting}: cannot read certificates from {}: {e}", path.display()))?;
    if certs.is_empty() {
        bail!("{setting}: {} holds no PEM certificate", path.display());
    }
    Ok(certs)
}

/// libpq's rule: a key file the current user owns must not be readable by
/// group or others; one owned by root may be group-readable.
pub(crate) fn check_key_permissions(key: &Path) -> Result<()> {
    let meta =
        std::fs::metadata(key).with_context(|| format!("sslkey: cannot read the private key {}", key.display()))?;
    if !meta.is_file() {
        bail!("sslkey: {} is not a plain file", key.display());
    }
    let mode = meta.permissions().mode();
    let loose = if meta.uid() == 0 { mode & 0o037 != 0 } else { mode & 0o077 != 0 };
    if loose {
        bail!(
            "sslkey: private key file {} has group or world access; it must be u=rw (0600) or less \
             when owned by you, or u=rw,g=r (0640) or less when owned by root",
            key.display()
        );
    }
    Ok(())
}

/// `require` without a CA: the connection is encrypted and the server
/// proves it holds the certificate's key, but who signed it is not checked.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the full WebPKI check, except that a certificate valid for
/// another host name is accepted (webpki checks the chain before the name,
/// so a name error means the chain was good).
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// A connection error in the operator's terms, when it is about TLS.
pub fn explain(error: &(dyn std::error::Error + 'static), tls: &Tls, host: &str) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        // rustls' error arrives wrapped in an io::Error, whose `source`
        // skips it: look inside.
        let inner = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|i| i as &(dyn std::error::Error + 'static));
        let rustls =
            e.downcast_ref::<rustls::Error>().or_else(|| inner.and_then(|i| i.downcast_ref::<rustls::Error>()));
        if let Some(rustls::Error::InvalidCertificate(cert)) = rustls {
            let root = tls.root_cert.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
            return Some(match cert {
                CertificateError::UnknownIssuer | CertificateError::BadSignature => format!(
                    "the server's certificate is not signed by a CA in sslrootcert={root} (sslmode={}): wrong CA file, or the wrong server",
                    tls.mode.name()
                ),
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => format!(
                    "the server's certificate is not valid for the host name `{host}` (sslmode=verify-full checks it): \
                     connect with a name the certificate lists"
                ),
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    "the server's certificate has expired".to_string()
                }
                CertificateError::Revoked => "the server's certificate is revoked (sslcrl)".to_string(),
                other => format!("the server's certificate was refused: {other:?}"),
            });
        }
        if e.to_string().contains("server does not support TLS") {
            return Some(format!("the server does not offer TLS, and sslmode={} requires it", tls.mode.name()));
        }
        cause = e.source();
    }
    None
}
