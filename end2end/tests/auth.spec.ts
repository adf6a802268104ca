import { expect, test } from "@playwright/test";
import {
  collectErrors,
  FABRIKAM_OPERATOR,
  OPERATOR,
  signIn,
  sql,
  VIEWER,
  waitForHydration,
} from "./helpers";

test.describe("sign-in and tenants", () => {
  test("a signed-out visit goes to sign-in and back to the page asked for", async ({ page }) => {
    const errors = collectErrors(page);
    await page.goto("/runs?status=failed");
    await expect(page).toHaveURL(/\/signin\?next=/);
    await expect(page.getByRole("heading", { name: "Sign in to opshub" })).toBeVisible();
    await expect(page.getByRole("link", { name: "Runs" })).toHaveCount(0);
    await waitForHydration(page);

    await page.getByLabel("Email").fill(OPERATOR);
    await page.getByLabel("Password").fill("opshub-demo");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page).toHaveURL(/\/runs\?status=failed$/);
    await expect(page.getByTestId("user-name")).toHaveText("Olivia Operator");
    await waitForHydration(page);
    // No Content-Security-Policy violation, no script error.
    expect(errors).toEqual([]);
  });

  test("a wrong password is refused with a clear message", async ({ page }) => {
    await page.goto("/signin");
    await waitForHydration(page);
    await page.getByLabel("Email").fill(FABRIKAM_OPERATOR);
    await page.getByLabel("Password").fill("wrong password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect(page.getByTestId("sign-in-error")).toHaveText(
      "that email and password do not match an account",
    );
    await expect(page).toHaveURL(/\/signin/);
  });

  test("see only your tenant's runs, switch tenant, sign out", async ({ page }) => {
    const errors = collectErrors(page);
    await signIn(page, OPERATOR);
    await waitForHydration(page);
    await expect(page.locator("#tenant-select")).toHaveValue("contoso");
    const table = page.locator("table.runs-table tbody");
    await expect(table).toContainText("Olivia Operator");
    await expect(table).not.toContainText("Frank Operator");

    await page.locator("#tenant-select").selectOption("fabrikam");
    await page.getByRole("button", { name: "Switch" }).click();
    await expect(page.locator("#tenant-select")).toHaveValue("fabrikam");
    await expect(table).toContainText("Frank Operator");

    // The choice lives in the session: it survives a reload.
    await page.reload();
    await expect(page.locator("#tenant-select")).toHaveValue("fabrikam");

    await waitForHydration(page);
    await page.getByRole("button", { name: "Sign out" }).click();
    await expect(page).toHaveURL(/\/signin$/);
    await page.goto("/runs");
    await expect(page).toHaveURL(/\/signin$/);
    expect(errors).toEqual([]);
  });

  test("a member of one tenant has no switcher and sees only that tenant", async ({ page }) => {
    const contosoRun = sql(
      "SELECT r.id FROM bulk_operation_runs r JOIN tenants t ON t.id = r.tenant_id WHERE t.slug = 'contoso' ORDER BY r.created_at DESC LIMIT 1",
    );
    await signIn(page, FABRIKAM_OPERATOR);
    await expect(page.getByTestId("tenant-name")).toHaveText("Fabrikam Inc");
    await expect(page.locator("#tenant-select")).toHaveCount(0);
    await expect(page.locator("table.runs-table tbody tr").first()).toBeVisible();
    await expect(page.locator(`tr[data-run-id="${contosoRun}"]`)).toHaveCount(0);
    // Another tenant's run is "not found", as if it did not exist.
    const res = await page.goto(`/runs/${contosoRun}`);
    expect(res?.status()).toBe(404);
    await expect(page.getByRole("heading", { level: 1 })).toHaveText("Not found");
  });

  test("a viewer is marked as such", async ({ page }) => {
    await signIn(page, VIEWER);
    await expect(page.locator(".role-badge")).toHaveText("viewer");
  });
});
