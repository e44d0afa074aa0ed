/**
 * The page's events that make the engine sync: the connection coming back, and the page being
 * shown again. Where there is no such event (Node, a Worker) each helper listens to nothing.
 */

type Listening = Partial<Pick<EventTarget, "addEventListener" | "removeEventListener">>;

/** Calls `callback` on `type` events of `target`; returns what stops it. */
function listen(target: Listening | undefined, type: string, callback: () => void): () => void {
  if (target?.addEventListener === undefined || target.removeEventListener === undefined) return () => undefined;
  const { addEventListener, removeEventListener } = target;
  addEventListener.call(target, type, callback);
  return () => {
    removeEventListener.call(target, type, callback);
  };
}

/** Calls `callback` when the browser regains its connection. */
export function onOnline(callback: () => void): () => void {
  return listen(globalThis, "online", callback);
}

/**
 * Calls `callback` when the page becomes visible again: the user switched back to its tab, or
 * reopened the app on a phone, where a hidden page's timers are slowed or frozen, so the data on
 * screen can be as old as the time it was away.
 */
export function onVisible(callback: () => void): () => void {
  const page = (globalThis as { document?: Listening & { readonly visibilityState?: string } }).document;
  return listen(page, "visibilitychange", () => {
    if (page?.visibilityState === "visible") callback();
  });
}
