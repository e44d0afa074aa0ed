// The Worker the conformance tests and bench/worker serve: drizzlesync/worker configured from
// the CONFIG binding, so that the Python side states once the settings both hosts run with.
import {
  bearerUserForDevelopment,
  createSyncHandler,
  type ExecutionContext,
  type SyncHandler,
  type SyncHandlerOptions,
} from "drizzlesync/worker";

interface Env {
  /** createSyncHandler's options, but `jwt` or, for the protocol tests, `"dev"`. */
  readonly CONFIG: Omit<SyncHandlerOptions<Env>, "authenticate" | "jwt"> & {
    readonly auth: SyncHandlerOptions<Env>["jwt"] | "dev";
  };
}

let handler: SyncHandler<Env> | undefined;

/** Asked by tests/conformance/hosts.py once per configuration: options refused are its error. */
const CONFIGURED = "/__drizzlesync_configured";

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    try {
      handler ??= create(env.CONFIG);
    } catch (error) {
      return new Response(String(error), { status: 500 });
    }
    if (new URL(request.url).pathname === CONFIGURED) {
      return new Response(null, { status: 204 });
    }
    return handler.fetch(request, env, ctx);
  },
};

function create({ auth, ...options }: Env["CONFIG"]): SyncHandler<Env> {
  if (auth !== "dev" && auth !== undefined) {
    return createSyncHandler<Env>({ ...options, jwt: auth });
  }
  // What `drizzlesync serve --dev` trusts, through the custom `authenticate` hook: the
  // protocol tests name their users by id, as they do against the Python host.
  return createSyncHandler<Env>({ ...options, authenticate: bearerUserForDevelopment });
}
