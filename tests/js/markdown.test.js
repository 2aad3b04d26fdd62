// runtime/ui/markdown.js: exact HTML for each construct; injection payloads, whose output a small
// HTML tokenizer checks for allowed tags, attributes and URLs only; and every prefix of a streamed
// reply rendering to balanced, allowed HTML.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { renderMarkdown } from '../../runtime/ui/markdown.js';

// --- A strict tokenizer for the renderer's output, and the rules that output must keep ---------

const ALLOWED_TAGS = new Set(['p', 'br', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr', 'blockquote', 'ul', 'ol', 'li', 'div',
  'span', 'button', 'pre', 'code', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'strong', 'em', 'del', 'a']);
const VOID_TAGS = new Set(['br', 'hr']);
const INLINE_TAGS = new Set(['br', 'strong', 'em', 'del', 'a', 'code', 'span', 'button']);
// Inside these only inline tags may open: a block tag there would make the browser's parser
// restructure the tree, and what we checked would not be what the page shows.
const INLINE_CONTENT = new Set(['p', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'th', 'td', 'pre', ...INLINE_TAGS]);
const CLASSES = /^(code-block|code-header|code-lang|copy-code|table-wrap|language-[A-Za-z0-9_+#.-]{1,32}|align-(left|center|right))$/;
const ATTRIBUTE_RULES = {
  class: (value) => CLASSES.test(value),
  href: (value) => /^https?:\/\/[^\s\u0000-\u001f\u007f-\u009f]*$/i.test(value),
  rel: (value) => value === 'noopener noreferrer nofollow',
  target: (value) => value === '_blank',
  start: (value) => /^\d{1,10}$/.test(value),
  type: (value) => value === 'button',
  'aria-label': (value) => value === 'Copy code',
};
const DANGEROUS = /javascript:|vbscript:|data:|[<>"']/i;
const ENTITIES = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'" };

/** Text between tags may only hold the renderer's five entities, never a raw < > " ' or a bare &. */
function decodeText(text, where) {
  assert.doesNotMatch(text, /[<>"']|&(?!(amp|lt|gt|quot|#39);)/, `unescaped character in ${where}: ${JSON.stringify(text)}`);
  return text.replace(/&(amp|lt|gt|quot|#39);/g, (entity) => ENTITIES[entity]);
}

function tokenize(html) {
  const TAG = /<(\/?)([a-z][a-z0-9]*)((?: [a-z-]+="[^"]*")*)>/y;
  const tokens = [];
  for (let i = 0; i < html.length;) {
    const lt = html.indexOf('<', i);
    const end = lt < 0 ? html.length : lt;
    if (end > i) tokens.push({ type: 'text', text: decodeText(html.slice(i, end), 'text') });
    if (lt < 0) break;
    TAG.lastIndex = lt;
    const m = TAG.exec(html);
    assert.ok(m, `malformed markup at ${JSON.stringify(html.slice(lt, lt + 60))}`);
    const attributes = [...m[3].matchAll(/ ([a-z-]+)="([^"]*)"/g)].map(([, name, value]) => [name, decodeText(value, name)]);
    tokens.push({ type: m[1] ? 'close' : 'open', name: m[2], attributes });
    i = TAG.lastIndex;
  }
  return tokens;
}

/** Asserts the allowed tag and attribute sets, safe hrefs, proper nesting; returns the tokens. */
function assertSafeHtml(html) {
  const tokens = tokenize(html);
  const stack = [];
  for (const token of tokens) {
    if (token.type === 'text') continue;
    const { type, name, attributes } = token;
    assert.ok(ALLOWED_TAGS.has(name), `tag <${name}> in ${html}`);
    if (type === 'close') {
      assert.equal(attributes.length, 0, html);
      assert.equal(stack.pop(), name, `</${name}> closes the wrong element in ${html}`);
      continue;
    }
    const names = attributes.map(([attribute]) => attribute);
    assert.equal(new Set(names).size, names.length, `repeated attribute in ${html}`);
    for (const [attribute, value] of attributes) {
      assert.ok(ATTRIBUTE_RULES[attribute], `attribute ${attribute} on <${name}> in ${html}`);
      assert.ok(ATTRIBUTE_RULES[attribute](value), `${attribute}="${value}" in ${html}`);
      assert.doesNotMatch(value, DANGEROUS, `${attribute}="${value}" in ${html}`);
    }
    assert.equal(names.includes('href'), name === 'a', `href belongs on <a> only: ${html}`);
    const parent = stack[stack.length - 1];
    assert.ok(!INLINE_CONTENT.has(parent) || INLINE_TAGS.has(name), `<${name}> inside <${parent}> in ${html}`);
    assert.ok(name !== 'a' || !stack.includes('a'), `nested links in ${html}`);
    if (!VOID_TAGS.has(name)) stack.push(name);
  }
  assert.deepEqual(stack, [], `unclosed elements in ${html}`);
  return tokens;
}

test('the checker itself rejects what it must', () => {
  for (const bad of ['<img src="x">', '<p>x', '<em>x</p>', '<p onclick="x">y</p>', '<a href="javascript:x">y</a>',
    '<a href="/relative">y</a>', '<p>a < b</p>', '<p class="x">y</p>', '<p><div></div></p>', '<p>"</p>', '<p>&copy;</p>',
    '<a href="https://a"><a href="https://b">x</a></a>', '<span style="color:red">x</span>', '<p>x</p></p>', '<br/>']) {
    assert.throws(() => assertSafeHtml(bad), assert.AssertionError, bad);
  }
  assertSafeHtml('<p>a &lt; b<br><a href="https://a.example/?q=1&amp;r=2" rel="noopener noreferrer nofollow" target="_blank">x</a></p>');
});

// --- Features: exact output --------------------------------------------------------------------

const LINK = (href, text) => `<a href="${href}" rel="noopener noreferrer nofollow" target="_blank">${text}</a>`;
const COPY = '<button type="button" class="copy-code" aria-label="Copy code">Copy</button>';
const CODE = (lang, code) => (lang
  ? `<div class="code-block"><div class="code-header"><span class="code-lang">${lang}</span>${COPY}</div>`
    + `<pre><code class="language-${lang}">${code}</code></pre></div>`
  : `<div class="code-block"><div class="code-header">${COPY}</div><pre><code>${code}</code></pre></div>`);
const TABLE = (inner) => `<div class="table-wrap"><table>${inner}</table></div>`;

const FEATURES = {
  'empty input': [
    ['', ''], ['\n\n  \n', ''],
  ],
  paragraphs: [
    ['Hello, world.', '<p>Hello, world.</p>'],
    ['one\ntwo  \n  three\r\nfour', '<p>one<br>two<br>three<br>four</p>'],
    ['first\n\n\n\nsecond', '<p>first</p>\n<p>second</p>'],
    ['a & b < c > d "e" \'f\'', '<p>a &amp; b &lt; c &gt; d &quot;e&quot; &#39;f&#39;</p>'],
    ['nul\0byte', '<p>nul\uFFFDbyte</p>'],
  ],
  headings: [
    ['# One\n## Two ##\n###### Six', '<h1>One</h1>\n<h2>Two</h2>\n<h6>Six</h6>'],
    ['# Title with *em* and `code`', '<h1>Title with <em>em</em> and <code>code</code></h1>'],
    ['#hashtag\n####### seven', '<p>#hashtag<br>####### seven</p>'],
    ['# C#', '<h1>C#</h1>'],
    ['text\n# heading', '<p>text</p>\n<h1>heading</h1>'],
  ],
  'horizontal rules': [
    ['---\n***\n___\n- - -', '<hr>\n<hr>\n<hr>\n<hr>'],
    ['above\n---\nbelow', '<p>above</p>\n<hr>\n<p>below</p>'],
    ['* a\n* * *\n* b', '<ul>\n<li>a</li>\n</ul>\n<hr>\n<ul>\n<li>b</li>\n</ul>'],
  ],
  blockquotes: [
    ['> quoted **text**\n> second line', '<blockquote>\n<p>quoted <strong>text</strong><br>second line</p>\n</blockquote>'],
    ['> para one\n>\n> para two', '<blockquote>\n<p>para one</p>\n<p>para two</p>\n</blockquote>'],
    ['> outer\n> > inner', '<blockquote>\n<p>outer</p>\n<blockquote>\n<p>inner</p>\n</blockquote>\n</blockquote>'],
    ['> - a\n> - b', '<blockquote>\n<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n</blockquote>'],
    ['> lazy\ncontinuation\n\nafter', '<blockquote>\n<p>lazy<br>continuation</p>\n</blockquote>\n<p>after</p>'],
    ['> quote\n# heading', '<blockquote>\n<p>quote</p>\n</blockquote>\n<h1>heading</h1>'],
  ],
  'unordered lists': [
    ['- one\n- two\n- three', '<ul>\n<li>one</li>\n<li>two</li>\n<li>three</li>\n</ul>'],
    ['* star\n* list', '<ul>\n<li>star</li>\n<li>list</li>\n</ul>'],
    ['+ plus', '<ul>\n<li>plus</li>\n</ul>'],
    ['- a\n* b', '<ul>\n<li>a</li>\n</ul>\n<ul>\n<li>b</li>\n</ul>'],
    ['Intro:\n- a\n- b', '<p>Intro:</p>\n<ul>\n<li>a</li>\n<li>b</li>\n</ul>'],
    ['- item\nlazy line', '<ul>\n<li>item<br>lazy line</li>\n</ul>'],
    ['- a\n\n- b', '<ul>\n<li><p>a</p></li>\n<li><p>b</p></li>\n</ul>'],
  ],
  'ordered lists': [
    ['1. one\n2. two', '<ol>\n<li>one</li>\n<li>two</li>\n</ol>'],
    ['3. three\n4. four', '<ol start="3">\n<li>three</li>\n<li>four</li>\n</ol>'],
    ['1) paren\n2) style', '<ol>\n<li>paren</li>\n<li>style</li>\n</ol>'],
    ['007) x', '<ol start="7">\n<li>x</li>\n</ol>'],
    ['1. a\n1) b', '<ol>\n<li>a</li>\n</ol>\n<ol>\n<li>b</li>\n</ol>'],
    ['In\n2024. it rained', '<p>In<br>2024. it rained</p>'],
    [' 9. nine\n10. ten', '<ol start="9">\n<li>nine</li>\n<li>ten</li>\n</ol>'],
  ],
  'nested lists': [
    ['- a\n  - b\n    - c\n- d', '<ul>\n<li>a\n<ul>\n<li>b\n<ul>\n<li>c</li>\n</ul></li>\n</ul></li>\n<li>d</li>\n</ul>'],
    ['1. step\n   - detail\n2. next', '<ol>\n<li>step\n<ul>\n<li>detail</li>\n</ul></li>\n<li>next</li>\n</ol>'],
    // Models often indent sub-items less than the parent's text, or with 4 spaces.
    ['1. step\n  - detail\n  - more\n2. next', '<ol>\n<li>step\n<ul>\n<li>detail</li>\n<li>more</li>\n</ul></li>\n<li>next</li>\n</ol>'],
    ['- a\n    - b', '<ul>\n<li>a\n<ul>\n<li>b</li>\n</ul></li>\n</ul>'],
    ['1. step\n  - a\n\n    more about a\n2. next',
      '<ol>\n<li>step\n<ul>\n<li><p>a</p>\n<p>more about a</p></li>\n</ul></li>\n<li>next</li>\n</ol>'],
    ['- a\n\t- tab', '<ul>\n<li>a\n<ul>\n<li>tab</li>\n</ul></li>\n</ul>'],
  ],
  'list items with several blocks': [
    ['1. First paragraph.\n\n   Second paragraph.\n2. Next',
      '<ol>\n<li><p>First paragraph.</p>\n<p>Second paragraph.</p></li>\n<li><p>Next</p></li>\n</ol>'],
    ['- Run:\n  ```sh\n  make\n  ```\n- Done', `<ul>\n<li>Run:\n${CODE('sh', 'make')}</li>\n<li>Done</li>\n</ul>`],
    ['- a\n  > quote', '<ul>\n<li>a\n<blockquote>\n<p>quote</p>\n</blockquote></li>\n</ul>'],
    ['- a\n\n  - b\n\n  - c', '<ul>\n<li><p>a</p>\n<ul>\n<li><p>b</p></li>\n<li><p>c</p></li>\n</ul></li>\n</ul>'],
    ['-\n- ', '<ul>\n<li></li>\n<li></li>\n</ul>'],
    ['-      wide\n\n  second', '<ul>\n<li><p>wide</p>\n<p>second</p></li>\n</ul>'], // text aligns 1 after a far marker
    ['- a\n  ```\n\tcode\n  ```', `<ul>\n<li>a\n${CODE('', '  code')}</li>\n</ul>`], // the tab's 2 columns left
  ],
  'fenced code': [
    ['```python\nprint("<hi>") & 1\n```', CODE('python', 'print(&quot;&lt;hi&gt;&quot;) &amp; 1')],
    ['```\nno language\n```', CODE('', 'no language')],
    ['~~~c++ extra words\nint x;\n~~~', CODE('c++', 'int x;')],
    ['```c#\n```', CODE('c#', '')],
    ['````md\n```\ninner\n```\n````', CODE('md', '```\ninner\n```')],
    ['~~~\n```\n~~~', CODE('', '```')],
    ['```js\n  indented\n\n\tand tab\n```', CODE('js', '  indented\n\n\tand tab')],
    ['  ```\n  two\n    four\n  ```', CODE('', 'two\n  four')],
    ['```{python}\nx\n```', CODE('', 'x')],
    ['```' + 'a'.repeat(33) + '\nx\n```', CODE('', 'x')],
    ['text\n```\ncode\n```\nmore', `<p>text</p>\n${CODE('', 'code')}\n<p>more</p>`],
    ['```a`b', '<p>```a`b</p>'], // a backtick in the info string: not a fence
    ['```\n# not a heading\n- not a list\n```', CODE('', '# not a heading\n- not a list')],
  ],
  tables: [
    ['| a | b |\n|---|---|\n| 1 | 2 |',
      TABLE('<thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td>1</td><td>2</td></tr></tbody>')],
    ['| L | C | R | N |\n|:--|:-:|--:|---|\n| 1 | 2 | 3 | 4 |',
      TABLE('<thead><tr><th class="align-left">L</th><th class="align-center">C</th><th class="align-right">R</th><th>N</th></tr></thead>'
        + '<tbody><tr><td class="align-left">1</td><td class="align-center">2</td><td class="align-right">3</td><td>4</td></tr></tbody>')],
    ['a | b\n-|-\n`x \\| y` | **z**\nonly one\n1 | 2 | 3',
      TABLE('<thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td><code>x | y</code></td><td><strong>z</strong></td></tr>'
        + '<tr><td>only one</td><td></td></tr><tr><td>1</td><td>2</td></tr></tbody>')],
    ['| h |\n|---|', TABLE('<thead><tr><th>h</th></tr></thead>')],
    ['Results:\n| a |\n|---|\n| 1 |\n\nafter',
      `<p>Results:</p>\n${TABLE('<thead><tr><th>a</th></tr></thead><tbody><tr><td>1</td></tr></tbody>')}\n<p>after</p>`],
    ['| a | b |\n|---|', '<p>| a | b |<br>|---|</p>'], // the delimiter row has to match the header
  ],
  'code spans': [
    ['use `a < b` here', '<p>use <code>a &lt; b</code> here</p>'],
    ['`` a `tick` ``', '<p><code>a `tick`</code></p>'],
    ['`**not bold** [not](https://link)`', '<p><code>**not bold** [not](https://link)</code></p>'],
    ['`  `', '<p><code>  </code></p>'],
    ['``unmatched` `', '<p>``unmatched<code> </code></p>'], // an unmatched run is literal as a whole
  ],
  emphasis: [
    ['**strong** and __strong__', '<p><strong>strong</strong> and <strong>strong</strong></p>'],
    ['*em* and _em_', '<p><em>em</em> and <em>em</em></p>'],
    ['***both***', '<p><em><strong>both</strong></em></p>'],
    ['*a **b** c*', '<p><em>a <strong>b</strong> c</em></p>'],
    ['**a *b* c**', '<p><strong>a <em>b</em> c</strong></p>'],
    ['snake_case_names and __dunder__x', '<p>snake_case_names and __dunder__x</p>'],
    ['set my_var to other_', '<p>set my_var to other_</p>'],
    ['**a _b** c_', '<p><strong>a _b</strong> c_</p>'], // pairs never cross
    ['*a**b*', '<p><em>a**b</em></p>'], // CommonMark's rule of 3
    ['in*ter*word', '<p>in<em>ter</em>word</p>'],
    ['a * b * c and 2*3*4', '<p>a * b * c and 2<em>3</em>4</p>'],
    ['**unclosed and *also', '<p>**unclosed and *also</p>'],
    ['~~gone~~ ~5 min ~~~x~~~', '<p><del>gone</del> ~5 min ~~~x~~~</p>'],
    ['**`code` in bold**', '<p><strong><code>code</code> in bold</strong></p>'],
    ['**bold\nacross lines**', '<p><strong>bold<br>across lines</strong></p>'],
  ],
  'backslash escapes': [
    ['\\*not em\\* \\_ \\# \\[x\\](y) \\\\ \\a', '<p>*not em* _ # [x](y) \\ \\a</p>'],
    ['line\\\nbreak', '<p>line<br>break</p>'],
    ['\\# not heading', '<p># not heading</p>'],
  ],
  links: [
    ['[text](https://example.com)', `<p>${LINK('https://example.com', 'text')}</p>`],
    ['[t](http://example.com/a_b?q=1&r=2 "Title")', `<p>${LINK('http://example.com/a_b?q=1&amp;r=2', 't')}</p>`],
    ["[t](https://e.com 'single') [u](https://e.com (paren))", `<p>${LINK('https://e.com', 't')} ${LINK('https://e.com', 'u')}</p>`],
    ['[**bold** `code`](https://e.com)', `<p>${LINK('https://e.com', '<strong>bold</strong> <code>code</code>')}</p>`],
    ['[a [nested] label](https://e.com/x_(y))', `<p>${LINK('https://e.com/x_(y)', 'a [nested] label')}</p>`],
    ['[x](<https://e.com/a b>)', `<p>${LINK('https://e.com/a%20b', 'x')}</p>`],
    ['[x](HTTPS://E.com)', `<p>${LINK('https://E.com', 'x')}</p>`],
    ['[x](https&#x3a;//e.com)', `<p>${LINK('https://e.com', 'x')}</p>`],
    ['[x](https://e.com/\\(y\\))', `<p>${LINK('https://e.com/(y)', 'x')}</p>`],
    ['[](https://e.com)', `<p>${LINK('https://e.com', 'https://e.com')}</p>`],
    ['[x](/relative) [m](mailto:a@b.c) [f](ftp://e.com)', '<p>x m f</p>'],
    ['[x] [y]: z [not a link](missing', '<p>[x] [y]: z [not a link](missing</p>'],
    ['*[em link](https://e.com)*', `<p><em>${LINK('https://e.com', 'em link')}</em></p>`],
  ],
  images: [
    ['![a cat](https://e.com/cat.png)', `<p>${LINK('https://e.com/cat.png', 'a cat')}</p>`],
    ['![a cat](cat.png)', '<p>a cat</p>'],
    ['![](https://e.com/cat.png)', `<p>${LINK('https://e.com/cat.png', 'https://e.com/cat.png')}</p>`],
    ['[![badge](https://e.com/b.svg)](https://e.com)', `<p>${LINK('https://e.com', 'badge')}</p>`],
  ],
  autolinks: [
    ['<https://e.com/a?b=c>', `<p>${LINK('https://e.com/a?b=c', 'https://e.com/a?b=c')}</p>`],
    ['<mailto:a@b.c> <ftp://e.com>', '<p>&lt;mailto:a@b.c&gt; &lt;ftp://e.com&gt;</p>'],
    ['See https://e.com/docs.', `<p>See ${LINK('https://e.com/docs', 'https://e.com/docs')}.</p>`],
    ['(see https://e.com/wiki/A_(b)), or http://e.com/x?!',
      `<p>(see ${LINK('https://e.com/wiki/A_(b)', 'https://e.com/wiki/A_(b)')}), or ${LINK('http://e.com/x', 'http://e.com/x')}?!</p>`],
    ['**https://e.com/a_b_c**', `<p><strong>${LINK('https://e.com/a_b_c', 'https://e.com/a_b_c')}</strong></p>`],
    ['xhttps://e.com and https:// alone and www.e.com', '<p>xhttps://e.com and https:// alone and www.e.com</p>'],
    ['(https://). https://?', '<p>(https://). https://?</p>'],
  ],
  'raw HTML is text': [
    ['<b>bold</b> <br> &amp; &copy;', '<p>&lt;b&gt;bold&lt;/b&gt; &lt;br&gt; &amp;amp; &amp;copy;</p>'],
    ['<div>\n*md*\n</div>', '<p>&lt;div&gt;<br><em>md</em><br>&lt;/div&gt;</p>'],
  ],
};

describe('renders each construct exactly', () => {
  for (const [name, cases] of Object.entries(FEATURES)) {
    test(name, () => {
      for (const [markdown, html] of cases) {
        assert.equal(renderMarkdown(markdown), html, JSON.stringify(markdown));
        assertSafeHtml(html);
      }
    });
  }
  test('non-strings', () => {
    assert.equal(renderMarkdown(undefined), '');
    assert.equal(renderMarkdown(null), '');
    assert.equal(renderMarkdown(42), '<p>42</p>');
  });
});

describe('incomplete input, as streamed', () => {
  test('an unclosed fence is a code block so far', () => {
    assert.equal(renderMarkdown('Try:\n```js\nconst a = 1;\nif (a < 2'), `<p>Try:</p>\n${CODE('js', 'const a = 1;\nif (a &lt; 2')}`);
    assert.equal(renderMarkdown('```'), CODE('', ''));
  });
  test('unclosed markers stay literal', () => {
    assert.equal(renderMarkdown('**bold so'), '<p>**bold so</p>');
    assert.equal(renderMarkdown('a `code sp'), '<p>a `code sp</p>');
    assert.equal(renderMarkdown('[label](https://e.c'), `<p>[label](${LINK('https://e.c', 'https://e.c')}</p>`);
    assert.equal(renderMarkdown('~~str'), '<p>~~str</p>');
    assert.equal(renderMarkdown('| a | b |\n|--'), '<p>| a | b |<br>|--</p>');
  });
  test('deep nesting renders as text instead of overflowing the stack', () => {
    for (const deep of ['> '.repeat(5000) + 'x', '- '.repeat(5000) + 'x', '1. '.repeat(5000) + 'x', '[x]('.repeat(3000)]) {
      assertSafeHtml(renderMarkdown(deep));
    }
    assert.equal(renderMarkdown('>>> deep'),
      '<blockquote>\n<blockquote>\n<blockquote>\n<p>deep</p>\n</blockquote>\n</blockquote>\n</blockquote>');
  });
});

// --- Injection: exact output, and the checker on every output -----------------------------------

const INJECTIONS = [
  ['<script>alert(1)</script>', '<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>'],
  ['<img src=x onerror=alert(1)>', '<p>&lt;img src=x onerror=alert(1)&gt;</p>'],
  ['<svg onload=alert(1)>', '<p>&lt;svg onload=alert(1)&gt;</p>'],
  ['<iframe src="https://evil.example/"></iframe>',
    `<p>&lt;iframe src=&quot;${LINK('https://evil.example/', 'https://evil.example/')}&quot;&gt;&lt;/iframe&gt;</p>`],
  ['[x](javascript:alert(1))', '<p>x</p>'],
  ['[x](JaVaScRiPt:alert(1))', '<p>x</p>'],
  ['[x](java&#x73;cript:alert(1))', '<p>x</p>'],
  ['[x](&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1))', '<p>x</p>'],
  ['[x](javascript&colon;alert(1))', '<p>x</p>'],
  ['[x](java\tscript:alert(1))', '<p>[x](java\tscript:alert(1))</p>'],
  ['[x](<java\tscript:alert(1)>)', '<p>x</p>'],
  ['[x](  javascript:alert(1))', '<p>x</p>'],
  ['[x](<javascript:alert(1)>)', '<p>x</p>'],
  ['[x](\u0001javascript:alert(1))', '<p>[x](\u0001javascript:alert(1))</p>'],
  ['[x](data:text/html,<script>alert(1)</script>)', '<p>x</p>'],
  ['[x](vbscript:msgbox(1))', '<p>x</p>'],
  ['[x](//evil.example) [y](file:///etc/passwd)', '<p>x y</p>'],
  ['![x](https://evil.example/track.png)', `<p>${LINK('https://evil.example/track.png', 'x')}</p>`],
  ['![x](javascript:alert(1))', '<p>x</p>'],
  ['<a href="javascript:alert(1)">x</a>', '<p>&lt;a href=&quot;javascript:alert(1)&quot;&gt;x&lt;/a&gt;</p>'],
  ['<javascript:alert(1)>', '<p>&lt;javascript:alert(1)&gt;</p>'],
  ['[x](https://a.example "\\"><script>alert(1)</script>")', `<p>${LINK('https://a.example', 'x')}</p>`],
  ['[x](https://a.example "t" onmouseover="alert(1)")',
    `<p>[x](${LINK('https://a.example', 'https://a.example')} &quot;t&quot; onmouseover=&quot;alert(1)&quot;)</p>`],
  ['```"><script>alert(1)</script>\ncode\n```', CODE('', 'code')],
  ['```js" onclick="alert(1)\ncode\n```', CODE('', 'code')],
  ['[x](https://a/"onmouseover="alert(1))', `<p>${LINK('https://a/%22onmouseover=%22alert(1)', 'x')}</p>`],
  ["[x](https://a/'onmouseover='alert(1))", `<p>${LINK('https://a/%27onmouseover=%27alert(1)', 'x')}</p>`],
  ["[x](https://a.example/' onmouseover='alert(1))",
    `<p>[x](${LINK('https://a.example/', 'https://a.example/')}&#39; onmouseover=&#39;alert(1))</p>`],
  ['https://ok.example/"onmouseover="alert(1)',
    `<p>${LINK('https://ok.example/%22onmouseover=%22alert(1)', 'https://ok.example/&quot;onmouseover=&quot;alert(1)')}</p>`],
  ['<https://ok.example/?a="><script>>', `<p>${LINK('https://ok.example/?a=%22', 'https://ok.example/?a=&quot;')}&lt;script&gt;&gt;</p>`],
  ['<a href="[x](javascript:alert(1))">**y**</a>', '<p>&lt;a href=&quot;x&quot;&gt;<strong>y</strong>&lt;/a&gt;</p>'],
  ['<img alt="*a*" src="x" title="[t](https://e.example)">',
    `<p>&lt;img alt=&quot;<em>a</em>&quot; src=&quot;x&quot; title=&quot;${LINK('https://e.example', 't')}&quot;&gt;</p>`],
  ['<style>body{display:none}</style>', '<p>&lt;style&gt;body{display:none}&lt;/style&gt;</p>'],
  ['<form action="/x"><input name=p><button>go</button></form>',
    '<p>&lt;form action=&quot;/x&quot;&gt;&lt;input name=p&gt;&lt;button&gt;go&lt;/button&gt;&lt;/form&gt;</p>'],
  ['<object data="x.swf"></object><embed src="x">',
    '<p>&lt;object data=&quot;x.swf&quot;&gt;&lt;/object&gt;&lt;embed src=&quot;x&quot;&gt;</p>'],
  ['<base href="/evil/">', '<p>&lt;base href=&quot;/evil/&quot;&gt;</p>'],
  ['<meta http-equiv="refresh" content="0;url=/evil">',
    '<p>&lt;meta http-equiv=&quot;refresh&quot; content=&quot;0;url=/evil&quot;&gt;</p>'],
  ['&lt;script&gt;alert(1)&lt;/script&gt;', '<p>&amp;lt;script&amp;gt;alert(1)&amp;lt;/script&amp;gt;</p>'],
  ['&#60;script&#62;', '<p>&amp;#60;script&amp;#62;</p>'],
  ['[[x](javascript:alert(1))](https://ok.example)', `<p>${LINK('https://ok.example', 'x')}</p>`],
  ['[a](https://ok.example)[b](javascript:1)', `<p>${LINK('https://ok.example', 'a')}b</p>`],
  ['`<script>alert(1)</script>`', '<p><code>&lt;script&gt;alert(1)&lt;/script&gt;</code></p>'],
  ['| <b>h</b> | x |\n|---|---|\n| <img src=x onerror=alert(1)> | [y](javascript:1) |',
    TABLE('<thead><tr><th>&lt;b&gt;h&lt;/b&gt;</th><th>x</th></tr></thead>'
      + '<tbody><tr><td>&lt;img src=x onerror=alert(1)&gt;</td><td>y</td></tr></tbody>')],
  ['> <script>alert(1)</script>\n> [x](javascript:1)', '<blockquote>\n<p>&lt;script&gt;alert(1)&lt;/script&gt;<br>x</p>\n</blockquote>'],
  ['**<script>**alert(1)**</script>**', '<p><strong>&lt;script&gt;<strong>alert(1)</strong>&lt;/script&gt;</strong></p>'],
  ['<scr<script>ipt>alert(1)</scr</script>ipt>', '<p>&lt;scr&lt;script&gt;ipt&gt;alert(1)&lt;/scr&lt;/script&gt;ipt&gt;</p>'],
  ['x<!-- <script> -->', '<p>x&lt;!-- &lt;script&gt; --&gt;</p>'],
  ['<![CDATA[<script>]]>', '<p>&lt;![CDATA[&lt;script&gt;]]&gt;</p>'],
  ['[x](https://ok.example/\u2028"><script>)', `<p>${LINK('https://ok.example/%E2%80%A8%22%3E%3Cscript%3E', 'x')}</p>`],
  ['<p onclick="alert(1)">hi</p>', '<p>&lt;p onclick=&quot;alert(1)&quot;&gt;hi&lt;/p&gt;</p>'],
  ['5. <li onclick=x>', '<ol start="5">\n<li>&lt;li onclick=x&gt;</li>\n</ol>'],
];

describe('injection payloads render as inert text', () => {
  for (const [payload, html] of INJECTIONS) {
    test(JSON.stringify(payload).slice(0, 80), () => {
      const output = renderMarkdown(payload);
      assert.equal(output, html);
      assertSafeHtml(output);
    });
  }
  test('every payload stays safe wherever it appears', () => {
    for (const [payload] of INJECTIONS) {
      for (const wrap of [(s) => `- ${s}`, (s) => `> ${s}`, (s) => `**${s}**`, (s) => `| ${s} |\n|---|`, (s) => `[${s}](https://ok.example)`,
        (s) => `1. a\n   ${s}`, (s) => `${s}\n${s}`]) {
        assertSafeHtml(renderMarkdown(wrap(payload)));
      }
    }
  });
});

// --- Streaming: every prefix of a realistic reply -------------------------------------------------

const REPLY = `# Setting up a Python project

Here's a **quick guide** to get a project running with \`venv\` and _pytest_. See the
[official docs](https://docs.python.org/3/library/venv.html "venv docs") or https://pytest.org.

## Steps

1. Create the environment:
   \`\`\`bash
   python -m venv .venv
   source .venv/bin/activate
   \`\`\`
2. Install the tools:
   - \`pytest\` for tests
   - \`ruff\` for linting, with *fast* checks
     - configure it in \`pyproject.toml\`
3. Write a test, then run \`pytest -q\`.

> **Note:** on Windows use \`.venv\\Scripts\\activate\`.
> Also see <https://example.com/windows> and [this](javascript:alert(1)).

| Tool | Purpose | Speed |
|:-----|:-------:|------:|
| pytest | tests | fast |
| ruff | lint \\| format | *very* fast |
| mypy | types |

---

~~~python
def test_add():
    assert 1 + 1 == 2  # **not bold** <b>
~~~

3) Third, with ~~strikethrough~~ and snake_case_names.
4) An image: ![diagram](https://example.com/d.png)

That's it: happy hacking! ***Good luck***.`;

test('every prefix of a streamed reply renders to balanced, allowed HTML', () => {
  for (let end = 0; end <= REPLY.length; end += 1) {
    const prefix = REPLY.slice(0, end);
    let html;
    assert.doesNotThrow(() => { html = renderMarkdown(prefix); }, JSON.stringify(prefix.slice(-40)));
    try {
      assertSafeHtml(html);
    } catch (error) {
      error.message = `prefix ending ${JSON.stringify(prefix.slice(-40))}: ${error.message}`;
      throw error;
    }
  }
});

test('the whole reply renders each construct', () => {
  const html = renderMarkdown(REPLY);
  const tags = assertSafeHtml(html).filter(({ type }) => type === 'open').map(({ name }) => name);
  const count = (name) => tags.filter((tag) => tag === name).length;
  assert.deepEqual([count('h1'), count('h2'), count('ol'), count('ul'), count('li'), count('table'), count('tr'), count('pre'),
    count('a'), count('hr'), count('blockquote'), count('del'), count('strong'), count('em')], [1, 1, 2, 2, 8, 1, 4, 2, 4, 1, 1, 1, 3, 4]);
  for (const fragment of [
    `<ol>\n<li>Create the environment:\n${CODE('bash', 'python -m venv .venv\nsource .venv/bin/activate')}</li>`,
    '<li>Install the tools:\n<ul>\n<li><code>pytest</code> for tests</li>\n<li><code>ruff</code> for linting, with <em>fast</em> checks\n<ul>\n',
    '<ol start="3">\n<li>Third, with <del>strikethrough</del> and snake_case_names.</li>',
    `${LINK('https://docs.python.org/3/library/venv.html', 'official docs')} or ${LINK('https://pytest.org', 'https://pytest.org')}.</p>`,
    `<br>Also see ${LINK('https://example.com/windows', 'https://example.com/windows')} and this.</p>`,
    '<tr><td class="align-left">mypy</td><td class="align-center">types</td><td class="align-right"></td></tr>',
    '<td class="align-center">lint | format</td><td class="align-right"><em>very</em> fast</td>',
    CODE('python', 'def test_add():\n    assert 1 + 1 == 2  # **not bold** &lt;b&gt;'),
    `An image: ${LINK('https://example.com/d.png', 'diagram')}`,
    '<p>That&#39;s it: happy hacking! <em><strong>Good luck</strong></em>.</p>',
  ]) {
    assert.ok(html.includes(fragment), `missing ${fragment}\nin ${html}`);
  }
});
