// The message list of the open conversation: one <li> per message, cloned from the page's
// #message-template. Replies are untrusted model output and go through renderMarkdown, which
// escapes everything before formatting; the visitor's own messages are shown as plain text.
// Where the pane scrolls to is PaneScroll's job (./pane_scroll.js): this view says when content
// changed and when the latest message must show.

import { replyStats } from './reply_stats.js';
import { renderMarkdown } from './markdown.js';

const ROLE_LABELS = { user: 'You said:', assistant: 'The model replied:' };

// Under the visitor's last message when no reply follows it.
const NO_REPLY = 'No reply yet.';

export class ChatView {
  #list;
  #template;
  #actions;
  #scroll;
  #streaming = null; // { item, status, message, text, frame } of the reply being written
  #onCancel = new WeakMap(); // message item -> editMessage's onCancel, while its editor is open

  /**
   * actions: { edit(index, text), regenerate(index) } called from the message buttons;
   * scroll: the PaneScroll of the pane the list is in.
   */
  constructor(list, template, actions, scroll) {
    this.#list = list;
    this.#template = template;
    this.#actions = actions;
    this.#scroll = scroll;
    list.addEventListener('click', (event) => this.#onClick(event));
  }

  /**
   * Show `messages`; the last reply gets Regenerate, user messages Edit (unless `busy`). A
   * conversation that ends with the visitor's message (its reply was stopped before the first
   * words, or failed) says so under it and offers a reply.
   * `latest`: scroll to the last message (a conversation just opened); otherwise the pane stays
   * where the reader left it, or at the bottom if they were there.
   */
  render(messages, { busy = false, latest = false } = {}) {
    // A re-render while a reply is written (a rename, an import) keeps that reply live: its own item
    // (status line, text still coming) stays in its message's place, not a snapshot of it.
    const live = this.#streaming;
    const lastReply = messages.findLastIndex((message) => message.role === 'assistant');
    const last = messages.length - 1;
    const items = messages.flatMap((message, index) => (message === live?.message ? [] : [this.#item(message, index, {
      editable: !busy && message.role === 'user',
      regenerable: !busy && index === last && (index === lastReply || message.role === 'user'),
    })]));
    this.#list.replaceChildren(...items, ...(live ? [live.item] : []));
    if (latest) this.#scroll.toBottom();
    else this.#scroll.keep();
  }

  /**
   * Append an empty reply that `updateReply` fills as tokens stream in, and bring it into view.
   * `message`: the reply's message object, once the conversation holds it (render shows this live
   * reply in its place until endReply).
   * @param {object} [message]
   */
  startReply(message) {
    const item = this.#item({ role: 'assistant', content: '' }, -1, { editable: false, regenerable: false });
    item.classList.add('streaming');
    // A live region from the start: text put in one later is announced, one inserted with its
    // text may not be.
    const status = Object.assign(document.createElement('p'), { className: 'reply-status' });
    status.setAttribute('role', 'status');
    item.querySelector('.message-body').before(status);
    this.#list.append(item);
    this.#streaming = { item, status, message, text: '', frame: 0 };
    this.#scroll.toBottom();
  }

  /**
   * What the reply waits for before its first words ("Loading the model…"), shown in its place;
   * null or '' clears it (a "…" shows again). Ignored once the reply has text.
   */
  setReplyStatus(text) {
    const streaming = this.#streaming;
    if (!streaming || streaming.text) return;
    streaming.status.textContent = text ?? '';
    this.#scroll.keep();
  }

  /**
   * The reply so far: `text` its answer, `reasoning` a thinking model's reasoning (shown folded
   * away above it). Rendering is batched to one per animation frame: streams outpace screens.
   */
  updateReply(text, reasoning = '') {
    const streaming = this.#streaming;
    if (!streaming) return;
    streaming.text = text;
    streaming.reasoning = reasoning;
    if (text || reasoning) {
      streaming.status.textContent = ''; // the words themselves say the wait is over
      // Screen readers read the reply once it is complete; the status before it they announce
      // as it changes, which a busy list would hold back.
      this.#list.setAttribute('aria-busy', 'true');
    }
    streaming.frame ||= requestAnimationFrame(() => {
      streaming.frame = 0;
      showReasoning(streaming.item, streaming.reasoning, { thinking: !streaming.text });
      streaming.item.querySelector('.message-body').innerHTML = renderMarkdown(streaming.text);
      this.#scroll.keep();
    });
  }

  /** The stream ended (normally or not); the caller re-renders the conversation next. */
  endReply() {
    if (this.#streaming?.frame) cancelAnimationFrame(this.#streaming.frame);
    this.#streaming = null;
    this.#list.setAttribute('aria-busy', 'false');
  }

  /**
   * Open the editor of the visitor's message at `index` with `text` in it (an edit the model could
   * not read, given back to the visitor to shorten); Cancel (or Esc) shows the message as it is,
   * discarding `text`, and calls `onCancel`. Returns whether the message is on screen with an editor
   * (false: busy, or no such message).
   * @param {number} index
   * @param {string} text
   * @param {{ onCancel?: () => void }} [options]
   * @returns {boolean}
   */
  editMessage(index, text, { onCancel } = {}) {
    const item = this.#list.querySelector(`.message.user[data-index="${index}"]`);
    if (!item || item.querySelector('.edit-message').hidden) return false;
    this.#openEditor(item, text);
    if (onCancel) this.#onCancel.set(item, onCancel);
    return true;
  }

  #item(message, index, { editable, regenerable }) {
    const item = this.#template.content.firstElementChild.cloneNode(true);
    item.classList.add(message.role);
    item.dataset.index = String(index);
    item.querySelector('.message-role').textContent = ROLE_LABELS[message.role];
    const body = item.querySelector('.message-body');
    if (message.role === 'assistant') {
      showReasoning(item, message.reasoning_content ?? '', { thinking: false });
      body.innerHTML = renderMarkdown(message.content);
    } else {
      body.textContent = message.content;
    }
    const unanswered = regenerable && message.role === 'user';
    item.querySelector('.message-stats').textContent = unanswered ? NO_REPLY
      : message.stats ? replyStats(message.stats) : '';
    item.querySelector('.message-interrupted').hidden = message.stats?.finishReason !== 'interrupted';
    item.querySelector('.edit-message').hidden = !editable;
    const regenerate = item.querySelector('.regenerate');
    regenerate.hidden = !regenerable;
    if (unanswered) regenerate.textContent = 'Reply';
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
    // on an unanswered message of the visitor's, the reply to come is the next message
    else if (button.classList.contains('regenerate')) this.#actions.regenerate(item.classList.contains('user') ? index + 1 : index);
  }

  #openEditor(item, text = item.querySelector('.message-body').textContent) {
    const editor = item.querySelector('.message-editor');
    const textarea = editor.querySelector('textarea');
    textarea.value = text;
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
    const onCancel = this.#onCancel.get(item);
    this.#onCancel.delete(item);
    onCancel?.();
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
}

// A thinking model's reasoning, untrusted like the answer (rendered the same way), in the item's
// folded <details>: "Thinking…" while it is all there is of the reply, "Thinking" after. Its
// open/closed state is the reader's: rendering never changes it.
function showReasoning(item, reasoning, { thinking }) {
  const details = item.querySelector('.message-reasoning');
  details.hidden = !reasoning;
  if (!reasoning) return;
  details.querySelector('summary').textContent = thinking ? 'Thinking…' : 'Thinking';
  details.querySelector('.reasoning-body').innerHTML = renderMarkdown(reasoning);
}
