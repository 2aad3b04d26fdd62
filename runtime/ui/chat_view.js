// The message list of the open conversation: one <li> per message, cloned from the page's
// #message-template. Replies are untrusted model output and go through renderMarkdown, which
// escapes everything before formatting; the visitor's own messages are shown as plain text.

import { replyStats } from './reply_stats.js';
import { renderMarkdown } from './markdown.js';

const ROLE_LABELS = { user: 'You said:', assistant: 'The model replied:' };

export class ChatView {
  #list;
  #template;
  #actions;
  #streaming = null; // { item, text, frame } of the reply being written

  /** actions: { edit(index, text), regenerate(index) } called from the message buttons. */
  constructor(list, template, actions) {
    this.#list = list;
    this.#template = template;
    this.#actions = actions;
    list.addEventListener('click', (event) => this.#onClick(event));
  }

  /** Show `messages`; the last reply gets Regenerate, user messages Edit (unless `busy`). */
  render(messages, { busy = false } = {}) {
    this.#streaming = null;
    const lastReply = messages.findLastIndex((message) => message.role === 'assistant');
    this.#list.replaceChildren(...messages.map((message, index) => this.#item(message, index, {
      editable: !busy && message.role === 'user',
      regenerable: !busy && index === lastReply && index === messages.length - 1,
    })));
  }

  /** Append an empty reply that `updateReply` fills as tokens stream in. */
  startReply() {
    const item = this.#item({ role: 'assistant', content: '' }, -1, { editable: false, regenerable: false });
    item.classList.add('streaming');
    this.#list.append(item);
    this.#list.setAttribute('aria-busy', 'true'); // screen readers read the reply once it is complete
    this.#streaming = { item, text: '', frame: 0 };
    item.scrollIntoView({ block: 'nearest' });
  }

  /** The reply so far. Rendering is batched to one per animation frame: streams outpace screens. */
  updateReply(text) {
    const streaming = this.#streaming;
    if (!streaming) return;
    streaming.text = text;
    streaming.frame ||= requestAnimationFrame(() => {
      streaming.frame = 0;
      streaming.item.querySelector('.message-body').innerHTML = renderMarkdown(streaming.text);
      this.#keepInView(streaming.item);
    });
  }

  /** The stream ended (normally or not); the caller re-renders the conversation next. */
  endReply() {
    if (this.#streaming?.frame) cancelAnimationFrame(this.#streaming.frame);
    this.#streaming = null;
    this.#list.setAttribute('aria-busy', 'false');
  }

  #item(message, index, { editable, regenerable }) {
    const item = this.#template.content.firstElementChild.cloneNode(true);
    item.classList.add(message.role);
    item.dataset.index = String(index);
    item.querySelector('.message-role').textContent = ROLE_LABELS[message.role];
    const body = item.querySelector('.message-body');
    if (message.role === 'assistant') body.innerHTML = renderMarkdown(message.content);
    else body.textContent = message.content;
    item.querySelector('.message-stats').textContent = message.stats ? replyStats(message.stats) : '';
    item.querySelector('.edit-message').hidden = !editable;
    item.querySelector('.regenerate').hidden = !regenerable;
    return item;
  }

  #onClick(event) {
    const button = event.target.closest('button');
    const item = button?.closest('.message');
    if (!button || !item) return;
    const index = Number(item.dataset.index);
    if (button.classList.contains('copy-code')) this.#copyCode(button);
    else if (button.classList.contains('edit-message')) this.#openEditor(item);
    else if (button.classList.contains('cancel-edit')) this.#closeEditor(item);
    else if (button.classList.contains('regenerate')) this.#actions.regenerate(index);
  }

  #openEditor(item) {
    const editor = item.querySelector('.message-editor');
    const textarea = editor.querySelector('textarea');
    textarea.value = item.querySelector('.message-body').textContent;
    editor.hidden = false;
    item.querySelector('.message-body').hidden = true;
    item.querySelector('.message-footer').hidden = true;
    textarea.focus();
    editor.onsubmit = (event) => {
      event.preventDefault();
      const text = textarea.value.trim();
      if (text) this.#actions.edit(Number(item.dataset.index), text);
    };
    textarea.onkeydown = (event) => {
      // As in the composer: Enter sends, Shift+Enter makes a new line.
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        editor.requestSubmit();
      } else if (event.key === 'Escape') {
        event.stopPropagation();
        this.#closeEditor(item);
      }
    };
  }

  #closeEditor(item) {
    item.querySelector('.message-editor').hidden = true;
    item.querySelector('.message-body').hidden = false;
    item.querySelector('.message-footer').hidden = false;
    item.querySelector('.edit-message').focus();
  }

  async #copyCode(button) {
    const code = button.closest('.code-block')?.querySelector('code')?.textContent ?? '';
    try {
      await navigator.clipboard.writeText(code);
      button.textContent = 'Copied';
    } catch {
      button.textContent = 'Copy failed';
    }
    setTimeout(() => { button.textContent = 'Copy'; }, 2000);
  }

  // Follow the reply while the visitor is at the bottom; leave them be if they scrolled up to read.
  #keepInView(item) {
    const bottom = item.getBoundingClientRect().bottom;
    if (bottom > innerHeight && bottom - innerHeight < 400) item.scrollIntoView({ block: 'end' });
  }
}
