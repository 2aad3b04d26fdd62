// Turns in call order, one at a time: the engine runs one generation at a time on its one KV
// cache (engine.js), and an engine host runs the generations of all its connections in the order
// they arrived (engine_host.js). A turn that waits can be told what it waits for, so that a
// request can say so (request_progress.js), and can be withdrawn (a request stopped while it waits).
//
//   const release = await turns.acquire({ owner, onWait: (owners) => ..., signal });
//   if (!release) return; // withdrawn: signal aborted before the turn came
//   try { ... } finally { release(); }

export class TurnQueue {
  #turns = []; // { owner, onWait, start, withdraw } in call order; the first one holds the queue

  /**
   * Resolves, once every turn acquired before this call has been released or withdrawn, with the
   * function that ends this turn (calling it again does nothing). A turn that is never released
   * blocks every later one.
   * While this turn waits, onWait(owners) is called with the owners of the turns before it (the
   * one that holds the queue first): at once, and again each time one of them ends. It must not
   * throw: it runs inside another turn's release.
   * When `signal` aborts before the turn comes (or has aborted already), the turn is withdrawn:
   * the promise resolves with null at once and the turns after it move up.
   * @param {{ owner?: any, onWait?: (owners: any[]) => void, signal?: AbortSignal }} [options]
   *   owner: whose turn this is, as others' onWait see it (default null)
   * @returns {Promise<(() => void) | null>}
   */
  acquire({ owner = null, onWait, signal } = {}) {
    return new Promise((resolve) => {
      if (signal?.aborted) {
        resolve(null);
        return;
      }
      const withdraw = () => {
        this.#turns.splice(this.#turns.indexOf(turn), 1);
        this.#tellWaiting();
        resolve(null);
      };
      const turn = {
        owner,
        onWait,
        start: () => {
          signal?.removeEventListener('abort', withdraw);
          resolve(() => this.#release(turn));
        },
      };
      this.#turns.push(turn);
      if (this.#turns.length === 1) {
        turn.start();
        return;
      }
      signal?.addEventListener('abort', withdraw, { once: true });
      onWait?.(this.#turns.slice(0, -1).map((earlier) => earlier.owner));
    });
  }

  #release(turn) {
    if (this.#turns[0] !== turn) return; // released before
    this.#turns.shift();
    this.#turns[0]?.start();
    this.#tellWaiting();
  }

  // Each waiting turn hears the owners of the turns now before it.
  #tellWaiting() {
    this.#turns.forEach((waiting, i) => {
      if (i > 0) waiting.onWait?.(this.#turns.slice(0, i).map((earlier) => earlier.owner));
    });
  }
}
