/**
 * What a failing test's processes said: the warnings and errors, then the last lines, of every log file started in
 * this test file and written to since `sinceMs`. CI shows only the runner's output: without this a failure there
 * leaves no trace of why.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';

const TAIL_BYTES = 1024 * 1024;
const WARNINGS_SHOWN = 40;
const LAST_LINES_SHOWN = 15;
const LINE_CHARS = 600;

const logFiles: { name: string; file: string }[] = [];

export function rememberLog(name: string, file: string): void {
  logFiles.push({ name, file });
}

function tailOf(file: string): string[] {
  let fd: number | undefined;
  try {
    const size = statSync(file).size;
    const length = Math.min(size, TAIL_BYTES);
    const buf = Buffer.alloc(length);
    fd = openSync(file, 'r');
    readSync(fd, buf, 0, length, size - length);
    const lines = buf
      .toString('utf8')
      .split('\n')
      .filter((l) => l !== '');
    return length < size ? lines.slice(1) : lines; // the first line of a partial read is cut
  } catch {
    return [];
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Pino's level 40 is warn, 50 error, 60 fatal; a line that is not JSON (a crash's stack) counts as one. */
function isWarningOrWorse(line: string): boolean {
  const level = /"level":(\d+)/.exec(line);
  return level === null ? !line.startsWith('{') : Number(level[1]) >= 40;
}

function writtenSince(file: string, sinceMs: number): boolean {
  try {
    return statSync(file).mtimeMs >= sinceMs;
  } catch {
    return false;
  }
}

export function printLogTails(sinceMs: number): void {
  const out: string[] = [];
  for (const { name, file } of logFiles) {
    if (!writtenSince(file, sinceMs)) continue;
    const lines = tailOf(file);
    const warnings = lines.filter(isWarningOrWorse).slice(-WARNINGS_SHOWN);
    out.push(
      `── ${name} (${file}): ${String(warnings.length)} warnings/errors shown, then the last lines`,
    );
    for (const l of [...warnings, '…', ...lines.slice(-LAST_LINES_SHOWN)])
      out.push(l.length > LINE_CHARS ? `${l.slice(0, LINE_CHARS)}…` : l);
  }
  if (out.length > 0) console.error(`logs of the processes this file started:\n${out.join('\n')}`);
}
