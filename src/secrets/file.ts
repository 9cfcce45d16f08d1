import { readdir, readFile, realpath, stat } from "node:fs/promises";
import { extname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { secretInvalidName, secretNotFound, secretUnavailable } from "./errors.js";
import { isPlainObject, pickFromDocument, encodeValue, splitField } from "./fields.js";
import { resolveMany } from "./many.js";
import type { GetSecretOptions, SecretProvider, SecretValue } from "./types.js";

export interface FileProviderOptions {
  /**
   * A directory with one file per secret (as Kubernetes mounts a Secret, `..data`
   * symlink layout included; `a/b` is the file `a/b`), or one `.json`/`.yaml`/`.yml`
   * document whose keys (or nested objects, `a/b` → `{a: {b}}`) are the secrets.
   */
  path: string;
  /** Largest file read (default 1 MiB, the Kubernetes Secret limit). */
  maxBytes?: number;
}

const BACKEND = "file provider";
const MAX_LIST_DEPTH = 8;
const MAX_LIST_ENTRIES = 10_000;

/**
 * Secrets from the file system, re-read on every get so a rotated mount is
 * seen at once (wrap it in the cache to bound the reads). Files are resolved
 * through symlinks but must stay inside the directory.
 */
export function createFileSecretProvider(options: FileProviderOptions): SecretProvider {
  if (!options.path) throw new TypeError("file secret provider needs a path");
  const root = resolve(options.path);
  const maxBytes = options.maxBytes ?? 1024 * 1024;
  const documentFormat = formatOf(root);

  const get = async (name: string, opts: GetSecretOptions = {}): Promise<SecretValue> => {
    const found = documentFormat ? await readFromDocument(name) : await readFromDirectory(name);
    if (opts.version && opts.version !== found.version) {
      throw secretNotFound(name, `version "${opts.version}" not available (only the mounted one is)`);
    }
    return found;
  };

  const readFromDirectory = async (name: string): Promise<SecretValue> => {
    const segments = name.split("/");
    splitField(name); // common checks (length, control characters, lone surrogates)
    // Some file systems (APFS, HFS+) fold normalisation forms onto one file: accept only NFC so names stay 1:1.
    if (name.normalize("NFC") !== name) throw secretInvalidName(name, "not in Unicode normalisation form C");
    for (const segment of segments) {
      // Dot segments would reach `..data`, the timestamped dirs or outside the mount.
      if (!segment || segment.startsWith(".") || segment.includes("\\")) {
        throw secretInvalidName(name, "path segments must be non-empty and not start with '.'");
      }
    }
    const realRoot = await realpath(root).catch(() => {
      throw secretUnavailable(name, BACKEND, "secret directory missing");
    });
    let real: string;
    try {
      real = await realpath(join(realRoot, ...segments));
    } catch {
      throw secretNotFound(name);
    }
    const inside = relative(realRoot, real);
    if (inside === "" || inside === ".." || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
      throw secretNotFound(name, "resolves outside the secret directory");
    }
    const info = await stat(real).catch(() => undefined);
    if (!info?.isFile()) throw secretNotFound(name);
    if (info.size > maxBytes) throw secretUnavailable(name, BACKEND, `file larger than ${maxBytes} bytes`);
    const value = await readFile(real).catch(() => {
      throw secretNotFound(name);
    });
    // Kubernetes layout: key → ..data/key → ..<timestamp>/key; the timestamped dir is the version,
    // read from the same resolution as the bytes so a concurrent swap cannot mix them.
    const first = inside.split(sep)[0]!;
    const version = first.startsWith("..") && first !== inside ? first : String(Math.trunc(info.mtimeMs));
    return { name, version, value: new Uint8Array(value) };
  };

  const readDocument = async (): Promise<{ document: Record<string, unknown>; version: string }> => {
    let info;
    try {
      info = await stat(root);
    } catch {
      throw secretUnavailable(undefined, BACKEND, "secret file missing");
    }
    if (info.size > maxBytes) throw secretUnavailable(undefined, BACKEND, `file larger than ${maxBytes} bytes`);
    const text = await readFile(root, "utf8").catch(() => {
      throw secretUnavailable(undefined, BACKEND, "secret file unreadable");
    });
    let document: unknown;
    try {
      document = documentFormat === "json" ? JSON.parse(text) : (await import("yaml")).parse(text); // loaded only for YAML
    } catch {
      // The parser's message may quote the file: say only that it is malformed.
      throw secretUnavailable(undefined, BACKEND, `secret file is not valid ${documentFormat}`);
    }
    if (!isPlainObject(document)) throw secretUnavailable(undefined, BACKEND, "secret file is not a mapping");
    return { document, version: String(Math.trunc(info.mtimeMs)) };
  };

  const readFromDocument = async (name: string): Promise<SecretValue> => {
    const { path, field } = splitField(name);
    const { document, version } = await readDocument();
    const found = locate(document, path);
    if (found?.value === undefined || found.value === null) throw secretNotFound(name);
    refuseAlias(name, document, found, field);
    const { value } = found;
    if (isPlainObject(value)) return { name, version, value: pickFromDocument(name, value, field) };
    if (field !== undefined) throw secretNotFound(name, `field "${field}" not present`);
    return { name, version, value: encodeValue(value) };
  };

  return {
    kind: "file",
    get,
    locate: (name) =>
      documentFormat ? `key "${splitField(name).path}" of file ${root}` : `file ${join(root, ...name.split("#")[0]!.split("/"))}`,
    async list() {
      if (documentFormat) return listDocument((await readDocument()).document);
      return listDirectory(root);
    },
    getMany: (needs) => resolveMany(get, needs),
    async health() {
      try {
        const info = await stat(root);
        if (documentFormat) await readDocument();
        else if (!info.isDirectory()) return { ok: false, detail: "secret path is not a directory" };
        return { ok: true };
      } catch (error) {
        return { ok: false, detail: error instanceof Error && "rawMessage" in error ? String(error.rawMessage) : "secret path unreadable" };
      }
    },
  };
}

function formatOf(path: string): "json" | "yaml" | undefined {
  const ext = extname(path).toLowerCase();
  if (ext === ".json") return "json";
  if (ext === ".yaml" || ext === ".yml") return "yaml";
  return undefined;
}

interface Located {
  value: unknown;
  /** The keys walked to it: `[path]` for an exact key, else the path's segments. */
  keys: string[];
  /** The object holding it (undefined at the top). */
  parent?: Record<string, unknown>;
}

/** Exact key first (`"a/b": ...`), then nested objects (`a: {b: ...}`); own keys only. */
function locate(document: Record<string, unknown>, path: string): Located | undefined {
  if (Object.hasOwn(document, path)) return { value: document[path], keys: [path] };
  let parent: Record<string, unknown> | undefined;
  let current: unknown = document;
  const keys = path.split("/");
  for (const segment of keys) {
    if (!isPlainObject(current) || !Object.hasOwn(current, segment)) return undefined;
    parent = current;
    current = current[segment];
  }
  return { value: current, keys, ...(parent ? { parent } : {}) };
}

const sameKeys = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((k, i) => k === b[i]);

/**
 * Each entry of a document has one name, so name-based policy holds: `a#b` is refused where `a/b`
 * reaches the same entry, and `x/value` / `x#value` where `x` alone already reads its lone `value`.
 */
function refuseAlias(name: string, document: Record<string, unknown>, found: Located, field: string | undefined): void {
  const lone = (object: unknown): boolean => isPlainObject(object) && Object.keys(object).length === 1 && Object.hasOwn(object, "value");
  if (field === undefined) {
    if (found.keys.at(-1) === "value" && found.keys.length > 1 && lone(found.parent)) {
      throw secretInvalidName(name, `the same entry is named "${found.keys.slice(0, -1).join("/")}"`);
    }
    return;
  }
  if (field === "value" && lone(found.value)) {
    throw secretInvalidName(name, `the same entry is named "${name.slice(0, name.lastIndexOf("#"))}"`);
  }
  const plain = locate(document, `${splitField(name).path}/${field}`);
  if (plain && sameKeys(plain.keys, [...found.keys, field])) {
    throw secretInvalidName(name, `the same entry is named "${splitField(name).path}/${field}"`);
  }
}

function listDocument(document: Record<string, unknown>, prefix = "", depth = 0, out: string[] = []): string[] {
  for (const [key, value] of Object.entries(document)) {
    if (out.length >= MAX_LIST_ENTRIES) break;
    // A top-level key holding '/' is reached only as an exact key: its fields are named with '#'.
    if (depth === 0 && key.includes("/") && isPlainObject(value)) out.push(...Object.keys(value).map((field) => `${key}#${field}`));
    // Deeper, such a key is reached only as a field of its parent.
    else if (depth > 0 && key.includes("/")) out.push(`${prefix.slice(0, -1)}#${key}`);
    else if (isPlainObject(value) && depth < MAX_LIST_DEPTH) listDocument(value, `${prefix}${key}/`, depth + 1, out);
    else out.push(prefix + key);
  }
  return prefix ? out : out.sort();
}

async function listDirectory(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string, prefix: string, depth: number) => {
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch {
      if (depth === 0) throw secretUnavailable(undefined, BACKEND, "secret directory unreadable");
      return;
    }
    for (const entry of entries.sort()) {
      if (entry.startsWith(".") || out.length >= MAX_LIST_ENTRIES) continue;
      const info = await stat(join(dir, entry)).catch(() => undefined); // follows the ..data symlinks
      if (info?.isFile()) out.push(prefix + entry);
      else if (info?.isDirectory() && depth < MAX_LIST_DEPTH) await walk(join(dir, entry), `${prefix}${entry}/`, depth + 1);
    }
  };
  await walk(root, "", 0);
  return out;
}
