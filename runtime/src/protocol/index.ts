export { fromWire, toWire, wireCodecs, type Codec, type WireCodec } from "./codecs.ts";
export { jsonText, parseJson } from "./json.ts";
export type { ColumnMeta, TableMeta } from "./tables.ts";
export { errorAction, type ErrorAction } from "./errors.ts";
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
