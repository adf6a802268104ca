//! Live updates. One `LISTEN` connection per process receives every run and
//! notification event (any process may have caused it: they all `NOTIFY`)
//! and fans it out to the open event streams; each stream passes on only
//! its own tenant's events, and notification events only to their user.

use crate::engine::queue::EVENTS_CHANNEL;
use crate::server::auth::Actor;
use axum::extract::Request;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// A stream ends after this long; the browser reconnects at once, and the
/// reconnection checks the session and membership again.
pub const STREAM_LIFETIME: Duration = Duration::from_secs(30 * 60);

/// One event as announced with `NOTIFY`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct LiveEvent {
    pub tenant_id: i64,
    pub run_id: i64,
    /// `queued`, `started`, `progress`, `finished`, `notification`, ...
    pub event: String,
    /// Set for events meant for one user only (new notifications).
    #[serde(default)]
    pub user_id: Option<i64>,
}

impl LiveEvent {
    /// Whether the signed-in `actor` may see this event.
    pub fn visible_to(&self, actor: &Actor) -> bool {
        self.tenant_id == actor.tenant.id && self.user_id.is_none_or(|u| u == actor.user_id)
    }

    fn to_sse(&self) -> SseEvent {
        let name = if self.event == "notification" {
            "notification"
        } else {
            "run"
        };
        #[derive(serde::Serialize)]
        struct Data<'a> {
            run_id: i64,
            event: &'a str,
        }
        let data = serde_json::to_string(&Data {
            run_id: self.run_id,
            event: &self.event,
        })
        .unwrap_or_default();
        SseEvent::default().event(name).data(data)
    }
}

/// What a stream receives: an event, or "you may have missed events".
#[derive(Clone, Debug)]
pub enum Signal {
    Event(Arc<LiveEvent>),
    Resync,
}

#[derive(Clone)]
pub struct LiveHub {
    tx: broadcast::Sender<Signal>,
    /// Cancelled when the process shuts down: every open stream ends, so the
    /// server's graceful shutdown is not held up by streams that never end.
    closed: CancellationToken,
}

impl LiveHub {
    /// Starts listening; reconnects with a back-off when the connection
    /// drops, and tells every stream to resync once it is back.
    pub fn spawn(pool: PgPool) -> LiveHub {
        let (tx, _) = broadcast::channel(1024);
        let closed = CancellationToken::new();
        let hub = LiveHub {
            tx: tx.clone(),
            closed: closed.clone(),
        };
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(200);
            loop {
                let listened = tokio::select! {
                    listened = listen(&pool, &tx) => listened,
                    _ = closed.cancelled() => return,
                };
                match listened {
                    Ok(()) => return,
                    Err(err) => {
                        tracing::warn!(error = %err, "live updates: listener lost; reconnecting");
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {},
                            _ = closed.cancelled() => return,
                        }
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                        let _ = tx.send(Signal::Resync);
                    }
                }
            }
        });
        hub
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Signal> {
        self.tx.subscribe()
    }

    /// Ends every open event stream (and any opened later) and stops
    /// listening: the process is shutting down.
    pub fn close(&self) {
        self.closed.cancel();
    }
}

async fn listen(pool: &PgPool, tx: &broadcast::Sender<Signal>) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(EVENTS_CHANNEL).await?;
    loop {
        let note = listener.recv().await?;
        match serde_json::from_str::<LiveEvent>(note.payload()) {
            Ok(event) => {
                // No subscribers is fine: nobody is watching.
                let _ = tx.send(Signal::Event(Arc::new(event)));
            }
            Err(err) => tracing::warn!(error = %err, "live updates: unreadable event"),
        }
    }
}

/// `GET /api/events`: the signed-in user's event stream for their current
/// tenant (Server-Sent Events). Behind the sign-in gate, so signed out it
/// answers 401 before getting here.
pub async fn events(
    axum::extract::State(state): axum::extract::State<crate::server::state::AppState>,
    req: Request,
) -> Response {
    let Some(actor) = req.extensions().get::<Actor>().cloned() else {
        return crate::error::AppError::Unauthorized.into_response();
    };
    let rx = state.live.subscribe();
    let deadline = tokio::time::Instant::now() + STREAM_LIFETIME;
    let hello = SseEvent::default().event("ready").data("{}");
    let first = futures_util::stream::once(async move { Ok::<_, Infallible>(hello) });
    let rest = futures_util::stream::unfold((rx, actor), move |(mut rx, actor)| async move {
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Err(_) | Ok(Err(broadcast::error::RecvError::Closed)) => return None,
                Ok(Err(broadcast::error::RecvError::Lagged(_))) | Ok(Ok(Signal::Resync)) => {
                    let resync = SseEvent::default().event("resync").data("{}");
                    return Some((Ok(resync), (rx, actor)));
                }
                Ok(Ok(Signal::Event(event))) if event.visible_to(&actor) => {
                    return Some((Ok(event.to_sse()), (rx, actor)));
                }
                Ok(Ok(Signal::Event(_))) => continue,
            }
        }
    });
    use futures_util::StreamExt;
    // On shutdown the stream ends; the browser reconnects to another process
    // (or to this one once it is back).
    let stream = first
        .chain(rest)
        .take_until(state.live.closed.clone().cancelled_owned());
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::tenants::Tenant;
    use crate::model::Role;

    fn actor(tenant: i64, user: i64) -> Actor {
        Actor {
            user_id: user,
            email: "a@example.com".into(),
            name: "A".into(),
            tenant: Tenant {
                id: tenant,
                slug: "t".into(),
                name: "T".into(),
            },
            role: Role::Viewer,
        }
    }

    #[test]
    fn events_reach_their_tenant_and_notifications_their_user_only() {
        let run: LiveEvent =
            serde_json::from_str(r#"{"tenant_id": 1, "run_id": 7, "event": "progress"}"#).unwrap();
        assert!(run.visible_to(&actor(1, 10)));
        assert!(!run.visible_to(&actor(2, 10)));
        let note: LiveEvent = serde_json::from_str(
            r#"{"tenant_id": 1, "run_id": 7, "event": "notification", "user_id": 10}"#,
        )
        .unwrap();
        assert!(note.visible_to(&actor(1, 10)));
        assert!(!note.visible_to(&actor(1, 11)));
        assert!(!note.visible_to(&actor(2, 10)));
    }
}
