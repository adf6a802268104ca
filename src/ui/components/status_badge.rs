use crate::model::RunStatus;
use leptos::prelude::*;

/// A run's status bucket as a colored badge; the stored status is in the
/// title. A plain function, like [`super::timestamp::timestamp`].
pub fn status_badge(status: RunStatus) -> impl IntoView {
    let bucket = status.bucket();
    view! {
        <span
            class=format!("badge badge-{}", bucket.slug())
            title=format!("status: {}", status.as_str())
            data-status=status.as_str()
        >
            {bucket.label()}
        </span>
    }
}
