// A Nest 11 application in CommonJS, as most of those in production are: no `"type"` in its package.json,
// `module: commonjs`, `require()` at run time, and Jest with ts-jest in its default (CommonJS) mode. The
// library comes from the packed tarball; every other package from the npm registry, at the newest version of
// the major an existing Nest 11 application has.
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { REPO } from './readme-consumer.js';

/** The consumer's package.json, as far as the test reads it. */
export interface ConsumerPackage {
  name: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
}

/**
 * The consumer's install of the last run (node_modules and package-lock.json), with the dependencies it was
 * made for: CI's second Node reuses the first one's. From npm's cache an install took 10–24 s here, with or
 * without a lock file; moving a kept one in and installing the new tarball into it, 1.7 s. `npm ci` empties
 * node_modules, so each CI run installs the newest Nest 11 once.
 */
const INSTALL_CACHE = join(REPO, 'node_modules', '.cache', 'nest11-cjs-consumer');
const LIBRARY = 'nestjs-typed-session';

/** What a kept install is valid for: the dependency ranges, the library's tarball aside. */
function installKey(pkg: ConsumerPackage): string {
  const dependencies = Object.entries(pkg.dependencies).filter(([name]) => name !== LIBRARY);
  return JSON.stringify({ dependencies, devDependencies: pkg.devDependencies });
}

/** Moves `from` to `to`: a rename, or a copy where they are on two file systems. */
function move(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    cpSync(from, to, { recursive: true, verbatimSymlinks: true });
    rmSync(from, { recursive: true, force: true });
  }
}

/**
 * Moves the kept install into `project` when it was made for the same dependencies, without the library, so
 * that npm installs the new tarball. Whether it did. The install is taken by renaming its directory, so two
 * runs at the same time never share one: the second installs afresh.
 */
