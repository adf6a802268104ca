import { expect, test } from "@playwright/test";
import { collectErrors, signIn, waitForHydration } from "./helpers";

test.beforeEach(async ({ page }) => {
  await signIn(page);
});

test.describe("overview", () => {
  test("charts the demo tenant's runs, outcomes, failure reasons and stalled runs", async ({ page }) => {
    const errors = collectErrors(page);
    await page.goto("/overview");
    await expect(page.getByRole("heading", { name: "Overview", level: 1 })).toBeVisible();

    // Runs per hour: one column per hour of the day, stacked bars where runs were created.
    const chart = page.getByTestId("hourly-chart");
    await expect(chart).toBeVisible();
    await expect(chart.locator("g.chart-hour")).toHaveCount(24);
    expect(await chart.locator("rect.bar").count()).toBeGreaterThan(0);
    for (const bucket of ["queued", "running", "succeeded", "failed"]) {
      expect(await chart.locator(`rect.bar-${bucket}`).count(), bucket).toBeGreaterThan(0);
    }
    // The columns' totals add up to the figure in the panel head.
    const totals = await chart.locator("g.chart-hour").evaluateAll((gs) =>
      gs.reduce((sum, g) => sum + Number(g.getAttribute("data-total")), 0),
    );
    await expect(page.getByRole("link", { name: `${totals} runs in the last 24 hours` })).toBeVisible();
    // Every bar has a height the data gives it (no NaN or negative sizes).
    const heights = await chart.locator("rect.bar").evaluateAll((rs) => rs.map((r) => Number(r.getAttribute("height"))));
    expect(heights.every((h) => h > 0 && Number.isFinite(h))).toBe(true);

    // Outcomes per operation: a meter per operation type, linked to its runs.
    const outcomes = page.getByTestId("operation-outcomes");
    await expect(outcomes.locator("li.meter-row")).not.toHaveCount(0);
    await expect(outcomes.locator("svg.meter").first()).toBeVisible();
    await expect(outcomes.locator(".failure-rate").first()).toHaveText(/^\d+\.\d % failed$/);

    // Stalled: the seeded backup run that has made no progress for twenty minutes.
    const stalled = page.getByTestId("stalled-runs");
    await expect(stalled.locator("tbody tr")).toHaveCount(1);
    await expect(stalled).toContainText("Add policies to backup set");
    await expect(stalled.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "37");

    await waitForHydration(page);
    expect(errors).toEqual([]);
  });

  test("the week window charts 168 hours and its top reasons link to the runs that hit them", async ({ page }) => {
    await page.goto("/overview");
    await waitForHydration(page);
    // In-app navigation: the chart is drawn in the browser this time.
    await page.getByRole("link", { name: "Last 7 days" }).click();
    await expect(page).toHaveURL(/\/overview\?range=7d$/);
    await expect(page.getByTestId("hourly-chart").locator("g.chart-hour")).toHaveCount(168);
    await expect(page.getByRole("link", { name: /runs in the last 7 days$/ })).toBeVisible();

    const reasons = page.getByTestId("top-reasons");
    const row = reasons.locator('li.meter-row[data-reason="policy_not_found"]');
    await expect(row).toBeVisible();
    const link = row.locator(".run-links a").first();
    const id = ((await link.textContent()) ?? "").replace("#", "");
    await link.click();
    await expect(page).toHaveURL(new RegExp(`/runs/${id}$`));
    // The run shows that reason among its grouped failures.
    await expect(page.locator("main")).toContainText("policy_not_found");

    // Back returns to the week's overview.
    await page.goBack();
    await expect(page).toHaveURL(/\/overview\?range=7d$/);
    await expect(page.getByTestId("hourly-chart").locator("g.chart-hour")).toHaveCount(168);
  });

  test("an unknown window is a clear error", async ({ page }) => {
    await page.goto("/overview?range=1y");
    await expect(page.getByRole("alert")).toContainText("unknown overview window '1y': use 24h or 7d");
  });
});
