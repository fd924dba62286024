import { createRequire } from 'node:module';
import { pino, type DestinationStream, type Logger } from 'pino';
import { redactText } from './redact.ts';

export type { Logger };

/** Paths that may hold a credential in a log object; censored whatever their value. */
const REDACT_PATHS = [
  'authorization',
  '*.authorization',
  '*.Authorization',
  'headers.*',
  '*.headers.*',
  'apiKey',
  '*.apiKey',
  'token',
  '*.token',
  'password',
  '*.password',
  'key',
  '*.key',
];

/**
 * A destination that scrubs every known secret value (redact.ts) from each line before it is
 * written: values echoed into free text (an error message quoting a provider's body) have no path
 * for pino's `redact` to find.
 */
function scrubbing(dest: { write(s: string): unknown }): DestinationStream {
  return { write: (s: string) => void dest.write(redactText(s)) };
}

/**
 * Structured JSON logs; human-readable when stdout is a terminal. A cycle's lines carry
 * `cycle` and `gap` through child loggers (`log.child({ cycle, gap })`).
 * Secrets are never put into log objects; the redact list and the scrubbing destination are the
 * second and third lines of defence.
 */
export function createLogger(
  level = 'info',
  opts: { pretty?: boolean; destination?: NodeJS.WritableStream; fd?: 1 | 2 } = {},
): Logger {
  const base = {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: undefined,
  };
  // fd 2 for command-line tools: their stdout is the answer (`--json | jq`), logs are not.
  const fd = opts.fd ?? 1;
  const wantPretty =
    opts.pretty ?? ((fd === 2 ? process.stderr : process.stdout).isTTY === true && !process.env.PRBOT_LOG_JSON);
  if (wantPretty) {
    // Loaded only for a terminal: a service logging JSON never pays its start time and memory.
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
    return pino(
      base,
      scrubbing(
        pretty({ sync: true, destination: fd, colorize: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss' }),
      ),
    );
  }
  return pino(base, scrubbing(opts.destination ?? pino.destination({ dest: fd, sync: true })));
}
