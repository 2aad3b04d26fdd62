// runtime/ui/markdown.js: our rules on top of markdown-it, highlight.js and Temml (exact HTML for
// code blocks, headings, tables, links, images, math); injection payloads, whose output a strict
// HTML tokenizer checks for allowed tags, attributes and URLs only; and every prefix of a streamed
// reply rendering to balanced, allowed HTML.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { renderMarkdown } from '../../runtime/ui/markdown.js';

// --- A strict tokenizer for the renderer's output, and the rules that output must keep ---------

const HTML_TAGS = ['p', 'br', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr', 'blockquote', 'ul', 'ol', 'li', 'div', 'span', 'button',
  'pre', 'code', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'strong', 'em', 's', 'a'];
// The MathML elements Temml writes (MathML Core: none of them loads anything or runs script).
const MATH_TAGS = ['math', 'mrow', 'mi', 'mn', 'mo', 'ms', 'mtext', 'mspace', 'msup', 'msub', 'msubsup', 'mfrac', 'msqrt',
  'mroot', 'mstyle', 'mtable', 'mtr', 'mtd', 'munder', 'mover', 'munderover', 'mpadded', 'mphantom', 'menclose',
  'mmultiscripts', 'mprescripts', 'none', 'semantics', 'annotation'];
const ALLOWED_TAGS = new Set([...HTML_TAGS, ...MATH_TAGS]);
const VOID_TAGS = new Set(['br', 'hr']);
const INLINE_TAGS = new Set(['br', 'strong', 'em', 's', 'a', 'code', 'span', 'button', ...MATH_TAGS]);
// Inside these only inline tags may open: a block tag there would make the browser's parser
// restructure the tree, and what we checked would not be what the page shows.
const INLINE_CONTENT = new Set(['p', 'h2', 'h3', 'h4', 'h5', 'h6', 'th', 'td', 'pre', ...INLINE_TAGS]);
const CLASSES = /^(code-block|code-header|code-lang|copy-code|table-wrap|math-display|math-source|language-[A-Za-z0-9_+#.-]{1,32}|align-(left|center|right)|hljs-[a-z_]+|[a-z]+_)$/;
// Temml's own (browser-specific corrections among them): never a class the page's code or CSS uses.
const MATH_CLASSES = /^((tml|wbk|chr|ff|longdiv|phasor)-[a-z-]+|mathscr|mathcal|menclose|upstrike|downstrike|sout|circle-pad|textcircle|actuarial|special-fraction)$/;
const MATH_ATTRIBUTES = new Set(['display', 'displaystyle', 'scriptlevel', 'fence', 'form', 'stretchy', 'separator',
  'movablelimits', 'lspace', 'rspace', 'width', 'height', 'depth', 'voffset', 'mathvariant', 'mathbackground', 'mathcolor',
  'accent', 'accentunder', 'largeop', 'symmetric', 'minsize', 'maxsize', 'columnalign', 'rowalign', 'linethickness',
  'notation', 'encoding']);
const ATTRIBUTE_RULES = {
  class: (value) => value.split(' ').every((name) => CLASSES.test(name)),
  'math class': (value) => value.split(' ').every((name) => MATH_CLASSES.test(name)),
  href: (value) => /^https?:\/\/[^\s\u0000-\u001f\u007f-\u009f]*$/i.test(value),
  rel: (value) => value === 'noopener noreferrer nofollow',
  target: (value) => value === '_blank',
  start: (value) => /^\d{1,10}$/.test(value),
  type: (value) => value === 'button',
  tabindex: (value) => value === '0',
  role: (value) => value === 'group',
  'aria-label': (value) => /^(Copy code|Code|Code: [A-Za-z0-9_+#.-]{1,32}|Table|Formula)$/.test(value),
};
const DANGEROUS = /javascript:|vbscript:|data:|url\(|[<>"']/i;
const ENTITIES = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'", '&#x27;': "'" };

/** Text between tags may only hold these entities, never a raw < > " or a bare &. */
function decodeText(text, where) {
  assert.doesNotMatch(text, /[<>"]|&(?!(amp|lt|gt|quot|#39|#x27);)/, `unescaped character in ${where}: ${JSON.stringify(text)}`);
  return text.replace(/&(amp|lt|gt|quot|#39|#x27);/g, (entity) => ENTITIES[entity]);
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
    const inMath = MATH_TAGS.includes(name);
    for (const [attribute, value] of attributes) {
      const rule = inMath
        ? (attribute === 'class' ? ATTRIBUTE_RULES['math class'] : MATH_ATTRIBUTES.has(attribute) && (() => true))
        : ATTRIBUTE_RULES[attribute];
      assert.ok(rule, `attribute ${attribute} on <${name}> in ${html}`);
      assert.ok(rule(value), `${attribute}="${value}" in ${html}`);
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
    '<a href="https://a"><a href="https://b">x</a></a>', '<span style="color:red">x</span>', '<p>x</p></p>', '<br/>',
    '<math href="https://a"><mi>x</mi></math>', '<math><mi style="color:red">x</mi></math>', '<mi class="copy-code">x</mi>',
    '<math><maction actiontype="toggle"><mi>x</mi></maction></math>', '<svg><script>x</script></svg>', '<h1>x</h1>']) {
    assert.throws(() => assertSafeHtml(bad), assert.AssertionError, bad);
  }
  assertSafeHtml('<p>a &lt; b<br><a href="https://a.example/?q=1&amp;r=2" rel="noopener noreferrer nofollow" target="_blank">x</a></p>');
});

// --- Our rules: exact output -------------------------------------------------------------------

const LINK = (href, text) => `<a href="${href}" rel="noopener noreferrer nofollow" target="_blank">${text}</a>`;
const COPY = '<button type="button" class="copy-code" aria-label="Copy code">Copy</button>';
const CODE = (lang, code) => (lang
  ? `<div class="code-block"><div class="code-header"><span class="code-lang">${lang}</span>${COPY}</div>`
    + `<pre tabindex="0" role="group" aria-label="Code: ${lang}"><code class="language-${lang}">${code}</code></pre></div>\n`
  : `<div class="code-block"><div class="code-header">${COPY}</div><pre tabindex="0" role="group" aria-label="Code"><code>${code}</code></pre></div>\n`);
const TABLE = (inner) => `<div class="table-wrap" tabindex="0" role="group" aria-label="Table"><table>\n${inner}</table></div>\n`;
const DISPLAY = (tag, math) => `<${tag} class="math-display" tabindex="0" role="group" aria-label="Formula">${math}</${tag}>`;

const FEATURES = {
  'empty input': [
    ['', ''], ['\n\n  \n', ''],
  ],
  'paragraphs and line breaks': [
    ['Hello, world.', '<p>Hello, world.</p>\n'],
    ['one\ntwo', '<p>one<br>\ntwo</p>\n'],
    ['a & b < c > d "e"', '<p>a &amp; b &lt; c &gt; d &quot;e&quot;</p>\n'],
  ],
  'headings start at h2 and never skip a level': [
    ['# One\n## Two\n###### Six', '<h2>One</h2>\n<h3>Two</h3>\n<h4>Six</h4>\n'],
    ['### a\n### b', '<h2>a</h2>\n<h2>b</h2>\n'],
    ['## a\n#### b\n### c\n# d', '<h2>a</h2>\n<h3>b</h3>\n<h3>c</h3>\n<h2>d</h2>\n'],
    ['# Title with *em* and `code`', '<h2>Title with <em>em</em> and <code>code</code></h2>\n'],
    ['#hashtag', '<p>#hashtag</p>\n'],
  ],
  'a rule under text is a rule, not a heading': [
    ['above\n---\nbelow', '<p>above</p>\n<hr>\n<p>below</p>\n'],
  ],
  'code blocks: header, focusable scroller, language': [
    ['```\nno language\n```', CODE('', 'no language')],
    ['```python\nprint("<hi>") & 1\n```', CODE('python',
      '<span class="hljs-built_in">print</span>(<span class="hljs-string">&quot;&lt;hi&gt;&quot;</span>) &amp; <span class="hljs-number">1</span>')],
    ['~~~made-up-lang extra words\nint x;\n~~~', CODE('made-up-lang', 'int x;')],
    ['```{python}\nx\n```', CODE('', 'x')],
    ['```' + 'a'.repeat(33) + '\nx\n```', CODE('', 'x')],
    ['    indented code', CODE('', 'indented code')],
    ['```\n# not a heading\n$x$ not math\n```', CODE('', '# not a heading\n$x$ not math')],
  ],
  'tables: scrollable wrapper, alignment as classes': [
    ['| L | C | R | N |\n|:--|:-:|--:|---|\n| 1 | 2 | 3 | 4 |',
      TABLE('<thead>\n<tr>\n<th class="align-left">L</th>\n<th class="align-center">C</th>\n<th class="align-right">R</th>\n<th>N</th>\n</tr>\n</thead>\n'
        + '<tbody>\n<tr>\n<td class="align-left">1</td>\n<td class="align-center">2</td>\n<td class="align-right">3</td>\n<td>4</td>\n</tr>\n</tbody>\n')],
  ],
  'links: http(s) only, opened apart, no title': [
    ['[text](https://example.com "Title")', `<p>${LINK('https://example.com', 'text')}</p>\n`],
    ['<https://e.com/a?b=c> and https://e.com/docs.',
      `<p>${LINK('https://e.com/a?b=c', 'https://e.com/a?b=c')} and ${LINK('https://e.com/docs', 'https://e.com/docs')}.</p>\n`],
    ['[x](/relative) [m](mailto:a@b.c) [f](ftp://e.com) a@b.c', '<p>[x](/relative) [m](mailto:a@b.c) [f](ftp://e.com) a@b.c</p>\n'],
  ],
  'images never load: a link to them, or their alt text inside a link': [
    ['![a cat](https://e.com/cat.png)', `<p>${LINK('https://e.com/cat.png', 'a cat')}</p>\n`],
    ['![](https://e.com/cat.png)', `<p>${LINK('https://e.com/cat.png', 'https://e.com/cat.png')}</p>\n`],
    ['[![badge](https://e.com/b.svg)](https://e.com)', `<p>${LINK('https://e.com', 'badge')}</p>\n`],
    ['![a cat](cat.png)', '<p>![a cat](cat.png)</p>\n'],
  ],
  'raw HTML is text': [
    ['<b>bold</b> <br> &copy;', '<p>&lt;b&gt;bold&lt;/b&gt; &lt;br&gt; ©</p>\n'],
    ['<div>\n*md*\n</div>', '<p>&lt;div&gt;<br>\n<em>md</em><br>\n&lt;/div&gt;</p>\n'],
  ],
  'dollars that are not math stay text': [
    ['It costs $5 and $10.', '<p>It costs $5 and $10.</p>\n'],
    ['from $5 to $10 and $x$5', '<p>from $5 to $10 and $x$5</p>\n'],
    ['a $ b $ c, \\$x\\$', '<p>a $ b $ c, $x$</p>\n'],
    ['`$x^2$` stays code', '<p><code>$x^2$</code> stays code</p>\n'],
  ],
  'math': [
    ['$x^2$', '<p><math><msup><mi>x</mi><mn class="tml-sml-pad">2</mn></msup></math></p>\n'],
    ['\\(a+b\\)', '<p><math><mrow><mi>a</mi><mo>+</mo><mi>b</mi></mrow></math></p>\n'],
    ['$$\\frac{a}{b}$$', `${DISPLAY('div', '<math display="block" class="tml-display"><mfrac><mi>a</mi><mi>b</mi></mfrac></math>')}\n`],
    ['$$\na\n$$', `${DISPLAY('div', '<math display="block" class="tml-display"><mi>a</mi></math>')}\n`],
    ['\\[\na\n\\]', `${DISPLAY('div', '<math display="block" class="tml-display"><mi>a</mi></math>')}\n`],
    ['so $$a$$ here', `<p>so ${DISPLAY('span', '<math display="block" class="tml-display"><mi>a</mi></math>')} here</p>\n`],
    ['$\\frac{a$$', '<p>$\\frac{a$$</p>\n'], // single $ math must parse, else it is prose
    ['$$\\frac{a}{$$', `${DISPLAY('div', '<code class="math-source">$$\\frac{a}{$$</code>')}\n`],
    ['> $$\n> a\n> $$', `<blockquote>\n${DISPLAY('div', '<math display="block" class="tml-display"><mi>a</mi></math>')}\n</blockquote>\n`],
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
    assert.equal(renderMarkdown(42), '<p>42</p>\n');
  });
  test('highlighting is classes only, never inline style', () => {
    const html = renderMarkdown('```js\nconst a = "x"; // note\nfunction f() { return 1; }\n```');
    for (const scope of ['keyword', 'string', 'comment', 'title function_', 'number']) {
      assert.ok(html.includes(`<span class="hljs-${scope}">`), `${scope} in ${html}`);
    }
    assert.doesNotMatch(html, / style=/);
    assertSafeHtml(html);
  });
  test('math never carries inline style (the CSP refuses it)', () => {
    const html = renderMarkdown('$$\\begin{pmatrix}a&b\\\\c&d\\end{pmatrix} \\color{red}{x} \\tag{1}$$');
    assert.match(html, /<mtable>/);
    assert.doesNotMatch(html, / style=/);
    assertSafeHtml(html);
  });
});

describe('incomplete input, as streamed', () => {
  test('an unclosed fence is a code block so far', () => {
    assert.equal(renderMarkdown('Try:\n```js\nconst a'), `<p>Try:</p>\n${CODE('js', '<span class="hljs-keyword">const</span> a')}`);
    assert.equal(renderMarkdown('```'), CODE('', ''));
  });
  test('unclosed display math shows its source so far', () => {
    assert.equal(renderMarkdown('$$\n\\sum_{i'), `${DISPLAY('div', '<code class="math-source">$$\n\\sum_{i</code>')}\n`);
    assert.equal(renderMarkdown('$$'), `${DISPLAY('div', '<code class="math-source">$$</code>')}\n`);
  });
  test('unclosed markers stay literal', () => {
    assert.equal(renderMarkdown('**bold so'), '<p>**bold so</p>\n');
    assert.equal(renderMarkdown('a `code sp'), '<p>a `code sp</p>\n');
    assert.equal(renderMarkdown('so $x^'), '<p>so $x^</p>\n');
    assert.equal(renderMarkdown('~~str'), '<p>~~str</p>\n');
  });
  test('deep nesting stays bounded and balanced', () => {
    for (const deep of ['> '.repeat(5000) + 'x', '- '.repeat(5000) + 'x', '1. '.repeat(5000) + 'x', '[x]('.repeat(3000),
      '$'.repeat(5000), '\\('.repeat(3000), '$$\n'.repeat(2000), '{'.repeat(3000)]) {
      assertSafeHtml(renderMarkdown(deep));
    }
  });
});

// --- Injection: the checker on every output, and the payload still readable as text ------------

const INJECTIONS = [
  "<script>alert(1)</script>",
  "<img src=x onerror=alert(1)>",
  "<svg onload=alert(1)>",
  "<iframe src=\"https://evil.example/\"></iframe>",
  "[x](javascript:alert(1))",
  "[x](JaVaScRiPt:alert(1))",
  "[x](java&#x73;cript:alert(1))",
  "[x](&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1))",
  "[x](javascript&colon;alert(1))",
  "[x](java\tscript:alert(1))",
  "[x](<java\tscript:alert(1)>)",
  "[x](  javascript:alert(1))",
  "[x](<javascript:alert(1)>)",
  "[x](\u0001javascript:alert(1))",
  "[x](data:text/html,<script>alert(1)</script>)",
  "[x](vbscript:msgbox(1))",
  "[x](//evil.example) [y](file:///etc/passwd)",
  "![x](https://evil.example/track.png)",
  "![x](javascript:alert(1))",
  "<a href=\"javascript:alert(1)\">x</a>",
  "<javascript:alert(1)>",
  "[x](https://a.example \"\\\"><script>alert(1)</script>\")",
  "[x](https://a.example \"t\" onmouseover=\"alert(1)\")",
  "```\"><script>alert(1)</script>\ncode\n```",
  "```js\" onclick=\"alert(1)\ncode\n```",
  "[x](https://a/\"onmouseover=\"alert(1))",
  "[x](https://a/'onmouseover='alert(1))",
  "[x](https://a.example/' onmouseover='alert(1))",
  "https://ok.example/\"onmouseover=\"alert(1)",
  "<https://ok.example/?a=\"><script>>",
  "<a href=\"[x](javascript:alert(1))\">**y**</a>",
  "<img alt=\"*a*\" src=\"x\" title=\"[t](https://e.example)\">",
  "<style>body{display:none}</style>",
  "<form action=\"/x\"><input name=p><button>go</button></form>",
  "<object data=\"x.swf\"></object><embed src=\"x\">",
  "<base href=\"/evil/\">",
  "<meta http-equiv=\"refresh\" content=\"0;url=/evil\">",
  "&lt;script&gt;alert(1)&lt;/script&gt;",
  "&#60;script&#62;",
  "[[x](javascript:alert(1))](https://ok.example)",
  "[a](https://ok.example)[b](javascript:1)",
  "`<script>alert(1)</script>`",
  "| <b>h</b> | x |\n|---|---|\n| <img src=x onerror=alert(1)> | [y](javascript:1) |",
  "> <script>alert(1)</script>\n> [x](javascript:1)",
  "**<script>**alert(1)**</script>**",
  "<scr<script>ipt>alert(1)</scr</script>ipt>",
  "x<!-- <script> -->",
  "<![CDATA[<script>]]>",
  "[x](https://ok.example/ \"><script>)",
  "<p onclick=\"alert(1)\">hi</p>",
  "5. <li onclick=x>",
  "$\\href{javascript:alert(1)}{x}$",
  "$\\url{javascript:alert(1)}$",
  "$$\\htmlClass{x}{y}$$",
  "$\\class{x}{y}$",
  "$\\style{background:url(https://evil.example/)}{y}$",
  "$\\includegraphics{https://evil.example/p.png}$",
  "$\\text{<script>alert(1)</script>}$",
  "$$\\color{red}{x}\\colorbox{blue}{y}$$",
  "$\\def\\a{\\a\\a}\\a$",
  "$x$\" onmouseover=\"alert(1)",
  "[x](data:image/png;base64,iVBORw0KGgo=)",
  "![x](data:image/svg+xml,<svg onload=alert(1)>)",
  "```js\n<script>alert(1)</script>\n```",
  "```<img src=x onerror=alert(1)>\nx\n```",
];

describe('injection payloads render as inert text', () => {
  for (const payload of INJECTIONS) {
    test(JSON.stringify(payload).slice(0, 80), () => {
      const html = renderMarkdown(payload);
      assertSafeHtml(html);
      assert.doesNotMatch(html, /<(script|img|svg|iframe|style|form|input|object|embed|base|meta)\b/i);
    });
  }
  test('every payload stays safe wherever it appears', () => {
    for (const payload of INJECTIONS) {
      for (const wrap of [(s) => `- ${s}`, (s) => `> ${s}`, (s) => `**${s}**`, (s) => `| ${s} |\n|---|`, (s) => `[${s}](https://ok.example)`,
        (s) => `1. a\n   ${s}`, (s) => `${s}\n${s}`, (s) => `# ${s}`, (s) => `$$\n${s}\n$$`, (s) => `$${s}$`]) {
        assertSafeHtml(renderMarkdown(wrap(payload)));
      }
    }
  });
  test('model-written HTML shows as the text it was', () => {
    assert.equal(renderMarkdown('<script>alert(1)</script>'), '<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n');
    assert.equal(renderMarkdown('<img src=x onerror=alert(1)>'), '<p>&lt;img src=x onerror=alert(1)&gt;</p>\n');
  });
  test('math commands that would link, load or style are refused: their source shows as code', () => {
    for (const tex of ['\\href{https://e.example}{x}', '\\url{https://e.example}', '\\htmlClass{copy-code}{x}', '\\class{x}{y}',
      '\\includegraphics{https://e.example/p.png}', '\\style{color:red}{y}', '\\htmlStyle{color:red}{y}', '\\htmlData{a=b}{y}']) {
      const html = renderMarkdown(`$$${tex}$$`);
      assert.equal(html, `${DISPLAY('div', `<code class="math-source">$$${tex.replace(/&/g, '&amp;')}$$</code>`)}\n`);
    }
  });
  test('math with lengths beyond 20em shows its source: one formula cannot make the page 10^22 em tall', () => {
    for (const tex of ['\\rule{1em}{9999999999999999999999em}', '\\rule{1em}{100000em}', '\\sqrt[\\rule{1em}{100000em}]{x}',
      '\\vphantom{\\rule{1em}{1000em}}x', '\\kern{500em}x', '\\raisebox{300em}{x}', '\\genfrac{(}{)}{900pt}{0}{a}{b}',
      '\\rule{1em}{21em}', '\\rule{1em}{3in}']) {
      assert.equal(renderMarkdown(`$$${tex}$$`), `${DISPLAY('div', `<code class="math-source">$$${tex}$$</code>`)}\n`, tex);
    }
    // Within the bound, lengths render.
    for (const tex of ['\\rule{1em}{20em}', '\\kern{2em}x', '\\raisebox{1ex}{x}']) assert.match(renderMarkdown(`$$${tex}$$`), /<math /, tex);
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

Math: the area is $\\pi r^2$, for $3 or $4 a slice, and

$$
\\int_0^1 x^2 \\, dx = \\frac{1}{3}
$$

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
  assert.deepEqual([count('h2'), count('h3'), count('ol'), count('ul'), count('table'), count('pre'), count('a'), count('hr'),
    count('blockquote'), count('s'), count('math')], [1, 1, 2, 2, 1, 2, 4, 1, 1, 1, 2]);
  for (const fragment of [
    '<pre tabindex="0" role="group" aria-label="Code: bash"><code class="language-bash">python -m venv .venv',
    `${LINK('https://docs.python.org/3/library/venv.html', 'official docs')} or ${LINK('https://pytest.org', 'https://pytest.org')}.</p>`,
    '<td class="align-center">lint | format</td>',
    `An image: ${LINK('https://example.com/d.png', 'diagram')}`,
    'for $3 or $4 a slice',
    '<math display="block" class="tml-display">',
    "<p>That's it: happy hacking! <em><strong>Good luck</strong></em>.</p>",
  ]) {
    assert.ok(html.includes(fragment), `missing ${fragment}\nin ${html}`);
  }
});
