// The PWA's browser scenarios, run by tests/e2e/test_pwa.py against a server it controls.
// Usage: node scenarios.mjs <scenario> <origin> <postgres url> [screenshot path]
// A line "@server stop" or "@server start" on stdout asks the test to stop or restart the host; it
// answers with a line on stdin. Exit status 0 means every check held; a failure throws.
import assert from "node:assert/strict";
import { createInterface } from "node:readline";
import pg from "pg";
import {
  addProject,
  addTodo,
  deleteTodo,
  launch,
  moveTodo,
  openDevice,
  renameTodo,
  showProject,
  showTeam,
  shownTodos,
  signIn,
  todo,
  toggleTodo,
  waitPending,
  waitSynced,
} from "./app.mjs";

const [scenario, origin, postgresUrl, screenshot] = process.argv.slice(2);
const CONVERGE_MS = 30_000;

const stdin = createInterface({ input: process.stdin });
const answers = stdin[Symbol.asyncIterator]();
async function server(action) {
  console.log(`@server ${action}`);
  const answer = await answers.next();
  assert.equal(answer.value, "done", `the test did not ${action} the server`);
}

async function users() {
  const response = await fetch(`${origin}/demo/users`);
  const list = await response.json();
  return { ada: list[0], grace: list[1], alan: list[2] };
}

/** "title|project name" of the team's todos in Postgres, sorted ("-" for no project). */
async function serverProjects(db, teamName) {
  const { rows } = await db.query(
    `SELECT todos.title, coalesce(projects.name, '-') AS project FROM todos
       JOIN teams ON teams.id = todos.team_id LEFT JOIN projects ON projects.id = todos.project_id
      WHERE teams.name = $1`,
    [teamName],
  );
  return rows.map((row) => `${row.title}|${row.project}`).sort();
}

async function serverTodos(db, teamName) {
  const { rows } = await db.query(
    "SELECT todos.title, todos.done FROM todos JOIN teams ON teams.id = todos.team_id WHERE teams.name = $1",
    [teamName],
  );
  return rows.map((row) => `${row.title}|${row.done}`).sort();
}

/** The page's entry script, whose name carries the build's content hash. */
async function buildScript(page) {
  return page.locator('script[type="module"]').first().getAttribute("src");
}

async function teamsShown(page) {
  return page.locator('[data-testid="team"]').evaluateAll((items) => items.map((item) => item.dataset.name));
}

