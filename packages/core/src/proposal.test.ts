import { describe, expect, it } from 'vitest';
import { parseProposal, proposalJsonSchema, proposedText, ProposalParseError } from './proposal.ts';

const ok = { summary: 'Add slugify', files: [{ path: 'a.js', is_new: true, content: 'x' }] };
const text = (v: unknown) => JSON.stringify(v);
/** The message parseProposal throws for `answer`, or null when it parses. */
function refusal(answer: string, maxBytes = 1e6): string | null {
  try {
    parseProposal(answer, maxBytes);
    return null;
  } catch (err) {
    expect(err).toBeInstanceOf(ProposalParseError);
    expect((err as Error).name).toBe('ProposalParseError');
    return (err as Error).message;
  }
}

describe('parseProposal', () => {
  it('reads plain JSON, with whitespace around it', () => {
    expect(parseProposal(`\n  ${text(ok)}  \n`, 1e6)).toEqual(ok);
    // trim(), not JSON's own whitespace: a byte-order mark or a no-break space around the answer is not JSON.
    expect(parseProposal(`\ufeff${text(ok)}\u00a0`, 1e6)).toEqual(ok);
  });

  it('reads JSON inside a ```json fence (any case) or a bare ``` fence, and ignores the prose around it', () => {
    expect(parseProposal(`\`\`\`json\n${text(ok)}\n   \`\`\``, 1e6), 'an indented closing fence').toEqual(ok);
    for (const open of ['```json', '```JSON', '```', '```json  '])
      expect(parseProposal(`Here it is:\n${open}\n${text(ok)}\n\`\`\`\nDone.`, 1e6), open).toEqual(ok);
    // The first fence is the answer, even when a later one holds JSON too.
    const other = { ...ok, summary: 'other' };
    expect(parseProposal(`\`\`\`json\n${text(ok)}\n\`\`\`\n\`\`\`json\n${text(other)}\n\`\`\``, 1e6)).toEqual(ok);
  });

  it('counts bytes, not characters, against maxBytes; the limit itself is allowed', () => {
    const answer = text({ ...ok, summary: 'é' });
    const bytes = Buffer.byteLength(answer);
    expect(bytes).toBe(answer.length + 1);
    expect(parseProposal(answer, bytes)).toEqual({ ...ok, summary: 'é' });
    expect(refusal(answer, bytes - 1)).toBe(`answer is larger than ${bytes - 1} bytes`);
    expect(refusal(answer, answer.length)).toBe(`answer is larger than ${answer.length} bytes`);
  });

  it('names a JSON syntax error, with escape sequences from the answer made inert', () => {
    expect(refusal('{"summary": ')).toMatch(/^answer is not JSON: /);
    const m = refusal('\u001b[31mnot json');
    expect(m).toMatch(/^answer is not JSON: /);
    expect(m).not.toContain('\u001b');
    expect(new ProposalParseError('a\u001b[2Jb\nc').message).toBe('ab c');
  });

  it('refuses an empty, blank or over-long summary and keeps a 2000-character one', () => {
    const schema = 'answer does not match the proposal schema: ';
    expect(refusal(text({ ...ok, summary: '' }))).toBe(`${schema}summary: summary must not be empty`);
    expect(refusal(text({ ...ok, summary: ' \n ' }))).toBe(`${schema}summary: summary must not be empty`);
    expect(parseProposal(text({ ...ok, summary: ` ${'s'.repeat(2000)} ` }), 1e6).summary).toBe('s'.repeat(2000));
    expect(refusal(text({ ...ok, summary: 's'.repeat(2001) }))).toMatch(
      /^answer does not match the proposal schema: summary: /,
    );
  });

  it('refuses unknown keys, a missing file list, and a root that is not an object', () => {
    expect(refusal(text({ ...ok, delete: ['x'] }))).toMatch(
      /^answer does not match the proposal schema: \(root\): .*delete/,
    );
    expect(refusal(text({ summary: 's' }))).toMatch(/^answer does not match the proposal schema: files: /);
    expect(refusal('[]')).toMatch(/^answer does not match the proposal schema: \(root\): /);
    expect(refusal(text({ summary: 's', files: Array.from({ length: 1001 }, () => ok.files[0]) }))).toMatch(
      /^answer does not match the proposal schema: files: /,
    );
    expect(
      parseProposal(text({ summary: 's', files: Array.from({ length: 1000 }, () => ok.files[0]) }), 1e7).files,
    ).toHaveLength(1000);
  });

  it('reports the issues of the form an entry came closest to, with full paths', () => {
    const schema = 'answer does not match the proposal schema: ';
    // An edits entry with an empty search: one issue under the edits form, the whole-file form has two.
    expect(
      refusal(
        text({
          summary: 's',
          files: [ok.files[0], { path: 'b', is_new: false, edits: [{ search: '', replace: 'r' }] }],
        }),
      ),
    ).toBe(`${schema}files.1.edits.0.search: search text must not be empty`);
    expect(refusal(text({ summary: 's', files: [{ path: 'b', is_new: false, edits: [] }] }))).toBe(
      `${schema}files.0.edits: edits must not be empty`,
    );
    // A whole-file entry with content of the wrong type: the whole-file form's one issue, not the union's "Invalid input".
    expect(refusal(text({ summary: 's', files: [{ path: 'b', is_new: false, content: 3 }] }))).toMatch(
      /^answer does not match the proposal schema: files\.0\.content: /,
    );
    const tooMany = Array.from({ length: 201 }, (_, i) => ({ search: `s${i}`, replace: '' }));
    expect(refusal(text({ summary: 's', files: [{ path: 'b', is_new: false, edits: tooMany }] }))).toMatch(
      /^answer does not match the proposal schema: files\.0\.edits: /,
    );
    expect(
      parseProposal(text({ summary: 's', files: [{ path: 'b', is_new: false, edits: tooMany.slice(1) }] }), 1e6)
        .files[0],
    ).toHaveProperty('edits');
  });

  it('lists at most five issues', () => {
    const files = Array.from({ length: 7 }, (_, i) => ({
      path: `f${i}`,
      is_new: false,
      edits: [{ search: '', replace: '' }],
    }));
    const m = refusal(text({ summary: 's', files }))!;
    expect(m.split('; ')).toHaveLength(5);
    expect(m).toContain('files.4.edits.0.search');
    expect(m).not.toContain('files.5.');
  });
});

describe('proposedText', () => {
  it('is the whole content, or every search and replace in order', () => {
    expect(proposedText({ path: 'a', is_new: true, content: 'abc' })).toBe('abc');
    expect(
      proposedText({
        path: 'a',
        is_new: false,
        edits: [
          { search: 's1', replace: 'r1' },
          { search: 's2', replace: '' },
        ],
      }),
    ).toBe('s1r1s2');
  });
});

describe('proposalJsonSchema', () => {
  it('offers the model both file forms and no delete', () => {
    const files = (proposalJsonSchema.properties as Record<string, { items: { anyOf: { required: string[] }[] } }>)
      .files;
    expect(files?.items.anyOf.map((f) => f.required.sort())).toEqual([
      ['content', 'is_new', 'path'],
      ['edits', 'is_new', 'path'],
    ]);
    expect(proposalJsonSchema.required).toEqual(['summary', 'files']);
  });
});
