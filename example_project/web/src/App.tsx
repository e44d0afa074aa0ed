import { useEffect, useState } from "react";
import { storedUser, storeUser, watchStoredUser, type DemoUser } from "./session";
import { SignIn } from "./SignIn";
import { Workspace } from "./Workspace";

export function App() {
  const [user, setUser] = useState<DemoUser | null>(storedUser);
  // Each Workspace lives for one signed-in session: after it left, even the same user gets a new one.
  const [session, setSession] = useState(0);
  // The picker follows a sign-in in another tab of the origin, as the Workspace follows a sign-out
  // (it watches for itself, since it has a client to close first).
  useEffect(() => (user === null ? watchStoredUser(setUser) : undefined), [user]);
  if (user === null) {
    return (
      <SignIn
        onSignIn={(chosen) => {
          storeUser(chosen);
          setUser(chosen);
        }}
      />
    );
  }
  return (
    <Workspace
      key={session}
      user={user}
      onLeft={() => {
        // Whoever is signed in now: no one after a sign-out, or the user another tab signed in.
        setSession((count) => count + 1);
        setUser(storedUser());
      }}
    />
  );
}
