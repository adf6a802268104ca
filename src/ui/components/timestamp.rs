use crate::model::time::{format_absolute, humanize_ago};
use chrono::{DateTime, Utc};
use leptos::prelude::*;

/// Whether the browser has taken over the page. One flag for the whole
/// page, provided by the app root and set once it has hydrated, instead of
/// a signal and an effect per timestamp.
#[derive(Clone, Copy)]
pub struct Hydrated(RwSignal<bool>);

impl Hydrated {
    pub fn provide() -> Hydrated {
        let hydrated = Hydrated(RwSignal::new(false));
        provide_context(hydrated);
        hydrated
    }

    /// Called once the page has hydrated.
    pub fn mark(self) {
        self.0.set(true);
    }
}

/// A point in time: absolute on the server and during hydration (so both
/// render the same HTML), relative once the browser has taken over. A plain
/// function, not a component: tables render dozens of them, and a
/// component's erased view and props cost more than the element itself.
pub fn timestamp(at: DateTime<Utc>) -> impl IntoView {
    let hydrated = use_context::<Hydrated>();
    let absolute = format_absolute(at);
    let title = absolute.clone();
    view! {
        <time datetime=at.to_rfc3339() title=title>
            {move || match hydrated {
                Some(Hydrated(flag)) if flag.get() => humanize_ago(at, Utc::now()),
                _ => absolute.clone(),
            }}
        </time>
    }
}
