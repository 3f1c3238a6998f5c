/** An option that cannot work; a `TypeError` with a stable code. */
export class SessionOptionError extends TypeError {
  readonly code = 'BANCADA_SESSION_INVALID_OPTION' as const;

  constructor(message: string) {
    super(message);
    this.name = 'SessionOptionError';
  }
}
