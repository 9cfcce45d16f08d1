/** Version of the Plugboard wire protocol (handshake field core_protocol_version). */
export const CORE_PROTOCOL_VERSION = 1;

/** Credential headers. Runtime tokens travel as `authorization: Bearer pbrt_...`. */
export const HEADER_AUTHORIZATION = "authorization";
/** Grant token for a host capability call. */
export const HEADER_GRANT = "plugboard-grant";
/** Caller identity the host adds to routed calls, signed with the provider's key. */
export const HEADER_CALLER = "plugboard-caller";
/** Optional: pin a routed call to one provider (runtime ID or registration ID). */
export const HEADER_PROVIDER = "plugboard-provider";
/** Request id echoed in responses and audit records. */
export const HEADER_REQUEST_ID = "plugboard-request-id";

/** Kind prefixes make leaked tokens recognisable (secret scanners) and kinds impossible to confuse. */
export const TOKEN_PREFIX = { runtime: "pbrt_", grant: "pbgt_" } as const;
export type TokenKind = keyof typeof TOKEN_PREFIX;

/** Default limits; every one is an option of the host. */
export const DEFAULT_LIMITS = {
  /** Largest request message (host RPCs: also response), in bytes (gRPC's default). */
  maxMessageBytes: 4 * 1024 * 1024,
  /** Largest response message a routed call may deliver (Connect unary: the body), in bytes. */
  maxResponseMessageBytes: 4 * 1024 * 1024,
  /** Concurrent HTTP/2 streams per connection. */
  maxConcurrentStreams: 256,
  /** Total size of HTTP/2 header lists, in bytes. */
  maxHeaderListBytes: 16 * 1024,
  metadataEntries: 100,
  metadataKeyBytes: 256,
  metadataValueBytes: 4096,
  nameBytes: 128,
  urlBytes: 2048,
  /** Declarations per handshake (provides, requires, secrets, capabilities each). */
  declarations: 64,
  /** Events buffered per watcher before it is cut off. */
  watchBuffer: 1024,
  /** Concurrent watch streams per runtime. */
  watchersPerRuntime: 16,
  /** Handshakes per second per peer address (IPv6: per /64), sustained; plus a burst recovering over 10 s. */
  handshakesPerSecond: 20,
  handshakeBurst: 40,
  /** Live runtimes in the store, in total and per plugin name. */
  maxRuntimes: 10_000,
  maxRuntimesPerName: 256,
  /** Registrations per runtime, and per service type over all runtimes. */
  registrationsPerRuntime: 64,
  registrationsPerService: 1024,
  /** Encoded bytes of one registration's metadata, all entries together. */
  registrationMetadataBytes: 16 * 1024,
  /** Discover / ListRuntimes pages: default and largest item count, and bytes per page (Watch snapshot messages too). */
  pageSize: 100,
  maxPageSize: 1000,
  pageBytes: 1024 * 1024,
  /** Encoded FileDescriptorSet a registration may carry for reflection. */
  descriptorSetBytes: 1024 * 1024,
  /** A request stream must deliver its whole request within this long, unless authenticated and streaming. */
  requestBodyTimeoutMs: 30_000,
  /** Streams not yet authenticated whose request is still arriving, per remote address (IPv6: per /64). */
  unauthenticatedStreamsPerPeer: 1024,
  /** The same, all peers together. */
  unauthenticatedStreams: 4096,
  /** Concurrent grpc.health.v1.Health/Watch streams per remote address, and in total. */
  healthWatchersPerPeer: 16,
  healthWatchers: 256,
  /** Routed calls forwarded to one provider runtime at once; past it, ResourceExhausted with retry info. */
  maxInFlightPerProvider: 1024,
  /** Routed calls of one service still being authenticated/resolved; past it, Unavailable with retry info. */
  maxPendingPerService: 4096,
} as const;

export const DEFAULT_TTLS = {
  runtimeTokenMs: 60 * 60 * 1000,
  grantMs: 10 * 60 * 1000,
} as const;
