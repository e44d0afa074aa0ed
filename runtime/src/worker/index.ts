/** `drizzlesync/worker`: the sync endpoints as a Cloudflare Worker, Postgres through Hyperdrive. */
export {
  createSyncHandler,
  type Authenticate,
  type ExecutionContext,
  type FromEnv,
  type SyncHandler,
  type SyncHandlerOptions,
} from "./handler.ts";
export { SyncError, syncError, type ErrorBody } from "./contract.ts";
export type { CorsOptions } from "./cors.ts";
export type { DatabaseOptions, HyperdriveBinding } from "./database.ts";
export { bearerUserForDevelopment, type Identity } from "./identity.ts";
export type { JwtOptions } from "./jwt.ts";
export { DEFAULT_LIMITS, type Limits } from "./limits.ts";
