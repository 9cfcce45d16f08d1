/**
 * The one entry to @peculiar/x509. It needs a Reflect metadata polyfill (through
 * tsyringe) loaded before it; ESM evaluates imports in order, so importing the
 * polyfill first here guarantees that for every module importing from this file.
 */
import "reflect-metadata";
export * from "@peculiar/x509";
