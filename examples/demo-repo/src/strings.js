/** Upper-cases the first character; the empty string stays empty. */
export function capitalize(text) {
  if (text.length === 0) return text;
  return text[0].toUpperCase() + text.slice(1);
}

/** Lower-case words joined by dashes, for URLs and file names. */
export function slugify(text) {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}
