import type { Request } from 'express';
import { z } from 'zod';
import { HttpError } from './http-error.js';

/**
 * A string for a text field: Postgres text cannot hold U+0000 (the insert would fail as a
 * 500), and a password hash would not tell "pw" from "pw\0" (scrypt's HMAC pads its key with
 * zeros). Refused at the edge, like any other bad value.
 */
export const text = () =>
  z.string().refine((value) => !value.includes('\u0000'), {
    message: 'must not contain the NUL character (U+0000)',
  });

/** The body parsed by `schema`, or a 400 naming each bad field. */
export function parseBody<T extends z.ZodType>(schema: T, req: Request): z.infer<T> {
  const result = schema.safeParse(req.body ?? {});
  if (result.success) return result.data;
  const fields = result.error.issues.map(
    (issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`,
  );
  throw new HttpError(400, 'invalid_request', fields.join('; '));
}
