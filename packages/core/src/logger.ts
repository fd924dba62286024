import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

/**
 * Structured JSON logs; human-readable when stdout is a terminal. A cycle's lines carry
 * `cycle` and `gap` through child loggers (`log.child({ cycle, gap })`).
 * The redact list is a second line of defence: secrets are never put into log objects.
 */
export function createLogger(level = 'info', opts: { pretty?: boolean; destination?: NodeJS.WritableStream } = {}): Logger {
  const base = {
    level,
    redact: { paths: ['*.authorization', '*.Authorization', 'headers.*', '*.apiKey', '*.token'], censor: '[redacted]' },
    base: undefined,
  };
  const wantPretty = opts.pretty ?? (process.stdout.isTTY === true && !process.env.PRBOT_LOG_JSON);
  if (wantPretty) {
    return pino(base, pretty({ sync: true, colorize: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss' }));
  }
  return opts.destination ? pino(base, opts.destination) : pino(base);
}
