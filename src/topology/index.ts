export * from './builder.js';
export * from './describe.js';
export type * from './graph.js';
export * from './names.js';
