//! Host configuration (built by `main.rs` from flags, by tests directly).

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use token_manager_core::lifecycle::RefreshPolicy;
use url::Url;

/// A company of the demo portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Company {
    /// Stable id used in URLs, the API and storage (e.g. `demo-co`).
    pub id: String,
    /// Display name (e.g. `Demonstration Co.`).
    pub name: String,
}

/// The configured companies, in menu order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Companies(Vec<Company>);

/// Longest company id accepted.
pub const MAX_COMPANY_ID: usize = 64;

impl Companies {
    /// All companies.
    pub fn all(&self) -> &[Company] {
        &self.0
    }
    /// Look one up by id.
    pub fn get(&self, id: &str) -> Option<&Company> {
        self.0.iter().find(|c| c.id == id)
    }
    /// The first (default selection).
    pub fn first(&self) -> &Company {
        self.0
            .first()
            .expect("Companies is never empty: FromStr and Default guarantee one")
    }
}

impl Default for Companies {
    fn default() -> Self {
        DEFAULT_COMPANIES
            .parse()
            .expect("the built-in company list parses")
    }
}

/// The default `--companies`.
pub const DEFAULT_COMPANIES: &str = "demo-co=Demonstration Co.,acme=Acme Corp";

impl FromStr for Companies {
    type Err = String;
    /// `id=Display Name,id2=Other Name`; ids are `[a-z0-9-_]{1,64}` and unique.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out: Vec<Company> = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (id, name) = item.split_once('=').unwrap_or((item, item));
            let (id, name) = (id.trim(), name.trim());
            if id.is_empty()
                || id.len() > MAX_COMPANY_ID
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
            {
                return Err(format!(
                    "company id {id:?} must be 1-{MAX_COMPANY_ID} characters of a-z, 0-9, '-' or '_'"
                ));
            }
            if out.iter().any(|c| c.id == id) {
                return Err(format!("company id {id:?} is listed twice"));
            }
            out.push(Company {
                id: id.to_owned(),
                name: if name.is_empty() { id } else { name }.to_owned(),
            });
        }
        if out.is_empty() {
            return Err("at least one company is required (id=Name,…)".into());
        }
        Ok(Self(out))
    }
}

/// Outbound HTTP limits for provider calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub timeout: Duration,
    /// Whole-request timeout of a refresh: longer, because an answer lost after the provider
    /// rotated the refresh token (UPS does, with no reuse grace) ends the opt-in.
    pub refresh_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(3),
            timeout: Duration::from_secs(10),
            refresh_timeout: Duration::from_secs(20),
        }
    }
}

/// The server edge's limits (see `http::serve`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeLimits {
    /// A request's headers must have arrived this long after the connection asked for them
    /// (also: an idle keep-alive connection is closed after this long).
    pub header_timeout: Duration,
    /// Most connections open at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// How long shutdown waits for requests in flight.
    pub drain: Duration,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            max_connections: 1024,
            drain: Duration::from_secs(30),
        }
    }
}

/// Everything the host needs besides the provider and the store.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The origin the browser uses for the host (no trailing slash).
    pub public_url: Url,
    /// Companies of the demo portal.
    pub companies: Companies,
    /// Extra origins allowed by CORS (with credentials) and by the CSRF `Origin` check.
    pub allowed_origins: Vec<String>,
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-For` are believed (`--trusted-proxy`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Folder of the built npm package, served at `/assets/token-manager/`.
    pub static_dir: PathBuf,
    /// Refresh timing (skew, backoff).
    pub refresh_policy: RefreshPolicy,
    /// How often the refresher looks for due work when it has none.
    pub refresh_tick: Duration,
    /// Refreshes in flight at once in this process (each mostly waits on the provider).
    pub refresh_concurrency: usize,
    /// Retrieval job period.
    pub retrieval_interval: Duration,
    /// How long a claimed lease on a company's tokens lasts (must exceed `http.timeout`).
    pub lease_ttl: Duration,
    /// Deadline of one inbound request (must exceed `http.timeout`).
    pub request_timeout: Duration,
    /// Opt-in attempts (`/start`, `/exchange`) allowed per portal user and company per minute.
    pub exchange_per_minute: u32,
    /// Largest request body.
    pub body_limit: usize,
    /// Most requests handled at once by the whole host; more are answered 503 at once.
    pub max_in_flight: usize,
    /// The page the provider returns to, when not the demo portal's own page.
    pub redirect_page: Option<Url>,
}

impl HostConfig {
    /// Defaults for a host reachable at `public_url`.
    pub fn new(public_url: Url) -> Self {
        Self {
            public_url,
            companies: Companies::default(),
            allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            static_dir: PathBuf::from("pkg/dist"),
            refresh_policy: RefreshPolicy::default(),
            refresh_tick: Duration::from_millis(1000),
            refresh_concurrency: 32,
            retrieval_interval: Duration::from_millis(30_000),
            lease_ttl: Duration::from_secs(30),
            request_timeout: Duration::from_secs(20),
            exchange_per_minute: 20,
            body_limit: 16 * 1024,
            max_in_flight: 512,
            redirect_page: None,
        }
    }

    /// The page the provider sends the browser back to: the configured page, else
    /// `{public-url}/admin/token-manager` (the demo portal's).
    pub fn redirect_uri(&self) -> String {
        if let Some(page) = &self.redirect_page {
            return page.as_str().to_owned();
        }
        format!(
            "{}/admin/token-manager",
            self.public_url.as_str().trim_end_matches('/')
        )
    }

    /// The public origin (`scheme://host[:port]`), as browsers send it in `Origin`.
    pub fn public_origin(&self) -> String {
        self.public_url.origin().ascii_serialization()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn companies_parse() {
        let c = Companies::default();
        assert_eq!(c.all().len(), 2);
        assert_eq!(c.get("demo-co").unwrap().name, "Demonstration Co.");
        assert_eq!(c.first().id, "demo-co");
        assert!("".parse::<Companies>().is_err());
        assert!("Bad Id=x".parse::<Companies>().is_err());
        assert!("a=1,a=2".parse::<Companies>().is_err());
        assert_eq!("solo".parse::<Companies>().unwrap().first().name, "solo");
    }

    #[test]
    fn redirect_uri_and_origin() {
        let c = HostConfig::new(Url::parse("http://127.0.0.1:8080").unwrap());
        assert_eq!(
            c.redirect_uri(),
            "http://127.0.0.1:8080/admin/token-manager"
        );
        assert_eq!(c.public_origin(), "http://127.0.0.1:8080");
        let mut c = c;
        c.redirect_page = Some(Url::parse("https://portal.example/settings/ups?x=1").unwrap());
        assert_eq!(c.redirect_uri(), "https://portal.example/settings/ups?x=1");
    }
}

/// TLS settings of the PostgreSQL engine (`?sslmode=require`; see `store::postgres`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PgTls {
    /// PEM file of the CA certificate(s) the server's certificate must chain to (instead of
    /// Mozilla's roots).
    pub ca_file: Option<PathBuf>,
}
