import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';

async function bootstrap(): Promise<void> {
  const logger = new Logger('ExampleApp');
  if (!process.env.MONGODB_URI) {
    logger.error(
      'MONGODB_URI is not set. Run `npm start`, which finds or starts a MongoDB server, or set it yourself.',
    );
    process.exit(1);
  }
  const app = await NestFactory.create(AppModule);
  app.enableShutdownHooks();
  await app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1');
  logger.log(`Listening on ${await app.getUrl()}`);
}

void bootstrap();
