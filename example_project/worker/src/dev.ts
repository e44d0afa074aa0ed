// The Worker `./scripts/demo --worker` serves: the example's sync endpoint, trusting
// `Authorization: Bearer <user id>` as the demo's Python host does, since the demo's sign-in
// picks a seeded user rather than issuing a token. src/index.ts is the one to deploy.
import { bearerUserForDevelopment, createSyncHandler, type HyperdriveBinding } from "drizzlesync/worker";

interface Env {
  readonly HYPERDRIVE: HyperdriveBinding;
}

export default createSyncHandler<Env>({ authenticate: bearerUserForDevelopment });
