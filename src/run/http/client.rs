//! errand's HTTP clients: rustls with the ring provider (reqwest is built without a default
//! one), no redirects followed, errand's user agent.

/// A client builder with errand's defaults. Installing the crypto provider more than once (a
/// second client, or an application that did) is harmless.
pub fn client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("errand/", env!("CARGO_PKG_VERSION")))
}
