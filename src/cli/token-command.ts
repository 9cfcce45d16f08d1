import type { Command } from "commander";
import { TOKEN_PREFIX } from "../protocol/constants.js";
import { tokenDigest } from "../tokens/tokens.js";
import { ENROLMENT_TOKEN_PREFIX } from "../enrolment/enrolment.js";

export interface TokenFacts {
  kind: "runtime" | "grant" | "enrolment" | "jwt" | "unknown";
  wellFormed: boolean;
  /** SHA-256 digest prefix: how the token is stored and how audit records refer to it. */
  digestPrefix: string;
  /** JWT only: the unverified header and claims. */
  jwt?: { header: unknown; claims: unknown };
}

/** What a token is, without ever printing it. JWT contents are shown unverified. */
export function inspectToken(token: string): TokenFacts {
  const digestPrefix = tokenDigest(token).slice(0, 16);
  const prefixes = [...Object.entries(TOKEN_PREFIX), ["enrolment", ENROLMENT_TOKEN_PREFIX]] as Array<[TokenFacts["kind"], string]>;
  for (const [kind, prefix] of prefixes) {
    if (token.startsWith(prefix))
      return { kind, wellFormed: /^[A-Za-z0-9_-]{43}$/.test(token.slice(prefix.length)), digestPrefix };
  }
  const parts = token.split(".");
  if (parts.length === 3) {
    try {
      const decode = (part: string) => JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
      return { kind: "jwt", wellFormed: true, digestPrefix, jwt: { header: decode(parts[0]!), claims: decode(parts[1]!) } };
    } catch {
      return { kind: "jwt", wellFormed: false, digestPrefix };
    }
  }
  return { kind: "unknown", wellFormed: false, digestPrefix };
}

export function registerTokenCommand(program: Command): Command {
  const token = program.command("token").description("token utilities");
  token
    .command("inspect")
    .description("show a token's kind and digest (reads the token from stdin when not given; never prints it)")
    .argument("[token]")
    .action(async (value: string | undefined) => {
      let input = value;
      if (input === undefined) {
        const chunks: Buffer[] = [];
        for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
        input = Buffer.concat(chunks).toString("utf8").trim();
      }
      const facts = inspectToken(input);
      console.log(JSON.stringify(facts, null, 2));
      if (!facts.wellFormed) {
        // Scripts rely on the exit code: a malformed token must not look like a successful inspection.
        console.error(
          facts.kind === "unknown"
            ? "plugboard: not a plugboard token (pbrt_…, pbgt_…) or a JWT"
            : `plugboard: malformed ${facts.kind} token`,
        );
        process.exitCode = 1;
      }
    });
  return token;
}
