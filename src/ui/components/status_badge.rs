use crate::model::RunStatus;
use crate::ui::markup;
use leptos::prelude::*;

/// A run's status bucket as a colored badge; the stored status is in the
/// title. A plain function, like [`super::timestamp::timestamp`].
pub fn status_badge(status: RunStatus) -> impl IntoView {
    let badge = Badge::of(status);
    view! {
        <span class=badge.class title=badge.title data-status=status.as_str()>
            {badge.label}
        </span>
    }
}

/// The same badge written into a row's markup.
pub fn write_status_badge(buf: &mut String, status: RunStatus) {
    let badge = Badge::of(status);
    markup::element(
        buf,
        "span",
        &[
            ("class", &badge.class),
            ("title", &badge.title),
            ("data-status", status.as_str()),
        ],
        badge.label,
    );
}

struct Badge {
    class: String,
    title: String,
    label: &'static str,
}

impl Badge {
    fn of(status: RunStatus) -> Badge {
        let bucket = status.bucket();
        Badge {
            class: format!("badge badge-{}", bucket.slug()),
            title: format!("status: {}", status.as_str()),
            label: bucket.label(),
        }
    }
}
