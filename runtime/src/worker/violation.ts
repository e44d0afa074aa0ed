/**
 * A request schema compiled once (@cfworker/json-schema: pure JS, no `eval`, so it runs in
 * Workers), and its first violation named the way the Python host names it: the failing
 * keyword becomes a code through the contract's `keywordCodes`, refined by the failing
 * subschema's `errorCodes`; the path reads `mutations[3].values.title`.
 *
 * "First" follows the same rule as the Python host: a protocol mismatch before anything
 * else, then by the location of the failing value in document order, a missing or unknown
 * field before its siblings' contents, a missing field before an unknown one, a field the
 * mutation always needs before one its `op` needs (`values`).
 */
import { Validator, type OutputUnit } from "@cfworker/json-schema";

import { keywordCodes, schemaDocuments, type SchemaDocument } from "./contract.ts";

export interface Violation {
  readonly code: string;
  readonly message: string;
  readonly path: string | undefined;
}

type Step = string | number;

const FIRST_CODES = new Set(["protocol_unsupported"]);
/** Keywords that fail on an object's set of fields; their errors point at the field. */
const FIELD_KEYWORDS = ["required", "additionalProperties"];
/** Applicators report "a subschema had errors" beside the errors of that subschema. */
const APPLICATORS = new Set(["properties", "items", "$ref", "if", "false", "additionalProperties"]);
const MAX_MESSAGE = 200;

export class RequestSchema {
  private readonly validator: Validator;
  private readonly root: SchemaDocument;

  constructor(schema: SchemaDocument) {
    this.root = schema;
    this.validator = new Validator(structuredClone(schema), "2020-12", false);
    for (const document of schemaDocuments.values()) {
      if (document.$id !== schema.$id) {
        this.validator.addSchema(structuredClone(document));
      }
    }
  }

  violation(payload: unknown): Violation | undefined {
    const { valid, errors } = this.validator.validate(payload);
    if (valid) {
      return undefined;
    }
    const found = errors.flatMap((unit, order) => {
      const ranked = this.rank(unit, order);
      return ranked === undefined ? [] : [ranked];
    });
    found.sort((a, b) => compareKeys(a.key, b.key));
    const first = found[0];
    if (first === undefined) {
      throw new Error(`no assertion among the schema errors of ${this.root.$id}`);
    }
    return first.violation;
  }

  private rank(unit: OutputUnit, order: number): { key: Step[][]; violation: Violation } | undefined {
    const keyword = unit.keyword;
    if (APPLICATORS.has(keyword) && keyword !== "additionalProperties") {
      return undefined;
    }
    const subschema = resolve(this.root, pointerSteps(unit.keywordLocation).slice(0, -1));
    // additionalProperties: false is the assertion itself; a schema there reports its own errors.
    if (keyword === "additionalProperties" && subschema[keyword] !== false) {
      return undefined;
    }
    const codes = (subschema.errorCodes ?? {}) as Record<string, string>;
    const code = codes[keyword] ?? keywordCodes[keyword] ?? "invalid_type";
    const parent = pointerSteps(unit.instanceLocation).map(instanceStep);
    const field = FIELD_KEYWORDS.includes(keyword) ? fieldNamed(unit.error) : undefined;
    const path = field === undefined ? parent : [...parent, field];
    const rank = FIRST_CODES.has(code) ? 0 : FIELD_KEYWORDS.includes(keyword) ? 1 : 2;
    const message =
      unit.error.length <= MAX_MESSAGE ? unit.error : `${unit.error.slice(0, MAX_MESSAGE - 1)}…`;
    // At one place and rank, a subschema's own keywords before those of its `then`, a missing
    // field before an unknown one (the order jsonschema-rs walks them in), then the validator's.
    const depth = pointerSteps(unit.keywordLocation).length;
    const fieldOrder = FIELD_KEYWORDS.indexOf(keyword);
    return {
      key: [[rank === 0 ? 0 : 1], parent, [rank, depth, fieldOrder, order]],
      violation: { code, message, path: fieldPath(path) },
    };
  }
}

/** `mutations[3].values.title` from `["mutations", 3, "values", "title"]`. */
export function fieldPath(steps: readonly Step[]): string | undefined {
  let text = "";
  for (const step of steps) {
    text += typeof step === "number" ? `[${step}]` : text ? `.${step}` : step;
  }
  return text || undefined;
}

function pointerSteps(location: string): string[] {
  const pointer = location.startsWith("#") ? location.slice(1) : location;
  return pointer
    .split("/")
    .slice(1)
    .map((step) => decodeURIComponent(step).replaceAll("~1", "/").replaceAll("~0", "~"));
}

/** Array indexes of the instance as numbers, so that paths sort and print as the Python host's. */
function instanceStep(step: string): Step {
  return /^(0|[1-9]\d*)$/.test(step) ? Number(step) : step;
}

/** The subschema a dynamic keyword location leads to, following `$ref` across documents. */
function resolve(root: SchemaDocument, steps: readonly string[]): Record<string, unknown> {
  let base = root.$id;
  let node: unknown = root;
  for (const step of steps) {
    const current = node as Record<string, unknown>;
    if (step === "$ref") {
      const target = new URL(String(current.$ref), base);
      base = `${target.origin}${target.pathname}`;
      node = schemaDocuments.get(base);
      for (const inner of pointerSteps(target.hash)) {
        node = (node as Record<string, unknown>)[inner];
      }
    } else {
      node = Array.isArray(current) ? (current as unknown[])[Number(step)] : current[step];
    }
  }
  return (node ?? {}) as Record<string, unknown>;
}

/** The field an error of `required` or `additionalProperties` names in its message. */
function fieldNamed(message: string): string | undefined {
  return /^(?:Instance does not have required property|Property) "(.*)"/s.exec(message)?.[1];
}

function compareKeys(a: readonly (readonly Step[])[], b: readonly (readonly Step[])[]): number {
  for (let index = 0; index < a.length; index++) {
    const order = compareSteps(a[index] ?? [], b[index] ?? []);
    if (order !== 0) {
      return order;
    }
  }
  return 0;
}

/** Lexicographic, as Python compares lists: numbers by value, strings by code point, shorter first. */
function compareSteps(a: readonly Step[], b: readonly Step[]): number {
  for (let index = 0; index < Math.min(a.length, b.length); index++) {
    const x = a[index] as Step;
    const y = b[index] as Step;
    if (x !== y) {
      return typeof x === "number" && typeof y === "number" ? x - y : String(x) < String(y) ? -1 : 1;
    }
  }
  return a.length - b.length;
}
