import { useEffect, useState } from "react";
import { fetchDemoUsers, type DemoUser } from "./session";

/** The dev host trusts `Bearer <user id>`, so signing in is picking one of the seeded users. */
export function SignIn({ onSignIn }: { onSignIn: (user: DemoUser) => void }) {
  const [users, setUsers] = useState<DemoUser[] | null>(null);
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
      {error !== null && <p className="notice">Could not load the users ({error}). Are you online?</p>}
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
