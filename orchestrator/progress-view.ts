// The live progress view: one compact line per second. On a terminal (and without
// NO_COLOR) the line is redrawn in place; otherwise each line is printed plainly.

export interface ProgressView {
  line(text: string): void;
  /** Prints a message above the progress line (events, verdicts). */
  note(text: string): void;
  done(): void;
}

export function progressView(
  stream: NodeJS.WritableStream,
  tty: boolean,
  env: NodeJS.ProcessEnv,
  prefix = '',
): ProgressView {
  const redraw = tty && !env.NO_COLOR;
  let drawn = false;
  return {
    line(text) {
      if (redraw) {
        stream.write(`\r\x1b[2K${prefix}${text}`);
        drawn = true;
      } else stream.write(`${prefix}${text}\n`);
    },
    note(text) {
      if (redraw && drawn) stream.write('\r\x1b[2K');
      stream.write(`${prefix}${text}\n`);
      drawn = false;
    },
    done() {
      if (redraw && drawn) stream.write('\n');
      drawn = false;
    },
  };
}