export function restoreInstall(project: string, pkg: ConsumerPackage): boolean {
  const taken = `${INSTALL_CACHE}-${process.pid}`;
  try {
    renameSync(INSTALL_CACHE, taken);
  } catch {
    return false; // none kept, or taken by another run
  }
  try {
    if (readFileSync(join(taken, 'key.json'), 'utf8') !== installKey(pkg)) return false;
    move(join(taken, 'node_modules'), join(project, 'node_modules'));
    rmSync(join(project, 'node_modules', LIBRARY), { recursive: true, force: true });
    const lock = JSON.parse(readFileSync(join(taken, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, unknown>;
    };
    delete lock.packages[`node_modules/${LIBRARY}`];
    writeFileSync(join(project, 'package-lock.json'), JSON.stringify(lock, null, 2));
    return true;
  } finally {
    rmSync(taken, { recursive: true, force: true });
  }
}

/** Keeps `project`'s install for the next run (in place of the one kept before, if any). */
export function keepInstall(project: string, pkg: ConsumerPackage): void {
  mkdirSync(dirname(INSTALL_CACHE), { recursive: true });
  const staged = mkdtempSync(`${INSTALL_CACHE}-`);
  move(join(project, 'node_modules'), join(staged, 'node_modules'));
  copyFileSync(join(project, 'package-lock.json'), join(staged, 'package-lock.json'));
  writeFileSync(join(staged, 'key.json'), installKey(pkg));
  rmSync(INSTALL_CACHE, { recursive: true, force: true });
  try {
    renameSync(staged, INSTALL_CACHE);
  } catch {
    rmSync(staged, { recursive: true, force: true }); // another run kept its own meanwhile
  }
}

/** The consumer's package.json: its dependencies, with the library's tarball, and its Jest configuration. */
export function consumerPackage(tarball: string): ConsumerPackage & Record<string, unknown> {
  return {
    name: 'nest11-cjs-consumer',
    version: '1.0.0',
    private: true,
    scripts: { build: 'tsc -p tsconfig.json', test: 'jest' },
    dependencies: {
      '@nestjs/common': '^11.0.0',
      '@nestjs/core': '^11.0.0',
      '@nestjs/event-emitter': '^3.0.0',
      '@nestjs/platform-express': '^11.0.0',
      '@nestjs/platform-socket.io': '^11.0.0',
      '@nestjs/platform-ws': '^11.0.0',
      '@nestjs/websockets': '^11.0.0',
      'connect-mongo': '^6.0.0',
      'express-session': '^1.18.0',
      mongodb: '^6.0.0',
      'nestjs-typed-session': `file:${tarball}`,
      'reflect-metadata': '^0.2.0',
      rxjs: '^7.8.0',
    },
    devDependencies: {
      '@types/jest': '^29.5.0',
      '@types/node': '^20.0.0',
      jest: '^29.7.0',
      'ts-jest': '^29.2.0',
      typescript: '^5.7.0',
    },
    jest: {
      testEnvironment: 'node',
      roots: ['<rootDir>/test'],
      transform: { '^.+\\.ts$': 'ts-jest' },
    },
  };
}

/** The consumer's files, by path. */
export const CONSUMER_FILES: Record<string, string> = {
  'tsconfig.json': `{
  "compilerOptions": {
    "module": "commonjs",
    "target": "es2023",
    "outDir": "dist",
    "types": ["node", "jest"],
    "strict": true,
    "skipLibCheck": false,
    "esModuleInterop": true,
    "isolatedModules": true,
    "experimentalDecorators": true,
    "emitDecoratorMetadata": true
  },
  "include": ["src", "test"]
}
`,

  'src/session-data.ts': `declare module 'express-session' {
  interface SessionData {
    userId: string;
    role: 'admin' | 'member';
  }
}
export {};
`,

  'src/app.module.ts': `import './session-data';
import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { EventEmitterModule } from '@nestjs/event-emitter';
import { AuthGuard, SessionModule } from 'nestjs-typed-session';
import { AuthController } from './auth.controller';
import { ChatGateway } from './chat.gateway';
import { SessionEventsLog } from './session-events.log';

@Module({
  imports: [
    EventEmitterModule.forRoot(),
    SessionModule.forRoot({
      secret: process.env.APP_SESSION_SECRET!,
      uri: process.env.APP_MONGODB_URI!,
      dbName: process.env.APP_DB_NAME!,
      autoRemove: 'interval',
    }),
  ],
  controllers: [AuthController],
  providers: [ChatGateway, SessionEventsLog, { provide: APP_GUARD, useClass: AuthGuard }],
})
export class AppModule {}
`,

  'src/session-events.log.ts': `import { Injectable } from '@nestjs/common';
import { OnEvent } from '@nestjs/event-emitter';
import type { SessionEvent } from 'nestjs-typed-session';

/** The session events the application heard through @nestjs/event-emitter. */
@Injectable()
export class SessionEventsLog {
  readonly heard: string[] = [];

  @OnEvent('session.created')
  created(event: SessionEvent) {
    this.heard.push(\`\${event.type} \${event.reason} \${String(event.userId)}\`);
  }

  @OnEvent('session.destroyed')
  destroyed(event: SessionEvent) {
    this.heard.push(\`\${event.type} \${event.reason} \${String(event.userId)}\`);
  }
}
`,

  'src/auth.controller.ts': `import { Body, Controller, Get, Post, UseInterceptors } from '@nestjs/common';
import { LogoutInterceptor, Public, Session, SessionService, type SessionValue } from 'nestjs-typed-session';
import { SessionEventsLog } from './session-events.log';

@Controller('auth')
export class AuthController {
  constructor(
    private readonly sessions: SessionService,
    private readonly events: SessionEventsLog,
  ) {}

  @Public()
  @Post('login')
  async login(@Body() body: { name: string }) {
    await this.sessions.login({ userId: body.name, role: 'member' });
  }

  @Get('me')
  me(@Session('userId') userId: SessionValue<'userId'>, @Session('role') role: SessionValue<'role'>) {
    return { userId, role };
  }

  @Public()
  @Post('logout')
  @UseInterceptors(LogoutInterceptor)
  logout() {}

  @Public()
  @Get('events')
  heard() {
    return this.events.heard;
  }
}
`,

  'src/chat.gateway.ts': `import { MessageBody, SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { Session, type SessionValue } from 'nestjs-typed-session';

@WebSocketGateway({ path: '/chat' })
export class ChatGateway {
  @SubscribeMessage('say')
  say(@Session('userId') userId: SessionValue<'userId'>, @MessageBody() text: string) {
    return { event: 'said', data: { userId, text } };
  }
}
`,

  'src/main.ts': `import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { SessionIoAdapter } from 'nestjs-typed-session/socket.io';
import { SessionWsAdapter } from 'nestjs-typed-session/ws';
import { AppModule } from './app.module';

async function bootstrap() {
  const app = await NestFactory.create(AppModule);
  app.useWebSocketAdapter(process.env.APP_ADAPTER === 'ws' ? new SessionWsAdapter(app) : new SessionIoAdapter(app));
  await app.listen(process.env.PORT ?? 3000, '127.0.0.1');
}
void bootstrap();
`,

  // What failed for users: Jest in CommonJS mode requiring the library (\`Unexpected token 'export'\`).
  'test/library.spec.ts': `import { AuthGuard, SessionModule, SessionService } from 'nestjs-typed-session';
import { SessionIoAdapter } from 'nestjs-typed-session/socket.io';
import { SessionWsAdapter } from 'nestjs-typed-session/ws';

describe('nestjs-typed-session in a CommonJS Jest', () => {
  it('loads the CommonJS build of every entry', () => {
    const entries = ['', '/socket.io', '/ws', '/graphql'].map((entry) => require.resolve(\`nestjs-typed-session\${entry}\`));
    expect(entries.map((path) => path.replace(/\\\\/g, '/').replace(/.*\\/nestjs-typed-session\\//, ''))).toEqual([
      'dist/cjs/session/index.js',
      'dist/cjs/session/sockets/socket.io.js',
      'dist/cjs/session/sockets/ws.js',
      'dist/cjs/session/graphql/index.js',
    ]);
    expect(typeof SessionIoAdapter).toBe('function');
    expect(typeof SessionWsAdapter).toBe('function');
  });

  it('gives a module, a service and a guard', () => {
    const module = SessionModule.forRoot({ secret: 'jest-secret', uri: 'mongodb://127.0.0.1:9/none' });
    expect(module.module).toBe(SessionModule);
    expect(typeof SessionService).toBe('function');
    expect(typeof AuthGuard.prototype.canActivate).toBe('function');
  });
});
`,
};
