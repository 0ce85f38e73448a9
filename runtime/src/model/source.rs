//! Where a model gets its client: the four client sources.
//!
//! | source | lifetime | use |
//! |---|---|---|
//! | [`Fixed`] | injected and shared; never closed by the model | a guarded client, one pool per process or worker |
//! | [`Ephemeral`] | a new client per request (the default) | simplest, safe anywhere, pays client and connection set-up every time (the TLS configuration is built once and shared) |
//! | [`Factory`] | a new client whenever one is needed | fresh credentials or tokens per request |
//! | [`PerRuntime`] | one client per tokio runtime, reused inside it | several runtimes (one per worker thread): pooling without cross-runtime failures |
//!
//! Why [`PerRuntime`] exists: a connection pool's connections are driven by
//! the tokio runtime that opened them. Share one client between two
//! runtimes, shut the first down, and the second one's requests on those
//! connections fail part way. [`Fixed`] is safe when every use of the client
//! is on one runtime, or on runtimes that live as long as the client (the
//! usual `#[tokio::main]` service); [`PerRuntime`] is safe everywhere.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use secrecy::{ExposeSecret, SecretString};
use tokio::runtime::{Handle, Id};

use super::ModelError;
use crate::client::ChatClient;
use crate::transport::tls::SharedTls;
use crate::transport::{RetryPolicy, Transport};

/// Gives a model the client for one request.
pub trait ClientSource: Send + Sync {
    /// The client type.
    type Client: ChatClient + 'static;

    /// The client to use for the next request.
    fn client(&self) -> Result<Arc<Self::Client>, ModelError>;

    /// Takes client args given to the model builder: only [`Ephemeral`]
    /// uses them; every other source refuses, since the client it gives is
    /// already configured.
    fn with_client_args(self, args: Option<ClientArgs>) -> Result<Self, ModelError>
    where
        Self: Sized,
    {
        match args {
            None => Ok(self),
            Some(_) => Err(ModelError::Config(
                "both a client and client args were given; give one (the client is already configured)"
                    .into(),
            )),
        }
    }
}

/// How to build an async-openai client: key, base URL, organization,
/// project, headers, time limit, retry policy. Unset key and base URL come
/// from `OPENAI_API_KEY` and `OPENAI_BASE_URL` when a client is built.
///
/// The client sends through a [`Transport`](crate::transport::Transport):
/// its [`RetryPolicy`] (the default unless [`retry`](Self::retry) says
/// otherwise) and its bounds on what a server can make it read
/// ([`limits`](crate::limits)).
///
/// # Cost, and what is shared
///
/// Every [`build`](Self::build) makes a new client with a connection pool
/// and a TLS session cache of its own; nothing a connection needs is shared
/// between two clients, nor between tokio runtimes. What is shared is the
/// TLS configuration (the certificate verifier and its roots): a default
/// `reqwest::Client` builds one per client, reading and parsing the
/// system's root certificates each time (milliseconds of CPU, even for a
/// client that only speaks plain HTTP). Here it is built once per process
/// for the system's roots, and once per `ClientArgs` value (and its clones)
/// when [`root_certificate_pem`](Self::root_certificate_pem) adds roots.
/// [`http_client_builder`](Self::http_client_builder) gives the same to a
/// client you build yourself.
///
/// # What is trusted
///
/// The roots a default reqwest 0.13 client (feature `rustls`) trusts, with
/// the same verifier (`rustls-platform-verifier`), crypto provider (the
/// process default if one was installed before the first client was built,
/// else aws-lc-rs) and TLS versions (1.2 and 1.3):
///
/// - on Linux and other Unix systems but macOS and iOS: the system's root
///   certificates (`SSL_CERT_FILE` or `SSL_CERT_DIR` when set, else the
///   distribution's bundle), read once per process, so a change to them is
///   seen after a restart (reqwest reads them per client);
/// - on macOS, iOS and Windows: the operating system's verifier, with its
///   trust settings and revocation checks;
/// - on Android: the system's trust store (extra roots are refused there,
///   as reqwest refuses them);
/// - and the certificates given with
///   [`root_certificate_pem`](Self::root_certificate_pem).
///
/// ALPN offers `http/1.1`, as reqwest does without its `http2` feature.
#[derive(Clone, Default)]
pub struct ClientArgs {
    api_key: Option<SecretString>,
    base_url: Option<String>,
    organization: Option<String>,
    project: Option<String>,
    headers: Vec<(String, SecretString)>,
    timeout: Option<Duration>,
    root_certificates: Vec<Vec<u8>>,
    retry: Option<RetryPolicy>,
    /// The TLS configuration with `root_certificates`, once built; shared by
    /// clones, replaced when a root is added. (Without extra roots the
    /// process-wide one is used and this stays empty.)
    tls: Arc<OnceLock<SharedTls>>,
}

