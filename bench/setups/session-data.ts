// The session shape of the setups: the same fields as the example app's.
declare module 'express-session' {
  interface SessionData {
    userId: string;
    username: string;
    role: 'admin' | 'member';
    /** Set by the write route (`POST /me/visits`), as in the example app's schema. */
    visits?: number;
  }
}

export {};
