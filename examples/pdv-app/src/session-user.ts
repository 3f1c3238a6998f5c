import type { NextFunction, Request, Response } from 'express';
import { HttpError } from './http-error.js';

/** What the session keeps of the logged-in user. */
export interface SessionUser {
  id: number;
  name: string;
  email: string;
  restaurantId: string;
  restaurantName: string;
}

export function currentUser(req: Request): SessionUser | undefined {
  const user = (req.session as { user?: unknown } | undefined)?.user as SessionUser | undefined;
  return user && typeof user.id === 'number' && typeof user.restaurantId === 'string'
    ? user
    : undefined;
}

/** The logged-in user of a request that went through `requireUser`. */
export function userOf(req: Request): SessionUser {
  return currentUser(req) as SessionUser;
}

/** 401 for API calls without a session. */
export function requireUser(req: Request, _res: Response, next: NextFunction): void {
  next(currentUser(req) ? undefined : new HttpError(401, 'unauthenticated', 'log in first'));
}
