import { Reflector } from '@nestjs/core';

/**
 * Opens a route, or every route of a controller, to requests without an authenticated session when
 * `AuthGuard` is applied globally.
 */
export const Public = Reflector.createDecorator<void, true>({
  key: 'nestjs-typed-session:public',
  transform: () => true,
});
