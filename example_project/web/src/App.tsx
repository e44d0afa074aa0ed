import { useState } from "react";
import { forgetUser, storedUser, storeUser, type DemoUser } from "./session";
import { SignIn } from "./SignIn";
import { Workspace } from "./Workspace";

export function App() {
  const [user, setUser] = useState<DemoUser | null>(storedUser);
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
  // Signing out reloads, so the previous user's Worker and its hold on the OPFS pool go with the page.
  return (
    <Workspace
      user={user}
      onSignOut={() => {
        forgetUser();
        location.reload();
      }}
    />
  );
}
