// The example application's session shape, declared once. Every API of nestjs-typed-session carries it.
declare module 'express-session' {
  interface SessionData {
    userId: string;
    username: string;
    role: 'admin' | 'member';
    /** Set by GET /visits: shows an anonymous session that holds data. */
    visits?: number;
  }
}

export {};