/// A URL as `Debug` may show it: user info (`user:pass@`), a query
/// (`?api_key=…`) and a fragment can hold credentials, so they are
/// replaced; text that does not parse as a URL is not shown at all.
fn url_shown(url: &str) -> String {
    let Ok(mut parsed) = reqwest::Url::parse(url) else {
        return "<not a URL>".to_owned();
    };
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // Only fails for URLs that cannot have user info, which have none.
        let _ = parsed.set_username("REDACTED");
        let _ = parsed.set_password(None);
    }
    if parsed.query().is_some() {
        parsed.set_query(Some("REDACTED"));
    }
    if parsed.fragment().is_some() {
        parsed.set_fragment(Some("REDACTED"));
    }
    parsed.into()
}

impl fmt::Debug for ClientArgs {
    /// Shows which settings are set, never the key or header values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientArgs")
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .field("base_url", &self.base_url.as_deref().map(url_shown))
            .field("organization", &self.organization)
            .field("project", &self.project)
            .field(
                "headers",
                &self
                    .headers
                    .iter()
                    .map(|(k, _)| k.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .field("root_certificates", &self.root_certificates.len())
            .field("retry", &self.retry)
            .finish()
    }
}

impl ClientArgs {
    /// No settings: everything from the environment or async-openai's
    /// defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The API key.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(SecretString::from(key.into()));
        self
    }

    /// The base URL (`https://api.openai.com/v1` by default).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The OpenAI organization.
    pub fn organization(mut self, org: impl Into<String>) -> Self {
        self.organization = Some(org.into());
        self
    }

    /// The OpenAI project.
    pub fn project(mut self, project: impl Into<String>) -> Self {
        self.project = Some(project.into());
        self
    }

    /// A header sent with every request (its value is kept secret: it may
    /// be a credential).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers
            .push((name.into(), SecretString::from(value.into())));
        self
    }

    /// A limit on each whole request.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// Trusts the certificates of a PEM text (a private CA, or the local
    /// server's self-signed one) besides the platform's roots (see
    /// [What is trusted](Self#what-is-trusted)). A text with no certificate,
    /// or one that is not valid, makes building a client fail with
    /// [`ModelError::Config`].
    pub fn root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_certificates.push(pem.into());
        // Clones made before this keep the configuration without it.
        self.tls = Arc::default();
        self
    }

    /// When and how often a failed request is sent again (default:
    /// [`RetryPolicy::default`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// A builder for a `reqwest::Client` on the shared TLS configuration
    /// (see [Cost, and what is shared](Self#cost-and-what-is-shared)) with
    /// these args' roots and [`timeout`](Self::timeout): for a factory that
    /// makes its own clients (its own pool settings, proxy, or transport)
    /// without paying for the root store every time. Each client it builds
    /// has a connection pool and TLS session cache of its own. The key,
    /// base URL and headers are not applied: they belong to the
    /// async-openai config. The TLS configuration is already built, so TLS
    /// settings made on the returned builder (roots, TLS versions) are
    /// ignored by reqwest, and choosing a TLS backend on it
    /// (`tls_backend_rustls`) goes back to a configuration per client; give
    /// roots here with [`root_certificate_pem`](Self::root_certificate_pem).
    ///
    /// Fails with [`ModelError::Config`] when a root given is not a PEM
    /// certificate or the platform's verifier cannot be made (no system
    /// roots on Linux, say); the message never quotes the PEM's text.
    ///
    /// ```
    /// use std::time::Duration;
    /// use openai_hooks::async_openai::config::OpenAIConfig;
    /// use openai_hooks::model::{ClientArgs, ClientSource, ModelError, OpenAIModel};
    /// use openai_hooks::transport::Transport;
    ///
    /// # fn main() -> Result<(), ModelError> {
    /// let args = ClientArgs::new().timeout(Duration::from_secs(60));
    /// // A factory that makes a client per call, each with a fresh token
    /// // and a pool that keeps no idle connection.
    /// let model = OpenAIModel::builder("gpt-4o-mini")
    ///     .factory(move || {
    ///         let http = args
    ///             .http_client_builder()?
    ///             .pool_max_idle_per_host(0)
    ///             .build()
    ///             .map_err(|e| ModelError::Config(format!("HTTP client: {e}")))?;
    ///         let transport = Transport::builder()
    ///             .http_client(http)
    ///             .build()
    ///             .map_err(|e| ModelError::Config(e.to_string()))?;
    ///         let token = "sk-fresh-token"; // from your token source
    ///         Ok(transport.client(OpenAIConfig::new().with_api_key(token)))
    ///     })
    ///     .build()?;
    /// // What the model does for every call:
    /// let client = model.client_source().client()?;
    /// # drop(client);
    /// # Ok(()) }
    /// ```
    pub fn http_client_builder(&self) -> Result<reqwest::ClientBuilder, ModelError> {
        let tls = SharedTls::get(&self.tls, &self.root_certificates)
            .map_err(|e| ModelError::Config(e.to_string()))?;
        let mut http = tls.reqwest_builder();
        if let Some(limit) = self.timeout {
            http = http.timeout(limit);
        }
        Ok(http)
    }

    /// A new client (with its own connection pool) from these settings, on
    /// the shared TLS configuration (see
    /// [Cost, and what is shared](Self#cost-and-what-is-shared)).
    pub fn build(&self) -> Result<Client<OpenAIConfig>, ModelError> {
        let mut config = OpenAIConfig::new();
        match &self.api_key {
            Some(key) => config = config.with_api_key(key.expose_secret()),
            None => {
                if let Ok(key) = std::env::var("OPENAI_API_KEY") {
                    config = config.with_api_key(key);
                }
            }
        }
        match &self.base_url {
            Some(url) => config = config.with_api_base(url),
            None => {
                if let Ok(url) = std::env::var("OPENAI_BASE_URL") {
                    config = config.with_api_base(url);
                }
            }
        }
        if let Some(org) = &self.organization {
            config = config.with_org_id(org);
        }
        if let Some(project) = &self.project {
            config = config.with_project_id(project);
        }
        for (name, value) in &self.headers {
            // The value may be a credential: errors name only the header.
            let invalid =
                || ModelError::Config(format!("header {name:?} is not a valid HTTP header"));
            let header = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
            let mut value =
                http::HeaderValue::from_str(value.expose_secret()).map_err(|_| invalid())?;
            // Marked sensitive, so the config's and the client's `Debug`
            // print `Sensitive` instead of the value.
            value.set_sensitive(true);
            config = config
                .with_header(header, SensitiveValue(value))
                .map_err(|_| invalid())?;
        }
        let http = self
            .http_client_builder()?
            .build()
            .map_err(|e| ModelError::Config(format!("building the HTTP client: {e}")))?;
        let transport = Transport::builder()
            .retry(self.retry.clone().unwrap_or_default())
            .http_client(http)
            .build()
            .map_err(|e| ModelError::Config(e.to_string()))?;
        Ok(transport.client(config))
    }
}

