import { expect, test } from "@playwright/test";
import { collectErrors, runRow, signIn, waitForHydration } from "./helpers";

test.beforeEach(async ({ page }) => {
  await signIn(page);
});

test.describe("runs list", () => {
  test("shows the seeded runs newest first with their status buckets", async ({ page }) => {
    const errors = collectErrors(page);
    await page.goto("/runs");
    await expect(page.getByRole("heading", { name: "Runs", level: 1 })).toBeVisible();
    const rows = page.locator("table.runs-table tbody tr");
    expect(await rows.count()).toBeGreaterThanOrEqual(14);

    // Every status bucket of the spec appears, with the one shared mapping.
    for (const bucket of ["queued", "running", "succeeded", "partially succeeded", "failed"]) {
      await expect(page.locator("main .badge", { hasText: new RegExp(`^${bucket}$`) }).first()).toBeVisible();
    }
    await expect(page.locator('main .badge[data-status="aborted"]').first()).toHaveText("failed");
    await expect(page.locator('main .badge[data-status="completed_with_errors"]').first()).toHaveText(
      "partially succeeded",
    );

    // Newest first: the ids shown descend with creation time.
    const times = await rows.locator("time").evaluateAll((els) =>
      els.map((e) => Date.parse(e.getAttribute("datetime") ?? "")),
    );
    expect(times).toEqual([...times].sort((a, b) => b - a));

    // A running run shows a progress bar with its counts.
    const running = runRow(page, "Add policies to backup set", "running");
    await expect(running.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "37");
    await expect(running.locator(".progress-label")).toHaveText("3 of 8 items");

    await waitForHydration(page);
    expect(errors).toEqual([]);
  });

  test("hydrates: times turn relative and the refresh button refetches", async ({ page }) => {
    const errors = collectErrors(page);
    await page.goto("/runs");
    const firstTime = page.locator("table.runs-table tbody tr time").first();
    await expect(firstTime).toHaveAttribute("title", /UTC$/);
    await waitForHydration(page);
    await expect(firstTime).toHaveText(/ago$|^just now$/);

    await page.getByTestId("refresh-runs").click();
    await expect(page.getByTestId("refresh-count")).toHaveText("Refreshed 1×");
    await expect(page.locator("table.runs-table tbody tr").first()).toBeVisible();
    expect(errors).toEqual([]);
  });
});

test("the top bar marks the section shown, and follows the hub's own navigation", async ({ page }) => {
  const errors = collectErrors(page);
  await page.goto("/runs");
  await waitForHydration(page);
  const current = page.locator('.nav-links a[aria-current="page"]');
  await expect(current).toHaveText("Runs");
  await page.locator(".nav-links a", { hasText: "Findings" }).click();
  await expect(page).toHaveURL(/\/findings$/);
  await expect(current).toHaveText("Findings");
  await expect(current).toHaveCount(1);
  expect(errors).toEqual([]);
});

test.describe("run detail", () => {
  test("opens from the list and shows fields, scope, failures and audit", async ({ page }) => {
    const errors = collectErrors(page);
    await page.goto("/runs");
    await waitForHydration(page);
    const row = runRow(page, "Add policies to backup set", "partially succeeded");
    const runId = await row.getAttribute("data-run-id");
    await row.getByRole("link").click();

    await expect(page).toHaveURL(new RegExp(`/runs/${runId}$`));
    await expect(page.getByRole("heading", { level: 1 })).toHaveText(
      `Run #${runId} · Add policies to backup set`,
    );
    await expect(page.locator(".run-detail .badge").first()).toHaveText("partially succeeded");
    const scope = page.locator("section", { has: page.getByRole("heading", { name: "Scope" }) });
    await expect(scope).toContainText("Quarterly baseline");
    await expect(page.locator(".counters")).toContainText("Succeeded2");

    const failed = page.locator('.failure-group[data-reason-code="policy_not_found"]');
    await expect(failed).toContainText("× 1");
    await expect(page.locator('.failure-group.skipped[data-reason-code="already_in_backup_set"]')).toBeVisible();
    await expect(page.locator(".audit li")).toHaveCount(2);

    // The interactive control works once hydrated.
    const ids = failed.locator("ul.id-list");
    await expect(ids).toBeHidden();
    await failed.getByRole("button", { name: "Show item ids (1)" }).click();
    await expect(ids).toBeVisible();
    await expect(ids).toContainText("#900001");
    await failed.getByRole("button", { name: "Hide item ids (1)" }).click();
    await expect(ids).toBeHidden();
    expect(errors).toEqual([]);
  });

  test("a drift run shows its scope key and inventory syncs", async ({ page }) => {
    await page.goto("/runs");
    const row = runRow(page, "Drift generation", "succeeded");
    const runId = await row.getAttribute("data-run-id");
    await page.goto(`/runs/${runId}`);
    const scope = page.locator("section", { has: page.getByRole("heading", { name: "Scope" }) });
    await expect(scope).toContainText(/Baseline inventory sync#\d+/);
    await expect(scope).toContainText(/Current inventory sync#\d+/);
  });

  test("a malformed run id is a bad request, an unknown one not found", async ({ page }) => {
    let res = await page.goto("/runs/abc");
    expect(res?.status()).toBe(400);
    await expect(page.getByRole("heading", { level: 1 })).toHaveText("Bad request");
    await expect(page.getByRole("alert")).toContainText("'abc' is not a valid id");

    res = await page.goto("/runs/987654321");
    expect(res?.status()).toBe(404);
    await expect(page.getByRole("heading", { level: 1 })).toHaveText("Not found");

    res = await page.goto("/no-such-page");
    expect(res?.status()).toBe(404);
    await expect(page.getByRole("heading", { level: 1 })).toHaveText("Not found");
  });
});

test.describe("backup set", () => {
  test("a backup run links to its set, which lists its policies and the runs into it", async ({ page }) => {
    const errors = collectErrors(page);
    await page.goto("/runs");
    const row = runRow(page, "Add policies to backup set", "running");
    const runId = await row.getAttribute("data-run-id");
    await row.getByRole("link").first().click();
    await waitForHydration(page);
    const link = page.getByTestId("backup-set-link");
    const name = ((await link.textContent()) ?? "").replace(/ \(#\d+\)$/, "");
    await link.click();
    await expect(page).toHaveURL(/\/backup-sets\/\d+$/);
    await expect(page.getByRole("heading", { level: 1 })).toHaveText(`Backup set ${name}`);
    await expect(page.locator(`table.runs-table tr[data-run-id="${runId}"]`)).toBeVisible();
    const held = Number(await page.getByTestId("item-count").textContent());
    expect(held).toBeGreaterThan(0);
    await expect(page.getByTestId("backup-items").locator("tbody tr")).toHaveCount(Math.min(held, 100));
    expect(errors).toEqual([]);
  });

  test("another tenant's or an unknown set is not found", async ({ page }) => {
    const res = await page.goto("/backup-sets/999999999");
    expect(res?.status()).toBe(404);
    await expect(page.getByRole("alert")).toContainText("backup set 999999999 does not exist");
  });
});
