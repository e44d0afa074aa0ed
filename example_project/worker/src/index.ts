import { createSyncHandler, type HyperdriveBinding } from "drizzlesync/worker";

interface Env {
  readonly HYPERDRIVE: HyperdriveBinding;
  readonly JWT_SECRET: string;
  readonly JWT_ISSUER: string;
  readonly JWT_AUDIENCE: string;
}

export default createSyncHandler<Env>({
  jwt: (env) => ({ secret: env.JWT_SECRET, issuer: env.JWT_ISSUER, audience: env.JWT_AUDIENCE }),
  cors: { origins: ["http://localhost:5173"] },
});
