import express, { type Request, type Response, Router } from 'express';
import { CLIENT_SDK, PUBLIC_DIR as PUBLIC } from '../paths.js';
import { currentUser } from '../session-user.js';

const page = (name: string) => (_req: Request, res: Response) =>
  res.sendFile(`${name}.html`, { root: PUBLIC, headers: { 'Cache-Control': 'no-cache' } });

/** The login, cashier and kitchen pages, their assets, and the realtime client SDK. */
export function pageRoutes(): Router {
  const router = Router();
  const loggedIn = (req: Request, res: Response, next: () => void) => {
    if (currentUser(req)) return next();
    res.redirect(303, `/login?next=${encodeURIComponent(req.originalUrl)}`);
  };
  router.get('/', (req, res) => res.redirect(303, currentUser(req) ? '/cashier' : '/login'));
  router.get('/login', page('login'));
  router.get('/cashier', loggedIn, page('cashier'));
  router.get('/kitchen', loggedIn, page('kitchen'));
  router.get('/assets/realtime-client.js', (_req, res) =>
    res.sendFile(CLIENT_SDK, { headers: { 'Cache-Control': 'no-cache' } }),
  );
  router.use('/assets', express.static(PUBLIC, { index: false, maxAge: 0 }));
  return router;
}
