//! `GET /metrics`: the engine's metrics in the Prometheus text format, served
//! by the hub and, when asked, by a worker process on an address of its own.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;
use sqlx::PgPool;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

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

pub async fn render(State(pool): State<PgPool>) -> Response {
    let handle = install();
    if let Err(err) = crate::engine::metrics::record_queue_gauges(&pool).await {
        tracing::warn!(error = %err, "reading queue gauges failed");
    }
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response()
}

/// `/metrics` alone, for a process that serves nothing else (`opshub worker`).
pub fn router(pool: PgPool) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state(pool)
}

/// Serves [`router`] on `listener` until `stop` is cancelled.
pub async fn serve(
    listener: TcpListener,
    pool: PgPool,
    stop: CancellationToken,
) -> std::io::Result<()> {
    install();
    let addr: SocketAddr = listener.local_addr()?;
    tracing::info!("metrics served on http://{addr}/metrics");
    axum::serve(listener, router(pool))
        .with_graceful_shutdown(stop.cancelled_owned())
        .await?;
    tracing::info!("metrics server stopped");
    Ok(())
}
