export { JobsOptionError } from './errors.js';
export { everyOnce } from './every-once.js';
export { Job } from './job.js';
export type { EveryOnceOptions, JobFn } from './options.js';
export type { JobStats } from './stats.js';
