// Human sizes (256M, 8G, 24684096K, 1.5GiB) to bytes, binary units like the kernel's
// memparse. Errors name the field and the value received.
import { ConfigError, ERROR_CODES } from './errors.ts';

const UNITS: Readonly<Record<string, number>> = {
  '': 1,
  B: 1,
  K: 1024,
  M: 1024 ** 2,
  G: 1024 ** 3,
  T: 1024 ** 4,
};

/** Parses a size into bytes; throws ConfigError (SWAPNET_ERR_CONFIG_SIZE) naming `field`. */
export function parseSize(text: string, field = 'size'): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$/i.exec(text);
  const unit = match?.[2]?.toUpperCase() ?? '';
  const factor = UNITS[unit];
  if (!match || factor === undefined) {
    throw new ConfigError(
      field,
      `"${text}" is not a size; expected a number with an optional unit K, M, G or T (e.g. 256M, 8G, 24684096K)`,
      ERROR_CODES.sizeInvalid,
    );
  }
  const bytes = Math.floor(Number(match[1]) * factor);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new ConfigError(field, `"${text}" must be a positive size`, ERROR_CODES.sizeInvalid);
  }
  return bytes;
}
