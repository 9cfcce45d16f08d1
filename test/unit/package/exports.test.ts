import { expect, it } from "vitest";

// The built package (npm install runs `prepare`) exposes what the README's quick starts import.
it("exports createPluginHost from plugboard and createPlugin from plugboard/sdk", async () => {
  const host = (await import("plugboard" as string)) as Record<string, unknown>;
  const sdk = (await import("plugboard/sdk" as string)) as Record<string, unknown>;
  expect(typeof host["createPluginHost"]).toBe("function");
  expect(typeof host["createMemoryStore"]).toBe("function");
  expect(typeof sdk["createPlugin"]).toBe("function");
  expect(typeof sdk["provide"]).toBe("function");
  expect(typeof sdk["requireService"]).toBe("function");
});
