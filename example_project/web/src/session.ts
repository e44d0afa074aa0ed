/** Who is signed in on this device, kept in localStorage so an offline reload stays signed in. */
export interface DemoUser {
  readonly id: string;
  readonly name: string;
  readonly email: string;
  readonly teams: readonly string[];
}

const KEY = "drizzlesync-demo-user";

export function storedUser(): DemoUser | null {
  const saved = localStorage.getItem(KEY);
  return saved === null ? null : (JSON.parse(saved) as DemoUser);
}

export function storeUser(user: DemoUser): void {
  localStorage.setItem(KEY, JSON.stringify(user));
}

export function forgetUser(): void {
  localStorage.removeItem(KEY);
}

/** The seeded users the demo host lists at /demo/users (a development convenience, not an auth API). */
export async function fetchDemoUsers(): Promise<DemoUser[]> {
  const response = await fetch("/demo/users");
  if (!response.ok) throw new Error(`GET /demo/users: ${response.status}`);
  return (await response.json()) as DemoUser[];
}
