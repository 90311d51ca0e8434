// Package progress carries build progress events from the builder to a
// printer, in the styles of BuildKit's --progress modes.
//
// The builder emits [Event]s to a [Sink]; the command line picks a
// [Printer] with [New]:
//
//   - "plain": one line per event, BuildKit's --progress=plain format:
//     "#3 [2/5] COPY . /app", "#3 0.123 <output line>", "#3 CACHED",
//     "#3 DONE 0.4s", "#3 ERROR: <message>". The "#N" numbers are given to
//     steps in the order they first appear.
//   - "tty": one line per step with its state and time, redrawn in place
//     with ANSI cursor movement at most ten times a second; a running step
//     shows its last six output lines, and a failed step keeps its last
//     lines and error visible in the final display.
//   - "json": each Event as one JSON object per line (see [Event] for the
//     fields).
//   - "quiet": nothing (used with -q).
//   - "auto": "tty" when the output is a terminal, else "plain".
//
// Printers are safe for concurrent use. Output errors are remembered and
// returned by [Printer.Close].
package progress
