//! The hub as one value: built once from its configuration, then served by
//! `opshub serve` (beside its workers, see [`super::shutdown::run_hub`]), by
//! the tests (on a free port) and by the benchmark alike.

use crate::server::state::{AppState, AppStateInner, DEFAULT_STALLED_AFTER};
use crate::server::{assets, http, live::LiveHub};
use anyhow::Context as _;
use ipnet::IpNet;
use leptos::config::LeptosOptions;
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How the hub is served.
pub struct HubConfig {
    /// Where to listen; port 0 picks a free one.
    pub addr: SocketAddr,
    /// Mark the session cookie `Secure` (the hub is served over HTTPS).
    pub secure_cookies: bool,
    /// A running run with no progress for this long is flagged as stalled.
    pub stalled_after: Duration,
    /// The site: where the WASM, JS and CSS are served from, and their names.
    pub leptos_options: LeptosOptions,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Arc<[IpNet]>,
    /// The bearer token that opens `/metrics` on the hub (none: the hub
    /// does not serve it).
    pub metrics_token: Option<Arc<str>>,
}

impl HubConfig {
    /// As a deployed hub: the Leptos settings of the environment and
    /// `Cargo.toml`, and the content-hashed asset names when the release
    /// build wrote them.
    pub fn from_environment(addr: SocketAddr) -> anyhow::Result<HubConfig> {
        let mut conf =
            leptos::config::get_configuration(None).context("reading the Leptos configuration")?;
        assets::use_hashed_names_if_built(&mut conf.leptos_options);
        Ok(HubConfig {
            addr,
            secure_cookies: false,
            stalled_after: DEFAULT_STALLED_AFTER,
            leptos_options: conf.leptos_options,
            trusted_proxies: Arc::new([]),
            metrics_token: None,
        })
    }

    /// 127.0.0.1 on a free port with default settings: for tests and
    /// benchmarks.
    pub fn local() -> HubConfig {
        HubConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            secure_cookies: false,
            stalled_after: DEFAULT_STALLED_AFTER,
            leptos_options: LeptosOptions::builder().output_name("opshub").build(),
            trusted_proxies: Arc::new([]),
            metrics_token: None,
        }
    }
}

/// A hub bound to its address, not yet serving.
pub struct Application {
    state: AppState,
    listener: TcpListener,
}

impl Application {
    /// Binds the address and builds the shared state (the event fan-out
    /// starts listening at once).
    pub async fn build(pool: PgPool, config: HubConfig) -> anyhow::Result<Application> {
        Application::build_adjusted(pool, config, |_| {}).await
    }

    /// [`Application::build`], with the state adjusted before it is shared.
    async fn build_adjusted(
        pool: PgPool,
        config: HubConfig,
        adjust: impl FnOnce(&mut AppStateInner),
    ) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("listening on {}", config.addr))?;
        let mut leptos_options = config.leptos_options;
        leptos_options.site_addr = listener.local_addr()?;
        let mut state = AppStateInner {
            leptos_options,
            live: LiveHub::spawn(pool.clone()),
            pool,
            secure_cookies: config.secure_cookies,
            stalled_after: config.stalled_after,
            trusted_proxies: config.trusted_proxies,
            metrics_token: config.metrics_token,
        };
        adjust(&mut state);
        Ok(Application {
            state: AppState::new(state),
            listener,
        })
    }

    /// The state its requests share.
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// The address it listens on (the port picked, for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.state.leptos_options.site_addr
    }

    /// Serves until `stop` is cancelled, then stops within `grace`
    /// (see [`http::serve`]).
    pub async fn run_until_stopped(
        self,
        stop: CancellationToken,
        grace: Duration,
    ) -> anyhow::Result<()> {
        http::serve(self.state, self.listener, stop, grace).await
    }

    /// Serves in the background until the returned task is aborted: for
    /// tests and benchmarks.
    pub fn spawn(self) -> (SocketAddr, JoinHandle<()>) {
        let addr = self.addr();
        let task = tokio::spawn(async move {
            // Never asked to stop: the task ends when it is aborted.
            let stop = CancellationToken::new();
            if let Err(err) = self.run_until_stopped(stop, Duration::ZERO).await {
                tracing::error!(error = %err, "the local hub stopped");
            }
        });
        (addr, task)
    }

    /// The hub on 127.0.0.1 and a free port, with default settings and no
    /// workers, until the returned task is aborted.
    pub async fn spawn_local(pool: PgPool) -> anyhow::Result<(SocketAddr, JoinHandle<()>)> {
        Ok(Application::build(pool, HubConfig::local()).await?.spawn())
    }

    /// [`Application::spawn_local`], with its state adjusted first (a
    /// shorter stream recheck, say).
    pub async fn spawn_local_with(
        pool: PgPool,
        adjust: impl FnOnce(&mut AppStateInner),
    ) -> anyhow::Result<(SocketAddr, JoinHandle<()>)> {
        Ok(
            Application::build_adjusted(pool, HubConfig::local(), adjust)
                .await?
                .spawn(),
        )
    }
}
