/**
 * A churn writer for the live tests: edits, renames and deletes files and directories in one tree,
 * with every version it writes a unique token, and keeps the ledger that lets a test prove nothing
 * was lost. What the writer destroys on purpose is known exactly:
 *
 * - an edit opens the file, reads what it replaces through the same descriptor, then truncates and
 *   writes; if the inode was unlinked meanwhile (Lento renamed a new version over it) the edit landed
 *   nowhere and neither the old nor the new token counts;
 * - a delete renames the object out of the tree into the writer's trash (same filesystem, atomic),
 *   so whatever it held — even something Lento wrote into a directory a moment before — is what was
 *   deleted; the trash is read at the end.
 *
 * A token written and not destroyed on purpose must then be in some tree or kept under a
 * `.intermezzo/conflicts/` directory.
 */
import fs from "node:fs";
import path from "node:path";

/** `tok-<writer>-<n>.` — what every version written holds (repeated, so sizes vary). */
const TOKEN = /tok-[a-z]+-[0-9]+\./g;

/** The tokens in a text. */
export function tokensOf(text: string): string[] {
  return text.match(TOKEN) ?? [];
}

/** Every token in the files below `dir` (`.intermezzo/` skipped unless `withMeta`). */
export function tokensUnder(dir: string, withMeta = false): Set<string> {
  const out = new Set<string>();
  const walk = (d: string): void => {
    let names: fs.Dirent[];
    try {
      names = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of names) {
      const p = path.join(d, e.name);
      if (!withMeta && d === dir && e.name === ".intermezzo") continue;
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) for (const t of tokensOf(fs.readFileSync(p, "utf8"))) out.add(t);
    }
  };
  walk(dir);
  return out;
}

/** Every token in the trees `roots` or kept under their `.intermezzo/conflicts/`. */
export function tokensKept(roots: string[]): Set<string> {
  const found = new Set<string>();
  for (const root of roots) {
    for (const t of tokensUnder(root)) found.add(t);
    for (const t of tokensUnder(path.join(root, ".intermezzo", "conflicts"), true)) found.add(t);
  }
  return found;
}

/** What the writers did, for the final check. */
export class Ledger {
  /** Tokens written into a tree (landed in a linked file). */
  readonly written = new Set<string>();
  /** Where and when each token was written (for a failure's message). */
  private readonly origins = new Map<string, string>();
  /** Tokens a writer replaced by an edit, having read them from the file it edited. */
  readonly replaced = new Set<string>();
  /** Trash directories (what was deleted on purpose is inside). */
  readonly trashes: string[] = [];
  ops = 0;

  /** Notes token `tok` landed in `file` (a create or an edit). */
  wrote(tok: string, file: string, how: "create" | "edit"): void {
    this.written.add(tok);
    this.origins.set(tok, `${how} of ${file} at ${new Date().toISOString().slice(11, 23)}`);
  }

  /** Where and when `tok` was written. */
  origin(tok: string): string {
    return `${tok} (${this.origins.get(tok) ?? "?"})`;
  }

  /** Tokens written and neither replaced nor deleted on purpose. */
  expected(): Set<string> {
    const deleted = new Set<string>();
    for (const t of this.trashes) for (const tok of tokensUnder(t, true)) deleted.add(tok);
    return new Set([...this.written].filter((t) => !this.replaced.has(t) && !deleted.has(t)));
  }
}

/** One tree's writer; `step()` makes one random change. */
export class ChurnWriter {
  private n = 0;
  private readonly trash: string;

  constructor(
    readonly name: string,
    readonly root: string,
    private readonly ledger: Ledger,
    private readonly random: () => number,
    trashParent: string,
  ) {
    this.trash = path.join(trashParent, `trash-${name}`);
    fs.mkdirSync(this.trash, { recursive: true });
    ledger.trashes.push(this.trash);
  }

