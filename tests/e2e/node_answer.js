// Prints the in-thread engine's reply (JSON string) to one chat request, in Node on Dawn: the
// browser tests compare the page's streamed answer with it.
//
//   node tests/e2e/node_answer.js <manifest.json path> '<request JSON>'

import { CreateEngine } from '../../runtime/engine.js';

const [manifest, request] = process.argv.slice(2);
const engine = await CreateEngine(manifest);
const reply = await engine.chat.completions.create(JSON.parse(request));
process.stdout.write(JSON.stringify(reply.choices[0].message.content));
await engine.unload();
process.exit(0); // Dawn keeps the process alive otherwise
