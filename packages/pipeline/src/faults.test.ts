import { afterEach, expect, it } from 'vitest';
import { defenceOff } from './faults.ts';

// The switches exist for positive controls only: without PRBOT_FAULT naming one, every defence is on.
const before = process.env.PRBOT_FAULT;
afterEach(() => {
  if (before === undefined) delete process.env.PRBOT_FAULT;
  else process.env.PRBOT_FAULT = before;
});

it('every defence is on unless PRBOT_FAULT names it with no-', () => {
  delete process.env.PRBOT_FAULT;
  expect(defenceOff('ledger')).toBe(false);
  process.env.PRBOT_FAULT = 'kill-after-record, ledger,no-ledgerx';
  expect(defenceOff('ledger')).toBe(false);
  process.env.PRBOT_FAULT = 'kill-after-record, no-ledger';
  expect(defenceOff('ledger')).toBe(true);
  expect(defenceOff('saved-answer')).toBe(false);
});
