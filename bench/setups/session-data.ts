// The session shape of the hand-written setups: the same fields as the example app's.
declare module 'express-session' {
  interface SessionData {
    userId: string;
    username: string;
    role: 'admin' | 'member';
  }
}

export {};
