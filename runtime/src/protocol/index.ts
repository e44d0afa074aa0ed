export { fromWire, toWire, wireCodecs, type Codec, type WireCodec } from "./codecs.ts";
export type { ColumnMeta, TableMeta } from "./tables.ts";
export {
  PROTOCOL_VERSION,
  type Change,
  type ErrorBody,
  type Mutation,
  type MutationOp,
  type PullRequest,
  type PullResponse,
  type PushRequest,
  type PushResponse,
  type Rejection,
  type WireRow,
} from "./messages.ts";
