// Markdown to HTML for the chat page's assistant replies, from three npm libraries that the build
// copies into runtime/vendor/ (sitegen/site_libraries.py): markdown-it parses CommonMark with GFM
// tables and strikethrough, highlight.js colours code blocks, Temml turns LaTeX math into MathML.
// This module configures them and adds what a chat needs: the page's code block (language label,
// Copy button), math delimiters, heading levels that fit the page, and the safety rules below.
//
// The input is untrusted model output and the result goes to innerHTML. What keeps it inert:
// - html: false: markdown-it escapes every piece of text it places, so model-written HTML shows as
//   text and is never interpreted; the tags come only from markdown-it's renderer, the rules here,
//   highlight.js (<span class="hljs-...">, its input escaped) and Temml (MathML elements).
// - Links go to http(s) only (validateLink; anything else stays literal text) and open in a new tab
//   with rel="noopener noreferrer nofollow"; titles are dropped.
// - Images never load (a remote image would tell its host who reads the reply): an image becomes a
//   link to it, labelled with its alt text.
// - Math runs with Temml's untrusted settings (trust false: no \href, \url, \class, \style,
//   \includegraphics; bounded macro expansion and sizes). Its style attributes are removed: the
//   page's CSP refuses inline styles, and themes/_content.css styles the classes Temml sets instead.
//
// The page renders the whole reply again on every animation frame while it streams, so there is no
// state between calls, and unfinished input renders sensibly: an open ``` fence or $$ block runs
// to the end, an unmatched ** or ` or $ stays literal text, unfinished math shows as its source.

import MarkdownIt from '../vendor/markdown-it.mjs';
import hljs from '../vendor/highlight.mjs';
import temml from '../vendor/temml.mjs';

const LANGUAGE = /^[A-Za-z0-9_+#.-]{1,32}$/;
const WEB_LINK = /^https?:\/\//i;
const LINK_ATTRIBUTES = [['rel', 'noopener noreferrer nofollow'], ['target', '_blank']];
const TEMML_OPTIONS = { throwOnError: true, trust: false, maxSize: 20, maxExpand: 500 };
const STYLE_ATTRIBUTE = / style="[^"]*"/g; // Temml writes attribute values escaped: no " inside
// Temml's maxSize does not bound every length (\rule, \kern, \raisebox, \genfrac... pass
// through), and one formula 10^22 em tall would make the reply as tall as the browser allows: a
// formula with any length beyond this shows as its source. Lengths in em at TeX's 10 pt.
const MAX_LENGTH_EM = 20;
const EM_PER_UNIT = { em: 1, ex: 0.43, mu: 1 / 18, pt: 0.1, bp: 0.1, dd: 0.107, pc: 1.2, cc: 1.28, px: 1 / 16,
  in: 7.2, cm: 2.85, mm: 0.285, sp: 0.1 / 65536 };
const LENGTH_ATTRIBUTE = /="(-?[0-9.]+(?:e[+-]?[0-9]+)?)(em|ex|mu|pt|bp|dd|pc|cc|px|in|cm|mm|sp)"/gi;
const MATH_CACHE_SIZE = 512; // formulas kept, so a streaming reply does not render them again every frame

const md = new MarkdownIt('default', { html: false, linkify: true, breaks: true, typographer: false });
md.validateLink = (url) => WEB_LINK.test(url);
// "text\n---" is a horizontal rule after a paragraph, as models mean it, not a setext heading.
md.disable('lheading');
md.use(mathPlugin);
md.core.ruler.push('images_as_links', imagesAsLinks);
md.core.ruler.push('heading_levels', headingLevels);
md.core.ruler.push('align_classes', alignClasses);
Object.assign(md.renderer.rules, {
  fence: (tokens, idx) => codeBlock(tokens[idx].content, tokens[idx].info.trim().split(/\s/)[0]),
  code_block: (tokens, idx) => codeBlock(tokens[idx].content, ''),
  table_open: () => '<div class="table-wrap" tabindex="0" role="group" aria-label="Table"><table>\n',
  table_close: () => '</table></div>\n',
  // ' percent-encoded as well: the href is safe in its "-quoted attribute either way, but then no
  // quote of any kind from the input reaches the page.
  link_open: (tokens, idx) => `<a${attributes([['href', tokens[idx].attrGet('href').replace(/'/g, '%27')], ...LINK_ATTRIBUTES])}>`,
});

/**
 * Untrusted markdown (a model's reply, whole or as streamed so far) -> HTML for innerHTML.
 * @param {unknown} text  anything; null and undefined are empty, other values go through String()
 * @returns {string} HTML with only the tags and attributes described at the top of this file
 */
export function renderMarkdown(text) {
  return md.render(String(text ?? ''));
}

function attributes(pairs) {
  return pairs.map(([name, value]) => ` ${name}="${md.utils.escapeHtml(value)}"`).join('');
}

// --- Code blocks ---------------------------------------------------------------------------------

/**
 * The page's code block: a header with the language and a Copy button (chat_view.js handles its
 * click), then the code, highlighted when highlight.js knows the language. The <pre> takes focus
 * so a keyboard can scroll a wide block, with a name saying what it holds.
 */
