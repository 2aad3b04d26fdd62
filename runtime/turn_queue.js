// Turns in call order, one at a time: the engine runs one generation at a time on its one KV
// cache (engine.js), and an engine host runs the generations of all its connections in the order
// they arrived (engine_host.js).
//
//   const release = await turns.acquire();
//   try { ... } finally { release(); }

export class TurnQueue {
  #last = Promise.resolve(); // settles when the most recently requested turn has ended

  /**
   * Resolves, once every turn acquired before this call has been released, with the function
   * that ends this turn. A turn that is never released blocks every later one.
   * @returns {Promise<() => void>}
   */
  acquire() {
    const previous = this.#last;
    let release;
    this.#last = new Promise((resolve) => { release = resolve; });
    return previous.then(() => release);
  }
}
