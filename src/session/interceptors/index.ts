export * from './logout.interceptor.js';
export * from './password-change.interceptor.js';
