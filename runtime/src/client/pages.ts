/** The pages of one pull, asked for ahead of their apply. */
import type { PullResponse } from "../protocol/messages.ts";

interface Slot {
  readonly response: Promise<PullResponse>;
  /** Set when the page has arrived. */
  page: PullResponse | null;
}

/**
 * Asks for each page as soon as the one before it has arrived (its cursor is in it), whatever the
 * apply is doing, until `ahead` pages are waiting to be taken; taking one asks for the next again.
 * So while a page is applied the following ones arrive, and the engine can apply those already
 * there together. A reset or the last page ends the chain; `stop` ends it early (a failed apply:
 * a page asked for then is dropped unread).
 */
export class PageQueue {
  readonly #request: (cursor: string | null) => Promise<PullResponse>;
  readonly #ahead: number;
  readonly #slots: Slot[] = [];
  /** The cursor of the next page, held back while `ahead` pages wait. */
  #held: { cursor: string } | null = null;
  #stopped = false;

  constructor(request: (cursor: string | null) => Promise<PullResponse>, cursor: string | null, ahead: number) {
    this.#request = request;
    this.#ahead = Math.max(1, ahead);
    this.#ask(cursor);
  }

  /** The next page, when it arrives; rejects with its request's failure. */
  next(): Promise<PullResponse> {
    const slot = this.#slots.shift();
    if (slot === undefined) return Promise.reject(new Error("sync: no page was asked for after the last one"));
    this.#resume();
    return slot.response;
  }

  /** The next page if it has already arrived and is not a reset (which `next` returns); null otherwise. */
  ready(): PullResponse | null {
    const page = this.#slots[0]?.page ?? null;
    if (page === null || page.reset) return null;
    this.#slots.shift();
    this.#resume();
    return page;
  }

  stop(): void {
    this.#stopped = true;
    this.#held = null;
  }

  #ask(cursor: string | null): void {
    const slot: Slot = {
      page: null,
      response: this.#request(cursor).then((page) => {
        slot.page = page;
        this.#arrived(page);
        return page;
      }),
    };
    // A page asked for ahead may go unused (the apply before it failed): its failure is nobody's.
    slot.response.catch(() => undefined);
    this.#slots.push(slot);
  }

  #arrived(page: PullResponse): void {
    if (this.#stopped || page.reset || !page.hasMore) return;
    this.#held = { cursor: page.cursor };
    this.#resume();
  }

  #resume(): void {
    if (this.#held === null || this.#stopped || this.#slots.length >= this.#ahead) return;
    const { cursor } = this.#held;
    this.#held = null;
    this.#ask(cursor);
  }
}
