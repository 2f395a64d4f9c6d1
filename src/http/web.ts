/**
 * The browser side of applink: see web/index.ts for the modules, one concern each. This
 * file only re-exports them, so `./web` names one module whatever the build directory
 * already holds.
 */
export * from './web/index';
