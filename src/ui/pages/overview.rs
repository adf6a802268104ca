use crate::api::overview::get_overview;
use crate::model::overview::{OperationStats, Overview, ReasonStats, StalledRun};
use crate::model::run_query::{RunQuery, TimeRange};
use crate::model::time::format_millis;
use crate::model::{OperationKind, StatusBucket};
use crate::ui::components::charts::{HourlyRunsChart, MeterBar};
use crate::ui::components::{
    error_panel::ErrorPanel, progress::progress_bar, timestamp::timestamp,
};
use crate::ui::live::{Live, StatusCache};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

/// The current tenant at a glance over the last day or week: runs per hour
/// by status bucket, outcomes per operation type, the top failure reasons
/// and the stalled runs. Live: it reloads when runs change.
#[component]
pub fn OverviewPage() -> impl IntoView {
    let query = use_query_map();
    let range = Memo::new(move |_| query.read().get("range"));
    let live = Live::get();
    // The aggregates change only when a run changes status.
    let cache = StatusCache::new();
    let data = Resource::new(
        move || (range.get(), live.runs.get()),
        move |(range, _)| cache.get_or_fetch(live, range.clone(), move || get_overview(range)),
    );
    view! {
        <Title text="Overview" />
        <Transition fallback=|| view! { <p class="loading">"Loading the overview…"</p> }>
            {move || Suspend::new(async move {
                match data.await {
                    Ok(overview) => view! { <OverviewView overview /> }.into_any(),
                    Err(error) => view! { <ErrorPanel error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn window_phrase(range: TimeRange) -> &'static str {
    match range {
        TimeRange::LastWeek => "the last 7 days",
        _ => "the last 24 hours",
    }
}

/// A runs list URL showing what a part of the overview counts.
fn runs_url(range: TimeRange, kind: Option<OperationKind>, bucket: Option<StatusBucket>) -> String {
    RunQuery {
        range: Some(range),
        kind,
        bucket,
        ..RunQuery::default()
    }
    .to_url()
}

#[component]
fn OverviewView(overview: Overview) -> impl IntoView {
    let range = overview.range;
    let phrase = window_phrase(range);
    let total = overview.total_runs();
    let windows = [TimeRange::LastDay, TimeRange::LastWeek]
        .into_iter()
        .map(|r| {
            view! {
                <li>
                    <a href=format!("/overview?range={}", r.slug()) class="chip" aria-current=(r == range).then_some("true")>
                        {r.label()}
                    </a>
                </li>
            }
        })
        .collect_view();
    let chart_label = format!("Runs per hour over {phrase}: {total} in all.");
    view! {
        <div class="page-head">
            <h1>"Overview"</h1>
            <nav class="chips" aria-label="Window">
                <ul>{windows}</ul>
            </nav>
        </div>
        <section class="panel" aria-labelledby="runs-per-hour">
            <div class="panel-head">
                <h2 id="runs-per-hour">"Runs per hour"</h2>
                <A href=runs_url(range, None, None)>{format!("{total} runs in {phrase}")}</A>
            </div>
            {if total == 0 {
                view! { <p class="empty-state">{format!("No runs were started in {phrase}.")}</p> }.into_any()
            } else {
                view! { <HourlyRunsChart hours=overview.hours label=chart_label /> }.into_any()
            }}
        </section>
        <div class="overview-grid">
            <OperationsPanel operations=overview.operations range />
            <ReasonsPanel reasons=overview.reasons range />
        </div>
        <StalledPanel
            stalled=overview.stalled
            total=overview.stalled_total
            after_mins=overview.stalled_after_mins
        />
    }
}

#[component]
fn OperationsPanel(operations: Vec<OperationStats>, range: TimeRange) -> impl IntoView {
    let phrase = window_phrase(range);
    let empty = operations.is_empty();
    let rows = operations
        .into_iter()
        .map(|op| {
            let kind = OperationKind::from_parts(&op.resource, &op.action);
            let finished = op.finished();
            let rate = op
                .failure_rate()
                .map(|r| format!("{r:.1} % failed"))
                .unwrap_or_default();
            let median = op
                .median_ms
                .map(|ms| format!("median {}", format_millis(ms)))
                .unwrap_or_else(|| "no duration".to_string());
            let parts = vec![
                ("meter-succeeded", op.succeeded),
                ("meter-partial", op.partial),
                ("meter-failed", op.failed),
            ];
            let failed_href = runs_url(range, kind, Some(StatusBucket::Failed));
            let counts = format!(
                "{} succeeded · {} partially · {} failed",
                op.succeeded, op.partial, op.failed
            );
            let (key, label) = (op.key(), op.label());
            view! {
                <li class="meter-row" data-operation=key>
                    <div class="meter-head">
                        <A href=runs_url(range, kind, None)>{label}</A>
                        <span class="muted">{format!("{finished} finished · {median}")}</span>
                    </div>
                    <MeterBar parts of=finished />
                    <div class="meter-foot">
                        <A href=failed_href attr:class="failure-rate">{rate}</A>
                        <span class="muted">{counts}</span>
                    </div>
                </li>
            }
        })
        .collect_view();
    view! {
        <section class="panel" aria-labelledby="per-operation">
            <h2 id="per-operation">"Outcomes per operation"</h2>
            {if empty {
                view! { <p class="empty-state">{format!("No run finished in {phrase}.")}</p> }.into_any()
            } else {
                view! { <ul class="meters" data-testid="operation-outcomes">{rows}</ul> }.into_any()
            }}
        </section>
    }
}

#[component]
fn ReasonsPanel(reasons: Vec<ReasonStats>, range: TimeRange) -> impl IntoView {
    let phrase = window_phrase(range);
    let most = reasons.iter().map(|r| r.runs).max().unwrap_or(1);
    let empty = reasons.is_empty();
    let rows = reasons
        .into_iter()
        .map(|reason| {
            let shown = reason.latest_runs.len() as u32;
            let more = reason.runs.saturating_sub(shown);
            let links = reason
                .latest_runs
                .iter()
                .map(|id| view! { <li><A href=format!("/runs/{id}")>{format!("#{id}")}</A></li> })
                .collect_view();
            view! {
                <li class="meter-row" data-reason=reason.reason_code.clone()>
                    <div class="meter-head">
                        <code>{reason.reason_code.clone()}</code>
                        <span class="muted">
                            {format!(
                                "{} {} · {} {}",
                                reason.runs,
                                if reason.runs == 1 { "run" } else { "runs" },
                                reason.failures,
                                if reason.failures == 1 { "item" } else { "items" },
                            )}
                        </span>
                    </div>
                    <MeterBar parts=vec![("meter-failed", reason.runs)] of=most />
                    <ul class="run-links" aria-label=format!("Runs that hit {}", reason.reason_code)>
                        {links}
                        {(more > 0).then(|| view! { <li class="muted">{format!("and {more} more")}</li> })}
                    </ul>
                </li>
            }
        })
        .collect_view();
    view! {
        <section class="panel" aria-labelledby="top-reasons">
            <h2 id="top-reasons">"Top failure reasons"</h2>
            {if empty {
                view! { <p class="empty-state">{format!("No item failed in {phrase}.")}</p> }.into_any()
            } else {
                view! { <ol class="meters" data-testid="top-reasons">{rows}</ol> }.into_any()
            }}
        </section>
    }
}

#[component]
fn StalledPanel(stalled: Vec<StalledRun>, total: u32, after_mins: u64) -> impl IntoView {
    let listed = stalled.len() as u32;
    let rows = stalled
        .into_iter()
        .map(|s| {
            let run = s.run;
            view! {
                <tr data-run-id=run.id.to_string()>
                    <td><A href=format!("/runs/{}", run.id)>{format!("#{} {}", run.id, run.operation_label())}</A></td>
                    <td>{run.initiator.clone()}</td>
                    <td>{progress_bar(run.counters, run.status)}</td>
                    <td>{timestamp(s.progressed_at)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="panel" aria-labelledby="stalled">
            <div class="panel-head">
                <h2 id="stalled">"Stalled runs"</h2>
                <span class="muted">{format!("running, with no progress for {after_mins} minutes or more")}</span>
            </div>
            {if total == 0 {
                view! {
                    <p class="empty-state">
                        {format!("None: every running run made progress in the last {after_mins} minutes.")}
                    </p>
                }
                    .into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table data-testid="stalled-runs">
                            <thead>
                                <tr>
                                    <th scope="col">"Run"</th>
                                    <th scope="col">"Initiator"</th>
                                    <th scope="col">"Progress"</th>
                                    <th scope="col">"Last progress"</th>
                                </tr>
                            </thead>
                            <tbody>{rows}</tbody>
                        </table>
                    </div>
                    {(total > listed).then(|| view! {
                        <p class="muted">{format!("The {listed} quietest of {total} stalled runs.")}</p>
                    })}
                }
                    .into_any()
            }}
        </section>
    }
}
