import { Code, ConnectError } from "@connectrpc/connect";
import { DEFAULT_LIMITS } from "../protocol/index.js";

/** A routed call's procedure, parsed from the request `:path` `/<pkg.Service>/<Method>[?query]`. */
export interface CallPath {
  readonly service: string;
  readonly method: string;
  /** `/<pkg.Service>/<Method>`, without query: what the caller header is bound to. */
  readonly procedure: string;
  /** The full `:path` including any query (Connect GET requests carry the message there). */
  readonly rawPath: string;
}

const SERVICE_RE = /^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$/;
const METHOD_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Parse and validate a call path; malformed shapes are Unimplemented (no such procedure), bad names InvalidArgument. */
export function parseCallPath(rawPath: string | undefined): CallPath | ConnectError {
  if (rawPath === undefined || rawPath.charCodeAt(0) !== 47 /* / */) {
    return new ConnectError("malformed call path", Code.Unimplemented);
  }
  const q = rawPath.indexOf("?");
  const procedure = q < 0 ? rawPath : rawPath.slice(0, q);
  const slash = procedure.indexOf("/", 1);
  if (slash < 0 || procedure.indexOf("/", slash + 1) >= 0) {
    return new ConnectError("malformed call path: expected /<package.Service>/<Method>", Code.Unimplemented);
  }
  const service = procedure.slice(1, slash);
  const method = procedure.slice(slash + 1);
  if (
    service.length === 0 ||
    service.length > DEFAULT_LIMITS.nameBytes ||
    method.length === 0 ||
    method.length > DEFAULT_LIMITS.nameBytes ||
    !SERVICE_RE.test(service) ||
    !METHOD_RE.test(method)
  ) {
    return new ConnectError("invalid service or method name in call path", Code.InvalidArgument);
  }
  return { service, method, procedure, rawPath };
}
