use crate::api::runs::{get_run, list_failures, CancelRun, RetryRun};
use crate::error::AppError;
use crate::model::time::format_duration;
use crate::model::{AuditEntry, FailureGroup, FailureKey, FailurePage, RunDetail, RunScope};
use crate::ui::components::{
    confirm::Confirm, error_panel::ErrorPanel, progress::progress_bar, status_badge::status_badge,
    timestamp::timestamp,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

/// One run: its fields, scope, progress, failures and audit trail.
#[component]
pub fn RunDetailPage() -> impl IntoView {
    let params = use_params_map();
    let live = crate::ui::live::Live::get();
    let session = expect_context::<crate::ui::components::top_bar::SessionResource>();
    let actions = RunActions {
        cancel: ServerAction::new(),
        retry: ServerAction::new(),
    };
    let run = Resource::new(
        move || {
            (
                params.read().get("id").unwrap_or_default(),
                live.runs.get(),
                actions.cancel.version().get(),
            )
        },
        |(id, _, _)| get_run(id),
    );
    let query = leptos_router::hooks::use_query_map();
    // A further page of one reason's item ids (`?reason_code=…&after=…`):
    // plain links, so paging works without JavaScript too.
    let failures_page = Resource::new(
        move || {
            let q = query.read();
            (
                params.read().get("id").unwrap_or_default(),
                q.get("reason_code"),
                q.get("skipped"),
                q.get("after"),
            )
        },
        |(id, code, skipped, after)| async move {
            let code = code?;
            let key = FailureKey::parse(&code, skipped.as_deref());
            let page = list_failures(id, code, skipped, after).await;
            Some((key.ok(), page))
        },
    );
    let joined = move || query.read().get("joined").is_some_and(|v| v == "1");
    view! {
        <p class="breadcrumb">
            <A href="/runs">"← All runs"</A>
        </p>
        {move || joined().then(|| view! {
            <p class="notice" role="status" data-testid="joined-notice">
                "An identical operation was already queued or running: your start joined this run instead of starting another."
            </p>
        })}
        <Transition fallback=|| view! { <p class="loading">"Loading run…"</p> }>
            {move || Suspend::new(async move {
                // Both in this one boundary: nested boundaries hydrate out of order.
                let operator = session.await.map(|s| s.role.can_operate()).unwrap_or(false);
                let selected = failures_page.await;
                match run.await {
                    Ok(detail) => view! { <RunView detail actions operator selected /> }.into_any(),
                    Err(error) => {
                        view! {
                            <Title text=error.title() />
                            <ErrorPanel error />
                        }
                            .into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// The page of one failure group the URL asks for: its key (when well
/// formed) and the page or why it could not be read.
type SelectedPage = Option<(Option<FailureKey>, Result<FailurePage, AppError>)>;

#[component]
fn RunView(
    detail: RunDetail,
    actions: RunActions,
    operator: bool,
    selected: SelectedPage,
) -> impl IntoView {
    let s = detail.summary.clone();
    let title = format!("Run #{} · {}", s.id, s.operation_label());
    let duration = s
        .started_at
        .map(|start| match s.finished_at {
            Some(end) => format_duration(start, end),
            None => "still running".to_string(),
        })
        .unwrap_or_else(|| "not started".to_string());
    let groups = detail.failure_groups.clone();
    let more_groups = detail.more_failure_groups;
    view! {
        <Title text=title.clone() />
        <article class="run-detail" data-run-id=s.id>
            <header class="page-head">
                <h1>{title}</h1>
                {status_badge(s.status)}
                {detail.cancel_requested.then(|| view! { <span class="muted" data-testid="cancel-requested">"stopping…"</span> })}
            </header>
            {s.waiting_for_worker().map(|text| view! { <p class="notice" role="status" data-testid="unknown-kind">{text}</p> })}
            <RunActionsView actions operator run_id=s.id can_cancel=detail.can_cancel() can_retry=detail.can_retry() />
            <section class="panel" aria-labelledby="progress-heading">
                <h2 id="progress-heading">"Progress"</h2>
                <div aria-live="polite">
                    {progress_bar(s.counters, s.status)}
                </div>
                <dl class="counters">
                    <div>
                        <dt>"Total"</dt>
                        <dd>{s.counters.total_items.map(|t| t.to_string()).unwrap_or_else(|| "unknown".into())}</dd>
                    </div>
                    <div>
                        <dt>"Processed"</dt>
                        <dd>{s.counters.processed_items}</dd>
                    </div>
                    <div>
                        <dt>"Succeeded"</dt>
                        <dd>{s.counters.succeeded}</dd>
                    </div>
                    <div>
                        <dt>"Failed"</dt>
                        <dd>{s.counters.failed}</dd>
                    </div>
                    <div>
                        <dt>"Skipped"</dt>
                        <dd>{s.counters.skipped}</dd>
                    </div>
                </dl>
            </section>
            <section class="panel" aria-labelledby="details-heading">
                <h2 id="details-heading">"Details"</h2>
                <dl class="fields">
                    <dt>"Operation"</dt>
                    <dd>
                        {s.operation_label()} " " <code>{s.operation_key()}</code>
                    </dd>
                    <dt>"Status"</dt>
                    <dd>
                        {s.bucket().label()} " " <code>{s.status.as_str()}</code>
                    </dd>
                    <dt>"Initiator"</dt>
                    <dd>{s.initiator.clone()}</dd>
                    <dt>"Created"</dt>
                    <dd>
                        {timestamp(s.created_at)}
                    </dd>
                    <dt>"Started"</dt>
                    <dd>
                        {s.started_at.map(|at| view! { {timestamp(at)} }.into_any()).unwrap_or_else(|| "—".into_any())}
                    </dd>
                    <dt>"Finished"</dt>
                    <dd>
                        {s.finished_at.map(|at| view! { {timestamp(at)} }.into_any()).unwrap_or_else(|| "—".into_any())}
                    </dd>
                    <dt>"Duration"</dt>
                    <dd>{duration}</dd>
                    <dt>"Idempotency key"</dt>
                    <dd>
                        <code class="wrap">{s.idempotency_key.clone().unwrap_or_else(|| "—".into())}</code>
                    </dd>
                    <dt>"Attempts"</dt>
                    <dd>{detail.attempts}</dd>
                    {(detail.deduplicated_starts > 0)
                        .then(|| {
                            view! {
                                <dt>"Deduplicated starts"</dt>
                                <dd>{format!("{} later start(s) joined this run", detail.deduplicated_starts)}</dd>
                            }
                        })}
                </dl>
            </section>
            <ScopeView scope=detail.scope.clone() />
            <RelatedView scope=detail.scope.clone() findings=detail.related_findings />
            <FailuresView groups more_groups run_id=s.id selected />
            <AuditView entries=detail.audit.clone() />
        </article>
    }
}

#[component]
fn ScopeView(scope: RunScope) -> impl IntoView {
    let id_or_dash = |id: Option<i64>| id.map(|i| format!("#{i}")).unwrap_or_else(|| "—".into());
    let body = match scope {
        RunScope::DriftGenerate { scope_key, baseline_run_id, current_run_id } => view! {
            <dl class="fields">
                <dt>"Scope key"</dt>
                <dd>
                    <code class="wrap">{scope_key.unwrap_or_else(|| "—".into())}</code>
                </dd>
                <dt>"Baseline inventory sync"</dt>
                <dd>{id_or_dash(baseline_run_id)}</dd>
                <dt>"Current inventory sync"</dt>
                <dd>{id_or_dash(current_run_id)}</dd>
            </dl>
        }
        .into_any(),
        RunScope::BackupSetAddPolicies { backup_set_id, backup_set_name, policy_ids, policy_count, include_assignments } => {
            let unlisted = policy_count.saturating_sub(policy_ids.len() as u64);
            let set = match (backup_set_name, backup_set_id) {
                (Some(name), Some(id)) => view! {
                    <A href=format!("/backup-sets/{id}") attr:data-testid="backup-set-link">{format!("{name} (#{id})")}</A>
                }
                .into_any(),
                (None, Some(id)) => format!("#{id} (not found in this tenant)").into_any(),
                _ => "—".into_any(),
            };
            view! {
                <dl class="fields">
                    <dt>"Backup set"</dt>
                    <dd>{set}</dd>
                    <dt>"Policies"</dt>
                    <dd>
                        {format!("{} polic{}", policy_count, if policy_count == 1 { "y" } else { "ies" })}
                        <ul class="id-list">
                            {policy_ids.into_iter().map(|id| view! { <li>{format!("#{id}")}</li> }).collect_view()}
                        </ul>
                        {(unlisted > 0).then(|| view! { <p class="muted">{format!("and {unlisted} more")}</p> })}
                    </dd>
                    <dt>"Include assignments"</dt>
                    <dd>{if include_assignments { "yes" } else { "no" }}</dd>
                </dl>
            }
            .into_any()
        }
        RunScope::InventorySync { selection_hash, source, policy_count } => view! {
            <dl class="fields">
                <dt>"Selection"</dt>
                <dd>
                    <code class="wrap">{selection_hash.unwrap_or_else(|| "—".into())}</code>
                </dd>
                <dt>"Source"</dt>
                <dd>{source.unwrap_or_else(|| "—".into())}</dd>
                <dt>"Policies in snapshot"</dt>
                <dd>{policy_count.map(|n| n.to_string()).unwrap_or_else(|| "—".into())}</dd>
            </dl>
        }
        .into_any(),
        RunScope::Other { keys } => view! {
            <p>{format!("Scope fields: {}", if keys.is_empty() { "none".to_string() } else { keys.join(", ") })}</p>
        }
        .into_any(),
    };
    view! {
        <section class="panel" aria-labelledby="scope-heading">
            <h2 id="scope-heading">"Scope"</h2>
            {body}
        </section>
    }
}

#[component]
fn FailuresView(
    groups: Vec<FailureGroup>,
    more_groups: bool,
    run_id: i64,
    selected: SelectedPage,
) -> impl IntoView {
    let (selected_key, selected_page) = match selected {
        Some((key, page)) => (key, Some(page)),
        None => (None, None),
    };
    // A page asked for by a malformed or unknown URL is said so here; the
    // rest of the run still shows.
    let page_error = selected_page
        .as_ref()
        .and_then(|p| p.as_ref().err().cloned())
        .map(|e| view! { <p class="form-error" role="alert">{e.to_string()}</p> });
    let content = if groups.is_empty() {
        view! { <p class="muted">"No failures or skips."</p> }.into_any()
    } else {
        view! {
            <ul class="failure-groups">
                {groups
                    .into_iter()
                    .map(|g| {
                        let page = match (&selected_key, &selected_page) {
                            (Some(key), Some(Ok(page))) if *key == g.key() => Some(page.clone()),
                            _ => None,
                        };
                        view! { <FailureGroupView group=g run_id page /> }
                    })
                    .collect_view()}
            </ul>
            {more_groups.then(|| view! {
                <p class="muted">"More reason codes exist than are listed here; the export has them all."</p>
            })}
        }
        .into_any()
    };
    view! {
        <section class="panel" aria-labelledby="failures-heading">
            <h2 id="failures-heading">"Failures and skips"</h2>
            {page_error}
            {content}
            <p class="exports" data-testid="failure-exports">
                "Export all: "
                <a href=format!("/runs/{run_id}/failures.csv") download rel="external">"CSV"</a>
                " · "
                <a href=format!("/runs/{run_id}/failures.json") download rel="external">"JSON"</a>
            </p>
        </section>
    }
}

/// One reason code: its count and a page of its item ids. `page`, when
/// given, is a later page the URL asked for, shown open in place of the
/// first.
#[component]
fn FailureGroupView(group: FailureGroup, run_id: i64, page: Option<FailurePage>) -> impl IntoView {
    let paged = page.is_some();
    let open = RwSignal::new(paged);
    let key = group.key();
    let items = page.unwrap_or_else(|| group.items.clone());
    let has_items = !items.items.is_empty();
    let count = group.count;
    let list_id = format!(
        "items-{}-{}",
        group.reason_code,
        if group.skipped { "skipped" } else { "failed" }
    );
    let next = items
        .next_after
        .map(|after| key.page_url(run_id, Some(after)));
    let first = paged.then(|| format!("/runs/{run_id}#failures-heading"));
    view! {
        <li class=if group.skipped { "failure-group skipped" } else { "failure-group" } data-reason-code=group.reason_code.clone()>
            <div class="failure-head">
                <span class=if group.skipped { "tag tag-skip" } else { "tag tag-fail" }>
                    {if group.skipped { "skipped" } else { "failed" }}
                </span>
                <code>{group.reason_code.clone()}</code>
                <span class="count">{format!("× {}", group.count)}</span>
            </div>
            <p class="reason">{group.reason.clone()}</p>
            {has_items
                .then(|| {
                    let list_id_ref = list_id.clone();
                    view! {
                        <button
                            type="button"
                            class="btn btn-small btn-link"
                            aria-expanded=move || open.get().to_string()
                            aria-controls=list_id_ref
                            on:click=move |_| open.update(|o| *o = !*o)
                        >
                            {move || {
                                if open.get() {
                                    format!("Hide item ids ({count})")
                                } else {
                                    format!("Show item ids ({count})")
                                }
                            }}
                        </button>
                        <div id=list_id.clone() hidden=move || !open.get()>
                            <ul class="id-list">
                                {items
                                    .items
                                    .into_iter()
                                    .map(|item| {
                                        view! {
                                            <li>
                                                {format!("#{}", item.item_id)}
                                                {item.reason.map(|r| view! { <span class="muted">{format!(" — {r}")}</span> })}
                                            </li>
                                        }
                                    })
                                    .collect_view()}
                            </ul>
                            <p class="pager">
                                {first.map(|href| view! { <A href=href attr:data-testid="failures-first">"← First item ids"</A> " " })}
                                {next.map(|href| view! { <A href=href attr:data-testid="failures-next">"More item ids →"</A> })}
                            </p>
                        </div>
                    }
                })}
        </li>
    }
}

#[component]
fn AuditView(entries: Vec<AuditEntry>) -> impl IntoView {
    view! {
        <section class="panel" aria-labelledby="audit-heading">
            <h2 id="audit-heading">"Audit trail"</h2>
            {if entries.is_empty() {
                view! { <p class="muted">"No audit entries."</p> }.into_any()
            } else {
                view! {
                    <ol class="audit">
                        {entries
                            .into_iter()
                            .map(|e| {
                                view! {
                                    <li>
                                        {timestamp(e.created_at)}
                                        " · "
                                        <code>{e.action}</code>
                                        " by "
                                        {e.actor.unwrap_or_else(|| "system".into())}
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ol>
                }
                    .into_any()
            }}
        </section>
    }
}

/// The run page's actions; the page refetches when one completes.
#[derive(Clone, Copy)]
struct RunActions {
    cancel: ServerAction<CancelRun>,
    retry: ServerAction<RetryRun>,
}

/// Cancel and retry, each behind a confirmation (a disclosure, so it works
/// without JavaScript too), disabled for viewers.
#[component]
fn RunActionsView(
    actions: RunActions,
    operator: bool,
    run_id: i64,
    can_cancel: bool,
    can_retry: bool,
) -> impl IntoView {
    if !can_cancel && !can_retry {
        return ().into_any();
    }
    let error = move || {
        actions
            .cancel
            .value()
            .get()
            .and_then(|r| r.err())
            .or_else(|| actions.retry.value().get().and_then(|r| r.err()))
    };
    view! {
        <section class="run-actions" aria-label="Actions">
            {
                    let why = (!operator).then_some("Viewers can look but not change anything");
                    view! {
                        {can_cancel.then(|| view! {
                            <Confirm
                                label="Cancel run…"
                                question=format!("Cancel run #{run_id}? A queued run stops at once; a running one stops after its current batch and keeps the work done.")
                                disabled_because=why
                                testid="cancel-run"
                            >
                                <ActionForm action=actions.cancel>
                                    <input type="hidden" name="id" value=run_id.to_string() />
                                    <button type="submit" class="btn btn-danger" disabled=!operator>"Yes, cancel the run"</button>
                                </ActionForm>
                            </Confirm>
                        })}
                        {can_retry.then(|| view! {
                            <Confirm
                                label="Retry failed items…"
                                question=format!("Start a new run for the failed items of run #{run_id}?")
                                disabled_because=why
                                testid="retry-run"
                            >
                                <ActionForm action=actions.retry>
                                    <input type="hidden" name="id" value=run_id.to_string() />
                                    <button type="submit" class="btn btn-primary" disabled=!operator>"Yes, retry them"</button>
                                </ActionForm>
                            </Confirm>
                        })}
                    }
            }
            {move || error().map(|e| view! { <p class="form-error" role="alert">{e.to_string()}</p> })}
        </section>
    }
    .into_any()
}

/// The business artifacts a run produced: a drift run's findings.
#[component]
fn RelatedView(scope: RunScope, findings: Option<i64>) -> impl IntoView {
    let RunScope::DriftGenerate {
        scope_key: Some(scope_key),
        baseline_run_id,
        current_run_id,
    } = scope
    else {
        return ().into_any();
    };
    let count = findings.unwrap_or(0);
    let href = crate::model::finding::FindingQuery {
        scope_key: Some(scope_key),
        baseline_run_id,
        current_run_id,
        ..Default::default()
    }
    .to_url();
    view! {
        <section class="panel" aria-labelledby="related-heading">
            <h2 id="related-heading">"Related"</h2>
            <p>
                <A href=href attr:data-testid="related-findings">
                    {match count {
                        0 => "No drift findings for this scope and these syncs".to_string(),
                        1 => "1 drift finding".to_string(),
                        n => format!("{n} drift findings"),
                    }}
                </A>
            </p>
        </section>
    }
    .into_any()
}