/// A header value already marked sensitive, for `OpenAIConfig::with_header`,
/// whose bound takes a conversion into a `HeaderValue` that may fail.
struct SensitiveValue(http::HeaderValue);

impl TryFrom<SensitiveValue> for http::HeaderValue {
    type Error = http::header::InvalidHeaderValue;

    fn try_from(v: SensitiveValue) -> Result<Self, Self::Error> {
        Ok(v.0)
    }
}

/// An injected client, shared, never closed by the model.
///
/// # When it is safe
///
/// An async-openai client's pooled connections are driven by tasks on the
/// tokio runtime that opened them. A fixed client is safe when every use of
/// it is on one runtime, or on runtimes that all outlive the client (the
/// usual service: one `#[tokio::main]` runtime for the whole process).
/// It is *not* safe to share across runtimes that come and go (a runtime
/// per worker thread, per test, per job): when the runtime that opened a
/// connection shuts down, a request another runtime is making on that
/// connection fails part way (a stream ends with "error decoding response
/// body"). Use [`PerRuntime`] there. `tests/tests/it/model/sources.rs`
/// reproduces both.
#[derive(Debug)]
pub struct Fixed<C>(Arc<C>);

impl<C> Fixed<C> {
    /// Uses `client` for every request.
    pub fn new(client: C) -> Self {
        Self(Arc::new(client))
    }

    /// Uses a client shared with others (several models may share one).
    pub fn shared(client: Arc<C>) -> Self {
        Self(client)
    }
}

impl<C> Clone for Fixed<C> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<C: ChatClient + 'static> ClientSource for Fixed<C> {
    type Client = C;

    fn client(&self) -> Result<Arc<C>, ModelError> {
        Ok(self.0.clone())
    }
}

/// A new async-openai client for every request, from [`ClientArgs`]: a
/// connection pool of its own per request, on a TLS configuration built
/// once (see [`ClientArgs`]).
#[derive(Debug, Clone, Default)]
pub struct Ephemeral(pub ClientArgs);

impl ClientSource for Ephemeral {
    type Client = Client<OpenAIConfig>;

