import { Code } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { createEnvSecretProvider } from "../../../src/secrets/env.js";
import { createLazySecretProvider, importWithOptionalPeer } from "../../../src/secrets/lazy.js";
import { createSecretProvider } from "../../../src/secrets/config.js";

describe("providers backed by an optional package", () => {
  it("are loaded on first use, once, and then answer as the loaded provider", async () => {
    let loads = 0;
    const provider = createLazySecretProvider("env", async () => {
      loads++;
      return createEnvSecretProvider({ env: { PB_SECRET_API: "v" } });
    });
    expect(loads).toBe(0);
    expect(new TextDecoder().decode((await provider.get("api")).value)).toBe("v");
    expect(await provider.list()).toEqual(["api"]);
    expect(loads).toBe(1);
  });

  it("a missing optional package is a FailedPrecondition naming it, also in health", async () => {
    const missing = "plugboard-test-no-such-package";
    const load = () => importWithOptionalPeer(() => import(missing), missing, "the test provider");
    await expect(load()).rejects.toMatchObject({ code: Code.FailedPrecondition, rawMessage: `the test provider needs the optional package ${missing}: npm install ${missing}` });
    const provider = createLazySecretProvider("test", async () => (await load()) as never);
    expect(await provider.health()).toEqual({ ok: false, detail: `the test provider needs the optional package ${missing}: npm install ${missing}` });
  });

  it("createSecretProvider checks an aws config at once but loads the AWS SDK only when used", () => {
    expect(() => createSecretProvider({ kind: "aws" } as never)).toThrow("aws secret provider needs a region");
    expect(createSecretProvider({ kind: "aws", region: "eu-west-1", cache: false }).kind).toBe("aws");
  });
});
