/**
 * Who may read fleet data from the ops listener: anyone local on a loopback listener (under a loopback
 * Host header only), and only an admin anywhere else. Probes and the page itself hold no fleet data.
 */
import * as http from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { createAdminCredential } from "../../../src/ops/index.js";
import { startTestHost, type TestHost } from "../../helpers/host.js";
import { createRbac } from "../../../src/policy/rbac.js";

let t: TestHost | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

/** A GET with a chosen Host header (fetch does not let one set it). */
function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers }, (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      })
      .on("error", reject);
  });
}

describe("ops listener access", () => {
  it("off loopback: /api/state needs an admin credential; a runtime token is forbidden; probes and the page stay open", async () => {
    const credential = createAdminCredential();
    t = await startTestHost({ adminCredential: credential });
    // Bound to every address: not loopback, so fleet data needs an admin. Reached here through 127.0.0.1.
    const ops = await t.host.listenOps({ port: 0, hostname: "0.0.0.0" });
    const base = `http://127.0.0.1:${ops.port}`;

    const anonymous = await get(`${base}/api/state`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).not.toContain("hostId");
    expect((await get(`${base}/api/events`)).status).toBe(401);

    const plugin = await t.handshake({ pluginName: "kv" });
    const runtime = await get(`${base}/api/state`, { authorization: `Bearer ${plugin.token}` });
    expect(runtime.status).toBe(403);

    const wrong = await get(`${base}/api/state`, { authorization: "Bearer pbadm_not-this-hosts" });
    expect(wrong.status).toBe(401);

    const admin = await get(`${base}/api/state`, { authorization: `Bearer ${credential.token}` });
    expect(admin.status).toBe(200);
    const state = JSON.parse(admin.body) as { hostId: string; runtimes: Array<Record<string, unknown>> };
    expect(state.hostId).toBe(t.host.hostId);
    expect(state.runtimes.map((r) => r["pluginName"])).toEqual(["kv"]);
    // Never a token or signing key in what the dashboard reads.
    expect(admin.body).not.toContain(plugin.token);
    expect(admin.body).not.toMatch(/signingKey|callerSigningKey|pbrt_|pbadm_/);

    for (const path of ["/healthz", "/readyz", "/metrics", "/", "/dashboard.js", "/dashboard.css"])
      expect([path, (await get(`${base}${path}`)).status]).toEqual([path, 200]);
    const page = await get(`${base}/`);
    expect(page.headers["content-security-policy"]).toContain("script-src 'self'");
    expect(page.body).not.toContain(t.host.hostId);
  });

  it("on loopback: local callers read the state, but not under a foreign Host header (DNS rebinding)", async () => {
    t = await startTestHost();
    const ops = await t.host.listenOps({ port: 0 });
    expect((await get(`${ops.url}/api/state`)).status).toBe(200);
    expect((await get(`${ops.url}/api/state`, { host: `localhost:${ops.port}` })).status).toBe(200);
    const rebound = await get(`${ops.url}/api/state`, { host: `attacker.example:${ops.port}` });
    expect(rebound.status).toBe(403);
    expect(rebound.body).not.toContain("hostId");
  });

  it("the admin credential is an admin for AdminService, also under RBAC without a binding for it", async () => {
    const credential = createAdminCredential();
    t = await startTestHost({ adminCredential: credential, rbac: createRbac({ roles: { plugin: { allow: ["handshake"] } }, bindings: [] }) });
    const admin = t.clients("connect").admin;
    const listed = await admin.listRuntimes({}, { headers: { authorization: `Bearer ${credential.token}` } });
    expect(listed.runtimes).toEqual([]);
    await expect(admin.listPlugins({}, { headers: { authorization: "Bearer pbadm_wrong" } })).rejects.toThrow(/admin credential/);
    // Only the admin permission: RBAC still judges it everywhere else.
    const registry = t.clients("connect").registry;
    await expect(registry.discover({ serviceType: "kv.v1.KVService" }, { headers: { authorization: `Bearer ${credential.token}` } })).rejects.toThrow(
      /permission|denied/i,
    );
  });

  it("event streams are bounded (ops maxEventStreams)", async () => {
    t = await startTestHost({ ops: { maxEventStreams: 1 } });
    const ops = await t.host.listenOps({ port: 0 });
    const first = await new Promise<http.IncomingMessage>((resolve, reject) => http.get(`${ops.url}/api/events`, resolve).on("error", reject));
    expect(first.statusCode).toBe(200);
    const second = await get(`${ops.url}/api/events`);
    expect(second.status).toBe(503);
    expect(second.body).toContain("maxEventStreams 1");
    first.destroy();
  });
});
