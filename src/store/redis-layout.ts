import { LAYOUT_VERSION, type KeyLayout } from "./redis-keys.js";
import type { RedisClient } from "./redis-source.js";

/** Keys only layout 1 (one slot per deployment, before buckets) wrote: `{plugboard}:rt-exp` and the like. */
const LAYOUT_1_KEYS = ["rt-exp", "events", "regs", "lease", "cred-exp"];

/** "version:buckets", stored under the deployment's `layout` key. */
export const layoutMarker = (layout: KeyLayout) => `${LAYOUT_VERSION}:${layout.buckets}`;

/**
 * Refuses to start on state this version cannot read, rather than ignoring it (a deployment upgraded in
 * place would silently lose its runtimes, credentials and registrations, and hosts of both versions
 * would split into two fleets): layout 1's keys, or another bucket count. A deployment without state
 * gets the marker. Called before anything is written, and again (marker only) after Redis lost its data.
 */
export async function checkLayout(client: RedisClient, layout: KeyLayout, keyPrefix: string): Promise<void> {
  const markerKey = layout.global("layout");
  const want = layoutMarker(layout);
  let current = await client.get(markerKey);
  if (current === null) {
    const old = await client.exists(...LAYOUT_1_KEYS.map((name) => layout.global(name)));
    if (old > 0) {
      const pattern = `${layout.global("")}*`;
      throw new Error(
        `Redis store: Redis holds this deployment's state (keyPrefix "${keyPrefix}") in key layout 1 (all keys in one slot); ` +
          `this version uses layout ${LAYOUT_VERSION} (keys spread over ${layout.buckets} hash-tag buckets) and cannot read it. ` +
          `Stop every host of the deployment, delete the old keys (redis-cli --scan --pattern '${pattern}' | xargs -r redis-cli unlink; ` +
          `on a Cluster, against the node serving that slot), then start the upgraded hosts: live plugins handshake and register again ` +
          `by themselves (docs/redis-store.md, "Key layout upgrades").`,
      );
    }
    await client.set(markerKey, want, "NX");
    current = await client.get(markerKey);
  }
  if (current !== want) {
    throw new Error(
      `Redis store: this deployment's keys (keyPrefix "${keyPrefix}") use key layout ${current} (version:buckets) and this host ${want}: ` +
        `every host of a deployment needs the same version and the same \`buckets\` option (docs/redis-store.md, "Key layout upgrades").`,
    );
  }
}
