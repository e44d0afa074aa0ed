import { asc } from "drizzle-orm";
import type { RejectedWrite } from "drizzlesync/client";
import { useLiveQuery, useSyncStatus } from "drizzlesync/react";
import { useEffect, useState } from "react";
import { openClient, type TodoClient } from "./db/open";
import { teams } from "./db/generated/schema.sqlite";
import type { DemoUser } from "./session";
import { StatusBar } from "./StatusBar";
import { TodoList } from "./TodoList";

/** Opens the user's database, then shows their teams' todos. */
export function Workspace({ user, onSignOut }: { user: DemoUser; onSignOut: () => void }) {
  const [client, setClient] = useState<TodoClient | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let opened: TodoClient | undefined;
    let cancelled = false;
    openClient(user.id).then(
      (value) => {
        if (cancelled) void value.close();
        else {
          opened = value;
          setClient(value);
        }
      },
      (reason: unknown) => setError(String(reason)),
    );
    return () => {
      cancelled = true;
      void opened?.close();
    };
  }, [user.id]);
  // Whichever tab removed the data, every tab of the user signs out: their database is gone.
  useEffect(() => client?.registerListener({ deleted: onSignOut }), [client, onSignOut]);

  return (
    <main>
      <header>
        <h1>DrizzleSync todos</h1>
        <span data-testid="user">{user.name}</span>
        <button onClick={onSignOut}>Sign out</button>
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

function Teams({ client }: { client: TodoClient }) {
  const status = useSyncStatus(client);
  const { data: rows } = useLiveQuery(client, [teams], () => client.db.select().from(teams).orderBy(asc(teams.name)), []);
  const [chosen, setChosen] = useState<string | null>(null);
  const [rejected, setRejected] = useState<string | null>(null);
  useEffect(() => client.registerListener({ rejected: (writes) => setRejected(describe(writes)) }), [client]);

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
