// What a machine logs through: the subset of pino's Logger it uses. The process shell
// passes pino (structured lines on stderr); the simulation passes a logger that keeps
// warnings for the run's caller and drops the rest.

type LogFn = (obj: object, msg?: string) => void;

export interface MachineLog {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

/** Pino's numeric levels, for loggers that are not pino. */
export const LOG_LEVELS = { debug: 20, info: 30, warn: 40, error: 50 } as const;

/** A logger that hands entries at `minLevel` or above to `sink` as pino-like objects. */
export function sinkLog(
  minLevel: number,
  sink: (entry: Record<string, unknown>) => void,
): MachineLog {
  const at =
    (level: number): LogFn =>
    (obj, msg) => {
      if (level >= minLevel) sink({ level, ...obj, ...(msg !== undefined ? { msg } : {}) });
    };
  return {
    debug: at(LOG_LEVELS.debug),
    info: at(LOG_LEVELS.info),
    warn: at(LOG_LEVELS.warn),
    error: at(LOG_LEVELS.error),
  };
}
