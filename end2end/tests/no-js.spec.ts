import { expect, test } from "@playwright/test";

// Read paths work as server-rendered HTML, with JavaScript disabled.
test("the runs list and a run's detail render without JavaScript", async ({ page }) => {
  await page.goto("/runs");
  const rows = page.locator("table.runs-table tbody tr");
  expect(await rows.count()).toBeGreaterThanOrEqual(14);
  await expect(page.locator(".badge", { hasText: /^partially succeeded$/ }).first()).toBeVisible();
  await expect(rows.first().locator("time")).toHaveText(/UTC$/);

  await rows.first().getByRole("link").click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(/^Run #\d+ · /);
  await expect(page.getByRole("heading", { name: "Audit trail" })).toBeVisible();
});