  /** One change, chosen at random; a change the tree made impossible meanwhile is skipped. */
  step(): void {
    const { dirs, files, small } = this.list();
    const r = this.random();
    try {
      if (r < 0.3 || files.length === 0) this.create(this.pick(dirs));
      else if (r < 0.55) this.edit(this.pick(files));
      else if (r < 0.7) this.move(this.pick(files), this.pick(dirs));
      else if (r < 0.8) this.remove(this.pick(files));
      else if (r < 0.88 || dirs.length < 3) this.mkdir(this.pick(dirs));
      else if (r < 0.94) this.move(this.pick(dirs.slice(1)), this.pick(dirs));
      else if (small.length > 0) this.remove(this.pick(small));
      this.ledger.ops++;
    } catch (err) {
      // ENOENT, ENOTEMPTY, EINVAL (a directory into itself): Lento moved things meanwhile
      const code = (err as NodeJS.ErrnoException).code;
      if (!["ENOENT", "ENOTDIR", "EINVAL", "ENOTEMPTY", "EEXIST", "EISDIR"].includes(code ?? "")) throw err;
    }
  }

  private token(): string {
    const t = `tok-${this.name}-${++this.n}.`;
    return t.repeat(1 + Math.floor(this.random() * 40));
  }

  private pick<T>(xs: T[]): T {
    return xs[Math.floor(this.random() * xs.length)]!;
  }

  /**
   * Directories (the root first, relative "") and files of the tree, `.intermezzo/` left out, and
   * the directories small enough to delete: a writer never deletes more than a twentieth of the tree
   * at once (more is what the mass-delete guard refuses, by design).
   */
  private list(): { dirs: string[]; files: string[]; small: string[] } {
    const dirs: string[] = [];
    const files: string[] = [];
    const sizes = new Map<string, number>();
    const walk = (rel: string): number => {
      let names: fs.Dirent[];
      try {
        names = fs.readdirSync(path.join(this.root, rel), { withFileTypes: true });
      } catch {
        return 0;
      }
      dirs.push(rel);
      let size = 1;
      for (const e of names) {
        if (rel === "" && e.name === ".intermezzo") continue;
        const p = rel === "" ? e.name : `${rel}/${e.name}`;
        if (e.isDirectory()) size += walk(p);
        else {
          size++;
          if (e.isFile()) files.push(p);
        }
      }
      sizes.set(rel, size);
      return size;
    };
    const total = walk("");
    const small = dirs.filter((d) => d !== "" && sizes.get(d)! * 20 <= total);
    return { dirs: dirs.filter((d) => d.split("/").length <= 3), files, small };
  }

  private create(dir: string): void {
    const text = this.token();
    const file = path.join(this.root, dir, `f-${this.name}${this.n}.txt`);
    const fd = fs.openSync(file, "wx");
    try {
      fs.writeSync(fd, text);
      if (fs.fstatSync(fd).nlink > 0) this.ledger.wrote(tokensOf(text)[0]!, file, "create");
    } finally {
      fs.closeSync(fd);
    }
  }

  private edit(file: string): void {
    const fd = fs.openSync(path.join(this.root, file), "r+");
    try {
      const old = tokensOf(fs.readFileSync(fd, "utf8"));
      const text = this.token();
      fs.ftruncateSync(fd, 0);
      fs.writeSync(fd, text, 0);
      if (fs.fstatSync(fd).nlink === 0) return; // replaced by Lento meanwhile: this edit landed nowhere
      for (const t of old) this.ledger.replaced.add(t);
      this.ledger.wrote(tokensOf(text)[0]!, path.join(this.root, file), "edit");
    } finally {
      fs.closeSync(fd);
    }
  }

  private move(from: string, toDir: string): void {
    if (toDir === from || toDir.startsWith(`${from}/`)) return;
    fs.renameSync(path.join(this.root, from), path.join(this.root, toDir, `m-${this.name}${++this.n}-${path.basename(from).slice(0, 40)}`));
  }

  private remove(rel: string): void {
    fs.renameSync(path.join(this.root, rel), path.join(this.trash, `${++this.n}`));
  }

  private mkdir(parent: string): void {
    fs.mkdirSync(path.join(this.root, parent, `d-${this.name}${++this.n}`));
  }
}
