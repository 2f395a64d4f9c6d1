/**
 * Former name of src/wiring.ts, kept so that code written against it still compiles while
 * the branches of issue 11 merge; import from './wiring' in new code.
 */
export { createWiring as createServices, systemClock, type Wiring as Services } from './wiring';
