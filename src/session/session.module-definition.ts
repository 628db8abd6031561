import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { SessionModuleOptions } from './interfaces/session-options.interface.js';

/** Extra options of `forRoot`/`forRootAsync` that are not session options. */
export interface SessionModuleExtras {
  /** Register the module globally, so `SessionService` and `AuthGuard` work in every module. Default `true`. */
  isGlobal?: boolean;
}

export const { ConfigurableModuleClass, MODULE_OPTIONS_TOKEN: SESSION_MODULE_OPTIONS } =
  new ConfigurableModuleBuilder<SessionModuleOptions>({ moduleName: 'Session' })
    .setClassMethodName('forRoot')
    .setExtras<SessionModuleExtras>({ isGlobal: true }, (definition, extras) => ({
      ...definition,
      global: extras.isGlobal,
    }))
    .build();
