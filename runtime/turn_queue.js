// Turns in call order, one at a time: the engine runs one generation at a time on its one KV
// cache (engine.js), and an engine host runs the generations of all its connections in the order
// they arrived (engine_host.js). A turn that waits can be told what it waits for, so that a
// request can say so (request_progress.js).
//
//   const release = await turns.acquire({ owner, onWait: (owners) => ... });
//   try { ... } finally { release(); }

export class TurnQueue {
  #turns = []; // { owner, onWait, start } in call order; the first one holds the queue

  /**
   * Resolves, once every turn acquired before this call has been released, with the function
   * that ends this turn (calling it again does nothing). A turn that is never released blocks
   * every later one.
   * While this turn waits, onWait(owners) is called with the owners of the turns before it (the
   * one that holds the queue first): at once, and again each time one of them ends. It must not
   * throw: it runs inside another turn's release.
   * @param {{ owner?: any, onWait?: (owners: any[]) => void }} [options]  owner: whose turn this
   *   is, as others' onWait see it (default null)
   * @returns {Promise<() => void>}
   */
  acquire({ owner = null, onWait } = {}) {
    return new Promise((resolve) => {
      const turn = { owner, onWait, start: () => resolve(() => this.#release(turn)) };
      this.#turns.push(turn);
      if (this.#turns.length === 1) turn.start();
      else onWait?.(this.#turns.slice(0, -1).map((earlier) => earlier.owner));
    });
  }

  #release(turn) {
    if (this.#turns[0] !== turn) return; // released before
    this.#turns.shift();
    this.#turns[0]?.start();
    this.#turns.forEach((waiting, i) => {
      if (i > 0) waiting.onWait?.(this.#turns.slice(0, i).map((earlier) => earlier.owner));
    });
  }
}
