//! The TLS configuration the HTTP clients this crate builds share: built
//! once, handed to every new `reqwest::Client`.
//!
//! A default `reqwest::Client` builds its own rustls configuration, and on
//! Linux and the other Unix systems (not macOS or iOS) that means reading
//! and parsing the system's root certificates, milliseconds of CPU for
//! every client, even one that only ever speaks plain HTTP. A client per
//! request paid that on every call. Here the configuration is built the
//! way reqwest 0.13 builds its default one (same crypto provider, same
//! verifier, same protocol versions) and kept: the system-roots one once per
//! process, one with extra roots once per `ClientArgs` value that holds
//! them. Each client still gets its own connection pool and its own TLS
//! session cache; only the configuration (the verifier with its roots) is
//! shared.
//!
//! What is trusted, exactly as a default reqwest 0.13 client with the
//! `rustls` feature trusts it (`rustls-platform-verifier`):
//!
//! - Linux and other Unix systems: the system's root certificates, found
//!   by `rustls-native-certs` (`SSL_CERT_FILE` or `SSL_CERT_DIR` when set,
//!   else the distribution's bundle), checked by webpki. They are read once
//!   per process (reqwest reads them per client), so a change to the system
//!   store is seen after a restart.
//! - macOS, iOS and Windows: the operating system's own verifier, with its
//!   trust settings and revocation checks.
//! - Android: the system's trust store through the JVM; extra roots are
//!   refused there, as reqwest refuses them.
//! - Plus, everywhere but Android, the extra PEM roots given.
//!
//! The crypto provider is the process default when one was installed
//! (`CryptoProvider::install_default`) before the configuration was first
//! built, else aws-lc-rs: reqwest's choice too. ALPN offers `http/1.1`
//! only, as reqwest does without its `http2` feature (this crate does not
//! enable it).

use std::sync::{Arc, OnceLock};

use rustls::ClientConfig;
use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Why a TLS configuration could not be built. The messages never quote a
/// certificate's text: a PEM given by mistake may hold a secret.
#[derive(Debug)]
pub(crate) enum TlsError {
    /// An extra root is not PEM certificates (`index` counts from 1).
    Root { index: usize, reason: &'static str },
    /// The verifier could not be made (no system roots, say).
    Verifier(String),
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsError::Root { index, reason } => write!(f, "root certificate {index}: {reason}"),
            TlsError::Verifier(e) => write!(f, "TLS certificate verifier: {e}"),
        }
    }
}

/// A rustls configuration built once and handed to many reqwest clients.
#[derive(Clone)]
pub(crate) struct SharedTls(Arc<ClientConfig>);

impl std::fmt::Debug for SharedTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedTls(..)")
    }
}

/// The system-roots configuration, once built.
static SYSTEM: OnceLock<SharedTls> = OnceLock::new();

impl SharedTls {
    /// The configuration for the system's roots and `extra_pems` (each one
    /// or more PEM certificates): the process-wide one when there are none,
    /// else the one in `cache`, built on first use. A failure is not
    /// cached; the next call tries again.
    pub(crate) fn get(
        cache: &OnceLock<SharedTls>,
        extra_pems: &[Vec<u8>],
    ) -> Result<Self, TlsError> {
        let cell = if extra_pems.is_empty() {
            &SYSTEM
        } else {
            cache
        };
        if let Some(tls) = cell.get() {
            return Ok(tls.clone());
        }
        // Two threads racing here both build one; the first stored wins.
        let built = Self::build(extra_pems)?;
        Ok(cell.get_or_init(|| built).clone())
    }

    /// Builds a configuration as reqwest 0.13 builds its default one, with
    /// `extra_pems` trusted besides the platform's roots.
    pub(crate) fn build(extra_pems: &[Vec<u8>]) -> Result<Self, TlsError> {
        let provider = CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
        let extra = parse_roots(extra_pems)?;
        let verifier = verifier(extra, provider.clone())?;
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(rustls::ALL_VERSIONS)
            .map_err(|e| TlsError::Verifier(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self(Arc::new(config)))
    }

    /// A reqwest client builder that will use this configuration, with a
    /// TLS session cache of its own (as a default client has).
    pub(crate) fn reqwest_builder(&self) -> reqwest::ClientBuilder {
        let mut config = ClientConfig::clone(&self.0);
        config.resumption = Resumption::default();
        reqwest::Client::builder().tls_backend_preconfigured(config)
    }
}

/// Every certificate in `pems`; each PEM must hold at least one.
fn parse_roots(pems: &[Vec<u8>]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let mut roots = Vec::new();
    for (i, pem) in pems.iter().enumerate() {
        let index = i + 1;
        let before = roots.len();
        for cert in CertificateDer::pem_slice_iter(pem) {
            // The parser's error may quote the text: it is not passed on.
            roots.push(cert.map_err(|_| TlsError::Root {
                index,
                reason: "not a valid PEM certificate",
            })?);
        }
        if roots.len() == before {
            return Err(TlsError::Root {
                index,
                reason: "no PEM certificate in it",
            });
        }
    }
    Ok(roots)
}

/// The verifier a default reqwest client uses, with `extra` roots.
fn verifier(
    extra: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
) -> Result<rustls_platform_verifier::Verifier, TlsError> {
    if extra.is_empty() {
        return rustls_platform_verifier::Verifier::new(provider)
            .map_err(|e| TlsError::Verifier(e.to_string()));
    }
    #[cfg(not(target_os = "android"))]
    {
        // A root that is PEM but not a certificate fails here, with a
        // rustls error that names the problem, not the bytes.
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider)
            .map_err(|e| TlsError::Verifier(e.to_string()))
    }
    #[cfg(target_os = "android")]
    {
        let _ = provider;
        Err(TlsError::Verifier(
            "extra root certificates are not supported on Android".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_root_that_is_not_a_pem_certificate_is_refused_without_quoting_it() {
        let secret = "sk-quoted-nowhere-0123456789";
        for pem in [
            format!("-----BEGIN CERTIFICATE-----\n{secret}\n"),
            format!("-----BEGIN CERTIFICATE-----\n{secret}\n-----END CERTIFICATE-----\n"),
            secret.to_owned(),
            String::new(),
        ] {
            let err = SharedTls::build(&[pem.clone().into_bytes()]).unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(
                matches!(err, TlsError::Root { index: 1, .. }),
                "{pem:?} -> {shown}"
            );
            assert!(!shown.contains(secret), "{pem:?} -> {shown}");
        }
    }

    #[test]
    fn the_system_configuration_is_built_once() {
        let cache = OnceLock::new();
        let a = SharedTls::get(&cache, &[]).unwrap();
        let b = SharedTls::get(&cache, &[]).unwrap();
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert!(cache.get().is_none(), "the process-wide one, not the cache");
        assert_eq!(a.0.alpn_protocols, [b"http/1.1".to_vec()]);
    }
}
