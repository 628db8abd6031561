export * from './logout.interceptor.js';
export * from './password-change.interceptor.js';
export * from './session-lock.interceptor.js';
