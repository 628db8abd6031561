/**
 * Runs the updates of one session document one after the other, within this process. MongoDB applies each
 * update to a document atomically, so concurrent `$set`s of different keys all land; servers that apply an
 * update as read-modify-write of the whole document (FerretDB 1.x) would drop one of them. In this process
 * they never overlap; across processes the database's own single-document atomicity is relied on.
 */
export class WriteQueue {
  /** The last queued update of each document, settled or not. */
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, update: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key);
    const result = previous ? previous.then(update) : update();
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}
