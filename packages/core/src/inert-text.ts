/**
 * Text from a host or file prbot does not control, made safe to show in a terminal, a log viewer,
 * a record or a forge: ANSI/OSC escape sequences, C0/C1 control characters (tab and, when
 * `multiline`, newline kept), bidirectional overrides and isolates (Trojan Source: text that
 * reads one way and is another), zero-width and other invisible format characters are removed;
 * lone UTF-16 surrogates (a JSON `"\ud800"`) become U+FFFD. JSON escapes C0 in logs, but not C1
 * (U+009B is a CSI to an 8-bit terminal) nor bidi controls, which is why this runs first.
 */
// ESC [ … final byte (CSI), ESC ] … BEL/ST (OSC, e.g. a terminal hyperlink or title), ESC + one byte.
const ANSI = /\u001b(?:\[[0-?]*[ -/]*[@-~]?|\][^\u0007\u001b]*(?:\u0007|\u001b\\)?|[@-Z\\-_])/g;
const CSI8 = /\u009b[0-?]*[ -/]*[@-~]?/g;
const INVISIBLE =
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2028\u2029\u2060-\u206f\ufeff\ufff9-\ufffb]/g;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * Switchable for one purpose: the positive controls of the hostile-input tests (provider, forge,
 * PRD) turn it off in their own process, and back in a `finally`, to show the escapes then reach
 * the error, title or record. No variable, config field or input reaches this object.
 */
export const inertTextDefence = { strip: true };

export function inertText(s: string, o: { multiline?: boolean } = {}): string {
  if (!inertTextDefence.strip) return s;
  let t = s.replace(ANSI, '').replace(CSI8, '').replace(LONE_SURROGATE, '\ufffd');
  t = o.multiline ? t.replace(/\r\n?/g, '\n') : t.replace(/[\r\n]+/g, ' ');
  return t.replace(INVISIBLE, '');
}
