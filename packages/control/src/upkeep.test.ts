import { describe, expect, it } from 'vitest';
import { parsePrd } from '@prbot/repo';
import { unwantedReason } from './upkeep.ts';

describe('unwantedReason', () => {
  it('names what happened to the gap in the PRD', async () => {
    const [gap] = await parsePrd('- [ ] Add a `truncate` helper [bot-eligible]\n');
    const id = gap!.id;
    expect(unwantedReason('# PRD\n\n- [x] Add a `truncate` helper [bot-eligible]\n', id, 'docs/PRD.md')).toBe(
      'ticked off in docs/PRD.md (line 3)',
    );
    expect(unwantedReason('- [ ] Add a `truncate` helper\n', id, 'docs/PRD.md')).toBe(
      'no longer tagged [bot-eligible] in docs/PRD.md (line 1)',
    );
    expect(unwantedReason('- [ ] Add a `truncate` helper, twice [bot-eligible]\n', id, 'docs/PRD.md')).toBe(
      'no longer in docs/PRD.md (removed, or reworded: a reworded line is a new gap)',
    );
  });
});