    fn client(&self) -> Result<Arc<Self::Client>, ModelError> {
        self.0.build().map(Arc::new)
    }

    fn with_client_args(self, args: Option<ClientArgs>) -> Result<Self, ModelError> {
        Ok(args.map_or(self, Ephemeral))
    }
}

/// Calls a function whenever a client is needed (once per request).
pub struct Factory<F>(F);

impl<F> Factory<F> {
    /// Calls `make` for every request.
    pub fn new(make: F) -> Self {
        Self(make)
    }
}

impl<F> fmt::Debug for Factory<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Factory(..)")
    }
}

impl<C, F> ClientSource for Factory<F>
where
    C: ChatClient + 'static,
    F: Fn() -> Result<C, ModelError> + Send + Sync,
{
    type Client = C;

    fn client(&self) -> Result<Arc<C>, ModelError> {
        (self.0)().map(Arc::new)
    }
}

type Clients<C> = Mutex<HashMap<Id, Arc<C>>>;

/// One client per tokio runtime: made by a function the first time a
/// runtime asks, reused by every task on that runtime, never handed to
/// another runtime, and dropped when its runtime shuts down.
pub struct PerRuntime<C, F> {
    make: F,
    clients: Arc<Clients<C>>,
}

impl<C, F> PerRuntime<C, F> {
    /// Makes each runtime's client with `make`.
    pub fn new(make: F) -> Self {
        Self {
            make,
            clients: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// How many runtimes hold a client now.
    pub fn runtimes(&self) -> usize {
        lock(&self.clients).len()
    }
}

impl<C, F> fmt::Debug for PerRuntime<C, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerRuntime")
            .field("runtimes", &self.runtimes())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The map stays consistent whatever a panicking holder was doing: every
    // change is one insert or remove.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Removes a runtime's client from the map when dropped; it lives in a task
/// parked on that runtime, which the runtime drops when it shuts down.
struct Evict<C> {
    id: Id,
    clients: Weak<Clients<C>>,
}

impl<C> Drop for Evict<C> {
    fn drop(&mut self) {
        if let Some(clients) = self.clients.upgrade() {
            lock(&clients).remove(&self.id);
        }
    }
}

impl<C, F> ClientSource for PerRuntime<C, F>
where
    C: ChatClient + 'static,
    F: Fn() -> Result<C, ModelError> + Send + Sync,
{
    type Client = C;

    fn client(&self) -> Result<Arc<C>, ModelError> {
        let handle = Handle::try_current().map_err(|_| {
            ModelError::Config("PerRuntime needs to be used from inside a tokio runtime".into())
        })?;
        let id = handle.id();
        if let Some(client) = lock(&self.clients).get(&id) {
            return Ok(client.clone());
        }
        // Made outside the lock: making a client may take a while. Two tasks
        // racing here both make one; the first stored wins.
        let made = Arc::new((self.make)()?);
        let mut clients = lock(&self.clients);
        if let Some(existing) = clients.get(&id) {
            return Ok(existing.clone());
        }
        clients.insert(id, made.clone());
        drop(clients);
        let evict = Evict {
            id,
            clients: Arc::downgrade(&self.clients),
        };
        handle.spawn(async move {
            let _evict = evict;
            std::future::pending::<()>().await;
        });
        Ok(made)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_credentials_in_the_base_url() {
        assert_eq!(url_shown("http://127.0.0.1:8/v1"), "http://127.0.0.1:8/v1");
        assert_eq!(
            url_shown("https://gw.example/v1?api_key=sk-secret&x=1"),
            "https://gw.example/v1?REDACTED"
        );
        assert_eq!(
            url_shown("https://user:pa%40ss@gw.example/v1/chat"),
            "https://REDACTED@gw.example/v1/chat"
        );
        assert_eq!(
            url_shown("https://gw.example/v1#token=abc"),
            "https://gw.example/v1#REDACTED"
        );
        // A raw `/` or `?` in a password does not move the cut.
        for odd in ["https://u:pa/ss@h.example/v1", "https://u:p?w@h.example/v1"] {
            let shown = url_shown(odd);
            assert!(
                !shown.contains("pa") && !shown.contains("p?w"),
                "{odd} -> {shown}"
            );
        }
        assert_eq!(url_shown("gw.example/v1://x"), "<not a URL>");
        let args = ClientArgs::new().base_url("https://u:secret-pw@gw.example/v1?key=hidden-key");
        let shown = format!("{args:?}");
        assert!(
            !shown.contains("secret-pw") && !shown.contains("hidden-key"),
            "{shown}"
        );
        assert!(shown.contains("gw.example/v1"), "{shown}");
    }
}
