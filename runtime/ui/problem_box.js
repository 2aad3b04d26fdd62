// The page's problem box (templates/_problem.html): shows what runtime/ui/problems.js says about
// an error, with a button for each of its actions that the page offers. Shared by the chat and
// the completion page.

import { describeProblem } from './problems.js';

const LABELS = { retry: 'Try again', reload: 'Reload the page', 'new-chat': 'Start a new chat', dismiss: 'Dismiss' };

export class ProblemBox {
  #element;
  #actions;
  #page;
  #error = null; // the error of the problem on show; null while hidden

  /**
   * element: the .problem box; actions: { action name: () => void } for the actions the page
   * offers besides 'reload' (always) and 'retry' (per problem); 'dismiss' hides the box first.
   * page: 'chat' or 'completion', whose words the problems use (problems.js PAGE_WORDS).
   */
  constructor(element, actions, { page = 'chat' } = {}) {
    this.#element = element;
    this.#actions = { reload: () => location.reload(), ...actions };
    this.#page = page;
  }

  /**
   * Show the problem of `error` (describeProblem's unless `problem` is given); `retry` backs the
   * 'retry' action, which is left out without it. Also logs the error to the console.
   */
  show(error, { retry, problem = describeProblem(error, { page: this.#page }) } = {}) {
    const { title, text, list, details, actions } = problem;
    const box = this.#element;
    box.querySelector('.problem-title').textContent = title;
    box.querySelector('.problem-text').textContent = text;
    const listElement = box.querySelector('.problem-list');
    listElement.replaceChildren(...list.map((line) => Object.assign(document.createElement('li'), { textContent: line })));
    listElement.hidden = !list.length;
    const detailsElement = box.querySelector('.problem-details');
    detailsElement.querySelector('.problem-details-text').textContent = details ?? '';
    detailsElement.hidden = !details;
    detailsElement.open = false; // each problem starts with its details folded away
    const handlers = { ...this.#actions, retry };
    if (handlers.dismiss) {
      const dismiss = handlers.dismiss;
      handlers.dismiss = () => { this.hide(); dismiss(); };
    }
    box.querySelector('.problem-actions').replaceChildren(...actions
      .filter((action) => handlers[action])
      .map((action) => {
        const button = Object.assign(document.createElement('button'), { type: 'button', textContent: LABELS[action] });
        button.dataset.action = action;
        button.addEventListener('click', () => handlers[action]());
        return button;
      }));
    box.dataset.error = error?.name ?? 'Error';
    box.hidden = false;
    this.#error = error;
    console.error(error);
  }

  /**
   * Hide the box; given `error`, only where the problem on show is that error's (a step that undoes
   * what one problem was about leaves a later problem alone).
   */
  hide(error) {
    if (error !== undefined && error !== this.#error) return;
    this.#element.hidden = true;
    this.#error = null;
  }
}
