import { z } from 'zod';

/**
 * Run-time check of the stored session data (the `schema` option): sessions written by an older deploy, or
 * edited by hand, are discarded instead of reaching a handler with the wrong shape. Every field is
 * optional because anonymous sessions are stored too.
 */
export const sessionSchema = z.object({
  userId: z.string().min(1).optional(),
  username: z.string().min(1).optional(),
  role: z.enum(['admin', 'member']).optional(),
  visits: z.number().int().nonnegative().optional(),
});
