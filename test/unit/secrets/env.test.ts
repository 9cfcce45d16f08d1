import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { SecretError, createEnvSecretProvider, envKeyOf, envNameOf, isSecretEnvKey } from "../../../src/secrets/index.js";
import { text } from "../../helpers/secrets.js";

describe("env secret provider", () => {
  it("maps names one-to-one to upper-case keys ('/' → '__') and refuses every other form", () => {
    expect(envKeyOf("openai/api_key")).toBe("OPENAI__API_KEY");
    expect(envKeyOf("db_password")).toBe("DB_PASSWORD");
    expect(envNameOf("OPENAI__API_KEY")).toBe("openai/api_key");
    expect(envNameOf("A___B")).toBeUndefined();
    for (const refused of ["db.main-password", "//x//", "Db", "a__b", "_a", "a_", "a/", "a#b", ""]) {
      expect(envKeyOf(refused), refused).toBeUndefined();
    }
    expect(isSecretEnvKey("PB_SECRET_X")).toBe(true);
    expect(isSecretEnvKey("HOME")).toBe(false);
  });

  it("reads from the injected environment at call time", async () => {
    const env: Record<string, string | undefined> = { PB_SECRET_OPENAI__API_KEY: "sk-test" };
    const provider = createEnvSecretProvider({ env });
    const secret = await provider.get("openai/api_key");
    expect(text(secret.value)).toBe("sk-test");
    expect(secret).toMatchObject({ name: "openai/api_key", version: "" });
    env["PB_SECRET_OPENAI__API_KEY"] = "sk-rotated";
    expect(text((await provider.get("openai/api_key")).value)).toBe("sk-rotated");
  });

  it("honours a custom prefix and lists only prefixed keys", async () => {
    const provider = createEnvSecretProvider({ prefix: "APP_", env: { APP_DB: "x", APP_API_KEY: "y", APP_OPENAI__KEY: "z", APP_BAD___KEY: "w", HOME: "/root" } });
    expect(await provider.list()).toEqual(["api_key", "db", "openai/key"]);
    expect(text((await provider.get("db")).value)).toBe("x");
    expect(() => createEnvSecretProvider({ prefix: "BAD-PREFIX" })).toThrow(TypeError);
  });

  it("fails with typed errors: missing, versioned, invalid names", async () => {
    const provider = createEnvSecretProvider({ env: {} });
    const missing = await provider.get("nope").catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(SecretError);
    expect(missing).toBeInstanceOf(ConnectError); // crosses connect boundaries unchanged
    expect((missing as SecretError).code).toBe(Code.NotFound);
    expect((missing as SecretError).secretName).toBe("nope");
    expect(ConnectError.from(missing).code).toBe(Code.NotFound);
    await expect(provider.get("x", { version: "3" })).rejects.toMatchObject({ code: Code.NotFound });
    // A name no variable can hold is NotFound (a chain goes on), its message states the rule.
    await expect(provider.get("///")).rejects.toMatchObject({ code: Code.NotFound, rawMessage: expect.stringContaining("lower-case") });
    await expect(provider.get("a\nb")).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(provider.get("")).rejects.toMatchObject({ code: Code.InvalidArgument });
  });

  it("getMany skips missing optional secrets and names a missing required one", async () => {
    const provider = createEnvSecretProvider({ env: { PB_SECRET_A: "1" } });
    const found = await provider.getMany([
      { name: "a", version: "", optional: false },
      { name: "b", version: "", optional: true },
    ]);
    expect(found.map((s) => s.name)).toEqual(["a"]);
    await expect(provider.getMany([{ name: "c", version: "", optional: false }])).rejects.toMatchObject({
      code: Code.NotFound,
      secretName: "c",
      rawMessage: 'required secret "c" is missing',
    });
  });
});
