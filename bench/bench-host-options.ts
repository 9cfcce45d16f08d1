/** Settings every benchmark host shares. */
export const BENCH_COOKIE = { key: "PLUGBOARD_BENCH", value: "bench-cookie" };
/** Far above anything the benchmark can send: the limiter runs on every call but never refuses. */
export const NEVER_REFUSE = { points: 1_000_000_000, durationSec: 1 };
