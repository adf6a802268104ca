//! Runs as a table: the runs list and a backup set's runs.

use crate::model::RunSummary;
use crate::ui::components::{
    progress::write_progress_bar,
    status_badge::write_status_badge,
    timestamp::{write_timestamp, Hydrated},
};
use crate::ui::markup;
use chrono::{DateTime, Utc};
use leptos::prelude::*;
use std::fmt::Write;

/// Runs as a table, in the order given.
#[component]
pub fn RunTable(runs: Vec<RunSummary>) -> impl IntoView {
    let hydrated = Hydrated::get();
    view! {
        <div class="table-wrap">
            // Narrow screens show each run as a card (see main.css): no
            // column is cut and nothing scrolls sideways.
            <table class="runs-table">
                <caption class="visually-hidden">"Runs, newest first"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Run"</th>
                        <th scope="col">"Operation"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Progress"</th>
                        <th scope="col" class="num col-count">"Succeeded"</th>
                        <th scope="col" class="num col-count">"Failed"</th>
                        <th scope="col" class="num col-count">"Skipped"</th>
                        <th scope="col" class="col-initiator">"Initiator"</th>
                        <th scope="col" class="col-created">"Created"</th>
                    </tr>
                </thead>
                // The rows are one string (see ui::markup): they hold links
                // and text only, and the router takes the links' clicks.
                <tbody inner_html=move || run_rows(&runs, Hydrated::now(hydrated))></tbody>
            </table>
        </div>
    }
}

/// The table's rows as markup; times relative to `now` when given.
fn run_rows(runs: &[RunSummary], now: Option<DateTime<Utc>>) -> String {
    let mut buf = String::with_capacity(runs.len() * 1_100);
    for run in runs {
        // Writing into a String cannot fail.
        let _ = write!(
            buf,
            "<tr data-run-id=\"{id}\"><td><a href=\"/runs/{id}\">#{id}</a></td><td>",
            id = run.id
        );
        markup::element(
            &mut buf,
            "span",
            &[("class", "op-label")],
            &run.operation_label(),
        );
        markup::element(
            &mut buf,
            "code",
            &[("class", "op-key")],
            &run.operation_key(),
        );
        if let Some(text) = run.waiting_for_worker() {
            markup::element(
                &mut buf,
                "span",
                &[("class", "muted waiting-kind"), ("title", &text)],
                " · waiting for a worker that knows this kind",
            );
        }
        buf.push_str("</td><td>");
        write_status_badge(&mut buf, run.status);
        buf.push_str("</td><td class=\"progress-cell\">");
        write_progress_bar(&mut buf, run.counters, run.status);
        buf.push_str("</td>");
        for (label, n) in [
            ("Succeeded", run.counters.succeeded),
            ("Failed", run.counters.failed),
            ("Skipped", run.counters.skipped),
        ] {
            let _ = write!(
                buf,
                "<td class=\"num col-count\" data-label=\"{label}\">{n}</td>"
            );
        }
        buf.push_str("<td class=\"col-initiator\">");
        markup::text(&mut buf, &run.initiator);
        buf.push_str("</td><td class=\"col-created\">");
        write_timestamp(&mut buf, run.created_at, now);
        buf.push_str("</td></tr>");
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RunCounters, RunStatus};
    use chrono::TimeZone;

    fn run(id: i64, resource: &str, status: RunStatus, initiator: &str) -> RunSummary {
        RunSummary {
            id,
            resource: resource.into(),
            action: "sync".into(),
            status,
            initiator: initiator.into(),
            idempotency_key: None,
            counters: RunCounters {
                total_items: Some(8),
                processed_items: 2,
                succeeded: 1,
                failed: 1,
                skipped: 0,
            },
            created_at: Utc.with_ymd_and_hms(2026, 12, 4, 22, 3, 37).unwrap(),
            started_at: None,
            finished_at: None,
        }
    }

    #[test]
    fn rows_link_each_run_and_escape_what_users_typed() {
        let rows = run_rows(
            &[
                run(16, "inventory", RunStatus::Running, "<b>Eve</b> & co"),
                run(9, "inventory", RunStatus::Completed, "Olivia"),
            ],
            None,
        );
        assert_eq!(rows.matches("<tr ").count(), 2);
        assert!(rows.starts_with(
            "<tr data-run-id=\"16\"><td><a href=\"/runs/16\">#16</a></td><td><span class=\"op-label\">Inventory import</span><code class=\"op-key\">inventory.sync</code></td>"
        ), "{rows}");
        assert!(rows.contains("<td class=\"col-initiator\">&lt;b&gt;Eve&lt;/b&gt; &amp; co</td>"));
        assert!(rows.contains(
            "<span class=\"badge badge-succeeded\" title=\"status: completed\" data-status=\"completed\">succeeded</span>"
        ));
        assert!(rows.contains("aria-valuenow=\"25\" aria-valuetext=\"2 of 8 items\""));
        assert!(rows.contains("<td class=\"num col-count\" data-label=\"Failed\">1</td>"));
        assert!(rows.contains(
            "<time datetime=\"2026-12-04T22:03:37.000Z\" title=\"2026-12-04 22:03:37 UTC\">2026-12-04 22:03:37 UTC</time>"
        ));
    }

    #[test]
    fn rows_show_times_relative_to_now_once_given_one() {
        let r = run(1, "inventory", RunStatus::Pending, "Olivia");
        let now = r.created_at + chrono::Duration::minutes(5);
        let rows = run_rows(&[r], Some(now));
        assert!(
            rows.contains("title=\"2026-12-04 22:03:37 UTC\">5 minutes ago</time>"),
            "{rows}"
        );
    }

    #[test]
    fn a_run_of_a_kind_no_worker_knows_says_so_in_its_row() {
        let rows = run_rows(&[run(3, "mystery", RunStatus::Pending, "Olivia")], None);
        assert!(rows.contains("<span class=\"muted waiting-kind\" title=\"Waiting for a worker that can run mystery.sync"), "{rows}");
    }
}
