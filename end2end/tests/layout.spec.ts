import { expect, test } from "@playwright/test";
import { signIn, waitForHydration } from "./helpers";

test.beforeEach(async ({ page }) => {
  await signIn(page);
});

test("on a phone-sized screen no page scrolls sideways; wide tables scroll in their own box", async ({ page }) => {
  await page.setViewportSize({ width: 360, height: 740 });
  const runId = await page.locator("table.runs-table tbody tr").first().getAttribute("data-run-id");
  for (const path of ["/overview", "/overview?range=7d", "/runs", `/runs/${runId}`, "/findings", "/notifications", "/start"]) {
    await page.goto(path);
    await expect(page.locator("main h1").first()).toBeVisible();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow, `${path} is ${overflow}px wider than the screen`).toBeLessThanOrEqual(0);
  }
});

test("keyboard only: skip to content, move through the controls with a visible focus, open a run", async ({ page }) => {
  await page.goto("/runs");
  await waitForHydration(page);
  // The first Tab reaches the skip link, which shows itself when focused.
  await page.keyboard.press("Tab");
  const skip = page.getByRole("link", { name: "Skip to content" });
  await expect(skip).toBeFocused();
  expect((await skip.boundingBox())!.x).toBeGreaterThanOrEqual(0);
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/#main$/);

  // Tab on to the first status chip; the focus ring is drawn.
  const chip = page.locator('.chips a[data-bucket="all"]');
  for (let i = 0; i < 40 && !(await chip.evaluate((el) => el === document.activeElement)); i++) {
    await page.keyboard.press("Tab");
  }
  await expect(chip).toBeFocused();
  const outline = await chip.evaluate((el) => getComputedStyle(el).outlineStyle);
  expect(outline).not.toBe("none");

  // Onwards to the first run link, and Enter opens it.
  const first = page.locator("table.runs-table tbody tr").first().getByRole("link").first();
  const id = await page.locator("table.runs-table tbody tr").first().getAttribute("data-run-id");
  for (let i = 0; i < 60 && !(await first.evaluate((el) => el === document.activeElement)); i++) {
    await page.keyboard.press("Tab");
  }
  await expect(first).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(new RegExp(`/runs/${id}$`));
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(new RegExp(`^Run #${id} · `));
});

for (const [width, height] of [
  [1280, 720],
  [360, 740],
]) {
  test(`at ${width} px the runs list fits the window: no sideways scroll, inside its panel neither, every column shown`, async ({
    page,
  }) => {
    await page.setViewportSize({ width, height });
    await page.goto("/runs");
    await waitForHydration(page);
    const rows = page.locator("table.runs-table tbody tr");
    expect(await rows.count()).toBeGreaterThan(5);
    const fit = await page.evaluate(() => {
      const wrap = document.querySelector(".table-wrap")!;
      const cells = Array.from(document.querySelectorAll("table.runs-table tbody td")).filter(
        (td) => (td as HTMLElement).offsetParent !== null,
      );
      return {
        page: document.documentElement.scrollWidth - window.innerWidth,
        panel: wrap.scrollWidth - wrap.clientWidth,
        rightmost: Math.max(...cells.map((td) => td.getBoundingClientRect().right)) - window.innerWidth,
        hiddenCells: Array.from(document.querySelectorAll("table.runs-table tbody td")).length - cells.length,
      };
    });
    expect(fit.page, "the page scrolls sideways").toBeLessThanOrEqual(0);
    expect(fit.panel, "the table scrolls inside its panel").toBeLessThanOrEqual(0);
    expect(fit.rightmost, "a cell ends past the window").toBeLessThanOrEqual(0);
    expect(fit.hiddenCells, "cells hidden").toBe(0);
    if (width < 640) {
      const bar = (await page.locator("header.top-bar").boundingBox())!;
      expect(bar.height, "the top bar's height").toBeLessThanOrEqual(height * 0.2);
    }
  });
}
