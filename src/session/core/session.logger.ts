import { Logger } from '@nestjs/common';

/** The library's logger: every line it writes is under the `SessionModule` context. */
export const sessionLogger = new Logger('SessionModule');
