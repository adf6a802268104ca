import { ChildProcess, execFileSync, spawn } from "node:child_process";
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

function e2eEnv() {
  const url = process.env.OPSHUB_E2E_DATABASE_URL;
  const bin = process.env.OPSHUB_BIN;
  if (!url || !bin) throw new Error("OPSHUB_E2E_DATABASE_URL and OPSHUB_BIN must be set (scripts/e2e sets them)");
  return { url, bin, env: { ...process.env, DATABASE_URL: url, RUST_LOG: "warn" } };
}

/** Runs the opshub CLI against the test database; returns its output. */
export function cli(...args: string[]): string {
  const { bin, env } = e2eEnv();
  return execFileSync(bin, args, { env, encoding: "utf8" });
}

/** One value from the test database. */
export function sql(query: string): string {
  const { url } = e2eEnv();
  return execFileSync("psql", [url, "-Atc", query], { encoding: "utf8" }).trim();
}

/** Starts an add-policies run in Contoso as Olivia, with one missing policy
 * (`missing` makes the scope unique, so it never joins another run). */
export function startBackupRun(missing: number): number {
  const set = sql(
    "SELECT b.id FROM backup_sets b JOIN tenants t ON t.id = b.tenant_id WHERE t.slug = 'contoso' ORDER BY b.id LIMIT 1",
  );
  const policies = sql(
    "SELECT string_agg(id::text, ',') FROM (SELECT p.id FROM policies p JOIN tenants t ON t.id = p.tenant_id WHERE t.slug = 'contoso' ORDER BY p.id LIMIT 3) x",
  )
    .split(",")
    .map(Number);
  const out = cli(
    "start",
    "backup_set.add_policies",
    "--tenant",
    "contoso",
    "--user",
    OPERATOR,
    "--scope",
    JSON.stringify({ backup_set_id: Number(set), policy_ids: [...policies, missing] }),
  );
  const m = /run (\d+)/.exec(out);
  if (!m) throw new Error(`unexpected output of opshub start: ${out}`);
  return Number(m[1]);
}

/** A worker process executing runs until stopped. */
export class Worker {
  private proc: ChildProcess;
  /** `extra`: more `opshub worker` options (e.g. pacing its batches). */
  constructor(extra: string[] = []) {
    const { bin, env } = e2eEnv();
    this.proc = spawn(bin, ["worker", "--concurrency", "2", "--poll-ms", "200", ...extra], { env, stdio: "ignore" });
  }
  async stop() {
    if (this.proc.exitCode !== null) return;
    const exited = new Promise((resolve) => this.proc.once("exit", resolve));
    this.proc.kill("SIGTERM");
    await exited;
  }
}

/** Waits until no run of any tenant is queued or running. */
export async function waitForIdleQueue() {
  await expect
    .poll(() => sql("SELECT count(*) FROM bulk_operation_runs WHERE status IN ('pending', 'running')"), {
      timeout: 30_000,
    })
    .toBe("0");
}

/** The bell's unread count (0 when the badge is hidden). */
export async function unreadCount(page: Page): Promise<number> {
  const badge = page.getByTestId("bell-count");
  if (!(await badge.isVisible())) return 0;
  const text = (await badge.textContent()) ?? "";
  return Number(text.replace(/\D/g, "")) || 0;
}

/** A second hub server process on the test database, which a test may stop
 * and start again (the sessions live in Postgres, so sign-ins survive). */
export class HubServer {
  private proc: ChildProcess | null = null;
  constructor(readonly port: number) {}
  get url() {
    return `http://127.0.0.1:${this.port}`;
  }
  async start() {
    const { bin, env } = e2eEnv();
    this.proc = spawn(bin, ["serve", "--workers", "0", "--no-migrate", "--addr", `127.0.0.1:${this.port}`], {
      env,
      stdio: "ignore",
    });
    await expect
      .poll(async () => (await fetch(`${this.url}/readyz`).catch(() => null))?.status ?? 0, { timeout: 20_000 })
      .toBe(200);
  }
  async stop() {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((resolve) => proc.once("exit", resolve));
    proc.kill("SIGKILL");
    await exited;
  }
}
