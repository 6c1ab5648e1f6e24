/**
 * `--progress`: one status line on a terminal's stderr, redrawn four times a second — bytes and
 * files moved, rate, and an ETA while the total is known.
 */
import type { SyncTally } from "../sync/client.js";
import { human } from "./report.js";

/** A running progress line; `stop()` clears it. */
export interface ProgressLine {
  attach(tally: SyncTally): void;
  stop(): void;
}

/** Starts a progress line on `stream` (does nothing unless it is a terminal). */
export function startProgress(stream: NodeJS.WriteStream = process.stderr): ProgressLine {
  let tally: SyncTally | undefined;
  const started = Date.now();
  const draw = (): void => {
    if (!tally) return;
    const done = tally.bytesSent + tally.bytesReceived;
    const secs = Math.max((Date.now() - started) / 1000, 0.001);
    const rate = done / secs;
    const left = tally.bytesExpected - done;
    const eta = rate > 0 && left > 0 ? ` ETA ${Math.ceil(left / rate)}s` : "";
    const pct = tally.bytesExpected > 0 ? ` ${Math.min(100, Math.floor((100 * done) / tally.bytesExpected))}%` : "";
    stream.write(`\r\x1b[K${human(done)}${pct} ${tally.filesSent + tally.filesReceived} file(s) ${human(rate)}/s${eta}`);
  };
  const timer = stream.isTTY ? setInterval(draw, 250) : undefined;
  return {
    attach: (t) => (tally = t),
    stop: () => {
      if (!timer) return;
      clearInterval(timer);
      stream.write("\r\x1b[K");
    },
  };
}
