import { Reflector } from '@nestjs/core';

/** What `@RequireRecentAuth()` asks for: a maximum age, or the `recentAuthSeconds` option's. */
export interface RecentAuthRequirement {
  maxAgeSeconds?: number;
}

/** Metadata `@RequireRecentAuth()` sets and `RecentAuthGuard` reads; not part of the public door. */
export const RecentAuthMetadata = Reflector.createDecorator<number | undefined, RecentAuthRequirement>({
  key: 'nestjs-typed-session:recent-auth',
  transform: (maxAgeSeconds) => {
    if (maxAgeSeconds !== undefined && !(typeof maxAgeSeconds === 'number' && maxAgeSeconds > 0)) {
      throw new TypeError(
        `@RequireRecentAuth(${JSON.stringify(maxAgeSeconds)}): the maximum age must be a positive number of ` +
          'seconds, or left out for the recentAuthSeconds option.',
      );
    }
    return { maxAgeSeconds };
  },
});
