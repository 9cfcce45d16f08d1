export { DescriptorPool } from "./pool.js";
export { fileDescriptorSetOf, filesOf } from "./descriptor-set.js";
export { createReflectionV1, createReflectionV1alpha } from "./service.js";
