// The headline of a job's error: the one line that says what failed, for every place that shows an
// error on one line (GET /jobs/{uuid}, the job list, the client's `exec -w` and `status`, the end
// line of an attempt in the job log). The whole text stays in the details and the log. Pure.

const PYTHON_TRACEBACK = "Traceback (most recent call last):";
/** A frame line of a Python traceback: `  File "/x/script.py", line 4, in main`. */
const PYTHON_FRAME = /^\s+File "/;

const isIndented = (line: string) => /^\s/.test(line);
const isBlank = (line: string) => line.trim() === "";

/**
 * The line that says what failed:
 * - of a Python traceback (a line starts with `Traceback (most recent call last):`), its exception
 *   line (`ValueError: bad input`): the first line after the last frame that is not part of that
 *   frame (not indented, not blank). So a chained traceback gives its last exception, a SyntaxError
 *   its message (its source lines are indented), and a multi-line message its first line, without
 *   the notes after it. A traceback of another shape gives its last non-blank line;
 * - of anything else (a JS stack `Error: x\n    at ...`, a message): its first non-blank line.
 * Null for null; a text with no visible line is returned trimmed.
 */
export function errorHeadline(text: string): string;
export function errorHeadline(text: string | null | undefined): string | null;
export function errorHeadline(text: string | null | undefined): string | null {
  if (text === null || text === undefined) return null;
  const lines = text.split(/\r?\n/);
  const visible = lines.filter((line) => !isBlank(line));
  if (visible.length === 0) return text.trim();
  if (lines.some((line) => line.startsWith(PYTHON_TRACEBACK))) {
    let lastFrame = -1;
    for (const [i, line] of lines.entries()) if (PYTHON_FRAME.test(line)) lastFrame = i;
    if (lastFrame >= 0) {
      const exception = lines.slice(lastFrame + 1).find((line) => !isIndented(line) && !isBlank(line));
      if (exception !== undefined) return exception.trimEnd();
    }
    return visible[visible.length - 1]!.trim();
  }
  return visible[0]!.trimEnd();
}
