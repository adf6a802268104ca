import { expect, Page } from "@playwright/test";

/** Waits until the WASM app has hydrated the page (it marks <body>). */
export async function waitForHydration(page: Page) {
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
}

/** Collects console errors and uncaught exceptions of a page. */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(msg.text());
  });
  page.on("pageerror", (err) => errors.push(err.message));
  return errors;
}

/** The runs table row of the first run with this operation and status bucket. */
export function runRow(page: Page, operation: string, bucket: string) {
  return page
    .locator("table.runs-table tbody tr")
    .filter({ has: page.locator(".op-label", { hasText: operation }) })
    .filter({ has: page.locator(".badge", { hasText: new RegExp(`^${bucket}$`) }) })
    .first();
}

/** The demo users (README) and their password. */
export const OPERATOR = "olivia@contoso.example"; // operator in Contoso and Fabrikam
export const VIEWER = "victor@contoso.example"; // viewer in Contoso
export const FABRIKAM_OPERATOR = "frank@fabrikam.example"; // operator in Fabrikam only
export const DEMO_PASSWORD = "opshub-demo";

/** Signs in through the sign-in form and waits for the page it lands on. */
export async function signIn(page: Page, email = OPERATOR, next?: string) {
  await page.goto(next ? `/signin?next=${encodeURIComponent(next)}` : "/signin");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(DEMO_PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).not.toHaveURL(/\/signin/);
}
