/**
 * Who is signed in on this device, kept in localStorage so an offline reload stays signed in. It is
 * the origin's session, not one tab's: every tab of the origin shows the user stored here (see
 * `watchStoredUser`), so a sign-out or a sign-in as someone else in one tab applies to all of them.
 */
export interface DemoUser {
  readonly id: string;
  readonly name: string;
  readonly email: string;
  readonly teams: readonly string[];
}

const KEY = "drizzlesync-demo-user";
const USERS_KEY = "drizzlesync-demo-users";

export function storedUser(): DemoUser | null {
  return readStored<DemoUser>(KEY);
}

/** A stored JSON value; null when absent or unreadable (read while rendering: it must not throw). */
function readStored<T>(key: string): T | null {
  const saved = localStorage.getItem(key);
  if (saved === null) return null;
  try {
    return JSON.parse(saved) as T;
  } catch {
    return null;
  }
}

export function storeUser(user: DemoUser): void {
  localStorage.setItem(KEY, JSON.stringify(user));
}

/**
 * Signs `userId` out of the device, unless someone else is signed in by now: a tab that hears of a
 * deleted database late must not sign out the user another tab has since signed in.
 */
export function forgetUser(userId: string): void {
  if (storedUser()?.id === userId) localStorage.removeItem(KEY);
}

/**
 * Calls `listener` with the stored user whenever another tab of the origin signs in or out (the
 * `storage` event fires in every other tab, never in the one that wrote). Returns the unsubscribe.
 */
export function watchStoredUser(listener: (user: DemoUser | null) => void): () => void {
  const onStorage = (event: StorageEvent) => {
    // key null: the whole localStorage was cleared (devtools, "clear site data").
    if (event.storageArea === localStorage && (event.key === KEY || event.key === null)) listener(storedUser());
  };
  window.addEventListener("storage", onStorage);
  return () => {
    window.removeEventListener("storage", onStorage);
  };
}

/** The seeded users the demo host lists at /demo/users (a development convenience, not an auth API). */
export async function fetchDemoUsers(): Promise<DemoUser[]> {
  const response = await fetch("/demo/users");
  if (!response.ok) throw new Error(`GET /demo/users: ${response.status}`);
  const users = (await response.json()) as DemoUser[];
  localStorage.setItem(USERS_KEY, JSON.stringify(users));
  return users;
}

/**
 * The users /demo/users listed when this device last reached it: the picker shows them at once and
 * offline, since "Sign out" keeps each user's database here and signing in again needs no server.
 */
export function rememberedDemoUsers(): DemoUser[] | null {
  return readStored<DemoUser[]>(USERS_KEY);
}
