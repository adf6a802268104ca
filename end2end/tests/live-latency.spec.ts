import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { expect, test } from "@playwright/test";
import { signIn, sql, waitForHydration } from "./helpers";

// How long a run's progress takes to reach a browser tab that watches it:
// from the commit of a transaction that announces a batch of progress, as
// the engine's batch commit does (a NOTIFY on the run events channel inside
// the transaction), to the event arriving in the tab's event stream.

const EVENTS = 250;
const CHANNEL = "opshub_run_events";

/** One psql session that commits a progress announcement per line asked,
 * answering each with the database clock just before its COMMIT (ms). */
class Committer {
  private proc = spawn("psql", [process.env.OPSHUB_E2E_DATABASE_URL!, "-Atq", "-v", "ON_ERROR_STOP=1"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  private lines = createInterface({ input: this.proc.stdout! })[Symbol.asyncIterator]();

  async commit(tenantId: number, runId: number): Promise<number> {
    const payload = JSON.stringify({ tenant_id: tenantId, run_id: runId, event: "progress" });
    this.proc.stdin!.write(
      `BEGIN; SELECT '' FROM pg_notify('${CHANNEL}', '${payload}'); ` +
        `SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8; COMMIT;\n`,
    );
    for (;;) {
      const { value, done } = await this.lines.next();
      if (done) throw new Error("psql ended");
      if (value.trim() !== "") return Number(value);
    }
  }

  close() {
    this.proc.stdin!.end();
  }
}

test(`a run's progress reaches a watching tab quickly: p99 under 250 ms over ${EVENTS} events`, async ({ page }) => {
  test.setTimeout(120_000);
  const runId = Number(
    sql(
      "SELECT r.id FROM bulk_operation_runs r JOIN tenants t ON t.id = r.tenant_id " +
        "WHERE t.slug = 'contoso' AND r.status = 'running' ORDER BY r.id LIMIT 1",
    ),
  );
  const tenantId = Number(sql("SELECT id FROM tenants WHERE slug = 'contoso'"));
  await signIn(page);
  // The tab shows the run, as an operator following it would.
  await page.goto(`/runs/${runId}`);
  await waitForHydration(page);
  await expect(page.getByTestId("live-status")).toHaveClass(/connected/);

  // The tab's own subscription to the hub's event stream, timing each event.
  await page.evaluate((runId) => {
    const w = window as any;
    w.__arrivals = [];
    w.__source = new EventSource("/api/events");
    w.__source.addEventListener("ready", () => (w.__ready = true));
    w.__source.addEventListener("run", (e: MessageEvent) => {
      if (JSON.parse(e.data).run_id === runId) w.__arrivals.push(Date.now());
    });
  }, runId);
  await expect.poll(() => page.evaluate(() => (window as any).__ready === true)).toBe(true);

  const committer = new Committer();
  const commits: number[] = [];
  for (let i = 0; i < EVENTS; i++) {
    commits.push(await committer.commit(tenantId, runId));
    // Batches commit every quarter second at most; 20 ms apart is busier.
    await new Promise((r) => setTimeout(r, 20));
  }
  committer.close();
  await expect
    .poll(() => page.evaluate(() => (window as any).__arrivals.length), { timeout: 10_000 })
    .toBe(EVENTS);
  const arrivals: number[] = await page.evaluate(() => (window as any).__arrivals);
  const delays = arrivals.map((at, i) => at - commits[i]);
  const sorted = [...delays].sort((a, b) => a - b);
  const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
  console.log(
    `progress commit → event in the tab, ${EVENTS} events: p50 ${pct(50).toFixed(1)} ms, ` +
      `p90 ${pct(90).toFixed(1)} ms, p99 ${pct(99).toFixed(1)} ms, max ${sorted[sorted.length - 1].toFixed(1)} ms`,
  );
  // The same machine's clock on both sides: no event arrives before its commit.
  expect(sorted[0]).toBeGreaterThanOrEqual(-2);
  expect(pct(99)).toBeLessThan(250);
});
