//! Live updates in the browser. One `EventSource` on `/api/events` per tab;
//! its events bump counters that pages put in their resources' sources, so
//! the list, the detail page and the bell refetch (inside a `Transition`:
//! the old content stays until the new arrives, nothing flickers).
//!
//! The stream is closed while the tab is hidden and reopened when it shows
//! again; every (re)connection refetches once, so nothing missed while
//! away or disconnected stays stale.

use leptos::prelude::*;

#[derive(Clone, Copy)]
pub struct Live {
    /// Bumped when a run of the current tenant changed (several changes
    /// within a quarter second bump it once).
    pub runs: RwSignal<u64>,
    /// Bumped, just before `runs`, when a run of the current tenant changed
    /// status (not mere progress). Read untracked: it tells a refetch
    /// triggered by `runs` whether per-status counts may have changed.
    pub statuses: RwSignal<u64>,
    /// Bumped when a notification for the signed-in user arrived.
    pub notifications: RwSignal<u64>,
    /// Whether the stream is open.
    pub connected: RwSignal<bool>,
}

impl Live {
    pub fn provide() -> Live {
        let live = Live {
            runs: RwSignal::new(0),
            statuses: RwSignal::new(0),
            notifications: RwSignal::new(0),
            connected: RwSignal::new(false),
        };
        provide_context(live);
        live
    }

    pub fn get() -> Live {
        use_context::<Live>().unwrap_or_else(Live::provide)
    }

    /// Opens the stream (once per tab); a no-op on the server.
    pub fn start(self) {
        #[cfg(feature = "hydrate")]
        client::start(self);
    }
}

/// Remembers the last value fetched for a key while no run changed status:
/// a refetch caused by mere progress reuses it instead of asking again
/// (per-status counts, the overview's aggregates).
pub struct StatusCache<K: 'static, V: 'static> {
    last: StoredValue<Option<(K, u64, V)>>,
}

impl<K: 'static, V: 'static> Clone for StatusCache<K, V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K: 'static, V: 'static> Copy for StatusCache<K, V> {}

impl<K, V> StatusCache<K, V>
where
    K: PartialEq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    pub fn new() -> Self {
        StatusCache {
            last: StoredValue::new(None),
        }
    }

    pub async fn get_or_fetch<E, Fut>(
        self,
        live: Live,
        key: K,
        fetch: impl FnOnce() -> Fut,
    ) -> Result<V, E>
    where
        Fut: std::future::Future<Output = Result<V, E>>,
    {
        match self.lookup(live, &key) {
            Cached::Known(value) => Ok(value),
            Cached::Missing(stamp) => {
                let value = fetch().await?;
                self.remember(stamp, key, value.clone());
                Ok(value)
            }
        }
    }

    /// The value remembered for `key`, if no run changed status since.
    pub fn lookup(self, live: Live, key: &K) -> Cached<V> {
        let statuses = live.statuses.get_untracked();
        let known = self.last.with_value(|last| {
            last.as_ref()
                .filter(|(k, s, _)| k == key && *s == statuses)
                .map(|(_, _, v)| v.clone())
        });
        match known {
            Some(value) => Cached::Known(value),
            None => Cached::Missing(Stamp(statuses)),
        }
    }

    /// Remembers a value fetched after a [`Cached::Missing`] lookup.
    pub fn remember(self, stamp: Stamp, key: K, value: V) {
        self.last.set_value(Some((key, stamp.0, value)));
    }
}

/// What [`StatusCache::lookup`] found.
pub enum Cached<V> {
    Known(V),
    /// Nothing for the key: fetch, then [`StatusCache::remember`] it with
    /// this stamp (the status changes seen before the fetch).
    Missing(Stamp),
}

/// The number of status changes seen when a lookup missed.
pub struct Stamp(u64);

impl<K, V> Default for StatusCache<K, V>
where
    K: PartialEq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "hydrate")]
mod client {
    use super::Live;
    use leptos::prelude::*;
    use std::cell::{Cell, RefCell};
    use std::time::Duration;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    use web_sys::{Event, EventSource, MessageEvent, VisibilityState};

