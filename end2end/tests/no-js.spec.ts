import { expect, test } from "@playwright/test";
import { signIn } from "./helpers";

// Read paths work as server-rendered HTML, with JavaScript disabled.
test("the runs list and a run's detail render without JavaScript", async ({ page }) => {
  await signIn(page);
  await page.goto("/runs");
  const rows = page.locator("table.runs-table tbody tr");
  expect(await rows.count()).toBeGreaterThanOrEqual(14);
  await expect(page.locator("main .badge", { hasText: /^partially succeeded$/ }).first()).toBeVisible();
  await expect(rows.first().locator("time")).toHaveText(/UTC$/);

  await rows.first().getByRole("link").click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(/^Run #\d+ · /);
  await expect(page.getByRole("heading", { name: "Audit trail" })).toBeVisible();
});

test("signing in, switching tenant and signing out work as plain forms", async ({ page }) => {
  await page.goto("/signin");
  await page.getByLabel("Email").fill("olivia@contoso.example");
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("sign-in-error")).toHaveText(
    "that email and password do not match an account",
  );

  await signIn(page, "olivia@contoso.example", "/runs?from=no-js");
  await expect(page).toHaveURL(/\/runs\?from=no-js$/);
  await page.locator("#tenant-select").selectOption("fabrikam");
  await page.getByRole("button", { name: "Switch" }).click();
  await expect(page.locator("#tenant-select")).toHaveValue("fabrikam");
  await expect(page.locator("table.runs-table tbody")).toContainText("Frank Operator");

  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/signin$/);
  await page.goto("/runs");
  await expect(page).toHaveURL(/\/signin$/);
});

test("the runs list filters by status from the URL without JavaScript", async ({ page }) => {
  await signIn(page);
  await page.goto("/runs?status=failed");
  const badges = page.locator("main table.runs-table .badge");
  expect(await badges.count()).toBeGreaterThan(0);
  for (const text of await badges.allTextContents()) expect(text).toBe("failed");
  await expect(page.locator('.chips a[aria-current="true"]')).toHaveAttribute("data-bucket", "failed");
});

test("the overview's charts are drawn by the server", async ({ page }) => {
  await signIn(page);
  await page.goto("/overview?range=7d");
  const chart = page.getByTestId("hourly-chart");
  await expect(chart.locator("g.chart-hour")).toHaveCount(168);
  expect(await chart.locator("rect.bar").count()).toBeGreaterThan(0);
  await expect(page.getByTestId("top-reasons").locator("li.meter-row").first()).toBeVisible();
  await expect(page.getByTestId("stalled-runs").locator("time").first()).toHaveText(/UTC$/);
});
