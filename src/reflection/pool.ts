import { createFileRegistry, fromBinary, toBinary, type DescMessage, type FileRegistry } from "@bufbuild/protobuf";
import {
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  type DescriptorProto,
  type FileDescriptorProto,
  type FileDescriptorSet,
} from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";

/** One source of descriptors: the host's own services, or one registration's set. */
interface Source {
  /** The registration's set as sent, for JSON translation (a registry is built on first use). */
  set?: FileDescriptorSet;
  registry?: FileRegistry | null;
  files: Map<string, { bytes: Uint8Array; deps: string[] }>;
  /** Fully-qualified symbol → defining file name. */
  symbols: Map<string, string>;
  services: string[];
}

function indexFile(file: FileDescriptorProto, symbols: Map<string, string>, services: string[]): void {
  const prefix = file.package === "" ? "" : `${file.package}.`;
  const addMessage = (m: DescriptorProto, scope: string) => {
    const name = `${scope}${m.name}`;
    symbols.set(name, file.name);
    for (const n of m.nestedType) addMessage(n, `${name}.`);
    for (const e of m.enumType) symbols.set(`${name}.${e.name}`, file.name);
    for (const x of m.extension) symbols.set(`${name}.${x.name}`, file.name);
  };
  for (const m of file.messageType) addMessage(m, prefix);
  for (const e of file.enumType) symbols.set(`${prefix}${e.name}`, file.name);
  for (const x of file.extension) symbols.set(`${prefix}${x.name}`, file.name);
  for (const s of file.service) {
    const name = `${prefix}${s.name}`;
    symbols.set(name, file.name);
    services.push(name);
    for (const m of s.method) symbols.set(`${name}.${m.name}`, file.name);
  }
}

function sourceOf(files: readonly FileDescriptorProto[]): Source {
  const source: Source = { files: new Map(), symbols: new Map(), services: [] };
  for (const f of files) {
    source.files.set(f.name, { bytes: toBinary(FileDescriptorProtoSchema, f), deps: f.dependency });
    indexFile(f, source.symbols, source.services);
  }
  return source;
}

/**
 * Descriptors the host can describe over reflection: its own services' files and the sets
 * registrations carried. Held in this host's memory (a set is dropped with its registration).
 */
export class DescriptorPool {
  private readonly sources = new Map<string, Source>();

  /** Add the host's own (or any fixed) files under `id`. */
  addFiles(id: string, files: readonly FileDescriptorProto[]): void {
    this.sources.set(id, sourceOf(files));
  }

  /**
   * Parse and keep a registration's FileDescriptorSet. InvalidArgument when it does not parse or
   * does not define `serviceType`; the size limit is the caller's (registry) to apply first.
   */
  addSet(registrationId: string, serviceType: string, bytes: Uint8Array): void {
    let files: FileDescriptorProto[];
    let set: FileDescriptorSet;
    try {
      set = fromBinary(FileDescriptorSetSchema, bytes);
      files = set.file;
    } catch {
      throw new ConnectError("file_descriptor_set: not a serialized google.protobuf.FileDescriptorSet", Code.InvalidArgument);
    }
    const source = sourceOf(files);
    source.set = set;
    if (!source.services.includes(serviceType)) {
      throw new ConnectError(`file_descriptor_set: does not define service ${serviceType}`, Code.InvalidArgument);
    }
    this.sources.set(registrationId, source);
  }

  /**
   * The message types of `service/method` from registration `id`'s set, for the router's JSON
   * translation; undefined without a set, or when the set does not resolve (imports left out).
   */
  methodSchema(id: string, service: string, method: string): { input: DescMessage; output: DescMessage } | undefined {
    const source = this.sources.get(id);
    if (!source?.set) return undefined;
    if (source.registry === undefined) {
      try {
        source.registry = createFileRegistry(source.set);
      } catch {
        source.registry = null;
      }
    }
    const m = source.registry?.getService(service)?.methods.find((x) => x.name === method);
    return m ? { input: m.input, output: m.output } : undefined;
  }

  remove(id: string): void {
    this.sources.delete(id);
  }

  /** Every describable service name, sorted, each once. */
  listServices(): string[] {
    const names = new Set<string>();
    for (const s of this.sources.values()) for (const n of s.services) names.add(n);
    return [...names].sort();
  }

  /** The file with this name and its transitive imports (file first), or undefined. */
  fileByName(name: string): Uint8Array[] | undefined {
    for (const s of this.sources.values()) if (s.files.has(name)) return closure(s, name);
    return undefined;
  }

  /** The file defining a fully-qualified symbol (service, method, message, enum, extension) and its imports. */
  fileContainingSymbol(symbol: string): Uint8Array[] | undefined {
    for (const s of this.sources.values()) {
      const file = s.symbols.get(symbol);
      if (file !== undefined) return closure(s, file);
    }
    return undefined;
  }
}

function closure(source: Source, name: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  const seen = new Set<string>();
  const visit = (n: string) => {
    if (seen.has(n)) return;
    seen.add(n);
    const f = source.files.get(n);
    if (!f) return; // an import the set left out: the client asks for it by name
    out.push(f.bytes);
    for (const d of f.deps) visit(d);
  };
  visit(name);
  return out;
}
