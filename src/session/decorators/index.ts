export * from './password-change.decorator.js';
export * from './public.decorator.js';
export * from './session.decorator.js';
export * from './require-recent-auth.decorator.js';
export * from './session-lock.decorator.js';