/** Waits until the page lists exactly `expected` (sorted "title|done" strings). */
async function waitShown(device, expected) {
  const deadline = Date.now() + CONVERGE_MS;
  for (;;) {
    const shown = await shownTodos(device.page);
    if (JSON.stringify(shown) === JSON.stringify(expected)) return;
    if (Date.now() > deadline) assert.deepEqual(shown, expected, `${device.name} did not converge`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Waits up to 10 s for `locator`; else fails with `message` and what the page says instead. */
async function shownWithin(page, locator, message) {
  try {
    await locator.waitFor({ timeout: 10_000 });
  } catch {
    assert.fail(`${message}; the page shows: ${(await page.locator("body").innerText()).replace(/\s+/g, " ").slice(0, 300)}`);
  }
}

const scenarios = {
  /** A todo added in the browser reaches Postgres; rows written in Postgres reach the page. */
  async roundTrip(browser, db) {
    const { ada } = await users();
    const device = await openDevice(browser, origin, "ada");
    await signIn(device.page, ada.email);
    await addTodo(device.page, "Write the release notes");
    await addTodo(device.page, "Book the venue");
    await toggleTodo(device.page, "Book the venue");
    await waitSynced(device.page);
    assert.deepEqual(await serverTodos(db, "Demo team"), [
      "Book the venue|true",
      "Try the demo|false",
      "Write the release notes|false",
    ]);

    await db.query("INSERT INTO todos (team_id, title) SELECT id, 'Added in Postgres' FROM teams WHERE name = 'Demo team'");
    await db.query("UPDATE todos SET done = true WHERE title = 'Try the demo'");
    await waitShown(device, [
      "Added in Postgres|false",
      "Book the venue|true",
      "Try the demo|true",
      "Write the release notes|false",
    ]);

    await deleteTodo(device.page, "Added in Postgres");
    await waitSynced(device.page);
    assert.equal((await db.query("SELECT count(*)::int AS n FROM todos WHERE title = 'Added in Postgres'")).rows[0].n, 0);
  },

  /**
   * Projects and titles: Ada adds projects, adds a todo into one, moves todos between projects and
   * renames one; Grace's device shows each project's todos. Then both go offline and edit different
   * columns of one todo (Ada its title, Grace its project): per-column last-writer-wins keeps both.
   */
  async projects(browser, db) {
    const { ada, grace } = await users();
    const a = await openDevice(browser, origin, "ada");
    await signIn(a.page, ada.email);
    await addProject(a.page, "Backlog");
    await addProject(a.page, "Launch");
    await addTodo(a.page, "Write the plan");
    await showProject(a.page, "All todos");
    await moveTodo(a.page, "Try the demo", "Launch");
    await renameTodo(a.page, "Write the plan", "Write the launch plan");
    await addTodo(a.page, "Order stickers");
    await moveTodo(a.page, "Order stickers", "Backlog");
    await waitSynced(a.page);
    assert.deepEqual(await serverProjects(db, "Demo team"), [
      "Order stickers|Backlog",
      "Try the demo|Launch",
      "Write the launch plan|Launch",
    ]);

    const g = await openDevice(browser, origin, "grace");
    await signIn(g.page, grace.email);
    await showProject(g.page, "Launch");
    await waitShown(g, ["Try the demo|false", "Write the launch plan|false"]);
    await showProject(g.page, "No project");
    await waitShown(g, []);
    await showProject(g.page, "All todos");
    await waitShown(g, ["Order stickers|false", "Try the demo|false", "Write the launch plan|false"]);

    await a.context.setOffline(true);
    await g.context.setOffline(true);
    await renameTodo(a.page, "Order stickers", "Order stickers and pins");
    await moveTodo(g.page, "Order stickers", "No project");
    await waitPending(a.page, 1);
    await waitPending(g.page, 1);
    await a.context.setOffline(false);
    await waitSynced(a.page);
    await g.context.setOffline(false);
    await waitSynced(g.page);
    const expected = ["Order stickers and pins|-", "Try the demo|Launch", "Write the launch plan|Launch"];
    assert.deepEqual(await serverProjects(db, "Demo team"), expected);
    for (const device of [a, g]) {
      await showProject(device.page, "No project");
      await waitShown(device, ["Order stickers and pins|false"]);
    }
    await showProject(a.page, "All todos");
    await waitShown(a, ["Order stickers and pins|false", "Try the demo|false", "Write the launch plan|false"]);
    if (screenshot) await a.page.screenshot({ path: screenshot });
  },

  /**
   * Two users of one team, each on a device of their own, go offline and edit: different todos,
   * and the same todo (one toggles it, the other deletes it). Grace comes back first, so her
   * delete wins and Ada's toggle of the deleted todo is refused (a rejected-change notice).
   */
  async twoDevices(browser, db) {
    const { ada, grace } = await users();
    const a = await openDevice(browser, origin, "ada");
    const g = await openDevice(browser, origin, "grace");
    await signIn(a.page, ada.email);
    await signIn(g.page, grace.email);
    await addTodo(a.page, "Shared one");
    await addTodo(a.page, "Shared two");
    await waitSynced(a.page);
    await waitShown(g, ["Shared one|false", "Shared two|false", "Try the demo|false"]);

    await a.context.setOffline(true);
    await g.context.setOffline(true);
    await toggleTodo(a.page, "Shared one");
    await addTodo(a.page, "Ada offline");
    await deleteTodo(g.page, "Shared one");
    await toggleTodo(g.page, "Shared two");
    await addTodo(g.page, "Grace offline");
    await waitPending(a.page, 2);
    await waitPending(g.page, 3);
    await a.page.locator('[data-testid="connection"]', { hasText: "offline" }).waitFor();
    assert.deepEqual(await serverTodos(db, "Demo team"), ["Shared one|false", "Shared two|false", "Try the demo|false"]);

    await g.context.setOffline(false);
    await waitSynced(g.page);
    await a.context.setOffline(false);
    await waitSynced(a.page);
    await a.page.getByTestId("rejected").filter({ hasText: "not_found" }).waitFor();

    const expected = ["Ada offline|false", "Grace offline|false", "Shared two|true", "Try the demo|false"];
    assert.deepEqual(await serverTodos(db, "Demo team"), expected);
    await waitShown(a, expected);
    await waitShown(g, expected);
  },

  /**
   * Scope in the browser. Ada joins a second team in Postgres and its rows arrive; she is removed
   * from it and they go on the next sync. Then, offline, she writes into her team while Postgres
   * removes her from it too: the push is refused (forbidden), the notice names it, and the write
   * and the team's rows leave the screen.
   */
  async scope(browser, db) {
    const { ada } = await users();
    const device = await openDevice(browser, origin, "ada");
    await signIn(device.page, ada.email);
    await addTodo(device.page, "Ada's own");
    await waitSynced(device.page);
    await db.query("INSERT INTO todos (team_id, title) SELECT id, 'Other team only' FROM teams WHERE name = 'Other team'");
    await db.query("INSERT INTO memberships (user_id, team_id) SELECT $1, id FROM teams WHERE name = 'Other team'", [ada.id]);
    await device.page.locator('[data-testid="team"][data-name="Other team"]').waitFor({ timeout: CONVERGE_MS });
    await showTeam(device.page, "Other team");
    await waitShown(device, ["Other team only|false", "Try the demo|false"]);

    await db.query("DELETE FROM memberships WHERE user_id = $1 AND team_id = (SELECT id FROM teams WHERE name = 'Other team')", [ada.id]);
    await device.page.locator('[data-testid="team"][data-name="Other team"]').waitFor({ state: "detached", timeout: CONVERGE_MS });
    assert.deepEqual(await teamsShown(device.page), ["Demo team"]);
    await waitShown(device, ["Ada's own|false", "Try the demo|false"]);

    await device.context.setOffline(true);
    await device.page.locator('[data-testid="connection"]', { hasText: "offline" }).waitFor({ timeout: CONVERGE_MS });
    await db.query("DELETE FROM memberships WHERE user_id = $1", [ada.id]);
    await addTodo(device.page, "Written after the removal");
    await waitPending(device.page, 1);
    await device.context.setOffline(false);
    await device.page.getByTestId("rejected").filter({ hasText: "put on todos: forbidden" }).waitFor({ timeout: CONVERGE_MS });
    await todo(device.page, "Written after the removal").waitFor({ state: "detached" });
    await device.page.getByText("You are in no team yet.").waitFor();
    await waitSynced(device.page);
    assert.deepEqual(await teamsShown(device.page), []);
    assert.equal((await db.query("SELECT count(*)::int AS n FROM todos WHERE title = 'Written after the removal'")).rows[0].n, 0);
  },

  /**
   * A schema upgrade with a pending write, and a second tab. Offline, Ada writes a todo; meanwhile
   * the server moves to the next schema version and serves a new build ("@server upgrade"). Back
   * online, the old pages are refused (409) and say they must update, keeping the write; the
   * reload loads the new build, which takes the database over from the other tab (still the old
   * build, which leads once the first tab reloads), migrates it, keeps the write and pushes it.
   * The old tab says it must update too, and joins the new build when it does.
   */
  async schemaUpgrade(browser, db) {
    const { ada } = await users();
    const device = await openDevice(browser, origin, "ada");
    await signIn(device.page, ada.email);
    await waitSynced(device.page);
    await device.page.waitForFunction(() => navigator.serviceWorker.controller !== null);
    const oldBuild = await buildScript(device.page);
    const other = await device.context.newPage();
    await other.goto(origin);
    await other.getByTestId("new-todo").waitFor();

    await device.context.setOffline(true);
    await addTodo(device.page, "Written before the upgrade");
    await waitPending(device.page, 1);
    await server("upgrade");
    await device.context.setOffline(false);
    await device.page.getByTestId("update-required").waitFor({ timeout: CONVERGE_MS });
    await device.page.locator('[data-testid="status"][data-state="update-required"][data-pending="1"]').waitFor();
    assert.equal((await db.query("SELECT count(*)::int AS n FROM todos WHERE title = 'Written before the upgrade'")).rows[0].n, 0);

    await other.getByTestId("update-required").waitFor({ timeout: CONVERGE_MS });

    await device.page.getByRole("button", { name: "Update now" }).click();
    await device.page.getByTestId("new-todo").waitFor();
    assert.notEqual(await buildScript(device.page), oldBuild, "the reload did not load the new build");
    // Before, the new build followed the old tab's engine: no rows shown, and this write failed.
    await device.page.waitForFunction(() => document.documentElement.dataset.syncRole === "leader", null, { timeout: CONVERGE_MS });
    await waitSynced(device.page);
    await addTodo(device.page, "Written after the update");
    await waitSynced(device.page);
    const expected = ["Try the demo|false", "Written after the update|false", "Written before the upgrade|false"];
    await waitShown(device, expected);
    assert.deepEqual(await serverTodos(db, "Demo team"), expected);
    await other.locator('[data-testid="status"][data-state="update-required"]').waitFor();

    await other.getByRole("button", { name: "Update now" }).click();
    await other.getByTestId("new-todo").waitFor();
    assert.notEqual(await buildScript(other), oldBuild, "the other tab's reload did not load the new build");
    await waitShown({ ...device, page: other }, expected);
    await other.close();
  },

  /**
   * With the host down and the device offline, a reload comes from the service worker (app
   * shell) and OPFS (data, including a pending write); the pending writes sync once it is back.
   */
  async offlineReload(browser, db) {
    const { ada } = await users();
    const device = await openDevice(browser, origin, "ada");
    await signIn(device.page, ada.email);
    await addTodo(device.page, "Before the reload");
    await waitSynced(device.page);
    await device.page.waitForFunction(() => navigator.serviceWorker.controller !== null);

    await server("stop");
    await device.context.setOffline(true);
    await addTodo(device.page, "Written offline");
    await waitPending(device.page, 1);
    const reload = await device.page.reload();
    assert.ok(reload?.fromServiceWorker(), "the reload did not come from the service worker");
    await waitShown(device, ["Before the reload|false", "Try the demo|false", "Written offline|false"]);
    await addTodo(device.page, "Written after the reload");
    await waitPending(device.page, 2);
    assert.deepEqual(await serverTodos(db, "Demo team"), ["Before the reload|false", "Try the demo|false"]);

    await server("start");
    await device.context.setOffline(false);
    await waitSynced(device.page);
    assert.deepEqual(await serverTodos(db, "Demo team"), [
      "Before the reload|false",
      "Try the demo|false",
      "Written after the reload|false",
      "Written offline|false",
    ]);
    assert.equal(await todo(device.page, "Written offline").count(), 1);
  },
  /**
   * Signing out is the origin's, not one tab's: two tabs of Ada, "Sign out" in one shows the
   * picker in both, and when Alan signs in there, the other tab is Alan's too: it never shows
   * Ada's rows again, never syncs as Ada, and what is written in it is Alan's.
   */
  async signOutEveryTab(browser, db) {
    const { ada, alan } = await users();
    const device = await openDevice(browser, origin, "tab 1");
    // The sync requests of every tab that carry Ada's token.
    const asAda = [];
    device.context.on("request", (request) => {
      if (request.url().includes("/sync/") && request.headers().authorization === `Bearer ${ada.id}`) asAda.push(request.url());
    });
    await signIn(device.page, ada.email);
    await addTodo(device.page, "Ada's own");
    await waitSynced(device.page);
    assert.ok(asAda.length > 0, "no sync request as Ada seen: the check below would prove nothing");
    const other = await device.context.newPage();
    other.on("pageerror", (error) => console.error(`[tab 2] page error: ${error.message}`));
    await other.goto(origin);
    await todo(other, "Ada's own").waitFor();

    await device.page.getByRole("button", { name: "Sign out", exact: true }).click();
    await device.page.getByTestId(`sign-in-${alan.email}`).waitFor();
    // Tab 2 follows within moments (before the fix it stayed Ada's for good): 10 s, not 30.
    await shownWithin(other, other.getByTestId(`sign-in-${alan.email}`), "tab 2 did not follow the sign-out");
    assert.equal(await todo(other, "Ada's own").count(), 0, "tab 2 still shows Ada's todo after the sign-out");
    const signedOut = asAda.length;

    await signIn(device.page, alan.email);
    await other.getByTestId("user").filter({ hasText: alan.name }).waitFor({ timeout: 10_000 });
    await addTodo(other, "Written in tab 2 after the switch");
    await waitSynced(other);
    await waitSynced(device.page);
    await todo(device.page, "Written in tab 2 after the switch").waitFor();
    assert.equal(await todo(other, "Ada's own").count(), 0, "tab 2 shows Ada's todo while Alan is signed in");
    const { rows } = await db.query(
      "SELECT teams.name FROM todos JOIN teams ON teams.id = todos.team_id WHERE todos.title = 'Written in tab 2 after the switch'",
    );
    assert.deepEqual(rows.map((row) => row.name), ["Other team"], "tab 2's write is not Alan's");
    assert.deepEqual(asAda.slice(signedOut), [], "a tab synced as Ada after both showed the picker");
  },

  /**
   * "Sign out" keeps the user's database, so signing in again works offline: the picker lists the
   * users it last saw, Ada's rows open from OPFS, and a write made then syncs once back online.
   */
  async offlineSignIn(browser, db) {
    const { ada, grace } = await users();
    const device = await openDevice(browser, origin, "ada");
    await signIn(device.page, ada.email);
    await addTodo(device.page, "Before signing out");
    await waitSynced(device.page);
    await device.page.waitForFunction(() => navigator.serviceWorker.controller !== null);

    await device.context.setOffline(true);
    await device.page.getByRole("button", { name: "Sign out", exact: true }).click();
    await shownWithin(device.page, device.page.getByTestId(`sign-in-${grace.email}`), "the picker lists no users offline");
    await signIn(device.page, ada.email);
    await waitShown(device, ["Before signing out|false", "Try the demo|false"]);
    await addTodo(device.page, "Written after an offline sign-in");
    await waitPending(device.page, 1);

    await device.context.setOffline(false);
    await waitSynced(device.page);
    assert.deepEqual(await serverTodos(db, "Demo team"), [
      "Before signing out|false",
      "Try the demo|false",
      "Written after an offline sign-in|false",
    ]);
  },

  /**
   * Typing the next todo while the last one is still being written (a bootstrap's page holds the
   * database, or a new leader tab is opening it): what the user typed meanwhile stays in the box,
   * and Enter adds it. Before the fix the first write's end emptied the box, and Enter then added
   * nothing. The page's messages to its SQLite Worker are held back to keep the write waiting.
   */
  async typingWhileAWriteWaits(browser, db) {
    const { ada } = await users();
    const device = await openDevice(browser, origin, "ada");
    const page = device.page;
    await signIn(page, ada.email);
    await waitSynced(page);
    await page.evaluate(() => {
      const send = Worker.prototype.postMessage;
      const held = [];
      window.holdDatabase = (hold) => {
        window.databaseHeld = hold;
        if (!hold) for (const [worker, args] of held.splice(0)) send.apply(worker, args);
      };
      Worker.prototype.postMessage = function (...args) {
        if (window.databaseHeld) held.push([this, args]);
        else send.apply(this, args);
      };
    });
    for (const kind of ["todo", "project"]) {
      const input = page.getByTestId(`new-${kind}`);
      const [first, second] = kind === "todo" ? ["Added while busy", "Typed meanwhile"] : ["Busy project", "Typed project"];
      await page.evaluate(() => window.holdDatabase(true));
      await input.fill(first);
      await input.press("Enter");
      await input.fill(second);
      await page.evaluate(() => window.holdDatabase(false));
      if (kind === "todo") await todo(page, first).waitFor();
      else await page.locator(`[data-testid="project"][data-name="${first}"]`).waitFor();
      await page.waitForTimeout(200); // React renders what the write's end changed
      assert.equal(await input.inputValue(), second, `the ${kind} typed while the last one was written is gone`);
      await input.press("Enter");
      if (kind === "todo") await todo(page, second).waitFor();
      else await page.locator(`[data-testid="project"][data-name="${second}"]`).waitFor();
    }
    await waitSynced(page);
    const { rows } = await db.query("SELECT name FROM projects ORDER BY name");
    assert.deepEqual(rows.map((row) => row.name), ["Busy project", "Typed project"]);
    assert.deepEqual((await serverTodos(db, "Demo team")).filter((row) => !row.startsWith("Try")), [
      "Added while busy|false",
      "Typed meanwhile|false",
    ]);
  },

  /**
   * A todo whose title holds a NUL character, which Postgres cannot store: the host refuses it for
   * good (a 400 naming the write), and a todo added after it waits behind it, since the server takes
   * a device's writes in order. The page offers to give that change up; once given up, the page says
   * which write went, the bad todo leaves the page and the one behind it reaches Postgres.
   */
  async refusedChange(browser, db) {
    const { ada } = await users();
    const { page } = await openDevice(browser, origin, "ada");
    await signIn(page, ada.email);
    await addTodo(page, "Before the refusal");
    await waitSynced(page);
    await page.getByTestId("new-todo").fill("Bad\u0000title");
    await page.getByTestId("new-todo").press("Enter");
    await shownWithin(page, page.getByTestId("refused"), "the refused change was not offered to give up");
    await addTodo(page, "After the refusal");
    await page.waitForTimeout(1_000); // a sync or two, which must not push it past the refused one
    assert.deepEqual(await serverTodos(db, "Demo team"), ["Before the refusal|false", "Try the demo|false"]);

    await page.getByTestId("discard-refused").click();
    await shownWithin(page, page.getByTestId("rejected").filter({ hasText: "invalid_string" }), "the write given up was not named");
    await waitSynced(page);
    assert.equal(await page.getByTestId("refused").count(), 0, "the refusal is still shown");
    assert.deepEqual(await serverTodos(db, "Demo team"), [
      "After the refusal|false",
      "Before the refusal|false",
      "Try the demo|false",
    ]);
    await waitShown({ page, name: "ada" }, ["After the refusal|false", "Before the refusal|false", "Try the demo|false"]);
  },
};

const run = scenarios[scenario];
assert.ok(run, `no scenario ${scenario}; there are ${Object.keys(scenarios).join(", ")}`);
const db = new pg.Client({ connectionString: postgresUrl });
await db.connect();
const browser = await launch();
try {
  await run(browser, db);
  console.log(`${scenario}: passed in Chromium ${browser.version()}`);
} finally {
  stdin.close();
  await browser.close();
  await db.end();
}
