import { defineConfig, devices } from "@playwright/test";

// The server under test is started by scripts/test (or by hand) and its
// address passed in OPSHUB_E2E_URL; Playwright waits for it to be ready.
const baseURL = process.env.OPSHUB_E2E_URL ?? "http://127.0.0.1:3100";

const chromium = {
  ...devices["Desktop Chrome"],
  launchOptions: {
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  },
};

export default defineConfig({
  testDir: "./tests",
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: [["list"], ["json", { outputFile: "test-results/results.json" }]],
  use: {
    baseURL,
    trace: "retain-on-failure",
  },
  webServer: process.env.OPSHUB_E2E_COMMAND
    ? {
        command: process.env.OPSHUB_E2E_COMMAND,
        url: `${baseURL}/readyz`,
        reuseExistingServer: false,
        timeout: 60_000,
        stdout: "pipe",
        stderr: "pipe",
      }
    : undefined,
  // Read-only specs first, on the demo data as seeded; then the specs that
  // start, cancel and retry runs and run workers.
  projects: [
    { name: "chromium", use: chromium, testIgnore: /(no-js|actions)\.spec\.ts/ },
    {
      name: "chromium-no-js",
      use: { ...chromium, javaScriptEnabled: false },
      testMatch: /no-js\.spec\.ts/,
    },
    {
      name: "chromium-actions",
      use: chromium,
      testMatch: /actions\.spec\.ts/,
      dependencies: ["chromium", "chromium-no-js"],
    },
  ],
});
