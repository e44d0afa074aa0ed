// The demo's --check: sign in, add a todo, wait until the engine has pushed it.
// Usage: node check.mjs <origin> <user email> <todo title>; Postgres is checked by the caller.
import { addTodo, launch, openDevice, signIn, waitSynced } from "./app.mjs";

const [origin, email, title] = process.argv.slice(2);
const browser = await launch();
try {
  const { page } = await openDevice(browser, origin, "check");
  await signIn(page, email);
  await addTodo(page, title);
  await waitSynced(page);
  console.log(`Chromium ${browser.version()}: signed in as ${email}, added "${title}", pushed`);
} finally {
  await browser.close();
}
