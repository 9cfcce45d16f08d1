import { Writable } from "node:stream";

const LEVELS: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO ", 40: "WARN ", 50: "ERROR", 60: "FATAL" };
const SHOWN = ["plugin", "pluginName", "runtimeId", "url", "serviceType", "event", "outcome", "target", "reason", "restarts", "state"];

/**
 * Turns pino's JSON lines into one readable line each for the demo:
 * `12:00:01 INFO  [kv-provider] ready rt_… http://127.0.0.1:…`.
 */
export function prettyDestination(out: NodeJS.WritableStream = process.stdout): Writable {
  return new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n")) {
        if (!line) continue;
        try {
          const record = unwrap(JSON.parse(line) as Record<string, unknown>);
          const time = new Date(Number(record["time"])).toISOString().slice(11, 19);
          const who = record["plugin"] ?? record["name"] ?? "host";
          const extra = SHOWN.filter((k) => k !== "plugin" && record[k] !== undefined && record[k] !== null)
            .map((k) => `${k}=${typeof record[k] === "object" ? JSON.stringify(record[k]) : String(record[k])}`)
            .join(" ");
          const audit = record["audit"] as Record<string, unknown> | undefined;
          const auditText = audit ? ` ${audit["outcome"]} ${audit["target"] ?? ""}` : "";
          out.write(`${time} ${LEVELS[Number(record["level"])] ?? "INFO "} [${String(who)}] ${String(record["msg"] ?? "")}${auditText}${extra ? "  " + extra : ""}\n`);
        } catch {
          out.write(line + "\n");
        }
      }
      done();
    },
  });
}

/** A plugin's own pino line captured from its stderr arrives as the message: show the inner record. */
function unwrap(record: Record<string, unknown>): Record<string, unknown> {
  const msg = record["msg"];
  if (typeof msg !== "string" || !msg.startsWith("{")) return record;
  try {
    const inner = JSON.parse(msg) as Record<string, unknown>;
    return { ...inner, plugin: record["plugin"], time: inner["time"] ?? record["time"] };
  } catch {
    return record;
  }
}
