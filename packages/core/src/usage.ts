import { z } from 'zod';

export const usageSchema = z.object({
  prompt_tokens: z.number().int().min(0),
  completion_tokens: z.number().int().min(0),
  total_tokens: z.number().int().min(0),
});
export type Usage = z.infer<typeof usageSchema>;

/** A rough count (≈4 characters a token) for reservations and for providers that omit usage. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/**
 * An upper bound of a prompt's tokens for budget reservations: UTF-8 bytes / 2. Tokenizers give
 * ~3-4 characters a token for English and code, fewer for other scripts; an estimate that runs
 * low, summed over concurrent calls, would let the day overshoot its token cap.
 */
export function reserveTokensFor(text: string): number {
  return Math.ceil(Buffer.byteLength(text) / 2);
}
