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
