/** An option or argument of `everyOnce()` that can never work; a `TypeError` with a stable code. */
export class JobsOptionError extends TypeError {
  readonly code = 'BANCADA_JOBS_INVALID_OPTION' as const;

  constructor(message: string) {
    super(message);
    this.name = 'JobsOptionError';
  }
}
