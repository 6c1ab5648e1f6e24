/**
 * Names of keep-both conflict copies: `name.conflict-<replica>-<UTC time>.ext`, beside the winner,
 * sortable by the time they carry. Pure.
 */
import { editName } from "../journal/names.js";

/** `name.conflict-<replica>-<UTC time>.ext`: the losing version's name beside the winner. */
export function conflictName(name: string, replica: string, when: Date): string {
  const stamp = when.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  // on the name's bytes: a raw name (not UTF-8) keeps them
  return editName(name, (text) => {
    const { stem, ext } = splitExt(text);
    return `${stem}.conflict-${replica.slice(0, 8)}-${stamp}${ext}`;
  });
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
