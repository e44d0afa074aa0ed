import { eq } from "drizzle-orm";
import { useState, type FormEvent } from "react";
import type { TodoClient } from "./db/open";
import { todos } from "./db/generated/schema.sqlite";
import type { ProjectRow } from "./Projects";

type TodoRow = typeof todos.$inferSelect;

/**
 * One todo: toggle it, rename it (click its title; Enter saves, Escape cancels), move it to another
 * project of its team, or delete it. Each is one local write that the engine pushes; only the
 * columns an edit names are sent, so two devices editing different columns of a todo both win.
 */
export function TodoItem({ client, todo, projects }: { client: TodoClient; todo: TodoRow; projects: readonly ProjectRow[] }) {
  const [editing, setEditing] = useState<string | null>(null);
  const project = projects.find((each) => each.id === todo.projectId);

  // Drizzle's query builders run only when awaited, hence these async handlers.
  async function change(values: Partial<Pick<TodoRow, "title" | "done" | "projectId">>) {
    await client.db.update(todos).set({ ...values, updatedAt: new Date() }).where(eq(todos.id, todo.id));
  }

  async function remove() {
    await client.db.delete(todos).where(eq(todos.id, todo.id));
  }

  async function rename(event: FormEvent) {
    event.preventDefault();
    const title = editing?.trim() ?? "";
    setEditing(null);
    if (title !== "" && title !== todo.title) await change({ title });
  }

  return (
    <li data-testid="todo" data-title={todo.title} data-done={todo.done} data-project={project?.name ?? ""}>
      <input
        type="checkbox"
        aria-label={`done: ${todo.title}`}
        checked={todo.done}
        onChange={() => void change({ done: !todo.done })}
      />
      {editing === null ? (
        <button className={todo.done ? "title done" : "title"} aria-label={`edit ${todo.title}`} onClick={() => setEditing(todo.title)}>
          {todo.title}
        </button>
      ) : (
        <form className="title" onSubmit={(event) => void rename(event)}>
          <input
            data-testid="edit-title"
            autoFocus
            value={editing}
            onChange={(event) => setEditing(event.target.value)}
            onBlur={(event) => void rename(event)}
            onKeyDown={(event) => {
              if (event.key === "Escape") setEditing(null);
            }}
          />
        </form>
      )}
      <select
        aria-label={`project of ${todo.title}`}
        value={todo.projectId ?? ""}
        onChange={(event) => void change({ projectId: event.target.value === "" ? null : event.target.value })}
      >
        <option value="">No project</option>
        {projects.map((each) => (
          <option key={each.id} value={each.id}>
            {each.name}
          </option>
        ))}
      </select>
      <button className="delete" aria-label={`delete ${todo.title}`} onClick={() => void remove()}>
        ×
      </button>
    </li>
  );
}
