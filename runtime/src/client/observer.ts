/**
 * Listeners through one small base: a listener is an object of optional callbacks, so one
 * registration can follow several kinds of event and new kinds never break old listeners.
 */
export class BaseObserver<Listener extends object> {
  readonly #listeners = new Set<Partial<Listener>>();

  /** Returns the function that unregisters it. */
  registerListener(listener: Partial<Listener>): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Calls `notify` for every listener; one listener throwing does not keep the others from hearing. */
  protected iterateListeners(notify: (listener: Partial<Listener>) => void): void {
    for (const listener of [...this.#listeners]) {
      try {
        notify(listener);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
