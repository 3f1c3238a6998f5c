import type { Request } from 'express';
import type { z } from 'zod';
import { HttpError } from './http-error.js';

/** The body parsed by `schema`, or a 400 naming each bad field. */
export function parseBody<T extends z.ZodType>(schema: T, req: Request): z.infer<T> {
  const result = schema.safeParse(req.body ?? {});
  if (result.success) return result.data;
  const fields = result.error.issues.map(
    (issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`,
  );
  throw new HttpError(400, 'invalid_request', fields.join('; '));
}
