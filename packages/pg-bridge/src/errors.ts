/** An option that can never work; a `TypeError` with a stable code. */
export class PgBridgeOptionError extends TypeError {
  readonly code = 'BANCADA_PG_BRIDGE_INVALID_OPTION' as const;

  constructor(message: string) {
    super(message);
    this.name = 'PgBridgeOptionError';
  }
}
