// Markdown to HTML for the chat page's assistant replies (CommonMark/GFM-ish, what LLM replies use).
//
// The input is untrusted model output and the result goes to innerHTML, so the rule is: escape
// first, then format. Every piece of input text passes through escapeHtml before it is placed;
// the only tags are the ones written here; the only attribute values taken from the input are link
// hrefs (safeHref: http/https only), code languages (LANGUAGE) and list start numbers (digits).
// Images are never emitted.
//
// The page renders the whole reply again after every streamed chunk, so this is one linear-ish pass
// with no state between calls, and unfinished input renders sensibly: an open ``` fence is a code
// block so far, an unmatched ** or ` stays literal text. Blocks are parsed first (lines), then the
// inline content of each paragraph, heading and table cell.

const MAX_DEPTH = 16; // quotes/lists nested deeper render as text: no stack overflow on "> > > > ..."
const LANGUAGE = /^[A-Za-z0-9_+#.-]{1,32}$/;
const BLANK = /^[ \t]*$/;
const HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*))?$/;
const HR = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const QUOTE = /^ {0,3}> ?/;
const FENCE = /^( {0,3})(`{3,}|~{3,})(.*)$/;
const FENCE_CLOSE = /^ {0,3}(`{3,}|~{3,})[ \t]*$/;
const LIST_ITEM = /^([ \t]*)([-*+]|(\d{1,9})[.)])(?:([ \t]+)(.*))?$/;
const DELIMITER_CELL = /^:?-+:?$/;

export function renderMarkdown(text) {
  const source = String(text ?? '').replace(/\r\n?/g, '\n').replace(/\0/g, '\uFFFD');
  return joinBlocks(parseBlocks(source.split('\n'), 0).blocks, false);
}

// ---------------------------------------------------------------------------------------------
// Blocks. A block is { html } or, for a paragraph, { inline }: whether a paragraph gets <p> depends
// on its list being tight or loose, which is only known once the whole list is parsed.

const BLOCK_RULES = [fencedCode, heading, thematicBreak, blockquote, list, table, paragraph];

/** lines -> { blocks, gap }; gap: a blank line separated two blocks (what makes a list item loose). */
function parseBlocks(lines, depth) {
  if (depth > MAX_DEPTH) return { blocks: [{ inline: escapeHtml(lines.join('\n').trim()) }], gap: false };
  const blocks = [];
  let gap = false;
  let blankBefore = false;
  for (let i = 0; i < lines.length;) {
    if (BLANK.test(lines[i])) {
      blankBefore = true;
      i += 1;
      continue;
    }
    gap ||= blankBefore && blocks.length > 0;
    blankBefore = false;
    let found = null;
    for (const rule of BLOCK_RULES) if ((found = rule(lines, i, depth))) break;
    blocks.push(found.block);
    i = found.end; // every rule consumes at least one line
  }
  return { blocks, gap };
}

function joinBlocks(blocks, tight) {
  return blocks.map((b) => (b.inline === undefined ? b.html : tight ? b.inline : `<p>${b.inline}</p>`)).join('\n');
}

/** Whether line j ends a paragraph (or a table, or a lazy continuation) by starting another block. */
function interrupts(lines, j) {
  const line = lines[j];
  const item = listMarker(line);
  // As in CommonMark, only a non-empty item, and for ordered lists one numbered 1, interrupts a
  // paragraph: "in\n2024. we ..." stays text.
  return Boolean(fenceOpen(line) || HEADING.test(line) || HR.test(line) || QUOTE.test(line)
    || (item && item.text && (!item.ordered || item.start === 1)) || isTableStart(lines, j));
}

function paragraph(lines, i) {
  let end = i + 1;
  while (end < lines.length && !BLANK.test(lines[end]) && !interrupts(lines, end)) end += 1;
  return { block: { inline: renderInline(lines.slice(i, end).map((line) => line.trim()).join('\n')) }, end };
}

