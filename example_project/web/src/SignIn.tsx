import { useEffect, useState } from "react";
import { fetchDemoUsers, rememberedDemoUsers, type DemoUser } from "./session";

/** The dev host trusts `Bearer <user id>`, so signing in is picking one of the seeded users. */
export function SignIn({ onSignIn }: { onSignIn: (user: DemoUser) => void }) {
  // The list this device last fetched shows at once; the fetch refreshes it. Offline it is all
  // there is, and enough: each user's database is on the device, so signing in needs no server.
  const [users, setUsers] = useState<DemoUser[] | null>(rememberedDemoUsers);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    fetchDemoUsers().then(setUsers, (reason: unknown) => {
      setError(String(reason));
    });
  }, []);
  return (
    <main className="sign-in">
      <h1>DrizzleSync todos</h1>
      <p>Sign in as one of the demo's seeded users:</p>
      {error !== null && users === null && <p className="notice">Could not load the users ({error}). Are you online?</p>}
      {error !== null && users !== null && (
        <p className="notice" data-testid="users-offline">
          Could not refresh the users ({error}): these are the ones this device last saw.
        </p>
      )}
      {users === null && error === null && <p>Loading…</p>}
      <ul>
        {users?.map((user) => (
          <li key={user.id}>
            <button data-testid={`sign-in-${user.email}`} onClick={() => onSignIn(user)}>
              {user.name} <small>{user.email} · {user.teams.join(", ")}</small>
            </button>
          </li>
        ))}
      </ul>
    </main>
  );
}
