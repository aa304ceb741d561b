/**
 * The one function the OpenRPC test uses from @open-rpc/schema-utils-js. Its own
 * declarations pull in @open-rpc/spec-types, which ships TypeScript sources that
 * fail noUnusedLocals (skipLibCheck skips only .d.ts files); tsconfig.json's
 * `paths` points the type check here instead. Vitest still loads the real package.
 */
export declare function validateOpenRPCDocument(document: unknown): Error | true;
