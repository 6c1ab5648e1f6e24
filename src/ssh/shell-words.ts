/**
 * Quoting and splitting of the one remote command line this project sends: POSIX single
 * quotes only. The SSH client quotes every word it sends (a remote login shell parses the
 * line); Lento's listener, which has no shell, splits the line back with the same rules.
 */

/** Characters that never need quoting in a POSIX shell word. */
const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quotes one word for a POSIX shell: bare when safe, otherwise in single quotes. */
export function shellQuote(word: string): string {
  if (SAFE_WORD.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * Splits a command line into words: whitespace separates words, single quotes group
 * characters literally, and `\'` is accepted between quoted runs (as {@link shellQuote}
 * emits). Returns `undefined` for anything else a shell would interpret (double quotes,
 * `$`, backticks, globs, redirections, unbalanced quotes), so such lines are refused
 * rather than guessed at.
 */
export function splitShellWords(line: string): string[] | undefined {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (c === " " || c === "\t") {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) return undefined;
      word = (word ?? "") + line.slice(i + 1, end);
      i = end;
    } else if (c === "\\" && line[i + 1] === "'") {
      word = (word ?? "") + "'";
      i++;
    } else if (SAFE_WORD.test(c)) {
      word = (word ?? "") + c;
    } else {
      return undefined;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}
