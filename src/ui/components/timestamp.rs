use crate::model::time::{format_absolute, humanize_ago};
use chrono::{DateTime, Utc};
use leptos::prelude::*;

/// A point in time: absolute on the server and during hydration (so both
/// render the same HTML), relative once the browser has taken over.
#[component]
pub fn Timestamp(at: DateTime<Utc>) -> impl IntoView {
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let absolute = format_absolute(at);
    let title = absolute.clone();
    view! {
        <time datetime=at.to_rfc3339() title=title>
            {move || if hydrated.get() { humanize_ago(at, Utc::now()) } else { absolute.clone() }}
        </time>
    }
}
