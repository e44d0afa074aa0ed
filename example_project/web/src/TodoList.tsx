import { and, asc, eq, isNull, type SQL } from "drizzle-orm";
import { useLiveQuery } from "drizzlesync/react";
import { useState, type FormEvent } from "react";
import type { TodoClient } from "./db/open";
import { projects, todos } from "./db/generated/schema.sqlite";
import { ALL, Projects, type ProjectFilter } from "./Projects";
import { TodoItem } from "./TodoItem";

function where(teamId: string, filter: ProjectFilter): SQL | undefined {
  const team = eq(todos.teamId, teamId);
  if (filter.kind === "none") return and(team, isNull(todos.projectId));
  if (filter.kind === "project") return and(team, eq(todos.projectId, filter.id));
  return team;
}

/** One team's projects and todos, read live from the local database; every edit is a local write. */
export function TodoList({ client, teamId }: { client: TodoClient; teamId: string }) {
  const [title, setTitle] = useState("");
  const [filter, setFilter] = useState<ProjectFilter>(ALL);
  const { data: projectRows } = useLiveQuery(
    client,
    [projects],
    () => client.db.select().from(projects).where(eq(projects.teamId, teamId)).orderBy(asc(projects.name), asc(projects.id)),
    [teamId],
  );
  const known = projectRows ?? [];
  // A project deleted elsewhere shows as "All todos" rather than an empty list (as does a project
  // just added, for the moment until the live query has it).
  const shown = filter.kind === "project" && !known.some((project) => project.id === filter.id) ? ALL : filter;
  const { data: rows, error } = useLiveQuery(
    client,
    [todos],
    () => client.db.select().from(todos).where(where(teamId, shown)).orderBy(asc(todos.title), asc(todos.id)),
    [teamId, shown],
  );

  async function add(event: FormEvent) {
    event.preventDefault();
    const typed = title.trim();
    if (typed === "") return;
    const projectId = shown.kind === "project" ? shown.id : null;
    // Emptied now, not when the write ends: a write can wait (for a bootstrap's page, or for a new
    // leader tab), and the next todo typed meanwhile must not be wiped. A failed one comes back.
    setTitle("");
    try {
      await client.db.insert(todos).values({ teamId, projectId, title: typed });
    } catch (error) {
      setTitle((current) => (current === "" ? typed : current));
      throw error;
    }
  }

  return (
    <section>
      <Projects client={client} teamId={teamId} rows={known} filter={shown} onFilter={setFilter} />
      <form onSubmit={(event) => void add(event)} className="add">
        <input
          data-testid="new-todo"
          placeholder="What needs doing?"
          value={title}
          onChange={(event) => setTitle(event.target.value)}
        />
        <button type="submit">Add</button>
      </form>
      {error !== null && <p className="notice">{error.message}</p>}
      <ul className="todos" data-testid="todos">
        {rows?.map((todo) => <TodoItem key={todo.id} client={client} todo={todo} projects={known} />)}
      </ul>
      {rows?.length === 0 && <p className="empty">Nothing to do.</p>}
    </section>
  );
}
