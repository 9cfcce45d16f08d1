/** What start ordering needs to know of a plugin. */
export interface DependencyDecl {
  name: string;
  /** Service types it provides. */
  provides?: readonly string[];
  /** Service types it calls. */
  requires?: readonly string[];
}

/**
 * Start layers: every plugin comes after the providers of what it requires; plugins in one layer
 * do not depend on each other and can start together. Requirements no listed plugin provides are
 * left to the outside world (in-process plugins, remote ones). A cycle is an error naming it.
 */
export function dependencyLayers<T extends DependencyDecl>(specs: readonly T[]): T[][] {
  const byName = new Map<string, T>();
  for (const spec of specs) {
    if (byName.has(spec.name)) throw new Error(`launcher: plugin ${JSON.stringify(spec.name)} is listed twice`);
    byName.set(spec.name, spec);
  }
  const providersOf = new Map<string, string[]>();
  for (const spec of specs)
    for (const type of spec.provides ?? []) providersOf.set(type, [...(providersOf.get(type) ?? []), spec.name]);
  const dependsOn = (spec: T): string[] => {
    const names = new Set<string>();
    for (const type of spec.requires ?? []) for (const p of providersOf.get(type) ?? []) if (p !== spec.name) names.add(p);
    return [...names];
  };

  const depth = new Map<string, number>();
  const onPath: string[] = [];
  const visit = (name: string): number => {
    const known = depth.get(name);
    if (known !== undefined) return known;
    const at = onPath.indexOf(name);
    if (at >= 0) throw new Error(`launcher: dependency cycle: ${[...onPath.slice(at), name].join(" → ")}`);
    onPath.push(name);
    let d = 0;
    for (const dep of dependsOn(byName.get(name) as T)) d = Math.max(d, visit(dep) + 1);
    onPath.pop();
    depth.set(name, d);
    return d;
  };
  for (const spec of specs) visit(spec.name);

  const layers: T[][] = [];
  for (const spec of specs) {
    const d = depth.get(spec.name) as number;
    (layers[d] ??= []).push(spec);
  }
  return layers;
}

/** A start order in which every provider comes before the plugins that require it. */
export function orderByDependencies<T extends DependencyDecl>(specs: readonly T[]): T[] {
  return dependencyLayers(specs).flat();
}