function codeBlock(content, info) {
  const lang = LANGUAGE.test(info) ? info : '';
  const code = content.endsWith('\n') ? content.slice(0, -1) : content;
  const html = lang && hljs.getLanguage(lang)
    ? hljs.highlight(code, { language: lang, ignoreIllegals: true }).value
    : md.utils.escapeHtml(code);
  const label = lang ? `<span class="code-lang">${md.utils.escapeHtml(lang)}</span>` : '';
  const pre = attributes([['tabindex', '0'], ['role', 'group'], ['aria-label', lang ? `Code: ${lang}` : 'Code']]);
  const codeClass = lang ? attributes([['class', `language-${lang}`]]) : '';
  return `<div class="code-block"><div class="code-header">${label}`
    + '<button type="button" class="copy-code" aria-label="Copy code">Copy</button></div>'
    + `<pre${pre}><code${codeClass}>${html}</code></pre></div>\n`;
}

// --- Token rewrites (core rules, after parsing) --------------------------------------------------

/**
 * Each image becomes a link to it labelled with its alt text (the URL if none). Inside a link, an
 * image is its alt text and an autolink its text: a link never holds another one (markdown-it lets
 * "[<https://a>](https://b)" nest them, and HTML cannot).
 */
function imagesAsLinks(state) {
  for (const block of state.tokens) {
    if (block.type !== 'inline' || !block.children) continue;
    let depth = 0;
    block.children = block.children.flatMap((token) => {
      if (token.type === 'link_open') depth += 1;
      if (token.type === 'link_close') depth -= 1;
      if ((token.type === 'link_open' && depth > 1) || (token.type === 'link_close' && depth > 0)) return [];
      if (token.type !== 'image') return [token];
      const label = new state.Token('text', '', 0);
      label.content = md.renderer.renderInlineAsText(token.children ?? [], md.options, state.env) || token.attrGet('src');
      if (depth) return [label];
      const open = new state.Token('link_open', 'a', 1);
      open.attrs = [['href', token.attrGet('src')]];
      return [open, label, new state.Token('link_close', 'a', -1)];
    });
  }
}

/**
 * A reply sits under the page's <h1>, and a reader's heading outline (axe's heading-order rule)
 * wants each heading at most one level below the one before it. So levels are renumbered from
 * <h2> by their order in the reply: "#" then "###" gives h2 then h3, a reply of "###" headings gets
 * <h2>s, and a heading as deep as an earlier one gets that one's level. Only earlier headings decide
 * a level, so streaming never changes one already shown.
 */
function headingLevels(state) {
  const open = []; // [written level, rendered level] of the headings still "open" above this point
  for (const token of state.tokens) {
    if (token.type === 'heading_open') {
      const written = Number(token.tag.slice(1));
      while (open.length && open[open.length - 1][0] > written) open.pop();
      const same = open.length && open[open.length - 1][0] === written ? open.pop() : null;
      const level = same ? same[1] : Math.min((open[open.length - 1]?.[1] ?? 1) + 1, 6);
      open.push([written, level]);
      token.tag = `h${level}`;
    } else if (token.type === 'heading_close') {
      token.tag = `h${open[open.length - 1][1]}`;
    }
  }
}

/** Table column alignment as classes: markdown-it writes style="text-align:...", which the CSP refuses. */
function alignClasses(state) {
  for (const token of state.tokens) {
    const align = /^text-align:(left|center|right)$/.exec(token.attrGet?.('style') ?? '');
    if (!align) continue;
    token.attrs = token.attrs.filter(([name]) => name !== 'style');
    token.attrSet('class', `align-${align[1]}`);
  }
}

// --- Math ----------------------------------------------------------------------------------------
// Delimiters as chat models write them: $...$ and \(...\) inline, $$...$$ and \[...\] displayed
// (in a paragraph, or as a block of their own lines). A single $ follows pandoc's rule, so prices
// stay text ("$5 and $10"): the opening $ has no space after it, the closing one no space before it
// and no digit after it. Code spans and code blocks are parsed as code first, so $ in code is code.

const INLINE_MATH = [
  { open: '$$', close: '$$', display: true },
  { open: '\\[', close: '\\]', display: true },
  { open: '\\(', close: '\\)', display: false },
  { open: '$', close: '$', display: false, dollar: true },
];
const BLOCK_MATH = INLINE_MATH.filter(({ display }) => display);
const mathCache = new Map();

function mathPlugin(markdownIt) {
  // Before 'escape', which would turn \( into a plain (.
  markdownIt.inline.ruler.before('escape', 'math_inline', mathInline);
  markdownIt.block.ruler.before('fence', 'math_block', mathBlock, { alt: ['paragraph', 'reference', 'blockquote', 'list'] });
  markdownIt.renderer.rules.math_inline = (tokens, idx) => renderMath(tokens[idx], 'span');
  markdownIt.renderer.rules.math_block = (tokens, idx) => `${renderMath(tokens[idx], 'div')}\n`;
}

