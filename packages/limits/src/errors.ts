/** An option that cannot work; a `TypeError` with a stable code. */
export class LimitsOptionError extends TypeError {
  readonly code = 'BANCADA_LIMITS_INVALID_OPTION' as const;

  constructor(message: string) {
    super(message);
    this.name = 'LimitsOptionError';
  }
}
