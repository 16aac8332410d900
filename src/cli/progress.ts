/** A single status line, redrawn in place on a terminal and printed sparsely otherwise. */
export class ProgressLine {
  private last = 0;
  private readonly tty = process.stderr.isTTY === true;
  constructor(private readonly label: string) {}

  update(text: string): void {
    const now = Date.now();
    if (now - this.last < (this.tty ? 100 : 2000)) return;
    this.last = now;
    if (this.tty) process.stderr.write(`\r\x1b[2K${this.label}: ${text}`);
    else process.stderr.write(`${this.label}: ${text}\n`);
  }

  done(text: string): void {
    if (this.tty) process.stderr.write('\r\x1b[2K');
    console.log(`${this.label}: ${text}`);
  }
}