function mathInline(state, silent) {
  const { src, pos } = state;
  for (const delimiter of INLINE_MATH) {
    if (!src.startsWith(delimiter.open, pos)) continue;
    const start = pos + delimiter.open.length;
    if (delimiter.dollar && /^\s|^$/.test(src.slice(start, start + 1))) return false;
    const end = findClose(src, start, delimiter);
    // A single $ pair must also be valid TeX: "$5, $6 and $x$" is prose about prices, not math.
    if (end < 0 || (delimiter.dollar && mathML(src.slice(start, end), false) === null)) return false;
    if (!silent) {
      const token = state.push('math_inline', 'math', 0);
      const source = src.slice(pos, end + delimiter.close.length);
      Object.assign(token, { content: src.slice(start, end), markup: delimiter.open, meta: { display: delimiter.display, source } });
    }
    state.pos = end + delimiter.close.length;
    return true;
  }
  return false;
}

/** The index of the closing delimiter after `start`, or -1; a backslash escapes the next character. */
function findClose(src, start, { close, dollar }) {
  for (let i = start; i < src.length; i += 1) {
    if (src[i] === '\\' && !src.startsWith(close, i)) {
      i += 1;
    } else if (src.startsWith(close, i) && i > start) {
      if (!dollar) return i;
      if (!/\s/.test(src[i - 1]) && !/[0-9]/.test(src[i + 1] ?? '')) return i;
    }
  }
  return -1;
}

/**
 * A display formula on lines of its own: "$$" (or "\[") up to a line ending "$$" ("\]"). Unclosed,
 * it runs to the end (a reply still streaming); a blank line before the close means it was no formula.
 */
function mathBlock(state, startLine, endLine, silent) {
  const lineText = (line) => state.src.slice(state.bMarks[line] + state.tShift[line], state.eMarks[line]);
  if (state.sCount[startLine] - state.blkIndent >= 4) return false;
  const first = lineText(startLine);
  const delimiter = BLOCK_MATH.find(({ open }) => first.startsWith(open));
  if (!delimiter) return false;
  const rest = first.slice(delimiter.open.length);
  let content;
  let line = startLine;
  if (rest.trimEnd().endsWith(delimiter.close) && rest.trim().length >= delimiter.close.length + 1) {
    content = rest.trimEnd().slice(0, -delimiter.close.length); // "$$ x $$" on one line
  } else if (rest.includes(delimiter.close)) {
    return false; // "$$a$$ more text": inline math in a paragraph
  } else {
    const lines = [rest];
    for (line = startLine + 1; line < endLine; line += 1) {
      if (state.sCount[line] < state.blkIndent) break; // the end of the list item or quote it is in
      const text = lineText(line).trimEnd();
      if (!text) return false; // a formula has no blank line: this $$ was not one
      if (text.endsWith(delimiter.close)) {
        lines.push(text.slice(0, -delimiter.close.length));
        break;
      }
      lines.push(text);
    }
    if (line === endLine || state.sCount[line] < state.blkIndent) line -= 1; // unclosed: what there is
    content = lines.join('\n');
  }
  if (silent) return true;
  const token = state.push('math_block', 'math', 0);
  const source = state.src.slice(state.bMarks[startLine] + state.tShift[startLine], state.eMarks[line]);
  Object.assign(token, { content, markup: delimiter.open, meta: { display: true, source }, block: true, map: [startLine, line + 1] });
  state.line = line + 1;
  return true;
}

/**
 * A formula as MathML; one Temml cannot parse (or not yet, mid-stream) shows as its source, as code.
 * `meta`: { display, source: the formula with its delimiters, as written }. A displayed one sits in
 * a `wrapper` element that scrolls a wide formula and so takes focus.
 */
function renderMath({ content, meta }, wrapper) {
  const math = (content.trim() && mathML(content, meta.display)) || `<code class="math-source">${md.utils.escapeHtml(meta.source)}</code>`;
  return meta.display ? `<${wrapper} class="math-display" tabindex="0" role="group" aria-label="Formula">${math}</${wrapper}>` : math;
}

/**
 * Temml's MathML for `tex` without its style attributes, or null if Temml refuses it or it holds a
 * length beyond MAX_LENGTH_EM. Cached.
 */
function mathML(tex, display) {
  const key = `${display ? 'D' : 'I'}${tex}`;
  if (!mathCache.has(key)) {
    let html = null;
    try {
      html = temml.renderToString(tex, { ...TEMML_OPTIONS, displayMode: display }).replace(STYLE_ATTRIBUTE, '');
      if (!lengthsFit(html)) html = null;
    } catch {
      // A parse error (or a limit hit): the caller shows the source instead.
    }
    if (mathCache.size >= MATH_CACHE_SIZE) mathCache.delete(mathCache.keys().next().value);
    mathCache.set(key, html);
  }
  return mathCache.get(key);
}

/** Whether every length attribute in Temml's `html` is within MAX_LENGTH_EM (either sign). */
function lengthsFit(html) {
  for (const [, number, unit] of html.matchAll(LENGTH_ATTRIBUTE)) {
    if (!(Math.abs(Number(number)) * EM_PER_UNIT[unit.toLowerCase()] <= MAX_LENGTH_EM)) return false;
  }
  return true;
}
