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
