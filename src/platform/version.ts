import pkg from '../../package.json' with { type: 'json' };

/** The package version (package.json is the one source; openrpc.json shows it too). */
export const VERSION: string = pkg.version;