function heading(lines, i) {
  const m = HEADING.exec(lines[i]);
  if (!m) return null;
  const level = m[1].length;
  const text = (m[2] ?? '').trim().replace(/(^|[ \t])#+$/, '').trim(); // optional closing #s
  return { block: { html: `<h${level}>${renderInline(text)}</h${level}>` }, end: i + 1 };
}

function thematicBreak(lines, i) {
  return HR.test(lines[i]) ? { block: { html: '<hr>' }, end: i + 1 } : null;
}

function fenceOpen(line) {
  const m = FENCE.exec(line);
  if (!m || (m[2][0] === '`' && m[3].includes('`'))) return null; // a backtick fence's info has no backticks
  return { indent: m[1].length, marker: m[2], info: m[3].trim() };
}

/** ``` or ~~~ up to a closing fence of the same character, at least as long; unclosed: to the end. */
function fencedCode(lines, i) {
  const open = fenceOpen(lines[i]);
  if (!open) return null;
  const code = [];
  let end = i + 1;
  for (; end < lines.length; end += 1) {
    const close = FENCE_CLOSE.exec(lines[end]);
    if (close && close[1][0] === open.marker[0] && close[1].length >= open.marker.length) {
      end += 1;
      break;
    }
    code.push(stripIndent(lines[end], open.indent));
  }
  const word = open.info.split(/[ \t]/)[0];
  const lang = LANGUAGE.test(word) ? escapeHtml(word) : '';
  const label = lang ? `<span class="code-lang">${lang}</span>` : '';
  const html = `<div class="code-block"><div class="code-header">${label}`
    + '<button type="button" class="copy-code" aria-label="Copy code">Copy</button></div>'
    + `<pre><code${lang ? ` class="language-${lang}"` : ''}>${escapeHtml(code.join('\n'))}</code></pre></div>`;
  return { block: { html }, end };
}

function blockquote(lines, i, depth) {
  if (!QUOTE.test(lines[i])) return null;
  const inner = [];
  let end = i;
  for (; end < lines.length; end += 1) {
    const marker = QUOTE.exec(lines[end]);
    if (marker) inner.push(lines[end].slice(marker[0].length));
    else if (isLazy(lines, end, inner)) inner.push(lines[end]);
    else break;
  }
  const html = joinBlocks(parseBlocks(inner, depth + 1).blocks, false);
  return { block: { html: `<blockquote>\n${html}\n</blockquote>` }, end };
}

/** A "lazy" line continues the paragraph of a quote or list item without repeating its > or indent. */
function isLazy(lines, j, body) {
  return !BLANK.test(lines[j]) && body.length > 0 && !BLANK.test(body[body.length - 1]) && !interrupts(lines, j);
}

/** "- text", "* text", "+ text", "1. text", "1) text" -> the marker, its indents (in columns), the text. */
function listMarker(line) {
  const m = LIST_ITEM.exec(line);
  if (!m || HR.test(line)) return null; // "- - -" and "* * *" are rules
  const indent = columns(m[1]);
  const markerEnd = indent + m[2].length;
  const spaces = m[4] ? columns(m[4], markerEnd) - markerEnd : 0;
  const text = m[5] ?? '';
  // Continuation lines align with the item's text; more than 4 spaces after the marker do not count.
  const content = text && spaces <= 4 ? markerEnd + spaces : markerEnd + 1;
  return { indent, content, text, ordered: m[3] !== undefined, kind: m[2].slice(-1), start: Number(m[3] ?? 1) };
}

function list(lines, i, depth) {
  const first = listMarker(lines[i]);
  if (!first) return null;
  const items = [];
  let loose = false;
  let end = i;
  for (let item = first; item;) {
    const { body, end: itemEnd, stop } = listItem(lines, end, item);
    const parsed = parseBlocks(body, depth + 1);
    items.push(parsed.blocks);
    loose ||= parsed.gap;
    end = itemEnd;
    // The next item is a marker of the same kind (a different bullet or delimiter starts a new list).
    item = stop < lines.length ? listMarker(lines[stop]) : null;
    if (item?.kind !== first.kind) break;
    loose ||= stop > end; // blank lines between items
    end = stop;
  }
  const tag = first.ordered ? 'ol' : 'ul';
  const start = first.ordered && first.start !== 1 ? ` start="${first.start}"` : '';
  const html = items.map((blocks) => `<li>${joinBlocks(blocks, !loose)}</li>`).join('\n');
  return { block: { html: `<${tag}${start}>\n${html}\n</${tag}>` }, end };
}

/**
 * The lines of the item starting at line i, with its indentation removed. Returns the body, `end`
 * (after its last non-blank line: trailing blank lines are left to the parent) and `stop` (the
 * first line that is not the item's).
 */
function listItem(lines, i, item) {
  const body = [item.text];
  let content = item.content;
  let j = i + 1;
  for (; j < lines.length; j += 1) {
    const line = lines[j];
    if (BLANK.test(line)) {
      body.push('');
      continue;
    }
    const indent = columns(/^[ \t]*/.exec(line)[0]);
    // Models often indent sub-lists less than the item's text ("1. x" then "  - y"): a marker
    // indented more than this item's own marker is nested, and sets the indent removed from now on.
    if (indent >= content || (indent > item.indent && listMarker(line))) {
      content = Math.min(content, indent);
      body.push(stripIndent(line, content));
    } else if (!listMarker(line) && isLazy(lines, j, body)) {
      body.push(line.trim());
    } else {
      break;
    }
  }
  let end = j;
  while (body.length > 1 && body[body.length - 1] === '') {
    body.pop();
    end -= 1;
  }
  return { body, end, stop: j };
}

/** A GFM table: a header row, then a delimiter row with as many cells ("---", ":--", "--:", ":-:"). */
function isTableStart(lines, i) {
  if (i + 1 >= lines.length || !lines[i].includes('|') || !lines[i + 1].includes('|')) return false;
  const delimiters = splitRow(lines[i + 1]);
  return delimiters.every((cell) => DELIMITER_CELL.test(cell)) && delimiters.length === splitRow(lines[i]).length;
}

function table(lines, i) {
  if (!isTableStart(lines, i)) return null;
  const aligns = splitRow(lines[i + 1]).map((cell) => {
    const align = cell.endsWith(':') ? (cell.startsWith(':') ? 'center' : 'right') : cell.startsWith(':') ? 'left' : '';
    return align && ` class="align-${align}"`;
  });
  const rows = [];
  let end = i + 2;
  while (end < lines.length && !BLANK.test(lines[end]) && !interrupts(lines, end)) rows.push(splitRow(lines[end++]));
  // Short rows are padded with empty cells, long ones cut to the header's width.
  const cell = (tag, align, text = '') => `<${tag}${align}>${renderInline(text)}</${tag}>`;
  const row = (cells, tag) => `<tr>${aligns.map((align, k) => cell(tag, align, cells[k])).join('')}</tr>`;
  const body = rows.length ? `<tbody>${rows.map((cells) => row(cells, 'td')).join('')}</tbody>` : '';
  const html = `<div class="table-wrap"><table><thead>${row(splitRow(lines[i]), 'th')}</thead>${body}</table></div>`;
  return { block: { html }, end };
}

/** "| a | b \| c |" -> ["a", "b | c"]: outer pipes optional, \| is a pipe inside a cell. */
function splitRow(line) {
  let row = line.trim();
  if (row.startsWith('|')) row = row.slice(1);
  if (row.endsWith('|') && !row.endsWith('\\|')) row = row.slice(0, -1);
  const cells = [''];
  for (let k = 0; k < row.length; k += 1) {
    if (row[k] === '\\' && row[k + 1] === '|') cells[cells.length - 1] += row[++k];
    else if (row[k] === '|') cells.push('');
    else cells[cells.length - 1] += row[k];
  }
  return cells.map((cell) => cell.trim());
}

/** The column after `whitespace` starting at column `start` (tabs stop every 4 columns). */
function columns(whitespace, start = 0) {
  let col = start;
  for (const ch of whitespace) col = ch === '\t' ? col + 4 - (col % 4) : col + 1;
  return col;
}

/** Removes up to n columns of leading whitespace (a tab straddling column n leaves spaces). */
function stripIndent(line, n) {
  let col = 0;
  let k = 0;
  for (; k < line.length && col < n && (line[k] === ' ' || line[k] === '\t'); k += 1) {
    const next = line[k] === '\t' ? col + 4 - (col % 4) : col + 1;
    if (next > n) return ' '.repeat(next - n) + line.slice(k + 1);
    col = next;
  }
  return line.slice(k);
}

// ---------------------------------------------------------------------------------------------
// Inlines. One left-to-right scan turns code spans, links and escapes into finished HTML and
// collects runs of * _ ~~ as delimiters; resolveEmphasis then pairs delimiters (CommonMark's
// algorithm, simplified) and unpaired ones print as the literal characters they were. Pairs never
// cross, and links are rendered whole, so tags always balance, whatever prefix of a reply this is.

const PLAIN = /[^\\`*_~[!<\nhH]+/y; // characters that start nothing (h: a bare http(s) URL)
const ESCAPABLE = /^[!-/:-@[-`{-~]$/; // ASCII punctuation
const AUTOLINK = /<([A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*)>/y;
const BARE_URL = /https?:\/\/[^\s<>]+/iy;
const ANGLE_DEST = /<([^<>\n]*)>/y;
const URL_TRAILING = '?!.,:;*_~\'"'; // punctuation that ends a sentence rather than a bare URL

function renderInline(src, allowLinks = true) {
  const brackets = src.includes('[') ? matchBrackets(src) : new Map(); // so "[[[[..." stays linear
  const nodes = []; // finished HTML strings and delimiter runs
  let text = ''; // literal text not yet escaped
  const push = (node) => {
    if (text) nodes.push(escapeHtml(text));
    text = '';
    nodes.push(node);
  };
  for (let i = 0; i < src.length;) {
    const ch = src[i];
    const next = src[i + 1] ?? '';
    PLAIN.lastIndex = i;
    const plain = PLAIN.exec(src);
    let span;
    if (plain) {
      text += plain[0];
      i += plain[0].length;
    } else if (ch === '\\' && (ESCAPABLE.test(next) || next === '\n')) {
      if (next !== '\n') text += next; // backslash-newline: the newline is a line break anyway
      i += next === '\n' ? 1 : 2;
    } else if (ch === '\n') {
      push('<br>');
      i += 1;
    } else if ('*_~'.includes(ch)) {
      const run = delimiterRun(src, i);
      if (ch === '~' && run.count !== 2) text += src.slice(i, i + run.count); // only ~~ strikes: "~5 min" is prose
      else push(run);
      i += run.count;
    } else if ((span = codeSpan(src, i) ?? autolink(src, i, allowLinks) ?? link(src, i, allowLinks, brackets)
        ?? bareUrl(src, i, allowLinks))) {
      push(span.html);
      i = span.end;
    } else {
      const length = ch === '`' ? runLength(src, i) : 1; // an unmatched backtick run is literal, whole
      text += src.slice(i, i + length);
      i += length;
    }
  }
  if (text) nodes.push(escapeHtml(text));
  resolveEmphasis(nodes.filter((node) => typeof node !== 'string'));
  return nodes.map((node) => (typeof node === 'string' ? node
    : node.closes.join('') + escapeHtml(node.ch.repeat(node.count)) + node.opens.join(''))).join('');
}

function runLength(src, i) {
  let j = i;
  while (src[j] === src[i]) j += 1;
  return j - i;
}

/** `code`: the closing backtick run has the same length; contents are literal. */
function codeSpan(src, i) {
  if (src[i] !== '`') return null;
  const n = runLength(src, i);
  for (let j = src.indexOf('`', i + n); j >= 0; j = src.indexOf('`', j + runLength(src, j))) {
    if (runLength(src, j) !== n) continue;
    let code = src.slice(i + n, j).replace(/\n/g, ' ');
    if (code.startsWith(' ') && code.endsWith(' ') && code.trim()) code = code.slice(1, -1);
    return { html: `<code>${escapeHtml(code)}</code>`, end: j + n };
  }
  return null;
}

const isSpace = (ch) => /\s/.test(ch);
const isPunctuation = (ch) => /[\p{P}\p{S}]/u.test(ch);

/** A run of * _ or ~ and whether it can open or close (CommonMark's flanking rules). */
function delimiterRun(src, i) {
  const ch = src[i];
  const count = runLength(src, i);
  const before = src[i - 1] ?? '\n';
  const after = src[i + count] ?? '\n';
  const left = !isSpace(after) && (!isPunctuation(after) || isSpace(before) || isPunctuation(before));
  const right = !isSpace(before) && (!isPunctuation(before) || isSpace(after) || isPunctuation(after));
  // _ inside a word is not emphasis: snake_case_names stay as they are.
  const canOpen = left && (ch !== '_' || !right || isPunctuation(before));
  const canClose = right && (ch !== '_' || !left || isPunctuation(after));
  return { ch, count, length: count, canOpen, canClose, opens: [], closes: [] };
}

/** Pairs each closer with the nearest usable opener; delimiters between a pair become literal. */
function resolveEmphasis(delimiters) {
  delimiters.forEach((closer, c) => {
    while (closer.canClose && closer.count > 0) {
      const o = findOpener(delimiters, c, closer);
      if (o < 0) return;
      const opener = delimiters[o];
      const use = opener.count >= 2 && closer.count >= 2 ? 2 : 1;
      const tag = closer.ch === '~' ? 'del' : use === 2 ? 'strong' : 'em';
      opener.count -= use;
      closer.count -= use;
      opener.opens.unshift(`<${tag}>`); // later pairs on the same run enclose earlier ones
      closer.closes.push(`</${tag}>`);
      for (let k = o + 1; k < c; k += 1) delimiters[k].canOpen = delimiters[k].canClose = false;
    }
  });
}

function findOpener(delimiters, c, closer) {
  for (let o = c - 1; o >= 0; o -= 1) {
    const d = delimiters[o];
    if (d.ch !== closer.ch || !d.canOpen || d.count === 0) continue;
    // CommonMark's "rule of 3", so that *a**b* and **a*b** pair as people mean.
    const both = d.canClose || closer.canOpen;
    if (!both || (d.length + closer.length) % 3 !== 0 || (d.length % 3 === 0 && closer.length % 3 === 0)) return o;
  }
  return -1;
}

function anchor(href, html) {
  return `<a href="${escapeHtml(href)}" rel="noopener noreferrer nofollow" target="_blank">${html}</a>`;
}

/** <https://...>; other schemes (<mailto:...>, <javascript:...>) fall through as text. */
function autolink(src, i, allowLinks) {
  if (!allowLinks || src[i] !== '<') return null;
  AUTOLINK.lastIndex = i;
  const m = AUTOLINK.exec(src);
  const href = m && safeHref(m[1]);
  return href ? { html: anchor(href, escapeHtml(m[1])), end: i + m[0].length } : null;
}

/** https://... in running text, without trailing sentence punctuation or an unbalanced ) or ]. */
function bareUrl(src, i, allowLinks) {
  if (!allowLinks || (src[i] !== 'h' && src[i] !== 'H') || /[\p{L}\p{N}]/u.test(src[i - 1] ?? '')) return null;
  BARE_URL.lastIndex = i;
  const m = BARE_URL.exec(src);
  if (!m) return null;
  const url = m[0];
  const excess = (close, open) => url.split(close).length - url.split(open).length;
  const unbalanced = { ')': excess(')', '('), ']': excess(']', '[') };
  let end = url.length;
  for (; end > 0; end -= 1) {
    const last = url[end - 1];
    if (unbalanced[last] > 0) unbalanced[last] -= 1;
    else if (!URL_TRAILING.includes(last)) break;
  }
  const text = url.slice(0, end);
  const href = /^https?:\/\/[^/]/i.test(text) && safeHref(text); // not "https://" alone, mid-stream
  return href ? { html: anchor(href, escapeHtml(text)), end: i + end } : null;
}

/**
 * [label](url "title") and ![alt](url). The title is dropped (no attribute comes from the input but
 * href). Images are never loaded (a remote image would leak the reader to its host): the alt text
 * shows, as a link when the URL is safe. An unsafe URL leaves the label as plain text. Inside a
 * label (allowLinks false) a nested link shows only its label, as text, which bounds the recursion.
 */
function link(src, i, allowLinks, brackets) {
  const open = src[i] === '!' ? i + 1 : i;
  const close = brackets.get(open);
  const tail = close && src[close + 1] === '(' ? linkTail(src, close + 1) : null;
  if (!tail) return null;
  const label = src.slice(open + 1, close);
  if (!allowLinks) return { html: escapeHtml(label), end: tail.end };
  const html = renderInline(label, false);
  const href = safeHref(tail.dest);
  return { html: href ? anchor(href, html || escapeHtml(href)) : html, end: tail.end };
}

/** For each [ the index of its ] (brackets nest; escapes and code spans are skipped), in one pass. */
function matchBrackets(src) {
  const match = new Map();
  const open = [];
  for (let k = 0; k < src.length; k += 1) {
    const ch = src[k];
    if (ch === '\\') k += 1;
    else if (ch === '`') k = (codeSpan(src, k)?.end ?? k + runLength(src, k)) - 1;
    else if (ch === '[') open.push(k);
    else if (ch === ']' && open.length) match.set(open.pop(), k);
  }
  return match;
}

/** "(url "title")" from `open` -> { dest, end } or null. A bare destination ends at whitespace or an unbalanced ). */
function linkTail(src, open) {
  let i = skipSpaces(src, open + 1);
  let dest;
  ANGLE_DEST.lastIndex = i;
  const angle = ANGLE_DEST.exec(src);
  if (angle) {
    dest = angle[1];
    i += angle[0].length;
  } else {
    const start = i;
    for (let depth = 0; i < src.length && src.charCodeAt(i) > 32; i += 1) {
      if (src[i] === '\\') i += 1;
      else if (src[i] === '(' && ++depth > 32) return null; // as cmark: bounds the work on "[x]([x]([x](..."
      else if (src[i] === ')' && --depth < 0) break;
    }
    dest = src.slice(start, i);
  }
  i = skipSpaces(src, i);
  const quote = { '"': '"', "'": "'", '(': ')' }[src[i]];
  if (quote) {
    let k = i + 1;
    while (k < src.length && src[k] !== quote) k += src[k] === '\\' ? 2 : 1;
    if (k >= src.length) return null;
    i = skipSpaces(src, k + 1);
  }
  return src[i] === ')' ? { dest: dest.replace(/\\([!-/:-@[-`{-~])/g, '$1'), end: i + 1 } : null;
}

function skipSpaces(src, i) {
  while (src[i] === ' ' || src[i] === '\t' || src[i] === '\n') i += 1;
  return i;
}

// ---------------------------------------------------------------------------------------------
// Escaping and URLs.

const URL_UNSAFE = /[\s\u0000-\u001f\u007f-\u009f"'<>`]/g;
const ENTITY = /&(?:#[xX]([0-9a-fA-F]{1,6})|#([0-9]{1,7})|([A-Za-z][A-Za-z0-9]{1,31}));/g;
const HTML_ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function escapeHtml(s) {
  return s.replace(/[&<>"']/g, (ch) => HTML_ESCAPES[ch]);
}

/**
 * The href for a link destination, or null unless it is http(s). Entities are decoded first (so
 * "java&#x73;cript:" is seen for what it is); then whitespace and control characters, which
 * browsers drop from URLs ("java\tscript:"), and quotes and angle brackets are percent-encoded. The
 * scheme is checked on that final string, the very one the browser gets, so nothing changes it after
 * the check (anything that would read as another scheme once stripped fails "^https?://" here).
 */
function safeHref(raw) {
  const url = decodeEntities(raw).trim().replace(URL_UNSAFE, (ch) => (ch === "'" ? '%27' : encodeURIComponent(ch)));
  return /^https?:\/\//i.test(url) ? url.replace(/^https?/i, (scheme) => scheme.toLowerCase()) : null;
}

const NAMED_ENTITIES = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", colon: ':', sol: '/', period: '.', lpar: '(', rpar: ')',
  tab: '\t', newline: '\n', nbsp: '\u00a0',
};

function decodeEntities(s) {
  return s.replace(ENTITY, (entity, hex, dec, name) => {
    if (name) return NAMED_ENTITIES[name.toLowerCase()] ?? entity;
    const cp = hex ? parseInt(hex, 16) : Number(dec);
    return cp > 0 && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff) ? String.fromCodePoint(cp) : '\uFFFD';
  });
}
