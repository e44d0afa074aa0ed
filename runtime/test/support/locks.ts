// Web Locks in one process, for Node (22 has BroadcastChannel but no navigator.locks): exclusive
// locks granted in request order, a waiting request withdrawn by its signal. Chromium runs the real
// API in tests/e2e/test_tabs.py.
import type { LockManagerLike } from "../../src/client/tab-host.ts";

interface Waiter {
  readonly grant: () => void;
}

export class LocalLocks implements LockManagerLike {
  readonly #held = new Map<string, number>();
  readonly #queues = new Map<string, Waiter[]>();
  #next = 0;

  async request(name: string, options: { readonly signal?: AbortSignal }, callback: () => Promise<unknown>): Promise<unknown> {
    const holder = await this.#acquire(name, options.signal);
    try {
      return await callback();
    } finally {
      if (this.#held.get(name) === holder) this.#release(name);
    }
  }

  /** Whether someone holds `name`. */
  held(name: string): boolean {
    return this.#held.has(name);
  }

  /** As when the holder's tab is gone: the lock passes on though its callback never returned. */
  crash(name: string): void {
    this.#release(name);
  }

  #acquire(name: string, signal: AbortSignal | undefined): Promise<number> {
    const holder = ++this.#next;
    if (!this.#held.has(name)) {
      this.#held.set(name, holder);
      return Promise.resolve(holder);
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          this.#held.set(name, holder);
          resolve(holder);
        },
      };
      const queue = this.#queues.get(name) ?? [];
      queue.push(waiter);
      this.#queues.set(name, queue);
      signal?.addEventListener("abort", () => {
        const index = queue.indexOf(waiter);
        if (index >= 0) queue.splice(index, 1);
        reject(new DOMException("the lock request was aborted", "AbortError"));
      });
    });
  }

  #release(name: string): void {
    this.#held.delete(name);
    const next = this.#queues.get(name)?.shift();
    next?.grant();
  }
}
