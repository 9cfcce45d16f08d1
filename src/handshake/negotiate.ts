import semver from "semver";

/**
 * Picks the highest host protocol version that satisfies any range the plugin
 * offers (versions compared as semver, never as strings). An empty offer means
 * the plugin takes whatever the host speaks.
 */
export function negotiateVersion(hostVersions: readonly string[], pluginRanges: readonly string[]): string | undefined {
  const sorted = [...hostVersions].sort(semver.rcompare);
  if (pluginRanges.length === 0) return sorted[0];
  return sorted.find((version) => pluginRanges.some((range) => semver.satisfies(version, range)));
}

/**
 * negotiateVersion for one host's fixed versions, sorted once, with its answers remembered per
 * offer (plugins of one fleet send the same few offers; a pure function of them). `validate` runs
 * on an offer not seen yet and may throw (a refused offer is not remembered), so a remembered offer
 * was valid. Bounded: the memory is dropped whole when `maxOffers` distinct offers were seen.
 */
export function createVersionNegotiator(
  hostVersions: readonly string[],
  options: { validate?: (pluginRanges: readonly string[]) => void; maxOffers?: number } = {},
): (pluginRanges: readonly string[]) => string | undefined {
  const sorted = [...hostVersions].sort(semver.rcompare);
  const answers = new Map<string, string | undefined>();
  const maxOffers = options.maxOffers ?? 256;
  return (pluginRanges) => {
    const key = JSON.stringify(pluginRanges);
    if (answers.has(key)) return answers.get(key);
    options.validate?.(pluginRanges);
    const version = negotiateVersion(sorted, pluginRanges);
    if (answers.size >= maxOffers) answers.clear();
    answers.set(key, version);
    return version;
  };
}
