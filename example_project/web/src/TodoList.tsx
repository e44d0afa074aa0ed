import { asc, eq } from "drizzle-orm";
import { useLiveQuery } from "drizzlesync/react";
import { useState, type FormEvent } from "react";
import type { TodoClient } from "./db/open";
import { todos } from "./db/generated/schema.sqlite";

/** One team's todos, read live from the local database; every edit is an optimistic local write. */
export function TodoList({ client, teamId }: { client: TodoClient; teamId: string }) {
  const [title, setTitle] = useState("");
  const { data: rows, error } = useLiveQuery(
    client,
    [todos],
    () => client.db.select().from(todos).where(eq(todos.teamId, teamId)).orderBy(asc(todos.title), asc(todos.id)),
    [teamId],
  );

  // Drizzle's query builders run only when awaited, hence these async handlers.
  async function toggle(id: string, done: boolean) {
    await client.db.update(todos).set({ done: !done, updatedAt: new Date() }).where(eq(todos.id, id));
  }

  async function remove(id: string) {
    await client.db.delete(todos).where(eq(todos.id, id));
  }

  async function add(event: FormEvent) {
    event.preventDefault();
    if (title.trim() === "") return;
    await client.db.insert(todos).values({ teamId, title: title.trim() });
    setTitle("");
  }

  return (
    <section>
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
        {rows?.map((todo) => (
          <li key={todo.id} data-testid="todo" data-title={todo.title} data-done={todo.done}>
            <label>
              <input
                type="checkbox"
                checked={todo.done}
                onChange={() => void toggle(todo.id, todo.done)}
              />
              <span className={todo.done ? "done" : ""}>{todo.title}</span>
            </label>
            <button
              aria-label={`delete ${todo.title}`}
              onClick={() => void remove(todo.id)}
            >
              ×
            </button>
          </li>
        ))}
      </ul>
      {rows?.length === 0 && <p className="empty">Nothing to do.</p>}
    </section>
  );
}
