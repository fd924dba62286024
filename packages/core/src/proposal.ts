import { z } from 'zod';

/** What the model must answer. There is no delete: the bot never deletes files. */
export const proposalSchema = z
  .object({
    summary: z.string().trim().min(1, 'summary must not be empty').max(2000),
    files: z
      .array(
        z
          .object({
            path: z.string(),
            is_new: z.boolean(),
            content: z.string(),
          })
          .strict(),
      )
      .max(1000),
  })
  .strict();
export type Proposal = z.infer<typeof proposalSchema>;

/** JSON Schema sent as `response_format` to providers that accept one. */
export const proposalJsonSchema = z.toJSONSchema(proposalSchema);

export class ProposalParseError extends Error {
  override readonly name = 'ProposalParseError';
}

/**
 * Turns a model's answer into a proposal: plain JSON, or JSON inside a ```json fence. The error
 * names what is wrong precisely (JSON position, or the zod path) so the cycle's reason helps.
 */
export function parseProposal(text: string, maxBytes: number): Proposal {
  if (Buffer.byteLength(text) > maxBytes) throw new ProposalParseError(`answer is larger than ${maxBytes} bytes`);
  const json = extractJson(text);
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw new ProposalParseError(`answer is not JSON: ${(err as Error).message}`);
  }
  const r = proposalSchema.safeParse(value);
  if (!r.success) {
    const first = r.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ProposalParseError(`answer does not match the proposal schema: ${first.join('; ')}`);
  }
  return r.data;
}

function extractJson(text: string): string {
  const fenced = /```(?:json)?\s*\n([\s\S]*?)\n\s*```/i.exec(text);
  return fenced ? fenced[1]! : text.trim();
}
