//! `GET /metrics`: the engine's metrics in the Prometheus text format,
//! served on an address of its own (`--metrics-addr`, by `serve` and
//! `worker`) or by the hub behind a bearer token (`--metrics-token`); with
//! neither, nobody can read them. The queue gauges are read from the
//! database on an interval, never per scrape, so scraping costs the
//! database nothing.

use crate::server::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// How often the queue gauges are read from the database.
pub const GAUGE_INTERVAL: Duration = Duration::from_secs(15);

/// Installs the process-wide recorder (once). Gauges not set for ten minutes
/// are dropped, so a tenant that has left the queue-depth top does not stay
/// on every scrape.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .idle_timeout(MetricKindMask::GAUGE, Some(Duration::from_secs(600)))
            .install_recorder()
            .expect("the metrics recorder is installed once per process")
    })
}

async fn read_gauges(pool: &PgPool) {
    if let Err(err) = crate::engine::metrics::record_queue_gauges(pool).await {
        tracing::warn!(error = %err, "reading queue gauges failed");
    }
}

/// Reads the queue gauges now (so the first scrape has them) and then
/// every `interval`, until the returned handle is dropped.
pub async fn refresh_gauges(pool: PgPool, interval: Duration) -> AbortOnDropHandle<()> {
    install();
    read_gauges(&pool).await;
    AbortOnDropHandle::new(tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            read_gauges(&pool).await;
        }
    }))
}

fn exposition() -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        install().render(),
    )
        .into_response()
}

/// `/metrics` on the metrics address: anyone who reaches the address.
async fn render() -> Response {
    exposition()
}

/// `/metrics` on the hub: only with the configured bearer token; without a
/// token configured, the hub has no such page.
pub async fn render_for_hub(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = state.metrics_token.as_deref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let offered = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Compared as digests: equal length, and no early exit on the secret.
    let matches = offered.is_some_and(|offered| {
        Sha256::digest(offered.as_bytes()) == Sha256::digest(token.as_bytes())
    });
    if !matches {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token is required",
        )
            .into_response();
    }
    exposition()
}

/// `/metrics` alone, for an address that serves nothing else.
pub fn router() -> Router {
    Router::new().route("/metrics", get(render))
}

/// Serves [`router`] on `listener`, refreshing the gauges from `pool`,
/// until `stop` is cancelled.
pub async fn serve(
    listener: TcpListener,
    pool: PgPool,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let _gauges = refresh_gauges(pool, GAUGE_INTERVAL).await;
    let addr: SocketAddr = listener.local_addr()?;
    tracing::info!("metrics served on http://{addr}/metrics");
    axum::serve(listener, router())
        .with_graceful_shutdown(stop.cancelled_owned())
        .await?;
    tracing::info!("metrics server stopped");
    Ok(())
}
