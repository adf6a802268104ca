use crate::model::{RunCounters, RunStatus};
use crate::ui::markup;
use leptos::prelude::*;

/// Progress of a run: a bar when the total is known, and the counts. A
/// plain function, like [`super::timestamp::timestamp`].
pub fn progress_bar(counters: RunCounters, status: RunStatus) -> impl IntoView {
    let Progress { pct, label, class } = Progress::of(counters, status);
    view! {
        <div class="progress-wrap">
            <div
                class=class
                role="progressbar"
                aria-label="Progress"
                aria-valuemin="0"
                aria-valuemax="100"
                aria-valuenow=pct.map(|p| p.to_string())
                aria-valuetext=label.clone()
            >
                // An SVG bar: its width is an attribute, not an inline style,
                // so it renders under a strict Content-Security-Policy.
                <svg class="progress-track" viewBox="0 0 100 1" preserveAspectRatio="none" aria-hidden="true">
                    <rect class="progress-fill" width=pct.unwrap_or(0).to_string() height="1"></rect>
                </svg>
            </div>
            <span class="progress-label">{label}</span>
        </div>
    }
}

/// The same bar written into a row's markup.
pub fn write_progress_bar(buf: &mut String, counters: RunCounters, status: RunStatus) {
    let Progress { pct, label, class } = Progress::of(counters, status);
    buf.push_str("<div class=\"progress-wrap\"><div");
    markup::attr(buf, "class", &class);
    buf.push_str(
        " role=\"progressbar\" aria-label=\"Progress\" aria-valuemin=\"0\" aria-valuemax=\"100\"",
    );
    if let Some(pct) = pct {
        markup::attr(buf, "aria-valuenow", &pct.to_string());
    }
    markup::attr(buf, "aria-valuetext", &label);
    buf.push_str(
        "><svg class=\"progress-track\" viewBox=\"0 0 100 1\" preserveAspectRatio=\"none\" aria-hidden=\"true\"><rect class=\"progress-fill\"",
    );
    markup::attr(buf, "width", &pct.unwrap_or(0).to_string());
    buf.push_str(" height=\"1\"></rect></svg></div>");
    markup::element(buf, "span", &[("class", "progress-label")], &label);
    buf.push_str("</div>");
}

struct Progress {
    pct: Option<u8>,
    label: String,
    class: String,
}

impl Progress {
    fn of(counters: RunCounters, status: RunStatus) -> Progress {
        let pct = counters.percent();
        let label = match counters.total_items {
            Some(total) if status == RunStatus::Pending => {
                format!("waiting to start · {total} items")
            }
            Some(total) => format!("{} of {total} items", counters.processed_items),
            None if status == RunStatus::Pending => "waiting to start".to_string(),
            None => format!("{} items", counters.processed_items),
        };
        let class = format!(
            "progress progress-{}{}",
            status.bucket().slug(),
            if pct.is_none() {
                " progress-unknown"
            } else {
                ""
            }
        );
        Progress { pct, label, class }
    }
}
