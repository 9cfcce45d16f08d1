import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A loopback stand-in for AWS Secrets Manager speaking its AWS JSON 1.1
 * protocol: `POST /` with `X-Amz-Target: secretsmanager.<Operation>`, a JSON
 * body, errors as HTTP 400 with `__type` (and `x-amzn-ErrorType`). Only
 * GetSecretValue and ListSecrets are implemented. A real AWS cannot be
 * reached here; this reproduces the shapes the SDK parses.
 */
interface StoredVersion {
  id: string;
  string?: string;
  binary?: Uint8Array;
  stages: string[];
  created: number;
}

interface StoredSecret {
  name: string;
  arn: string;
  versions: StoredVersion[];
  deleted: boolean;
}

export interface FakeSecretsManager {
  url: string;
  /** Adds a version that becomes AWSCURRENT (the old current becomes AWSPREVIOUS). Returns its VersionId. */
  put(name: string, value: string | Uint8Array, versionId?: string): string;
  /** Marks a secret as scheduled for deletion. */
  markDeleted(name: string): void;
  deny(name: string): void;
  /** "ok"; "throttle" → ThrottlingException; "down" → 503 InternalServiceError; "reset" → socket destroyed. */
  mode: "ok" | "throttle" | "down" | "reset";
  /** Throttle only the next N requests (then "ok"). */
  throttleNext: number;
  calls: Map<string, number>;
  /** Authorization header of the last request (SigV4 proof). */
  lastAuthorization: string | undefined;
  lastTarget: string | undefined;
  lastContentType: string | undefined;
  close(): Promise<void>;
}

const REGION = "us-east-1";

export async function startFakeSecretsManager(): Promise<FakeSecretsManager> {
  const secrets = new Map<string, StoredSecret>();
  const denied = new Set<string>();
  let versionCounter = 0;

  const count = (label: string) => fake.calls.set(label, (fake.calls.get(label) ?? 0) + 1);
  const reply = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/x-amz-json-1.1", "x-amzn-requestid": "req-1" });
    res.end(JSON.stringify(body));
  };
  const fail = (res: ServerResponse, status: number, type: string, message: string) => {
    res.writeHead(status, {
      "content-type": "application/x-amz-json-1.1",
      "x-amzn-errortype": `${type}:http://internal.amazon.com/coral/com.amazonaws.secretsmanager/`,
      "x-amzn-requestid": "req-1",
    });
    res.end(JSON.stringify({ __type: type, message }));
  };
  const find = (id: string) => secrets.get(id) ?? [...secrets.values()].find((s) => s.arn === id);

  const getSecretValue = (res: ServerResponse, input: Record<string, unknown>) => {
    const id = String(input["SecretId"] ?? "");
    count(`get:${id}`);
    if (denied.has(id)) {
      return fail(res, 400, "AccessDeniedException", `User is not authorized to perform: secretsmanager:GetSecretValue on resource: ${id}`);
    }
    const secret = find(id);
    if (!secret) return fail(res, 400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.");
    if (secret.deleted) {
      return fail(res, 400, "InvalidRequestException", "You can't perform this operation on the secret because it was marked for deletion.");
    }
    let version: StoredVersion | undefined;
    if (typeof input["VersionId"] === "string") version = secret.versions.find((v) => v.id === input["VersionId"]);
    else {
      const stage = typeof input["VersionStage"] === "string" ? input["VersionStage"] : "AWSCURRENT";
      version = secret.versions.find((v) => v.stages.includes(stage));
    }
    if (!version) {
      return fail(res, 400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret value for staging label or VersionId.");
    }
    const body: Record<string, unknown> = {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.id,
      VersionStages: version.stages,
      CreatedDate: version.created / 1000,
    };
    if (version.binary) body["SecretBinary"] = Buffer.from(version.binary).toString("base64");
    else body["SecretString"] = version.string;
    return reply(res, 200, body);
  };

  const listSecrets = (res: ServerResponse, input: Record<string, unknown>) => {
    count("list");
    const all = [...secrets.values()].filter((s) => !s.deleted);
    const start = Number(input["NextToken"] ?? 0);
    const max = Number(input["MaxResults"] ?? 100);
    const page = all.slice(start, start + max);
    const body: Record<string, unknown> = {
      SecretList: page.map((s) => ({ ARN: s.arn, Name: s.name, LastChangedDate: Date.now() / 1000 })),
    };
    if (start + max < all.length) body["NextToken"] = String(start + max);
    return reply(res, 200, body);
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      fake.lastAuthorization = req.headers["authorization"];
      fake.lastTarget = req.headers["x-amz-target"] as string | undefined;
      fake.lastContentType = req.headers["content-type"];
      if (fake.mode === "reset") return req.socket.destroy();
      if (fake.mode === "down") return fail(res, 503, "InternalServiceError", "An error occurred on the server side.");
      if (fake.mode === "throttle" || fake.throttleNext > 0) {
        if (fake.throttleNext > 0) fake.throttleNext--;
        count("throttled");
        return fail(res, 400, "ThrottlingException", "Rate exceeded");
      }
      if (req.method !== "POST" || req.url !== "/") return fail(res, 404, "UnknownOperationException", "");
      if (!String(req.headers["authorization"] ?? "").startsWith("AWS4-HMAC-SHA256 Credential=")) {
        return fail(res, 400, "MissingAuthenticationTokenException", "Missing Authentication Token");
      }
      let input: Record<string, unknown>;
      try {
        input = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
      } catch {
        return fail(res, 400, "SerializationException", "");
      }
      switch (req.headers["x-amz-target"]) {
        case "secretsmanager.GetSecretValue":
          return getSecretValue(res, input);
        case "secretsmanager.ListSecrets":
          return listSecrets(res, input);
        default:
          return fail(res, 400, "UnknownOperationException", "");
      }
    });
  };

  const server: Server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;

  const fake: FakeSecretsManager = {
    url: `http://127.0.0.1:${port}`,
    mode: "ok",
    throttleNext: 0,
    calls: new Map(),
    lastAuthorization: undefined,
    lastTarget: undefined,
    lastContentType: undefined,
    put(name, value, versionId) {
      const secret = secrets.get(name) ?? {
        name,
        arn: `arn:aws:secretsmanager:${REGION}:123456789012:secret:${name}-AbCdEf`,
        versions: [],
        deleted: false,
      };
      for (const v of secret.versions) v.stages = v.stages.filter((s) => s !== "AWSPREVIOUS");
      for (const v of secret.versions) {
        if (v.stages.includes("AWSCURRENT")) v.stages = v.stages.filter((s) => s !== "AWSCURRENT").concat("AWSPREVIOUS");
      }
      const id = versionId ?? `v${++versionCounter}-0000-0000-0000-000000000000`;
      secret.versions.push({
        id,
        ...(typeof value === "string" ? { string: value } : { binary: value }),
        stages: ["AWSCURRENT"],
        created: Date.now(),
      });
      secrets.set(name, secret);
      return id;
    },
    markDeleted(name) {
      secrets.get(name)!.deleted = true;
    },
    deny(name) {
      denied.add(name);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}
