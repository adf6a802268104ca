use crate::model::time::{format_absolute, format_iso, humanize_ago};
use crate::ui::markup;
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

    /// The page's flag, if there is one.
    pub fn get() -> Option<Hydrated> {
        use_context::<Hydrated>()
    }

    /// The moment relative times count from: none until the page has
    /// hydrated. Tracked, so markup that shows times is written again once.
    pub fn now(flag: Option<Hydrated>) -> Option<DateTime<Utc>> {
        flag.filter(|Hydrated(f)| f.get()).map(|_| Utc::now())
    }
}

/// A point in time: absolute on the server and during hydration (so both
/// render the same HTML), relative once the browser has taken over. A plain
/// function, not a component: tables render dozens of them, and a
/// component's erased view and props cost more than the element itself.
pub fn timestamp(at: DateTime<Utc>) -> impl IntoView {
    let hydrated = Hydrated::get();
    let absolute = format_absolute(at);
    let title = absolute.clone();
    view! {
        <time datetime=format_iso(at) title=title>
            {move || match Hydrated::now(hydrated) {
                Some(now) => humanize_ago(at, now),
                None => absolute.clone(),
            }}
        </time>
    }
}

/// The same point in time written into a row's markup: relative to `now`
/// when given (see [`Hydrated::now`]), absolute otherwise.
pub fn write_timestamp(buf: &mut String, at: DateTime<Utc>, now: Option<DateTime<Utc>>) {
    let absolute = format_absolute(at);
    let relative = now.map(|now| humanize_ago(at, now));
    markup::element(
        buf,
        "time",
        &[("datetime", &format_iso(at)), ("title", &absolute)],
        relative.as_deref().unwrap_or(&absolute),
    );
}
