import { Injectable } from '@nestjs/common';
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';

export interface User {
  id: string;
  username: string;
  role: 'admin' | 'member';
}

interface StoredUser extends User {
  salt: Buffer;
  hash: Buffer;
}

/**
 * scrypt with N = 2^15, r = 8, p = 1 (32 MiB of memory a hash; Node's default is N = 2^14). Above 32 MiB,
 * glibc's malloc maps each hash's block and unmaps it after: at 16 MiB its dynamic mmap threshold keeps one
 * block in the heap for good from the second hash on (+16 MiB of RSS for the process's lifetime, measured
 * by bench/memory/). Twice the CPU time of the default, and stronger.
 */
const SCRYPT_OPTIONS = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

function hashPassword(password: string, salt: Buffer): Buffer {
  return scryptSync(password, salt, 32, SCRYPT_OPTIONS);
}

/** A fixed in-memory user list with scrypt-hashed passwords: the example is about sessions, not users. */
@Injectable()
export class UsersService {
  private readonly users = new Map<string, StoredUser>();

  constructor() {
    this.add({ id: 'u-alice', username: 'alice', role: 'admin' }, 'alice-password');
    this.add({ id: 'u-bob', username: 'bob', role: 'member' }, 'bob-password');
  }

  /** The user with these credentials, or `undefined`. Takes the same time whether the user exists or not. */
  verify(username: string, password: string): User | undefined {
    const user = this.users.get(username);
    const salt = user?.salt ?? randomBytes(16);
    const hash = hashPassword(password, salt);
    if (!user || !timingSafeEqual(hash, user.hash)) return undefined;
    return { id: user.id, username: user.username, role: user.role };
  }

  /** Changes a user's password; `false` when `currentPassword` is wrong. */
  changePassword(username: string, currentPassword: string, newPassword: string): boolean {
    const user = this.users.get(username);
    if (!user || !this.verify(username, currentPassword)) return false;
    user.salt = randomBytes(16);
    user.hash = hashPassword(newPassword, user.salt);
    return true;
  }

  private add(user: User, password: string): void {
    const salt = randomBytes(16);
    this.users.set(user.username, { ...user, salt, hash: hashPassword(password, salt) });
  }
}
