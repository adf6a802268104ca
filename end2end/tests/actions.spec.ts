import { expect, test } from "@playwright/test";
import {
  collectErrors,
  runRow,
  signIn,
  sql,
  startBackupRun,
  unreadCount,
  VIEWER,
  waitForHydration,
  waitForIdleQueue,
  HubServer,
  Worker,
} from "./helpers";

// These specs change the demo data: they run after the read-only ones.
test.describe.configure({ mode: "serial" });

test("filter and paginate the list; the URL restores the view", async ({ page }) => {
  // Sixty succeeded drift runs from forty days ago: more than a page.
  sql(`
    INSERT INTO bulk_operation_runs (tenant_id, user_id, resource, action, idempotency_key, item_ids, created_at)
    SELECT t.id, u.id, 'drift', 'generate', 'bulk-' || g, '{}'::jsonb, now() - interval '40 days' + g * interval '1 minute'
    FROM tenants t, users u, generate_series(1, 60) g
    WHERE t.slug = 'contoso' AND u.email = 'olivia@contoso.example';
    UPDATE bulk_operation_runs SET status = 'running', started_at = created_at WHERE idempotency_key LIKE 'bulk-%';
    UPDATE bulk_operation_runs SET status = 'completed', finished_at = started_at + interval '5 seconds',
      total_items = 0 WHERE idempotency_key LIKE 'bulk-%';
  `);
  const errors = collectErrors(page);
  await signIn(page);
  await waitForHydration(page);
  const rows = page.locator("table.runs-table tbody tr");

  await page.locator('.chips a[data-bucket="succeeded"]').click();
  await expect(page).toHaveURL(/\/runs\?status=succeeded$/);
  await expect(page.locator('.chips a[aria-current="true"]')).toHaveAttribute("data-bucket", "succeeded");
  await page.getByLabel("Operation").selectOption("drift.generate");
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(page).toHaveURL(/status=succeeded&op=drift.generate/);
  await expect(rows).toHaveCount(50);
  for (const text of await rows.locator(".badge").allTextContents()) expect(text).toBe("succeeded");
  const firstPage = await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-run-id")));

  await page.getByTestId("older-page").click();
  await expect(page).toHaveURL(/before=\d+_\d+/);
  await expect(rows.first()).not.toHaveAttribute("data-run-id", firstPage[0]!);
  const secondPage = await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-run-id")));
  expect(secondPage.some((id) => firstPage.includes(id))).toBe(false);

  // A reload (or a shared link) shows the same page; back returns to the first.
  await page.reload();
  await expect(rows.first()).toHaveAttribute("data-run-id", secondPage[0]!);
  await expect(page.getByLabel("Operation")).toHaveValue("drift.generate");
  await page.goBack();
  await expect(rows.first()).toHaveAttribute("data-run-id", firstPage[0]!);

  // The last 30 days leave the old runs out; a key search finds one run.
  await page.getByLabel("Created").selectOption("30d");
  await page.getByRole("button", { name: "Apply" }).click();
  await expect(page).toHaveURL(/range=30d/);
  await expect(page.getByTestId("older-page")).toHaveCount(0);
  await page.goto("/runs?q=bulk-7");
  await expect(rows).toHaveCount(1);
  await expect(page.getByLabel("Run id or idempotency key")).toHaveValue("bulk-7");
  expect(errors).toEqual([]);
});

