import { asc } from "drizzle-orm";
import { SyncHttpError, type RejectedWrite } from "drizzlesync/client";
import { useLiveQuery, useSyncStatus } from "drizzlesync/react";
import { useCallback, useEffect, useRef, useState } from "react";
import { openClient, type TodoClient } from "./db/open";
import { teams } from "./db/generated/schema.sqlite";
import { forgetUser, watchStoredUser, type DemoUser } from "./session";
import { StatusBar } from "./StatusBar";
import { TodoList } from "./TodoList";

/** How long leaving waits for the client to close before showing the next screen anyway. */
const CLOSE_WAIT_MS = 5_000;

/**
 * Opens the user's database, then shows their teams' todos, until the user leaves: "Sign out" here,
 * a sign-out or another user's sign-in in another tab of the origin, or the database removed by
 * any tab. Leaving closes the client (a leader stops syncing and closes the database, a follower
 * leaves the tabs), so nothing syncs as this user any more, then calls `onLeft` to show whoever is
 * signed in now.
 */
export function Workspace({ user, onLeft }: { user: DemoUser; onLeft: () => void }) {
  const [client, setClient] = useState<TodoClient | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [leaving, setLeaving] = useState(false);
  // Closes whatever the open yields, once, even an open still under way: set by the effect below.
  const closeClient = useRef<() => Promise<void>>(() => Promise.resolve());
  useEffect(() => {
    let closing: Promise<void> | undefined;
    const opening = openClient(user.id);
    opening.then(
      (value) => {
        if (closing === undefined) setClient(value);
      },
      (reason: unknown) => setError(String(reason)),
    );
    const close = () =>
      (closing ??= opening.then(
        (value) => value.close(),
        () => undefined,
      ));
    closeClient.current = close;
    return () => {
      void close();
    };
  }, [user.id]);

  const leave = useCallback(
    (signOut: boolean) => {
      // Only while this user is still the one stored: see forgetUser.
      if (signOut) forgetUser(user.id);
      setLeaving(true);
    },
    [user.id],
  );
  // After the render without the todos (their live queries are gone), close, then show who is next.
  useEffect(() => {
    if (!leaving) return;
    const stale = new AbortController();
    void (async () => {
      // An open that hangs (a takeover waiting for the pool) must not keep the user here: the close
      // goes on in the background, and this tab shows none of the user's rows meanwhile.
      await Promise.race([closeClient.current(), new Promise((resolve) => setTimeout(resolve, CLOSE_WAIT_MS))]);
      if (stale.signal.aborted) return;
      delete document.documentElement.dataset.syncRole;
      onLeft();
    })();
    return () => {
      stale.abort();
    };
  }, [leaving, onLeft]);
  // The session is the origin's (localStorage): when another tab signs out, or signs in someone
  // else, this tab leaves too, so no tab goes on showing, syncing or writing as the previous user.
  useEffect(
    () =>
      watchStoredUser((stored) => {
        if (stored?.id !== user.id) leave(false);
      }),
    [user.id, leave],
  );
  // Whichever tab removed the data, every tab of the user signs out: their database is gone.
  useEffect(() => client?.registerListener({ deleted: () => leave(true) }), [client, leave]);

  if (leaving) {
    return (
      <main>
        <p>Signing out…</p>
      </main>
    );
  }
  return (
    <main>
      <header>
        <h1>DrizzleSync todos</h1>
        <span data-testid="user">{user.name}</span>
        <button onClick={() => leave(true)}>Sign out</button>
        {client !== null && (
          <button data-testid="remove-data" onClick={() => void removeData(client).catch((reason: unknown) => setError(String(reason)))}>
            Sign out and remove data
          </button>
        )}
      </header>
      {error !== null && <p className="notice">Could not open the local database: {error}</p>}
      {client === null && error === null && <p>Opening the local database…</p>}
      {client !== null && <Teams client={client} />}
    </main>
  );
}

/**
 * Deletes the user's database from this device (for a shared computer), after asking when changes
 * would be lost; the `deleted` listener above then signs out, in this tab as in the others.
 */
async function removeData(client: TodoClient): Promise<void> {
  const { pending } = client.status;
  if (pending > 0 && !confirm(`${pending} change(s) have not reached the server yet and will be lost. Remove them?`)) return;
  await client.deleteDatabase();
}

function describe(writes: readonly RejectedWrite[]): string {
  return writes.map((write) => `${write.op} on ${write.table}: ${write.code} (${write.message})`).join("; ");
}

/**
 * The host's refusal of a change it will never take as it is (too large even alone, or holding a
 * value it cannot store, such as a title with a NUL character), which holds back every later change
 * of this device until the user gives it up; null for any other state. The check docs/client.md
 * gives: the engine ends a sync with such an error only once it is that change's own.
 */
function refusal(error: Error | null): SyncHttpError | null {
  if (!(error instanceof SyncHttpError)) return null;
  return error.status === 413 || error.body?.error.path?.startsWith("mutations[") === true ? error : null;
}

function Teams({ client }: { client: TodoClient }) {
  const status = useSyncStatus(client);
  const { data: rows } = useLiveQuery(client, [teams], () => client.db.select().from(teams).orderBy(asc(teams.name)), []);
  const [chosen, setChosen] = useState<string | null>(null);
  const [rejected, setRejected] = useState<string | null>(null);
  useEffect(() => client.registerListener({ rejected: (writes) => setRejected(describe(writes)) }), [client]);
  const refused = refusal(status.error);
  const [discarding, setDiscarding] = useState(false);
  // The writes given up reach the `rejected` listener above, which says which they were.
  const discard = () => {
    setDiscarding(true);
    client
      .discardRefusedTransaction()
      .catch((reason: unknown) => setRejected(`could not give the change up: ${String(reason)}`))
      .finally(() => setDiscarding(false));
  };

  // A team the user has left (its rows went with the last pull) is no longer a choice.
  const teamId = rows?.find((team) => team.id === chosen)?.id ?? rows?.[0]?.id ?? null;
  return (
    <>
      <StatusBar status={status} />
      {status.state === "update-required" && (
        <p className="notice" data-testid="update-required">
          This version of the app is out of date: the server has moved to a newer schema. Your changes
          are kept on this device and sync after the update. <button onClick={() => location.reload()}>Update now</button>
        </p>
      )}
      {refused !== null && (
        <p className="notice" data-testid="refused">
          The server cannot take one of your changes ({refused.body?.error.message ?? refused.message}), and the
          changes made after it wait behind it.{" "}
          <button data-testid="discard-refused" disabled={discarding} onClick={discard}>
            Give that change up
          </button>
        </p>
      )}
      {rejected !== null && (
        <p className="notice" data-testid="rejected">
          The server refused a change, so it was undone here: {rejected}{" "}
          <button onClick={() => setRejected(null)}>Dismiss</button>
        </p>
      )}
      {rows !== undefined && rows.length > 0 && (
        <nav className="teams">
          {rows.map((team) => (
            <button key={team.id} data-testid="team" data-name={team.name} aria-pressed={team.id === teamId} onClick={() => setChosen(team.id)}>
              {team.name}
            </button>
          ))}
        </nav>
      )}
      {teamId === null ? (
        <p>{status.lastSyncedAt === null ? "Syncing your teams…" : "You are in no team yet."}</p>
      ) : (
        <TodoList key={teamId} client={client} teamId={teamId} />
      )}
    </>
  );
}
