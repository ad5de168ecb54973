// The one errors module of swapnet. Expected outcomes (a failed allocation, a dropped
// frame) are values, never errors; these classes are for broken invariants and for
// operational failures at the edges. Each has a stable `code` that tests match on.

export const ERROR_CODES = {
  invariant: 'SWAPNET_ERR_MODEL_INVARIANT',
  configInvalid: 'SWAPNET_ERR_CONFIG_INVALID',
  sizeInvalid: 'SWAPNET_ERR_CONFIG_SIZE',
  usage: 'SWAPNET_ERR_CLI_USAGE',
  frameInvalid: 'SWAPNET_ERR_WIRE_FRAME',
  linkClosed: 'SWAPNET_ERR_LINK_CLOSED',
  authRefused: 'SWAPNET_ERR_AUTH_REFUSED',
  nodeFailed: 'SWAPNET_ERR_NODE_FAILED',
  scenarioInvalid: 'SWAPNET_ERR_SCENARIO_INVALID',
  storeCorrupt: 'SWAPNET_ERR_STORE_CORRUPT',
  slotOutOfRange: 'SWAPNET_ERR_STORE_SLOT',
  timeout: 'SWAPNET_ERR_TIMEOUT',
  faultRefused: 'SWAPNET_ERR_FAULT_REFUSED',
  faultInvalid: 'SWAPNET_ERR_FAULT_INVALID',
  engineInvalid: 'SWAPNET_ERR_ENGINE_INVALID',
} as const;

export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

/** Base class: every swapnet error carries a stable code and keeps its cause. */
export class SwapnetError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A broken model invariant (page conservation, pool bounds): a bug in swapnet itself. */
export class InvariantError extends SwapnetError {
  constructor(message: string) {
    super(ERROR_CODES.invariant, message);
  }
}

/** Bad configuration: `field` names the offending key, `value` what was received. */
export class ConfigError extends SwapnetError {
  readonly field: string;
  constructor(field: string, message: string, code: ErrorCode = ERROR_CODES.configInvalid) {
    super(code, `${field}: ${message}`);
    this.field = field;
  }
}

/** Throws an InvariantError when `condition` is false. */
export function invariant(condition: boolean, message: string | (() => string)): asserts condition {
  if (!condition) throw new InvariantError(typeof message === 'string' ? message : message());
}
