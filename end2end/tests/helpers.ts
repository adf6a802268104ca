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
