//! Runs as a table: the runs list and a backup set's runs.

use crate::model::RunSummary;
use crate::ui::components::{
    progress::progress_bar, status_badge::status_badge, timestamp::timestamp,
};
use leptos::prelude::*;

/// Runs as a table, in the order given.
#[component]
pub fn RunTable(runs: Vec<RunSummary>) -> impl IntoView {
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
                <tbody>
                    {runs
                        .into_iter()
                        .map(|run| {
                            let href = format!("/runs/{}", run.id);
                            view! {
                                <tr data-run-id=run.id>
                                    <td>
                                        // A plain link: the router takes
                                        // its clicks all the same.
                                        <a href=href>{format!("#{}", run.id)}</a>
                                    </td>
                                    <td>
                                        <span class="op-label">{run.operation_label()}</span>
                                        <code class="op-key">{run.operation_key()}</code>
                                        {run.waiting_for_worker().map(|text| view! { <span class="muted waiting-kind" title=text>" · waiting for a worker that knows this kind"</span> })}
                                    </td>
                                    <td>
                                        {status_badge(run.status)}
                                    </td>
                                    <td class="progress-cell">
                                        {progress_bar(run.counters, run.status)}
                                    </td>
                                    <td class="num col-count" data-label="Succeeded">{run.counters.succeeded}</td>
                                    <td class="num col-count" data-label="Failed">{run.counters.failed}</td>
                                    <td class="num col-count" data-label="Skipped">{run.counters.skipped}</td>
                                    <td class="col-initiator">{run.initiator.clone()}</td>
                                    <td class="col-created">
                                        {timestamp(run.created_at)}
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}
