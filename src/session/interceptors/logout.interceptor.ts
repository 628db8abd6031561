import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { concatMap, type Observable } from 'rxjs';
import { SessionService } from '../core/session.service.js';

/**
 * After the handler succeeds, destroys the current session (document deleted, cookie cleared) before the
 * response is sent. When the handler throws, nothing is destroyed.
 *
 * @example
 * @Post('logout')
 * @UseInterceptors(LogoutInterceptor)
 * logout() {}
 */
@Injectable()
export class LogoutInterceptor implements NestInterceptor {
  constructor(protected readonly sessions: SessionService) {}

  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(
      concatMap(async (result: unknown) => {
        await this.sessions.destroy();
        return result;
      }),
    );
  }
}