test("start each operation from its form; an identical start joins the active run", async ({ page }) => {
  const errors = collectErrors(page);
  await signIn(page, undefined, "/start");
  await waitForHydration(page);

  // The scope's latest two syncs: the demo's drift over them is still
  // running, so this start joins it and says so.
  const drift = page.getByTestId("drift-form");
  await drift.getByRole("button", { name: "Generate drift" }).click();
  await expect(page).toHaveURL(/\/runs\/\d+\?joined=1$/);
  await expect(page.getByTestId("joined-notice")).toBeVisible();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(/· Drift generation$/);

  // The oldest against the newest sync: nothing active has that scope, so
  // it starts a new run.
  const syncs = sql(
    "SELECT string_agg(s.id::text, ',' ORDER BY s.finished_at) FROM inventory_sync_runs s JOIN tenants t ON t.id = s.tenant_id WHERE t.slug = 'contoso' AND s.status = 'completed'",
  ).split(",");
  await page.goto("/start");
  await waitForHydration(page);
  await page.getByLabel("Baseline sync").selectOption(syncs[0]!);
  await page.getByLabel("Current sync").selectOption(syncs[syncs.length - 1]!);
  await drift.getByRole("button", { name: "Generate drift" }).click();
  await expect(page).toHaveURL(/\/runs\/\d+$/);
  await expect(page.getByTestId("joined-notice")).toHaveCount(0);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(/· Drift generation$/);

  // Two policies into a backup set.
  await page.goto("/start");
  const backup = page.getByTestId("backup-form");
  await backup.getByRole("checkbox").nth(0).check();
  await backup.getByRole("checkbox").nth(1).check();
  await backup.getByRole("button", { name: "Add to backup set" }).click();
  await expect(page).toHaveURL(/\/runs\/\d+$/);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(/· Add policies to backup set$/);

  // An inventory snapshot upload; a file that is not JSON is refused.
  await page.goto("/start");
  await page.getByLabel("Snapshot file").setInputFiles({
    name: "broken.json",
    mimeType: "application/json",
    buffer: Buffer.from("{ not json"),
  });
  await page.getByRole("button", { name: "Import" }).click();
  await expect(page).toHaveURL(/\/start/);
  await expect(page.getByRole("alert")).toContainText("not valid JSON");
  const snapshot = {
    selection: { name: "e2e upload" },
    policies: [
      { external_id: "e2e-1", policy_type: "compliance_policy", display_name: "E2E policy", settings: { a: 1 }, assignments: [] },
    ],
  };
  await page.getByLabel("Snapshot file").setInputFiles({
    name: "e2e-snapshot.json",
    mimeType: "application/json",
    buffer: Buffer.from(JSON.stringify(snapshot)),
  });
  await page.getByRole("button", { name: "Import" }).click();
  await expect(page).toHaveURL(/\/runs\/\d+$/);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(/· Inventory import$/);
  await expect(page.locator("section", { has: page.getByRole("heading", { name: "Scope" }) })).toContainText(
    "e2e-snapshot.json",
  );
  expect(errors).toEqual([]);
});

test("a viewer sees cancel and retry disabled", async ({ page }) => {
  await signIn(page, VIEWER);
  const row = runRow(page, "Add policies to backup set", "partially succeeded");
  await row.getByRole("link").click();
  await waitForHydration(page);
  const retry = page.getByTestId("retry-run");
  await expect(retry).toBeDisabled();
  await expect(retry).toHaveAttribute("title", /Viewers can look/);
  await page.goto("/findings?status=new");
  await page.locator("table.findings-table tbody tr").first().getByRole("link").click();
  await expect(page.getByRole("button", { name: "Acknowledge" })).toBeDisabled();
});

test("follow a drift run to its findings and acknowledge one", async ({ page }) => {
  const errors = collectErrors(page);
  await signIn(page);
  await runRow(page, "Drift generation", "succeeded").getByRole("link").click();
  await waitForHydration(page);
  const related = page.getByTestId("related-findings");
  await expect(related).toHaveText(/^\d+ drift findings?$/);
  const total = Number((await related.textContent())!.split(" ")[0]);
  expect(total).toBeGreaterThan(0);
  await related.click();
  await expect(page).toHaveURL(/\/findings\?scope=[0-9a-f]+&baseline=\d+&current=\d+$/);
  const rows = page.locator("table.findings-table tbody tr");
  await expect(rows).toHaveCount(total);
  await expect(page.getByTestId("finding-scope")).toBeVisible();

  await page.getByRole("link", { name: "new", exact: true }).click();
  await expect(page).toHaveURL(/status=new/);
  const unacknowledged = await rows.count();
  expect(unacknowledged).toBeGreaterThan(0);
  await rows.first().getByRole("link").click();
  await expect(page).toHaveURL(/\/findings\/\d+$/);
  await expect(page.getByTestId("finding-status")).toHaveText("new");
  await expect(page.getByRole("heading", { name: "Evidence" })).toBeVisible();
  await page.getByRole("button", { name: "Acknowledge" }).click();
  await expect(page.getByTestId("finding-status")).toHaveText("acknowledged");
  await expect(page.locator(".finding-detail")).toContainText("by Olivia Operator");

  await page.goBack();
  await expect(rows).toHaveCount(unacknowledged - 1);
  expect(errors).toEqual([]);
});

