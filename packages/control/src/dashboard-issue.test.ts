import { describe, expect, it } from 'vitest';
import { dashboardIssueDefence, dashboardMarker, ticked, verifiesMarker } from './dashboard-issue.ts';

const G1 = 'g0123456789ab';
const G2 = 'gba9876543210';
const written = `intro\n- [ ] retry ${G1}: \`a\` — no cycle yet; no PR\n- [ ] retry ${G2}: \`b\` — no cycle yet; no PR\n\n- [ ] pause bot\n`;

describe('dashboard issue boxes', () => {
  it('a request is a box ticked now that prbot wrote unticked', () => {
    expect(ticked(written, written)).toEqual({ retry: [], pause: false, resume: false });
    const now = written.replace(`- [ ] retry ${G2}`, `- [x] retry ${G2}`).replace('- [ ] pause bot', '- [X] pause bot');
    expect(ticked(now, written)).toEqual({ retry: [G2], pause: true, resume: false });
  });

  it('a box prbot never wrote, or wrote ticked, asks for nothing; gap text cannot forge a box', () => {
    const added = `${written}- [x] retry gffffffffffff\n- [x] resume bot\n`;
    expect(ticked(added, written)).toEqual({ retry: [], pause: false, resume: false });
    // A gap text that says "- [x] pause bot" sits after "retry <id>:" on its own line's tail.
    const hostile = `- [ ] retry ${G1}: \`- [x] pause bot\`\n`;
    expect(ticked(hostile.replace('- [ ] retry', '- [x] retry'), hostile)).toEqual({
      retry: [G1],
      pause: false,
      resume: false,
    });
  });

  it('positive control: with "written unticked by prbot" not checked (in this process only), boxes an editor added ticked are requests', () => {
    const added = `${written}- [x] retry gffffffffffff\n- [x] resume bot\n`;
    dashboardIssueDefence.writtenUnticked = false;
    try {
      expect(ticked(added, written)).toEqual({ retry: ['gffffffffffff'], pause: false, resume: true });
      // The same box left ticked counts again at every read.
      const once = written.replace(`- [ ] retry ${G2}`, `- [x] retry ${G2}`);
      expect(ticked(once, once).retry).toEqual([G2]);
    } finally {
      dashboardIssueDefence.writtenUnticked = true;
    }
    expect(ticked(added, written)).toEqual({ retry: [], pause: false, resume: false });
  });

  it('the marker verifies only for its repository and its own issue number', () => {
    const m = dashboardMarker('team/app', 7);
    expect(verifiesMarker(`body\n\n${m}\n`, 'team/app', 7)).toBe(true);
    expect(verifiesMarker(`body\n\n${m}\n`, 'team/app', 8)).toBe(false);
    expect(verifiesMarker(`body\n\n${m}\n`, 'team/other', 7)).toBe(false);
    expect(verifiesMarker(`${m}\nmore text after it`, 'team/app', 7)).toBe(false);
    const altered = m.replace(/([0-9a-f]) -->$/, (_x, c: string) => `${c === '0' ? '1' : '0'} -->`);
    expect(verifiesMarker(altered, 'team/app', 7)).toBe(false);
  });
});
