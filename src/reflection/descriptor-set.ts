import { create, toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";

/** The files defining `services` and everything they import, dependencies first. */
export function filesOf(services: readonly DescService[]): DescFile[] {
  const seen = new Set<string>();
  const out: DescFile[] = [];
  const visit = (file: DescFile) => {
    if (seen.has(file.name)) return;
    seen.add(file.name);
    for (const dep of file.dependencies) visit(dep);
    out.push(file);
  };
  for (const s of services) visit(s.file);
  return out;
}

/** A serialized google.protobuf.FileDescriptorSet of the services' files (what a registration carries). */
export function fileDescriptorSetOf(services: readonly DescService[]): Uint8Array {
  return toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: filesOf(services).map((f) => f.proto) }));
}
