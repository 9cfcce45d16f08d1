import { writeSync } from "node:fs";

/**
 * A pino destination writing synchronously to a file descriptor (stdout by default) that never
 * blocks or throws: a process whose log reader is gone (its host died and the pipe broke, EPIPE) or
 * stalled (pipe full, EAGAIN) drops lines instead. pino's default destination retries failed writes
 * in a loop, so a plugin logging after its host's death could never reach process.exit.
 */
export interface SafeDestination {
  write(line: string): boolean;
  /** Lines dropped so far (a full or broken pipe). */
  readonly dropped: number;
}

export function createSafeDestination(fd = 1): SafeDestination {
  let broken = false;
  let dropped = 0;
  return {
    get dropped() {
      return dropped;
    },
    write(line) {
      if (broken) {
        dropped++;
        return true;
      }
      let rest = Buffer.from(line, "utf8");
      try {
        while (rest.length > 0) rest = rest.subarray(writeSync(fd, rest));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        // EAGAIN: the reader is alive but behind; any other error means it will never read again.
        if (code !== "EAGAIN") broken = true;
        dropped++;
      }
      return true;
    },
  };
}
