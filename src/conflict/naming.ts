/**
 * Names of keep-both conflict copies: `name.conflict-<replica>-<UTC time>.ext`, beside the winner,
 * sortable by the time they carry. Pure.
 */

/** `name.conflict-<replica>-<UTC time>.ext`: the losing version's name beside the winner. */
export function conflictName(name: string, replica: string, when: Date): string {
  const { stem, ext } = splitExt(name);
  const stamp = when.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  return `${stem}.conflict-${replica.slice(0, 8)}-${stamp}${ext}`;
}

/** A name's stem and extension (`.html`; none for dot files). */
export function splitExt(name: string): { stem: string; ext: string } {
  const dot = name.lastIndexOf(".");
  return dot > 0 ? { stem: name.slice(0, dot), ext: name.slice(dot) } : { stem: name, ext: "" };
}

/** The UTC time a conflict copy's name carries (sortable as text). */
export function copyTime(name: string): string {
  return /-(\d{8}T\d{6}Z)/.exec(name)?.[1] ?? "";
}
