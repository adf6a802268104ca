//! State shared by every request: the pool and the Leptos options.

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use sqlx::PgPool;
use std::sync::Arc;

/// Cloned for every request and server function call: one reference
/// count, not a copy of every option.
#[derive(Clone)]
pub struct AppState(Arc<AppStateInner>);

impl AppState {
    pub fn new(inner: AppStateInner) -> AppState {
        AppState(Arc::new(inner))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppStateInner;

    fn deref(&self) -> &AppStateInner {
        &self.0
    }
}

pub struct AppStateInner {
    pub leptos_options: LeptosOptions,
    pub pool: PgPool,
    /// Mark the session cookie `Secure` (the hub is served over HTTPS).
    pub secure_cookies: bool,
    /// Fans `NOTIFY` events out to the open event streams.
    pub live: crate::server::live::LiveHub,
    /// A running run with no progress for this long is flagged as stalled.
    pub stalled_after: std::time::Duration,
    /// Reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: std::sync::Arc<[ipnet::IpNet]>,
    /// The bearer token that opens `/metrics` on the hub (none: the hub
    /// does not serve it).
    pub metrics_token: Option<std::sync::Arc<str>>,
}

/// The default of [`AppState::stalled_after`]: batches record progress every
/// quarter second, so ten quiet minutes mean a stuck item, not a slow one.
pub const DEFAULT_STALLED_AFTER: std::time::Duration = std::time::Duration::from_secs(600);

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// The event stream takes the hub of streams and the pool.
impl FromRef<AppState> for crate::server::live::LiveHub {
    fn from_ref(state: &AppState) -> Self {
        state.live.clone()
    }
}

/// Handlers that need only the database (`/metrics`) take the pool, so they
/// also serve from a router of their own.
impl FromRef<AppState> for PgPool {
    fn from_ref(state: &AppState) -> Self {
        state.pool.clone()
    }
}
