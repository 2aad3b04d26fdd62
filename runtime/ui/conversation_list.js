// The sidebar's list of saved conversations, cloned from the page's #conversation-template:
// open, rename (inline form) and delete (after a confirmation).

export class ConversationList {
  #list;
  #template;
  #actions;
  #emptyFocus;

  /**
   * actions: { open(id), rename(id, title), remove(id) (may return a Promise that settles once the
   * list shows the change) }; emptyFocus: where focus goes when the last conversation is deleted.
   */
  constructor(list, template, actions, { emptyFocus } = {}) {
    this.#list = list;
    this.#emptyFocus = emptyFocus;
    this.#template = template;
    this.#actions = actions;
    list.addEventListener('click', (event) => this.#onClick(event));
  }

  render(conversations, currentId) {
    // A title being typed (#rename) outlives a re-render, such as the one at the end of a reply:
    // its item never leaves the list (the others are placed around it), so its field keeps what was
    // typed, the selection and focus. Taken out of the page, a focused field blurs, and a blur submits.
    const renaming = this.#list.querySelector('.rename-form:not([hidden])')?.closest('.conversation');
    const items = conversations.map((conversation) => {
      const item = conversation.id === renaming?.dataset.id ? renaming : this.#template.content.firstElementChild.cloneNode(true);
      item.dataset.id = conversation.id;
      if (conversation.id === currentId) item.setAttribute('aria-current', 'true');
      else item.removeAttribute('aria-current');
      const open = item.querySelector('.open-conversation');
      open.textContent = conversation.title;
      open.title = conversation.title;
      item.querySelector('.rename-conversation').setAttribute('aria-label', `Rename “${conversation.title}”`);
      item.querySelector('.delete-conversation').setAttribute('aria-label', `Delete “${conversation.title}”`);
      return item;
    });
    const at = items.indexOf(renaming);
    if (at < 0) {
      // The conversation being renamed is gone (deleted): its form closes first, so the blur of
      // its field as it leaves the page submits nothing (#rename's onsubmit).
      if (renaming) renaming.querySelector('.rename-form').hidden = true;
      this.#list.replaceChildren(...items);
      return;
    }
    for (const child of [...this.#list.children]) if (child !== renaming) child.remove();
    renaming.before(...items.slice(0, at));
    renaming.after(...items.slice(at + 1));
  }

  #onClick(event) {
    const button = event.target.closest('button');
    const item = button?.closest('.conversation');
    if (!button || !item) return;
    const { id } = item.dataset;
    const title = item.querySelector('.open-conversation').textContent;
    if (button.classList.contains('open-conversation')) this.#actions.open(id);
    else if (button.classList.contains('rename-conversation')) this.#rename(item, id, title);
    else if (button.classList.contains('delete-conversation')) {
      if (confirm(`Delete the conversation “${title}”? This cannot be undone.`)) this.#remove(item, id);
    }
  }

  // Focus goes to the conversation that takes the deleted one's place in the list (else the one
  // before it, else `emptyFocus`), not to the page's body with the button that vanished.
  async #remove(item, id) {
    const index = [...this.#list.children].indexOf(item);
    await this.#actions.remove(id);
    const items = this.#list.querySelectorAll('.open-conversation');
    (items[Math.min(index, items.length - 1)] ?? this.#emptyFocus)?.focus();
  }

  #rename(item, id, title) {
    const form = item.querySelector('.rename-form');
    const input = form.querySelector('input');
    const buttons = item.querySelectorAll('button');
    const close = () => {
      form.hidden = true;
      buttons.forEach((button) => { button.hidden = false; });
    };
    buttons.forEach((button) => { button.hidden = true; });
    form.hidden = false;
    input.value = title;
    input.focus();
    input.select();
    form.onsubmit = (event) => {
      event.preventDefault();
      if (form.hidden) return; // the blur that closing the form causes submits once more
      const value = input.value.trim();
      close();
      if (value && value !== title) this.#actions.rename(id, value);
    };
    input.onkeydown = (event) => {
      if (event.key === 'Escape') {
        event.stopPropagation();
        close();
        item.querySelector('.rename-conversation').focus();
      }
    };
    input.onblur = () => form.requestSubmit();
  }
}
