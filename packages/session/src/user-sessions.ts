import type { Pool } from 'pg';

/** The fields of a stored session that name its user and when it logged in. */
export const USER_KEY = 'userKey';
export const LOGGED_IN_AT = 'loggedInAt';

/**
 * Ends every session of `userKey` but `currentSid` and the `keep - 1` others that logged in
 * last. (By login, not by last activity: the stored expiry has whole seconds, and is
 * refreshed only now and then, so it cannot order logins close together.) Two logins at
 * once may each keep the other, leaving one more for a moment.
 */
export async function endOlderSessions(
  pool: Pool,
  table: string,
  userKey: string,
  currentSid: string,
  keep: number,
): Promise<void> {
  await pool.query(
    `DELETE FROM "${table}" WHERE sid IN (
       SELECT sid FROM "${table}" WHERE sess->>'${USER_KEY}' = $1 AND sid <> $2
       ORDER BY (sess->>'${LOGGED_IN_AT}')::bigint DESC NULLS LAST, expire DESC OFFSET $3)`,
    [userKey, currentSid, keep - 1],
  );
}
