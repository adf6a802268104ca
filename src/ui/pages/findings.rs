use crate::api::findings::{get_finding, list_findings, AcknowledgeFinding};
use crate::error::AppError;
use crate::model::finding::{FindingDetail, FindingQuery, FindingSummary};
use crate::ui::components::error_panel::ErrorPanel;
use crate::ui::components::timestamp::timestamp;
use crate::ui::components::top_bar::SessionResource;
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};

/// Drift findings, newest first, filtered by scope, baseline and current
/// sync and status (all in the URL).
#[component]
pub fn FindingsPage() -> impl IntoView {
    let url = use_query_map();
    // Parsed once, here; the server function takes the query as it is.
    let query = Memo::new(move |_| {
        let q = url.read();
        FindingQuery::from_url(|k| q.get(k))
    });
    let filter = Memo::new(move |_| query.get().unwrap_or_default());
    let page = Resource::new(
        move || query.get(),
        |query| async move {
            let query = query.map_err(|e| AppError::BadRequest(e).on_page())?;
            list_findings(query).await
        },
    );
    view! {
        <Title text="Findings" />
        <div class="page-head">
            <h1>"Drift findings"</h1>
        </div>
        {move || {
            let f = filter.get();
            let status_link = |status: Option<&str>, label: &'static str| {
                let target = FindingQuery {
                    status: status.map(str::to_string),
                    before: None,
                    ..f.clone()
                };
                let current = f.status.as_deref() == status;
                view! {
                    <li>
                        <a href=target.to_url() class="chip" aria-current=current.then_some("true")>
                            {label}
                        </a>
                    </li>
                }
            };
            let scoped = f.scope_key.is_some() || f.baseline_run_id.is_some() || f.current_run_id.is_some();
            view! {
                <nav class="chips" aria-label="Status">
                    <ul>
                        {status_link(None, "all")}
                        {status_link(Some("new"), "new")}
                        {status_link(Some("acknowledged"), "acknowledged")}
                    </ul>
                </nav>
                {scoped.then(|| view! {
                    <p class="filter-note" data-testid="finding-scope">
                        "Scope " <code>{f.scope_key.clone().unwrap_or_else(|| "any".into())}</code>
                        ", baseline sync " {f.baseline_run_id.map(|b| format!("#{b}")).unwrap_or_else(|| "any".into())}
                        ", current sync " {f.current_run_id.map(|c| format!("#{c}")).unwrap_or_else(|| "any".into())}
                        ". " <A href="/findings">"All findings"</A>
                    </p>
                })}
            }
        }}
        <Transition fallback=|| view! { <p class="loading">"Loading findings…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(p) if p.findings.is_empty() => view! {
                        <section class="panel empty-state">
                            <h2>"No findings"</h2>
                            <p>"No drift was found for this view. Drift generation records what changed between two inventory syncs."</p>
                        </section>
                    }.into_any(),
                    Ok(p) => {
                        let older = p.older.map(|id| FindingQuery { before: Some(id), ..filter.get_untracked() }.to_url());
                        view! {
                            <FindingsTable findings=p.findings />
                            {older.map(|href| view! { <nav class="pager" aria-label="Pages"><A href=href>"Older →"</A></nav> })}
                        }.into_any()
                    }
                    Err(error) => view! { <ErrorPanel error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn FindingsTable(findings: Vec<FindingSummary>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="findings-table">
                <caption class="visually-hidden">"Drift findings, newest first"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Finding"</th>
                        <th scope="col">"Change"</th>
                        <th scope="col">"Subject"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Scope"</th>
                        <th scope="col">"Found"</th>
                    </tr>
                </thead>
                <tbody>
                    {findings.into_iter().map(|f| {
                        let change = f.evidence.change_type.clone().unwrap_or_else(|| "changed".into());
                        view! {
                            <tr data-finding-id=f.id>
                                <td><A href=format!("/findings/{}", f.id)>{format!("#{}", f.id)}</A></td>
                                <td><span class=format!("change change-{change}")>{change.clone()}</span></td>
                                <td>
                                    {f.evidence.display_name.clone().unwrap_or_else(|| f.subject_external_id.clone())}
                                    " " <code class="muted">{f.subject_type.clone()}</code>
                                </td>
                                <td><span class=format!("finding-status finding-{}", f.status)>{f.status.clone()}</span></td>
                                <td><code class="wrap">{f.scope_key.clone()}</code></td>
                                <td>{timestamp(f.created_at)}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// One finding: subject, change, evidence, and acknowledging it.
#[component]
pub fn FindingDetailPage() -> impl IntoView {
    let params = use_params_map();
    let acknowledge = ServerAction::<AcknowledgeFinding>::new();
    let finding = Resource::new(
        move || {
            (
                params.read().get("id").unwrap_or_default(),
                acknowledge.version().get(),
            )
        },
        |(id, _)| get_finding(id),
    );
    let session = expect_context::<SessionResource>();
    view! {
        <p class="breadcrumb"><A href="/findings">"← All findings"</A></p>
        <Transition fallback=|| view! { <p class="loading">"Loading finding…"</p> }>
            {move || Suspend::new(async move {
                let operator = session.await.map(|s| s.role.can_operate()).unwrap_or(false);
                match finding.await {
                    Ok(detail) => view! { <FindingView detail acknowledge operator /> }.into_any(),
                    Err(error) => view! { <Title text=error.title() /><ErrorPanel error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn FindingView(
    detail: FindingDetail,
    acknowledge: ServerAction<AcknowledgeFinding>,
    operator: bool,
) -> impl IntoView {
    let f = detail.summary.clone();
    let ev = f.evidence.clone();
    let title = format!(
        "Finding #{} · {}",
        f.id,
        ev.display_name
            .clone()
            .unwrap_or_else(|| f.subject_external_id.clone())
    );
    let is_new = f.status == "new";
    let related = FindingQuery {
        scope_key: Some(f.scope_key.clone()),
        baseline_run_id: f.baseline_run_id,
        current_run_id: f.current_run_id,
        ..Default::default()
    }
    .to_url();
    let error = move || acknowledge.value().get().and_then(|r| r.err());
    view! {
        <Title text=title.clone() />
        <article class="finding-detail" data-finding-id=f.id>
            <header class="page-head">
                <h1>{title}</h1>
                <span class=format!("finding-status finding-{}", f.status) data-testid="finding-status">{f.status.clone()}</span>
            </header>
            {is_new.then(|| view! {
                <ActionForm action=acknowledge attr:class="inline-form">
                    <input type="hidden" name="id" value=f.id.to_string() />
                    <button
                        type="submit"
                        class="btn btn-primary"
                        disabled=!operator
                        title=(!operator).then_some("Viewers can look but not change anything")
                    >
                        "Acknowledge"
                    </button>
                </ActionForm>
            })}
            {move || error().map(|e| view! { <p class="form-error" role="alert">{e.to_string()}</p> })}
            <section class="panel" aria-labelledby="evidence-heading">
                <h2 id="evidence-heading">"Evidence"</h2>
                <dl class="fields">
                    <dt>"Change"</dt>
                    <dd>{ev.change_type.clone().unwrap_or_else(|| "—".into())}</dd>
                    <dt>"Subject"</dt>
                    <dd>{f.subject_external_id.clone()} " " <code>{f.subject_type.clone()}</code></dd>
                    <dt>"Changed settings"</dt>
                    <dd>
                        {if ev.changed_keys.is_empty() {
                            "—".into_any()
                        } else {
                            view! { <ul class="id-list">{ev.changed_keys.iter().map(|k| view! { <li><code>{k.clone()}</code></li> }).collect_view()}</ul> }.into_any()
                        }}
                    </dd>
                    <dt>"Baseline settings hash"</dt>
                    <dd><code class="wrap">{ev.baseline_hash.clone().unwrap_or_else(|| "— (absent)".into())}</code></dd>
                    <dt>"Current settings hash"</dt>
                    <dd><code class="wrap">{ev.current_hash.clone().unwrap_or_else(|| "— (absent)".into())}</code></dd>
                </dl>
            </section>
            <section class="panel" aria-labelledby="context-heading">
                <h2 id="context-heading">"Context"</h2>
                <dl class="fields">
                    <dt>"Scope key"</dt>
                    <dd><code class="wrap">{f.scope_key.clone()}</code></dd>
                    <dt>"Baseline sync"</dt>
                    <dd>{f.baseline_run_id.map(|b| format!("#{b}")).unwrap_or_else(|| "—".into())}</dd>
                    <dt>"Current sync"</dt>
                    <dd>{f.current_run_id.map(|c| format!("#{c}")).unwrap_or_else(|| "—".into())}</dd>
                    <dt>"Fingerprint"</dt>
                    <dd><code class="wrap">{detail.fingerprint.clone()}</code></dd>
                    <dt>"Found"</dt>
                    <dd>{timestamp(f.created_at)}</dd>
                    <dt>"Acknowledged"</dt>
                    <dd>
                        {match (detail.acknowledged_at, detail.acknowledged_by.clone()) {
                            (Some(at), by) => view! { {timestamp(at)} " by " {by.unwrap_or_else(|| "a former user".into())} }.into_any(),
                            (None, _) => "not yet".into_any(),
                        }}
                    </dd>
                </dl>
                <p><A href=related>"Other findings of this scope and syncs"</A></p>
            </section>
        </article>
    }
}