test("cancel a running run: it is asked to stop and its worker ends it", async ({ page }) => {
  const errors = collectErrors(page);
  await signIn(page);
  // A seeded running run whose worker died; no worker runs yet.
  const row = runRow(page, "Add policies to backup set", "running");
  const runId = await row.getAttribute("data-run-id");
  await row.getByRole("link").click();
  await waitForHydration(page);
  await page.getByTestId("cancel-run").locator("summary").click();
  await page.getByRole("button", { name: "Yes, cancel the run" }).click();
  await expect(page.getByTestId("cancel-requested")).toBeVisible();
  await expect(page.getByTestId("cancel-run")).toHaveCount(0);

  // A worker recovers the run, sees the request and ends it: the page
  // follows live.
  const worker = new Worker();
  try {
    await expect(page.locator(".run-detail .badge").first()).toHaveText("failed", { timeout: 20_000 });
    await expect(page.locator(".run-detail .badge").first()).toHaveAttribute("data-status", "aborted");
    await waitForIdleQueue();
  } finally {
    await worker.stop();
  }
  await expect(page).toHaveURL(new RegExp(`/runs/${runId}$`));
  expect(errors).toEqual([]);
});

test("cancel a queued run", async ({ page }) => {
  const runId = startBackupRun(910001);
  await signIn(page, undefined, `/runs/${runId}`);
  await waitForHydration(page);
  await expect(page.locator(".run-detail .badge").first()).toHaveText("queued");
  await page.getByTestId("cancel-run").locator("summary").click();
  await page.getByRole("button", { name: "Yes, cancel the run" }).click();
  await expect(page.locator(".run-detail .badge").first()).toHaveAttribute("data-status", "aborted");
});

test("retry failed items and land on the new run", async ({ page }) => {
  await signIn(page);
  const row = runRow(page, "Add policies to backup set", "partially succeeded");
  const oldId = Number(await row.getAttribute("data-run-id"));
  await row.getByRole("link").click();
  await waitForHydration(page);
  await page.getByTestId("retry-run").locator("summary").click();
  await page.getByRole("button", { name: "Yes, retry them" }).click();
  await expect(page).not.toHaveURL(new RegExp(`/runs/${oldId}$`));
  await expect(page).toHaveURL(/\/runs\/\d+$/);
  const newId = Number(/\/runs\/(\d+)$/.exec(page.url())![1]);
  expect(newId).toBeGreaterThan(oldId);
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(`Run #${newId} · Add policies to backup set`);
  await expect(page.locator(".run-detail .badge").first()).toHaveText("queued");
});

test("a run started elsewhere shows up live; its notification opens it", async ({ page }) => {
  const errors = collectErrors(page);
  await signIn(page);
  await waitForHydration(page);
  await expect(page.getByTestId("live-status")).toHaveClass(/connected/);
  const before = await unreadCount(page);

  const runId = startBackupRun(910002);
  const row = page.locator(`tr[data-run-id="${runId}"]`);
  await expect(row).toBeVisible();
  await expect(row.locator(".badge")).toHaveText("queued");
  await expect.poll(() => unreadCount(page)).toBeGreaterThan(before);

  const worker = new Worker();
  try {
    await expect(row.locator(".badge")).toHaveText("partially succeeded", { timeout: 20_000 });
    await expect(row.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "100");
    await waitForIdleQueue();
  } finally {
    await worker.stop();
  }

  // The bell lists the run's completion; opening it marks it read.
  await expect.poll(() => unreadCount(page)).toBeGreaterThan(before + 1);
  const unread = await unreadCount(page);
  await page.getByTestId("bell").locator("summary").click();
  await page.locator(`.bell-panel .notification.unread a[href="/runs/${runId}"]`).first().click();
  await expect(page).toHaveURL(new RegExp(`/runs/${runId}$`));
  await expect.poll(() => unreadCount(page)).toBe(unread - 1);
  // Opening an entry closes the panel.
  await expect(page.locator(".bell-panel")).toBeHidden();

  await page.getByTestId("bell").locator("summary").click();
  await page.getByTestId("mark-all-read").click();
  await expect(page.getByTestId("bell-count")).toBeHidden();
  await expect(page.locator(".bell-panel .notification.unread")).toHaveCount(0);

  await page.getByRole("link", { name: "All notifications" }).click();
  await expect(page).toHaveURL(/\/notifications$/);
  await expect(page.getByRole("heading", { name: "Notifications", level: 1 })).toBeVisible();
  await expect(page.locator("main .notification").first()).toBeVisible();
  expect(errors).toEqual([]);
});

