// Setup "ours": the example app (its `AppModule`, as `dist/main.js` starts it) and the benchmark's write
// route, a controller of the same app behind its global `AuthGuard`. The example app is left as shipped.
import 'reflect-metadata';
import { Controller, HttpCode, Module, Post, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { SessionService } from 'nestjs-typed-session';
import './session-data.js';

/** The built example app's root module (`dist/example/app.module.js`, next to `dist/bench`). */
const { AppModule } = (await import(new URL('../../example/app.module.js', import.meta.url).href)) as {
  AppModule: Type;
};

@Controller()
class WriteController {
  constructor(private readonly sessions: SessionService) {}

  /** The write route: one key of the session changed on every request. */
  @Post('me/visits')
  @HttpCode(200)
  visit() {
    const visits = (this.sessions.get('visits') ?? 0) + 1;
    this.sessions.set('visits', visits);
    return { visits };
  }
}

@Module({ imports: [AppModule], controllers: [WriteController] })
class OursBenchModule {}

const app = await NestFactory.create(OursBenchModule, { logger: ['error', 'warn'] });
app.enableShutdownHooks();
await app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1');
