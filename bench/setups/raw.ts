// Setup "raw": Express 5 + express-session + connect-mongo and a hand-written check, the floor.
import express from 'express';
import session from 'express-session';
import './session-data.js';
import { BENCH_LOGIN, BENCH_SETTINGS, handWrittenSessionOptions, setupEnv } from './settings.js';

const { port } = setupEnv();
const app = express();
app.use(session(handWrittenSessionOptions()));

app.post('/login', (req, res, next) => {
  req.session.regenerate((error) => {
    if (error) return next(error);
    Object.assign(req.session, BENCH_LOGIN);
    res.json({ userId: BENCH_LOGIN.userId });
  });
});

app.post('/logout', (req, res, next) => {
  req.session.destroy((error) => {
    if (error) return next(error);
    res.clearCookie(BENCH_SETTINGS.cookieName);
    res.json({ loggedOut: true });
  });
});

app.get('/me', (req, res) => {
  const { userId, username, role } = req.session;
  if (!userId) {
    res.status(401).json({ statusCode: 401, message: 'Unauthorized' });
    return;
  }
  res.json({ userId, username, role });
});

app.post('/me/visits', (req, res) => {
  if (!req.session.userId) {
    res.status(401).json({ statusCode: 401, message: 'Unauthorized' });
    return;
  }
  req.session.visits = (req.session.visits ?? 0) + 1;
  res.json({ visits: req.session.visits });
});

app.listen(port, '127.0.0.1');
