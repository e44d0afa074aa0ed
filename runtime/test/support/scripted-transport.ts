import type { PullRequest, PullResponse, PushRequest, PushResponse } from "../../src/protocol/messages.ts";
import type { Transport } from "../../src/client/transport.ts";

/** A response, or a function of the request giving one (or failing, like a network error). */
type Answer<Req, Res> = Res | ((request: Req) => Res | Promise<Res>);

/**
 * A transport whose answers the test queues; each request is recorded. Unqueued pushes are
 * acknowledged whole, unqueued pulls are an empty last page.
 */
export class ScriptedTransport implements Transport {
  readonly pushes: PushRequest[] = [];
  readonly pulls: PullRequest[] = [];
  readonly #pushAnswers: Answer<PushRequest, PushResponse>[] = [];
  readonly #pullAnswers: Answer<PullRequest, PullResponse>[] = [];

  onPush(...answers: Answer<PushRequest, PushResponse>[]): this {
    this.#pushAnswers.push(...answers);
    return this;
  }

  onPull(...answers: Answer<PullRequest, PullResponse>[]): this {
    this.#pullAnswers.push(...answers);
    return this;
  }

  async push(request: PushRequest): Promise<PushResponse> {
    this.pushes.push(request);
    const answer = this.#pushAnswers.shift();
    if (answer !== undefined) return typeof answer === "function" ? answer(request) : answer;
    return { lastMutationId: request.mutations.at(-1)?.id ?? 0, rejected: [] };
  }

  async pull(request: PullRequest): Promise<PullResponse> {
    this.pulls.push(request);
    const answer = this.#pullAnswers.shift();
    if (answer !== undefined) return typeof answer === "function" ? answer(request) : answer;
    return { cursor: "c", hasMore: false, reset: false, lastMutationId: 0, changes: [] };
  }
}

/** A pull page, with defaults for what a test does not care about. */
export function page(fields: Partial<PullResponse>): PullResponse {
  return { cursor: "c", hasMore: false, reset: false, lastMutationId: 0, changes: [], ...fields };
}