    type Listener = Closure<dyn FnMut(Event)>;

    struct Stream {
        source: EventSource,
        _listeners: Vec<Listener>,
    }

    thread_local! {
        static STREAM: RefCell<Option<Stream>> = const { RefCell::new(None) };
        static STARTED: Cell<bool> = const { Cell::new(false) };
        static CONNECTED_BEFORE: Cell<bool> = const { Cell::new(false) };
        static RUNS_PENDING: Cell<bool> = const { Cell::new(false) };
    }

    const DEBOUNCE: Duration = Duration::from_millis(250);
    const RETRY: Duration = Duration::from_secs(3);

    pub fn start(live: Live) {
        if STARTED.with(|s| s.replace(true)) {
            return;
        }
        let on_visibility: Listener = Closure::new(move |_: Event| {
            if visible() {
                open(live);
            } else {
                close(live);
            }
        });
        let _ = document().add_event_listener_with_callback(
            "visibilitychange",
            on_visibility.as_ref().unchecked_ref(),
        );
        on_visibility.forget();
        if visible() {
            open(live);
        }
    }

    fn visible() -> bool {
        document().visibility_state() == VisibilityState::Visible
    }

    fn bump_runs_soon(live: Live) {
        if RUNS_PENDING.with(|p| p.replace(true)) {
            return;
        }
        set_timeout(
            move || {
                RUNS_PENDING.with(|p| p.set(false));
                live.runs.update(|n| *n += 1);
            },
            DEBOUNCE,
        );
    }

    fn catch_up(live: Live) {
        live.statuses.update(|n| *n += 1);
        live.runs.update(|n| *n += 1);
        live.notifications.update(|n| *n += 1);
    }

    /// Whether a `run` event leaves every status as it was (progress only).
    fn is_progress(event: &Event) -> bool {
        event
            .dyn_ref::<MessageEvent>()
            .and_then(|m| m.data().as_string())
            .and_then(|data| serde_json::from_str::<crate::model::StreamedRunEvent>(&data).ok())
            .is_some_and(|e| !e.event.changes_status())
    }

    fn open(live: Live) {
        if STREAM.with(|s| s.borrow().is_some()) {
            return;
        }
        let Ok(source) = EventSource::new("/api/events") else {
            return;
        };
        let mut listeners = Vec::new();
        let mut on = |name: &str, f: Box<dyn FnMut(Event)>| {
            let listener: Listener = Closure::wrap(f);
            let _ =
                source.add_event_listener_with_callback(name, listener.as_ref().unchecked_ref());
            listeners.push(listener);
        };
        on(
            "ready",
            Box::new(move |_| {
                live.connected.set(true);
                // After a drop, a reconnection or a hidden tab: catch up.
                if CONNECTED_BEFORE.with(|c| c.replace(true)) {
                    catch_up(live);
                }
            }),
        );
        on(
            "run",
            Box::new(move |event| {
                if !is_progress(&event) {
                    live.statuses.update(|n| *n += 1);
                }
                bump_runs_soon(live);
            }),
        );
        on(
            "notification",
            Box::new(move |_| live.notifications.update(|n| *n += 1)),
        );
        on("resync", Box::new(move |_| catch_up(live)));
        let watched = source.clone();
        on(
            "error",
            Box::new(move |_| {
                live.connected.set(false);
                // The browser retries by itself unless the server refused
                // the stream (e.g. signed out); then try again later.
                if watched.ready_state() == EventSource::CLOSED {
                    // Not dropped here: this very listener belongs to it.
                    set_timeout(
                        move || {
                            STREAM.with(|s| s.borrow_mut().take());
                            if visible() {
                                open(live);
                            }
                        },
                        RETRY,
                    );
                }
            }),
        );
        STREAM.with(|s| {
            *s.borrow_mut() = Some(Stream {
                source,
                _listeners: listeners,
            })
        });
    }

    fn close(live: Live) {
        if let Some(stream) = STREAM.with(|s| s.borrow_mut().take()) {
            stream.source.close();
        }
        live.connected.set(false);
    }
}
