/**
 * The magic cookie the example host and plugins share. A real host application picks its own
 * and hands it to the plugins it starts; env overrides let tests use theirs.
 */
export const EXAMPLE_COOKIE = {
  key: process.env["PLUGBOARD_COOKIE_KEY"] ?? "PLUGBOARD_EXAMPLE",
  value: process.env["PLUGBOARD_COOKIE_VALUE"] ?? "example-plugins-2c1f",
};
