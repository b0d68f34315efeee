//! The HTTP client behind every outbound call (Comet, `anirec data fetch`).
//!
//! TLS is rustls with ring. Certificates are checked against the platform's
//! trust store (so a self-hosted Comet behind a private CA installed on the
//! host works) merged with Mozilla's roots bundled in the binary (so a
//! minimal image without a CA store still reaches comet.com and GroupLens).

/// A blocking client builder with anirec's TLS roots and user agent.
pub(crate) fn client_builder() -> reqwest::blocking::ClientBuilder {
    // reqwest is built without a default crypto provider (its default,
    // aws-lc-rs, is a large C build); a second install is a harmless Err.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let bundled = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .filter_map(|c| reqwest::Certificate::from_der(c.as_ref()).ok());
    reqwest::blocking::Client::builder()
        .tls_certs_merge(bundled)
        .user_agent(concat!("anirec/", env!("CARGO_PKG_VERSION")))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_client_builds_with_platform_and_bundled_roots() {
        assert!(webpki_root_certs::TLS_SERVER_ROOT_CERTS.len() > 100);
        super::client_builder().build().unwrap();
    }
}
