// Driving the example PWA in headless Chromium (Debian's, through playwright-core): launching, and
// the steps a person takes on the page. The scenarios and the demo's --check build on these.
import { chromium } from "playwright-core";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const TIMEOUT_MS = 30_000;

export async function launch() {
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
}

/** A new device: its own context (storage, OPFS, service worker) with the app open at `origin`. */
export async function openDevice(browser, origin, name) {
  const context = await browser.newContext({ viewport: { width: 720, height: 640 } });
  context.setDefaultTimeout(TIMEOUT_MS);
  const page = await context.newPage();
  page.on("pageerror", (error) => console.error(`[${name}] page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") console.error(`[${name}] console: ${message.text()}`);
  });
  await page.goto(origin);
  return { context, page, name };
}

export async function signIn(page, email) {
  await page.getByTestId(`sign-in-${email}`).click();
  await page.getByTestId("new-todo").waitFor();
}

export async function addTodo(page, title) {
  await page.getByTestId("new-todo").fill(title);
  await page.getByTestId("new-todo").press("Enter");
  await todo(page, title).waitFor();
}

export function todo(page, title) {
  return page.locator(`[data-testid="todo"][data-title="${title}"]`);
}

export async function toggleTodo(page, title) {
  const before = await todo(page, title).getAttribute("data-done");
  await todo(page, title).getByRole("checkbox").click();
  await page.locator(`[data-testid="todo"][data-title="${title}"][data-done="${before === "true" ? "false" : "true"}"]`).waitFor();
}

export async function deleteTodo(page, title) {
  await page.getByRole("button", { name: `delete ${title}` }).click();
  await todo(page, title).waitFor({ state: "detached" });
}

/** The titles on the page with their done flags, sorted: what convergence compares. */
export async function shownTodos(page) {
  return page.locator('[data-testid="todo"]').evaluateAll((items) =>
    items.map((item) => `${item.dataset.title}|${item.dataset.done}`).sort(),
  );
}

/** Waits until the engine says everything local reached the server and a sync has finished. */
export async function waitSynced(page) {
  await page.waitForFunction(() => {
    const status = document.querySelector('[data-testid="status"]');
    return status?.getAttribute("data-pending") === "0" && status.getAttribute("data-state") === "idle";
  });
}

export async function waitPending(page, count) {
  await page.locator(`[data-testid="status"][data-pending="${count}"]`).waitFor();
}

/** Adds a project to the shown team; the page then shows that project's todos. */
export async function addProject(page, name) {
  await page.getByTestId("new-project").fill(name);
  await page.getByTestId("new-project").press("Enter");
  await page.locator(`[data-testid="project"][data-name="${name}"][aria-pressed="true"]`).waitFor();
}

/** Shows one project's todos ("All todos" and "No project" are the other choices). */
export async function showProject(page, name) {
  await page.locator(`[data-testid="project"][data-name="${name}"]`).click();
  await page.locator(`[data-testid="project"][data-name="${name}"][aria-pressed="true"]`).waitFor();
}

export async function showTeam(page, name) {
  await page.locator(`[data-testid="team"][data-name="${name}"]`).click();
  await page.locator(`[data-testid="team"][data-name="${name}"][aria-pressed="true"]`).waitFor();
}

export async function renameTodo(page, from, to) {
  await page.getByRole("button", { name: `edit ${from}` }).click();
  await page.getByTestId("edit-title").fill(to);
  await page.getByTestId("edit-title").press("Enter");
  await todo(page, to).waitFor();
}

/** Moves a todo to another project of its team ("No project" takes it out of every project). */
export async function moveTodo(page, title, project) {
  await page.getByRole("combobox", { name: `project of ${title}` }).selectOption({ label: project });
  await page.locator(`[data-testid="todo"][data-title="${title}"][data-project="${project === "No project" ? "" : project}"]`).waitFor();
}
