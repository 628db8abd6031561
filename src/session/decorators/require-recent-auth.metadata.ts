import { Reflector } from '@nestjs/core';

/** What `@RequireRecentAuth()` asks for: a maximum age, or the `recentAuthSeconds` option's. */
export interface RecentAuthRequirement {
  maxAgeSeconds?: number;
}

/** Metadata `@RequireRecentAuth()` sets and `RecentAuthGuard` reads; not part of the public door. */
export const RecentAuthMetadata = Reflector.createDecorator<number | undefined, RecentAuthRequirement>({
  key: 'nestjs-typed-session:recent-auth',
  transform: (maxAgeSeconds) => ({ maxAgeSeconds }),
});
