//! The HTTP application: the hub's pages and server functions, health
//! endpoints, and a server that stops gracefully.

use crate::app::{shell, App};
use crate::error::AppError;
use crate::server::state::AppState;
use crate::server::{assets, auth, security};
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt as _;
use axum::{Json, Router};
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes};
use std::future::IntoFuture as _;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// The app's routes, listed once per process. Listing them runs the app
/// with resource loading switched off for the whole process while it runs,
/// so a page rendered meanwhile by another hub of the same process (tests
/// build many) would wait for a resource that never loads.
fn routes() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

pub fn router(state: AppState) -> Router {
    let routes = routes();
    Router::new()
        .nest_service(
            assets::ASSETS_PREFIX,
            assets::pkg_service(&state.leptos_options),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(crate::server::metrics::render_for_hub))
        .route("/api/events", get(crate::server::live::events))
        .route(
            "/runs/{id}/failures.csv",
            get(crate::server::exports::failures_csv),
        )
        .route(
            "/runs/{id}/failures.json",
            get(crate::server::exports::failures_json),
        )
        .leptos_routes_with_context(
            &state,
            routes,
            {
                let state = state.clone();
                move || provide_context(state.clone())
            },
            {
                let options = state.leptos_options.clone();
                move || shell(options.clone())
            },
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(shell))
        .layer(middleware::from_fn(api_statuses))
        // Behind the sign-in gate: a signed-out caller is told to sign in
        // first, whatever the request's origin.
        .layer(middleware::from_fn(security::same_origin_writes))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security::require_sign_in,
        ))
        .layer(auth::session_layer(
            state.pool.clone(),
            state.secure_cookies,
        ))
        .layer(middleware::from_fn(security::security_headers))
        .layer(middleware::from_fn(assets::cache_policy))
        // Pages and server functions are compressed as they are sent (the
        // assets come precompressed); event streams are left alone, so each
        // event leaves as soon as it happens.
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Every accepted connection sends its writes at once: without
/// `TCP_NODELAY`, a response written in two parts (head, then body) waits
/// for the client's delayed ACK, about 40 ms per request on a kept-alive
/// connection, and so does each small event of a stream.
pub(crate) fn without_nagle(
    listener: TcpListener,
) -> axum::serve::TapIo<TcpListener, fn(&mut TcpStream)> {
    fn no_delay(stream: &mut TcpStream) {
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "could not set TCP_NODELAY");
        }
    }
    listener.tap_io(no_delay as fn(&mut TcpStream))
}

/// The process is alive.
async fn healthz() -> &'static str {
    "ok"
}

/// How long readiness waits for the database. A probe must answer promptly:
/// without a bound it would wait out the pool's reconnect attempts and stay
/// green through an outage shorter than the pool's acquire timeout.
const READY_TIMEOUT: Duration = Duration::from_secs(1);

/// The database answers (within [`READY_TIMEOUT`]) and every migration is
/// applied.
async fn readyz(State(state): State<AppState>) -> Response {
    let checked = tokio::time::timeout(READY_TIMEOUT, crate::db::migrations_applied(&state.pool))
        .await
        .unwrap_or(Err(sqlx::Error::PoolTimedOut));
    match checked {
        Ok(true) => (StatusCode::OK, Json(serde_json::json!({"status": "ready"}))).into_response(),
        Ok(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "not ready", "reason": "migrations pending"})),
        )
            .into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"status": "not ready", "reason": "database unreachable"})),
            )
                .into_response()
        }
    }
}

/// The status of a server function's answer. Errors carry their own status
/// (`AppError::respond`), and server functions report malformed arguments as
/// 500, which this turns into the right 4xx from the error body. A plain HTML
/// form post (no JavaScript) is the exception: it is sent back to its page
/// with the error in the URL, and only a redirect status lets the browser
/// follow there.
async fn api_statuses(req: Request, next: Next) -> Response {
    let is_api = req.uri().path().starts_with("/api/");
    let plain_form = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    let mut res = next.run(req).await;
    if is_api && plain_form && res.headers().contains_key(header::LOCATION) {
        if !res.status().is_redirection() {
            *res.status_mut() = StatusCode::FOUND;
        }
        return res;
    }
    if !is_api || res.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = to_bytes(body, 64 * 1024).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response();
    };
    if let Ok(err) = serde_json::from_slice::<AppError>(&bytes) {
        if let Ok(code) = StatusCode::from_u16(err.status_code()) {
            parts.status = code;
        }
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}

/// Serves the hub on `listener` until `stop` is cancelled. Then it accepts no
/// more connections, ends the open event streams, and lets in-flight requests
/// finish for at most `grace`; a request still running after that is dropped
/// with the process.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    stop: CancellationToken,
    grace: Duration,
) -> anyhow::Result<()> {
    let local = listener.local_addr()?;
    tracing::info!("opshub hub listening on http://{local}");
    let expired_sessions = tokio::spawn(
        tower_sessions::ExpiredDeletion::continuously_delete_expired(
            auth::session_store(state.pool.clone()),
            Duration::from_secs(3600),
        ),
    );
    // Read on an interval while the hub serves `/metrics` itself.
    let _gauges = match state.metrics_token {
        Some(_) => Some(
            crate::server::metrics::refresh_gauges(
                state.pool.clone(),
                crate::server::metrics::GAUGE_INTERVAL,
            )
            .await,
        ),
        None => None,
    };
    let live = state.live.clone();
    let draining = {
        let stop = stop.clone();
        async move {
            stop.cancelled().await;
            tracing::info!(
                grace_secs = grace.as_secs_f64(),
                "hub: accepting no more connections; event streams ended; finishing in-flight requests"
            );
            live.close();
        }
    };
    let server = axum::serve(
        without_nagle(listener),
        router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(draining)
    .into_future();
    let grace_over = async {
        stop.cancelled().await;
        tokio::time::sleep(grace).await;
    };
    let outcome = tokio::select! {
        served = server => served.map_err(anyhow::Error::from),
        () = grace_over => {
            tracing::warn!(
                grace_secs = grace.as_secs_f64(),
                "hub: requests still in flight at the end of the grace period are dropped"
            );
            Ok(())
        }
    };
    expired_sessions.abort();
    tracing::info!("opshub hub stopped");
    outcome
}