test("a running run's progress bar and status move live while a worker executes it", async ({ page }) => {
  const errors = collectErrors(page);
  const runId = startBackupRun(910003);
  await signIn(page, undefined, `/runs/${runId}`);
  await waitForHydration(page);
  const badge = page.locator(".run-detail .badge").first();
  await expect(badge).toHaveText("queued");
  const bar = page.locator(".run-detail").getByRole("progressbar").first();

  // One item a batch and a pause after each, so the run is seen part-way.
  const worker = new Worker(["--max-batch", "1", "--batch-pause-ms", "700"]);
  try {
    await expect(badge).toHaveText("running", { timeout: 10_000 });
    await expect
      .poll(async () => Number(await bar.getAttribute("aria-valuenow")), { intervals: [100], timeout: 10_000 })
      .toBeGreaterThan(0);
    const midway = Number(await bar.getAttribute("aria-valuenow"));
    expect(midway).toBeLessThan(100);
    await expect(bar).toHaveAttribute("aria-valuenow", "100", { timeout: 15_000 });
    // The missing policy failed: partially succeeded, live, without a reload.
    await expect(badge).toHaveText("partially succeeded");
    await waitForIdleQueue();
  } finally {
    await worker.stop();
  }
  await expect(page).toHaveURL(new RegExp(`/runs/${runId}$`));
  expect(errors).toEqual([]);
});

test("progress refetches the runs list but not the status counts", async ({ page }) => {
  await signIn(page);
  await waitForHydration(page);
  // The list alone, or the list with its counts (one request).
  const calls = { list: 0, withCounts: 0 };
  page.on("request", (req) => {
    if (req.url().endsWith("/api/runs/list")) calls.list++;
    if (req.url().endsWith("/api/runs/page")) calls.withCounts++;
  });
  const runId = startBackupRun(910005);
  const row = page.locator(`tr[data-run-id="${runId}"]`);
  await expect(row.locator(".badge")).toHaveText("queued");
  const worker = new Worker(["--max-batch", "1", "--batch-pause-ms", "600"]);
  try {
    await expect(row.locator(".badge")).toHaveText("partially succeeded", { timeout: 20_000 });
    await waitForIdleQueue();
  } finally {
    await worker.stop();
  }
  // Every change refetched the list; only the status changes (queued,
  // started, finished) refetched the counts with it, so mere progress
  // asked for the list alone.
  expect(calls.withCounts).toBeGreaterThan(0);
  expect(calls.list).toBeGreaterThan(0);
});

test("after the server restarts, the event stream reconnects and catches up on what it missed", async ({ page }) => {
  const server = new HubServer(3107);
  await server.start();
  try {
    await signIn(page);
    // The same browser session, on a server process this test controls.
    await page.goto(`${server.url}/runs`);
    await waitForHydration(page);
    const live = page.getByTestId("live-status");
    await expect(live).toHaveClass(/connected/);

    // The server goes away: the stream drops and the hub says so.
    await server.stop();
    await expect(live).not.toHaveClass(/connected/, { timeout: 10_000 });

    // Meanwhile a run starts; its event reaches no one.
    const runId = startBackupRun(910004);
    const row = page.locator(`tr[data-run-id="${runId}"]`);
    await expect(row).toHaveCount(0);

    // The server is back: the stream reconnects by itself and the list
    // catches up, without a reload.
    await server.start();
    await expect(live).toHaveClass(/connected/, { timeout: 15_000 });
    await expect(row).toBeVisible();
    await expect(row.locator(".badge")).toHaveText("queued");
    sql(`UPDATE bulk_operation_runs SET status = 'aborted', finished_at = now() WHERE id = ${runId}`);
  } finally {
    await server.stop();
  }
});
