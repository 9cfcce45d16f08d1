import { readdirSync, readFileSync } from "node:fs";

const PAGE_BYTES = 4096;

/** Resident bytes of every process in process group `pgid` (Linux /proc); 0 when none is left. */
export function groupResidentBytes(pgid: number, proc = "/proc"): number {
  let total = 0;
  for (const entry of readdirSync(proc)) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Fields after the command name (which may hold spaces and parentheses): state ppid pgrp …; rss is field 24.
      const stat = readFileSync(`${proc}/${entry}/stat`, "latin1");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) !== pgid) continue;
      total += Number(fields[21]) * PAGE_BYTES;
    } catch {
      // the process ended while we looked
    }
  }
  return total;
}

export interface MemoryCeilingWatch {
  stop(): void;
}

/**
 * Checks the plugin's process group every `intervalMs`; the first time its resident memory is
 * past `ceilingBytes`, calls `onExceeded` once with what it measured. The timer never keeps the host alive.
 */
export function watchMemoryCeiling(options: {
  pgid: number;
  ceilingBytes: number;
  intervalMs: number;
  onExceeded: (residentBytes: number) => void;
  measure?: (pgid: number) => number;
}): MemoryCeilingWatch {
  const measure = options.measure ?? groupResidentBytes;
  const timer = setInterval(() => {
    const resident = measure(options.pgid);
    if (resident > options.ceilingBytes) {
      clearInterval(timer);
      options.onExceeded(resident);
    }
  }, options.intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
