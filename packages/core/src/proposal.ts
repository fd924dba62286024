import { z } from 'zod';
import { inertText } from './inert-text.ts';

/**
 * One exact search/replace edit. `search` must occur exactly once in the file as it stands
 * after the edits before it; anything else ends the cycle in apply_failed naming the edit.
 */
const editSchema = z
  .object({
    search: z.string().min(1, 'search text must not be empty'),
    replace: z.string(),
  })
  .strict();
export type Edit = z.infer<typeof editSchema>;

/** A file given whole: every new file, and an existing file the prompt showed whole. */
const wholeFileSchema = z
  .object({
    path: z.string(),
    is_new: z.boolean(),
    content: z.string(),
  })
  .strict();

/**
 * An existing file changed by edits: the form for files too large to show or to repeat whole
 * (a whole-file answer for a file the model only saw in part wiped a 439-line test file).
 */
const editedFileSchema = z
  .object({
    path: z.string(),
    is_new: z.boolean(),
    edits: z.array(editSchema).min(1, 'edits must not be empty').max(200),
  })
  .strict();

const proposedFileSchema = z.union([wholeFileSchema, editedFileSchema]);
export type ProposedFile = z.infer<typeof proposedFileSchema>;

/** What the model must answer. There is no delete: the bot never deletes files. */
export const proposalSchema = z
  .object({
    summary: z.string().trim().min(1, 'summary must not be empty').max(2000),
    files: z.array(proposedFileSchema).max(1000),
  })
  .strict();
export type Proposal = z.infer<typeof proposalSchema>;

/** JSON Schema sent as `response_format` to providers that accept one (an anyOf of both forms). */
export const proposalJsonSchema = z.toJSONSchema(proposalSchema);

/** The text a file entry carries (whole content, or every search and replace), for size checks. */
export function proposedText(f: ProposedFile): string {
  return 'content' in f ? f.content : f.edits.map((e) => e.search + e.replace).join('');
}

export class ProposalParseError extends Error {
  override readonly name = 'ProposalParseError';
  constructor(message: string) {
    // JSON.parse's message quotes the model's text, which may carry terminal escapes.
    super(inertText(message));
  }
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
    const first = r.error.issues
      .flatMap(closestForm)
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ProposalParseError(`answer does not match the proposal schema: ${first.join('; ')}`);
  }
  return r.data;
}

/**
 * A union's own message ("Invalid input") says nothing: report the issues of the form the entry
 * came closest to (fewest issues), with their full paths, as a single-form schema would.
 */
function closestForm(i: z.core.$ZodIssue): { path: PropertyKey[]; message: string }[] {
  if (i.code !== 'invalid_union' || i.errors.length === 0) return [{ path: i.path, message: i.message }];
  const best = [...i.errors].sort((a, b) => a.length - b.length)[0]!;
  if (best.length === 0) return [{ path: i.path, message: i.message }];
  return best.flatMap((e) => closestForm({ ...e, path: [...i.path, ...e.path] } as z.core.$ZodIssue));
}

function extractJson(text: string): string {
  const fenced = /```(?:json)?\s*\n([\s\S]*?)\n\s*```/i.exec(text);
  return fenced ? fenced[1]! : text.trim();
}
