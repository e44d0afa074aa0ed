import { useState, type FormEvent } from "react";
import type { TodoClient } from "./db/open";
import { projects } from "./db/generated/schema.sqlite";

export type ProjectRow = typeof projects.$inferSelect;

/** Which todos the list shows: every one of the team's, those in no project, or one project's. */
export type ProjectFilter = { readonly kind: "all" } | { readonly kind: "none" } | { readonly kind: "project"; readonly id: string };

export const ALL: ProjectFilter = { kind: "all" };

function same(a: ProjectFilter, b: ProjectFilter): boolean {
  return a.kind === b.kind && (a.kind !== "project" || (b.kind === "project" && a.id === b.id));
}

/** The team's projects as filters of the todo list, and a form that adds a project (a local write). */
export function Projects({
  client,
  teamId,
  rows,
  filter,
  onFilter,
}: {
  client: TodoClient;
  teamId: string;
  rows: readonly ProjectRow[];
  filter: ProjectFilter;
  onFilter: (filter: ProjectFilter) => void;
}) {
  const [name, setName] = useState("");

  async function add(event: FormEvent) {
    event.preventDefault();
    const typed = name.trim();
    if (typed === "") return;
    const id = crypto.randomUUID();
    // Emptied now, not when the write ends, so a name typed while it waits is kept (as in TodoList).
    setName("");
    try {
      await client.db.insert(projects).values({ id, teamId, name: typed });
    } catch (error) {
      setName((current) => (current === "" ? typed : current));
      throw error;
    }
    onFilter({ kind: "project", id });
  }

  const choices: [ProjectFilter, string][] = [
    [ALL, "All todos"],
    [{ kind: "none" }, "No project"],
    ...rows.map((project): [ProjectFilter, string] => [{ kind: "project", id: project.id }, project.name]),
  ];
  return (
    <nav className="projects" aria-label="projects">
      {choices.map(([choice, label]) => (
        <button
          key={choice.kind === "project" ? choice.id : choice.kind}
          data-testid="project"
          data-name={label}
          aria-pressed={same(choice, filter)}
          onClick={() => onFilter(choice)}
        >
          {label}
        </button>
      ))}
      <form onSubmit={(event) => void add(event)} className="add-project">
        <input
          data-testid="new-project"
          placeholder="New project"
          value={name}
          onChange={(event) => setName(event.target.value)}
        />
      </form>
    </nav>
  );
}
