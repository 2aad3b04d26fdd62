// The checks of a chat request's `response_format` (OpenAI's field, plus a GBNF grammar form):
// readResponseFormat() turns it into a grammar source for runtime/grammar.js, which compiles it
// into token masks. Everything a user can get wrong is found here, before anything compiles, as an
// InvalidRequestError whose `field` is the path of the offending part
// ("response_format.json_schema.schema.properties.tags.uniqueItems", "response_format.grammar"):
// xgrammar itself reports a bad schema or grammar only by aborting its WASM module, with the reason
// on the console.
//
// Grammar sources (what runtime/grammar.js compiles):
//   { kind: 'json_object' }            any JSON object
//   { kind: 'json_schema', schema }    a JSON value valid against `schema` (checked below)
//   { kind: 'ebnf', ebnf }             xgrammar's EBNF, translated from the request's GBNF
//
// JSON Schema: the keywords of OpenAI's strict structured outputs, and the few more xgrammar
// enforces. Each keyword a schema uses must be one whose meaning constrained decoding enforces
// exactly; any other (oneOf, allOf, not, if/then/else, multipleOf, uniqueItems, contains,
// patternProperties, ... and typos) is refused by name rather than silently ignored, since an
// ignored keyword would let through replies that do not validate. Where xgrammar 0.1.27 itself is
// inexact, the schema it gets is rewritten (grammar.js: integer ranges as enums; "date", "time",
// "date-time", "email", "uuid" as exact patterns: FORMAT_PATTERNS; every pattern parsed and printed
// back by pattern_automaton.js; a "type" array as its types) or the keyword refused (bounds on
// non-integer numbers, integer ranges too wide to enumerate: "Numeric bounds" below). JSON.parse
// reads every integer of a reply exactly: one without bounds is kept within ±(2^53 - 1)
// (Number.MAX_SAFE_INTEGER; grammar.js). A "number", though, is any JSON number, its exponent
// unbounded: a reply may hold 1e999, which JSON.parse reads as Infinity (and 1e-999 as 0). A
// client that needs finite values checks them, or asks for an integer (in hundredths, say): JSON
// Schema has no keyword that bounds an exponent, and xgrammar 0.1.27 takes no number at all as
// valid under "minimum": -1e308 with "maximum": 1e308 (measured). What would
// make xgrammar abort is refused too: keywords that contradict each other (minLength above
// maxLength, ...: checkCombinations); and pattern features the pattern parser lacks (\p{...}, \b,
// lookaround, backreferences, named groups; an anchor inside the pattern), or a pattern that needs a
// character a string holds escaped (its strings are written without escapes).
//
// GBNF: llama.cpp's grammar format (its grammars/README.md): `name ::= alternatives` rules, one
// per line (a rule goes on past a line break only after "|" or inside parentheses), "strings"
// and [character classes] with \x, \u, \U, \t, \n, \r, \\ and \" escapes, `.` (any character),
// ( groups ), postfix * + ? and {m}, {m,}, {m,n}, {,n}, # comments; names of letters, digits
// and dashes; the rule `root` is where a reply starts. llama.cpp's token references (<...>) are
// not supported. The translation renames every rule but root (xgrammar's names may not start
// with a digit) and writes every escape as \u or \U, so xgrammar only ever parses EBNF made here.
// Refused besides syntax errors: an empty class [] (it matches nothing) and a lone surrogate
// U+D800-U+DFFF (no UTF-8 text holds one).

import { InvalidRequestError } from './errors.js';
import { matchesNothing, parsePattern } from './pattern_automaton.js';

/**
 * Check `value` (a chat request's response_format, given: not null/undefined) and return its
 * grammar source (above), or null for { type: "text" } (no constraint).
 * Forms: { type: "text" }, { type: "json_object" },
 *   { type: "json_schema", json_schema: { name, description?, schema?, strict? } } (OpenAI's; the
 *   constraint is enforced whatever `strict` says; without `schema`, as json_object),
 *   { type: "grammar", grammar: "<GBNF>" }.
 * Throws InvalidRequestError naming the field for any other shape, a schema keyword constrained
 * decoding does not enforce, a malformed schema, and a GBNF syntax error (with line and column).
 */
export function readResponseFormat(value, field = 'response_format') {
  const forms = 'an object { type: "text" | "json_object" | "json_schema" | "grammar", ... }';
  assertAt(isPlainObject(value), field, `${field} must be ${forms}; got ${describe(value)}.`);
  const read = FORMATS[value.type];
  assertAt(read, `${field}.type`, `${field}.type must be one of ${Object.keys(FORMATS).join(', ')}; got ${describe(value.type)}.`);
  return read(value, field);
}

const FORMATS = {
  text: (value, field) => {
    assertOnlyKeys(value, field, ['type']);
    return null;
  },
  json_object: (value, field) => {
    assertOnlyKeys(value, field, ['type']);
    return { kind: 'json_object' };
  },
  json_schema: (value, field) => {
    assertOnlyKeys(value, field, ['type', 'json_schema']);
    return readJSONSchemaFormat(value.json_schema, `${field}.json_schema`);
  },
  grammar: (value, field) => {
    assertOnlyKeys(value, field, ['type', 'grammar']);
    const path = `${field}.grammar`;
    assertAt(typeof value.grammar === 'string' && value.grammar.trim() !== '', path,
             `${path} must be a GBNF grammar (a non-empty string with a rule "root ::= ..."); got ${describe(value.grammar)}.`);
    return { kind: 'ebnf', ebnf: gbnfToEBNF(value.grammar, path) };
  },
};

// OpenAI's json_schema object: name ^[a-zA-Z0-9_-]{1,64}$, optional description, schema, strict.
function readJSONSchemaFormat(value, field) {
  assertAt(isPlainObject(value), field, `${field} must be an object { name, schema, strict }; got ${describe(value)}.`);
  assertOnlyKeys(value, field, ['name', 'description', 'schema', 'strict']);
  assertAt(typeof value.name === 'string' && /^[a-zA-Z0-9_-]{1,64}$/.test(value.name), `${field}.name`,
           `${field}.name must be 1 to 64 letters, digits, underscores or dashes; got ${describe(value.name)}.`);
  assertAt(value.description == null || typeof value.description === 'string', `${field}.description`,
           `${field}.description must be a string; got ${describe(value.description)}.`);
  assertAt(value.strict == null || typeof value.strict === 'boolean', `${field}.strict`,
           `${field}.strict must be true or false; got ${describe(value.strict)}.`);
  if (value.schema == null) return { kind: 'json_object' };
  assertAt(isPlainObject(value.schema), `${field}.schema`,
           `${field}.schema must be a JSON Schema object such as { "type": "object", "properties": {...} }; got ${describe(value.schema)}.`);
  checkJSONSchema(value.schema, `${field}.schema`);
  return { kind: 'json_schema', schema: value.schema };
}

// ---------------------------------------------------------------------------------------------
// JSON Schema

const TYPES = ['string', 'number', 'integer', 'boolean', 'object', 'array', 'null'];
// String formats xgrammar writes as a grammar (json_schema_converter.cc, v0.1.27).
const STRING_FORMATS = ['date', 'time', 'date-time', 'duration', 'email', 'hostname', 'ipv4', 'ipv6', 'uuid',
                        'uri', 'uri-reference', 'uri-template', 'json-pointer', 'relative-json-pointer'];

// The formats whose strings constrained decoding writes from a pattern of its own (grammar.js,
// string_guard.js) rather than xgrammar's grammar, each a subset of what ajv-formats accepts
// (tests/js/grammar.test.js validates strings drawn from them). xgrammar 0.1.27's "date" takes day
// 31 in every month (2023-02-31) and its "time" second 60 at any minute; these take each month's
// days, February 29 in leap years only (Gregorian: every 4th year but not centuries, except every
// 400th), and seconds 00-59 with a required offset: valid RFC 3339 values only (no leap seconds).
// "email", "ipv4", "json-pointer", "relative-json-pointer" and "uri-template" are ajv-formats' own
// patterns (full mode; where ajv's is case-insensitive, its letters written in either case); "uuid"
// RFC 4122's hex groups. (xgrammar's "json-pointer" wrote raw quotes and line breaks into the string,
// its "ipv4" took leading zeros, its "uri-template" strings ajv refuses.)
const DATE = '([0-9]{4}-(0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|[0-9]{4}-(0[469]|11)-(0[1-9]|[12][0-9]|30)'
  + '|[0-9]{4}-02-(0[1-9]|1[0-9]|2[0-8])|([0-9]{2}(0[48]|[2468][048]|[13579][26])|(0[48]|[2468][048]|[13579][26])00)-02-29)';
const TIME = '([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])';
const EMAIL_ATOM = "[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]+";
const DOMAIN_LABEL = '[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?';
const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';
const POINTER = '(/([^~/]|~0|~1)*)*';
const HEX_ESCAPE = '%[0-9a-fA-F]{2}';
const TEMPLATE_VARIABLE = `([a-zA-Z0-9_]|${HEX_ESCAPE})+(:[1-9][0-9]{0,3}|\\*)?`;
export const FORMAT_PATTERNS = {
  date: `^${DATE}$`,
  time: `^${TIME}$`,
  'date-time': `^${DATE}T${TIME}$`,
  email: `^${EMAIL_ATOM}(\\.${EMAIL_ATOM})*@(${DOMAIN_LABEL}\\.)+${DOMAIN_LABEL}$`,
  uuid: '^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$',
  ipv4: `^(${OCTET}\\.){3}${OCTET}$`,
  'json-pointer': `^${POINTER}$`,
  'relative-json-pointer': `^(0|[1-9][0-9]*)(#|${POINTER})$`,
  'uri-template': `^(([^\\x00-\\x20"'<>%\\\\^\`{|}]|${HEX_ESCAPE})|\\{[+#./;?&=,!@|]?${TEMPLATE_VARIABLE}(,${TEMPLATE_VARIABLE})*\\})*$`,
};

// Keywords that say nothing about which values are valid: allowed anywhere, not looked at.
const ANNOTATIONS = ['title', 'description', '$comment', 'examples', 'default', 'deprecated', 'readOnly', 'writeOnly',
                     '$schema', '$id', '$anchor'];

const isCount = (value) => Number.isInteger(value) && value >= 0;
const isNumber = (value) => typeof value === 'number' && Number.isFinite(value);

// The keywords that constrain values, each with the check of its value ("must be ..." text and
// test) and, for those that apply to one type only, that type: xgrammar enforces such a keyword
// only where the schema says the value has that type (or, for objects and arrays, shows it).
const KEYWORDS = {
  type: { must: `one of ${TYPES.join(', ')}, or an array of them`,
          ok: (v) => TYPES.includes(v) || (Array.isArray(v) && v.length > 0 && v.every((t) => TYPES.includes(t))) },
  const: { must: 'any JSON value', ok: () => true },
  enum: { must: 'a non-empty array of values', ok: (v) => Array.isArray(v) && v.length > 0 },
  anyOf: { must: 'a non-empty array of schemas', ok: (v) => Array.isArray(v) && v.length > 0 },
  $ref: { must: 'a reference into this schema ("#" or "#/$defs/name")', ok: (v) => typeof v === 'string' && /^#(\/|$)/.test(v) },
  $defs: { must: 'an object of named schemas', ok: isPlainObject },
  definitions: { must: 'an object of named schemas', ok: isPlainObject },
  properties: { type: 'object', must: 'an object of schemas, one per property', ok: isPlainObject },
  required: { type: 'object', must: 'an array of distinct property names',
              ok: (v) => Array.isArray(v) && v.every((name) => typeof name === 'string') && new Set(v).size === v.length },
  additionalProperties: { type: 'object', must: 'true, false or a schema', ok: (v) => typeof v === 'boolean' || isPlainObject(v) },
  minProperties: { type: 'object', must: 'an integer >= 0', ok: isCount },
  maxProperties: { type: 'object', must: 'an integer >= 0', ok: isCount },
  items: { type: 'array', must: 'a schema (for tuples: prefixItems)', ok: (v) => typeof v === 'boolean' || isPlainObject(v) },
  prefixItems: { type: 'array', must: 'a non-empty array of schemas', ok: (v) => Array.isArray(v) && v.length > 0 },
  minItems: { type: 'array', must: 'an integer >= 0', ok: isCount },
  maxItems: { type: 'array', must: 'an integer >= 0', ok: isCount },
  minLength: { type: 'string', must: 'an integer >= 0', ok: isCount },
  maxLength: { type: 'string', must: 'an integer >= 0', ok: isCount },
  pattern: { type: 'string', must: 'a regular expression (JavaScript syntax with the u flag)', ok: isRegExp },
  format: { type: 'string', must: `one of the formats ${STRING_FORMATS.join(', ')}`, ok: (v) => STRING_FORMATS.includes(v) },
  minimum: { type: 'number', must: 'a number', ok: isNumber },
  maximum: { type: 'number', must: 'a number', ok: isNumber },
  exclusiveMinimum: { type: 'number', must: 'a number', ok: isNumber },
  exclusiveMaximum: { type: 'number', must: 'a number', ok: isNumber },
};

// Why well-known keywords are refused, and what to write instead.
const REFUSED = {
  oneOf: 'use anyOf (constrained decoding cannot check that exactly one branch matches)',
  allOf: 'merge the schemas into one',
  not: 'list what is allowed instead',
  if: 'use anyOf of the cases', then: 'use anyOf of the cases', else: 'use anyOf of the cases',
  multipleOf: 'use an enum, or leave it out',
  uniqueItems: 'leave it out (constrained decoding cannot compare items)',
  contains: 'describe every item with items', minContains: 'describe every item with items',
  maxContains: 'describe every item with items',
  patternProperties: 'list the properties by name', propertyNames: 'list the properties by name',
  unevaluatedProperties: 'use additionalProperties', unevaluatedItems: 'use items',
  dependentRequired: 'use anyOf of the allowed shapes', dependentSchemas: 'use anyOf of the allowed shapes',
  dependencies: 'use anyOf of the allowed shapes',
};

// Keywords beside which nothing else is read: xgrammar takes $ref's target, const's value and
// enum's list as the whole schema.
const EXCLUSIVE = ['$ref', 'const', 'enum'];

/**
 * Check that constrained decoding enforces every keyword of the JSON Schema `schema` (a plain
 * object) exactly (the supported set above). `path` names the schema in errors
 * ("response_format.json_schema.schema"). Throws InvalidRequestError with `field` the path of the
 * first offending keyword: an unsupported or unknown keyword (named, with what to write instead),
 * a keyword whose value has the wrong shape, a type-specific keyword without its type, a $ref that
 * points nowhere, a sibling of $ref/const/enum that would be ignored, or `false` as a schema.
 */
export function checkJSONSchema(schema, path) {
  checkSchema(schema, path, schema);
}

/** The keywords of the schema `schema` that say which values are valid (not annotations, not $defs / definitions). */
export function constrainingKeywords(schema) {
  return Object.keys(schema).filter((key) => !ANNOTATIONS.includes(key) && key !== '$defs' && key !== 'definitions');
}

function checkSchema(schema, path, root) {
  if (schema === true) return;
  assertAt(schema !== false, path, path.endsWith('.items')
    ? `${path} is false (no items after prefixItems), which is not supported: close the tuple with maxItems, the number of prefixItems, instead.`
    : `${path} is false, which no value satisfies; leave that part out.`);
  assertAt(isPlainObject(schema), path, `${path} must be a schema (an object, or true); got ${describe(schema)}.`);
  const constraining = Object.keys(schema).filter((key) => !ANNOTATIONS.includes(key));
  for (const keyword of constraining) checkKeyword(schema, keyword, `${path}.${keyword}`, root);
  checkCombinations(schema, path);
  const exclusive = EXCLUSIVE.find((keyword) => keyword in schema);
  const ignored = exclusive && constrainingKeywords(schema).find((key) => key !== exclusive
                                                                  && !(exclusive !== '$ref' && key === 'type'));
  assertAt(!ignored, `${path}.${ignored}`,
           `${path}.${ignored} cannot stand beside ${exclusive}: constrained decoding reads only ${exclusive} there. `
           + `Move ${ignored} into the ${exclusive === '$ref' ? 'referenced schema' : 'values themselves'}.`);
  for (const [keyword, value] of Object.entries(schema)) checkSubschemas(keyword, value, `${path}.${keyword}`, root);
}

function checkKeyword(schema, keyword, path, root) {
  const rule = KEYWORDS[keyword];
  if (!rule) {
    const hint = REFUSED[keyword] ? `: ${REFUSED[keyword]}` : ` (supported: ${Object.keys(KEYWORDS).join(', ')})`;
    throw new InvalidRequestError(`The JSON Schema keyword "${keyword}" at ${path} is not supported by constrained decoding${hint}.`,
                                  { field: path });
  }
  const value = schema[keyword];
  assertAt(rule.ok(value), path, `${path} must be ${rule.must}; got ${describe(value)}.`);
  if (rule.type) {
    assertAt(hasType(schema, rule.type), path, `${path} applies to ${rule.type === 'number' ? 'numbers' : `${rule.type}s`} only: `
             + `give "type": "${rule.type === 'number' ? 'number" or "integer' : rule.type}" beside it (otherwise it is not enforced).`);
  }
  if (keyword === '$ref') {
    assertAt(resolvePointer(root, value, path) !== undefined, path, `${path} points to ${JSON.stringify(value)}, which this schema does not have.`);
  }
  if (keyword === 'pattern') checkPatternFeatures(value, path);
  if (BOUNDS.includes(keyword)) checkBounds(schema, path.slice(0, -keyword.length - 1), keyword);
  if (keyword === 'pattern' || keyword === 'format') {
    // xgrammar builds a string from its pattern, else its format, else its lengths, and ignores the rest.
    const beside = (keyword === 'pattern' ? ['format', 'minLength', 'maxLength'] : ['minLength', 'maxLength']).find((key) => key in schema);
    const at = path.slice(0, -keyword.length - 1);
    assertAt(!beside, `${at}.${beside}`, `${at} has both ${keyword} and ${beside}: constrained decoding enforces only the `
             + `${keyword} then. ${keyword === 'pattern' ? 'Write it into the pattern' : 'Leave the length out, or write a pattern instead'}.`);
  }
  if (keyword === 'required' && isPlainObject(schema.properties)) {
    const missing = value.find((name) => !Object.hasOwn(schema.properties, name));
    assertAt(missing === undefined || schema.additionalProperties === true || isPlainObject(schema.additionalProperties), path,
             `${path} lists "${missing}", which is not in properties (and additionalProperties does not allow it): no value could satisfy it.`);
  }
}

// Keywords that are each well-formed but together allow no value, or contradict: xgrammar aborts on
// those (its WASM module is then unusable) rather than refusing them. Each names the keyword that
// cannot be met. And "type" beside const or enum (which xgrammar reads alone) must hold for every
// value listed, else a value of another type would be let through.
function checkCombinations(schema, path) {
  const below = (low, lowName, high, highName, what) => assertAt(
    low === undefined || high === undefined || low <= high, `${path}.${highName}`,
    `${path}.${highName} is ${high}, below ${lowName} ${low}: no ${what} satisfies both; raise ${highName} or lower ${lowName}.`);
  below(schema.minLength, 'minLength', schema.maxLength, 'maxLength', 'string');
  below(schema.minItems, 'minItems', schema.maxItems, 'maxItems', 'array');
  below(schema.minProperties, 'minProperties', schema.maxProperties, 'maxProperties', 'object');
  below(schema.prefixItems?.length, 'the prefixItems count', schema.maxItems, 'maxItems', 'array');
  below(schema.required?.length, 'the required count', schema.maxProperties, 'maxProperties', 'object');
  // xgrammar decodes in strict mode: properties not listed are not allowed unless additionalProperties says so.
  const closed = schema.additionalProperties === undefined || schema.additionalProperties === false;
  if (closed && schema.minProperties !== undefined && hasType(schema, 'object')) {
    const count = isPlainObject(schema.properties) ? Object.keys(schema.properties).length : 0;
    assertAt(schema.minProperties <= count, `${path}.minProperties`,
             `${path}.minProperties is ${schema.minProperties}, but the object may only have its ${count} listed properties `
             + '(additionalProperties is false, or left out: strict mode); lower minProperties or list more properties.');
  }
  if (schema.type === undefined) return;
  const types = [schema.type].flat();
  const listed = 'const' in schema ? [['const', schema.const]] : Array.isArray(schema.enum) ? schema.enum.map((v, i) => [`enum[${i}]`, v]) : [];
  for (const [at, value] of listed) {
    assertAt(types.some((type) => isOfType(value, type)), `${path}.${at}`,
             `${path}.${at} is ${describe(value)}, which is not of ${path}.type ${JSON.stringify(schema.type)}: `
             + 'constrained decoding would produce it anyway; remove it, or add its type.');
  }
}

// Whether the JSON value `value` is of the JSON Schema type `type`.
function isOfType(value, type) {
  switch (type) {
    case 'integer': return Number.isInteger(value);
    case 'number': return isNumber(value);
    case 'null': return value === null;
    case 'object': return isPlainObject(value);
    case 'array': return Array.isArray(value);
    default: return typeof value === type; // string, boolean
  }
}

/**
 * The schema `schema` narrowed to one of its types: "type" set to `type` ('string', 'integer', ...)
 * and the keywords of other types (KEYWORDS[...].type) left out. grammar.js splits a schema whose
 * "type" is an array into the anyOf of these, so that each type's keywords get its exact rewrite.
 */
export function narrowToType(schema, type) {
  const applies = (keyword) => {
    const only = KEYWORDS[keyword]?.type;
    return !only || only === type || (only === 'number' && type === 'integer');
  };
  return { ...Object.fromEntries(Object.entries(schema).filter(([keyword]) => applies(keyword))), type };
}

// Numeric bounds. xgrammar 0.1.27 enforces them inexactly: for numbers it bounds only the integer
// part (maximum 1 lets 1.215 through), and for integers many bounds are off (minimum 13 with
// maximum 120 lets 121 through; minimum 2 lets 1 through; measured against its own matcher). So
// an integer range of up to MAX_ENUMERATED_INTEGERS values is handed to xgrammar as the enum of
// its values (grammar.js), which it enforces exactly, and "minimum" 0 or 1 alone (non-negative,
// positive) as that minimum with the maximum 2^53 - 1, which it gets right (grammar.js,
// exactInteger); any other bound is refused by name.
const BOUNDS = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'];
export const MAX_ENUMERATED_INTEGERS = 1000;

/**
 * The inclusive integer range { low, high } (±Infinity where unbounded) that an integer schema's
 * minimum / maximum / exclusiveMinimum / exclusiveMaximum allow, or null when it has none of them.
 */
export function integerBounds(schema) {
  if (!BOUNDS.some((keyword) => keyword in schema)) return null;
  const low = Math.max(Math.ceil(schema.minimum ?? -Infinity), Math.floor(schema.exclusiveMinimum ?? -Infinity) + 1);
  const high = Math.min(Math.floor(schema.maximum ?? Infinity), Math.ceil(schema.exclusiveMaximum ?? Infinity) - 1);
  return { low, high };
}

/** Whether grammar.js hands an integer schema's bounds over as the enum of the values they allow. */
export function isEnumeratedRange({ low, high }) {
  return Number.isFinite(low) && Number.isFinite(high) && high - low < MAX_ENUMERATED_INTEGERS;
}

function checkBounds(schema, at, keyword) {
  const path = `${at}.${keyword}`;
  const isInteger = [schema.type].flat().every((type) => type === 'integer');
  assertAt(isInteger, path, `${path}: bounds on non-integer numbers are not enforced exactly by constrained decoding `
           + '(only the integer part would be); use "type": "integer" (say, in hundredths), or leave the bound out.');
  const range = integerBounds(schema);
  assertAt(range.low <= range.high, path, `${path}: no integer lies within these bounds.`);
  assertAt(isEnumeratedRange(range) || (range.high === Infinity && (range.low === 0 || range.low === 1)), path,
           `${path}: constrained decoding enforces an integer range exactly only when it holds at most `
           + `${MAX_ENUMERATED_INTEGERS} values, or is "minimum": 0 or 1 alone; narrow the range, or leave the bound out.`);
}

// Whether `schema` says its values are of `type` ('number' covers integer), as xgrammar reads it:
// by "type", or for objects and arrays by their structural keywords.
function hasType(schema, type) {
  const types = [schema.type].flat();
  if (types.includes(type) || (type === 'number' && types.includes('integer'))) return true;
  if (schema.type !== undefined) return false;
  if (type === 'object') return 'properties' in schema || 'additionalProperties' in schema;
  return type === 'array' && ('items' in schema || 'prefixItems' in schema);
}

function checkSubschemas(keyword, value, path, root) {
  if (keyword === 'properties') {
    // xgrammar 0.1.27 aborts on a name with a quote, a line break or NUL, and writes the other
    // control characters raw (not JSON); a backslash is refused with them, being as rare.
    for (const name of Object.keys(value)) {
      assertAt(!/["\\\x00-\x1f]/.test(name), `${path}.${name}`, `${path} has the property name ${JSON.stringify(name)}: `
               + 'constrained decoding cannot write a name with a quote, a backslash or a control character; rename it.');
    }
  }
  if (keyword === 'properties' || keyword === '$defs' || keyword === 'definitions') {
    for (const [name, sub] of Object.entries(value)) checkSchema(sub, `${path}.${name}`, root);
  } else if (keyword === 'anyOf' || keyword === 'prefixItems') {
    value.forEach((sub, i) => checkSchema(sub, `${path}[${i}]`, root));
  } else if (keyword === 'items' || (keyword === 'additionalProperties' && isPlainObject(value))) {
    checkSchema(value, path, root);
  }
}

/**
 * The node a JSON Pointer `ref` ("#/$defs/address", RFC 6901 escapes, in a URI fragment:
 * percent-encoded) leads to in the schema `root`; undefined where it leads nowhere. Throws
 * InvalidRequestError for a malformed %-escape, naming `path` (the $ref's).
 */
export function resolvePointer(root, ref, path) {
  let node = root;
  for (const part of ref.slice(1).split('/').slice(1)) {
    let decoded;
    try {
      decoded = decodeURIComponent(part);
    } catch {
      throw new InvalidRequestError(`${path} ${JSON.stringify(ref)} has a malformed %-escape in ${JSON.stringify(part)}: `
                                    + 'write % as %25, or the character itself.', { field: path });
    }
    const key = decoded.replaceAll('~1', '/').replaceAll('~0', '~');
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, key)) return undefined;
    node = node[key];
  }
  return node;
}

function isRegExp(pattern) {
  if (typeof pattern !== 'string') return false;
  try {
    new RegExp(pattern, 'u'); // eslint-disable-line no-new
  } catch {
    return false;
  }
  return true;
}

// Regular-expression features pattern_automaton.js does not take (xgrammar 0.1.27's own regex
// converter, which no longer sees a request's pattern, aborted on these and ignored an anchor inside
// the pattern: "a$b" would match "ab"). Patterns match the whole string, as xgrammar's do, so
// anchors serve only at the ends.
const PATTERN_FEATURES = [
  { re: /^\(\?[=!]/, name: 'lookahead (?= or (?!', fix: 'write the allowed strings out' },
  { re: /^\(\?<[=!]/, name: 'lookbehind (?<= or (?<!', fix: 'write the allowed strings out' },
  { re: /^\(\?</, name: 'a named group (?<name>', fix: 'use a plain group ( )' },
  { re: /^\\[1-9]|^\\k</, name: 'a backreference', fix: 'repeat the group instead' },
  { re: /^\\[pP]/, name: 'a Unicode property escape \\p{...} or \\P{...}', fix: 'list the characters in a class such as [a-zA-Z\\u00c0-\\u024f]' },
  { re: /^\\[bB]/, name: 'a word boundary \\b or \\B', fix: 'leave it out; the pattern matches the whole string' },
];

// Throws the InvalidRequestError of `path` (a pattern keyword) naming the first feature of
// PATTERN_FEATURES in `pattern`, or an anchor ^ / $ anywhere but at its start / end. Walks the
// pattern one token at a time: escapes and character classes are skipped as units (a "\\b" or
// "^" inside [...] is a class member, not the feature).
function checkPatternFeatures(pattern, path) {
  const refuse = (name, fix, at) => {
    throw new InvalidRequestError(`${path} uses ${name} (at character ${at + 1} of the pattern), which constrained `
                                  + `decoding does not support: ${fix}.`, { field: path });
  };
  checkSurrogates(pattern, refuse);
  for (let i = 0; i < pattern.length;) {
    const rest = pattern.slice(i);
    const feature = PATTERN_FEATURES.find(({ re }) => re.test(rest));
    if (feature) refuse(feature.name, feature.fix, i);
    if (pattern[i] === '^' && i !== 0) refuse('an anchor ^ inside the pattern', 'use ^ only as its first character', i);
    if (pattern[i] === '$' && i !== pattern.length - 1) refuse('an anchor $ inside the pattern', 'use $ only as its last character', i);
    i += pattern[i] === '\\' ? 2 : pattern[i] === '[' ? classLength(pattern, i) : 1;
  }
  let tree;
  try {
    tree = parsePattern(pattern);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw new InvalidRequestError(`${path} is not supported by constrained decoding: ${error.message}.`, { field: path });
  }
  // Strings a pattern constrains are written without escapes (pattern_automaton.js).
  assertAt(!matchesNothing(tree), path, `${path} matches only strings holding a quote, a backslash or a control character (such as `
           + 'a newline); constrained decoding writes the strings of a pattern without escapes, so no reply could match: '
           + 'allow other characters, or leave the pattern out.');
}

// A lone UTF-16 surrogate, written as itself or as an escape (\ud800, \u{d800}), in or out of a
// class: it is no character (a string holding one has no UTF-8 form), and xgrammar aborts on the
// raw one and mistranslates the escapes (a class of them matched "p"). A surrogate pair written as
// two escapes is refused too, naming the \u{...} form of its code point. (The GBNF translator
// below refuses them as well.)
const SURROGATE_ESCAPE = /^\\u(?:[dD][89a-fA-F][0-9a-fA-F]{2}|\{0*[dD][89a-fA-F][0-9a-fA-F]{2}\})/;
function checkSurrogates(pattern, refuse) {
  const fix = 'write the character itself, or its code point as \\u{...} (e.g. \\u{1F600})';
  const raw = /[\uD800-\uDFFF]/u.exec(pattern);
  if (raw) refuse('a lone UTF-16 surrogate', fix, raw.index);
  for (let i = 0; i < pattern.length; i += pattern[i] === '\\' ? 2 : 1) {
    if (SURROGATE_ESCAPE.test(pattern.slice(i))) refuse('a UTF-16 surrogate escape', fix, i);
  }
}

// The length of the character class starting at pattern[start] ("["), escapes inside included.
function classLength(pattern, start) {
  let i = start + 1;
  if (pattern[i] === '^') i += 1;
  while (i < pattern.length && pattern[i] !== ']') {
    if (pattern[i] === '\\' && /^\\[pP]/.test(pattern.slice(i))) return i - start; // checked as a feature next
    i += pattern[i] === '\\' ? 2 : 1;
  }
  return i + 1 - start;
}

// ---------------------------------------------------------------------------------------------
// GBNF -> xgrammar EBNF

/**
 * Translate the GBNF grammar `text` (llama.cpp's format, as described at the top of this file)
 * into xgrammar's EBNF, with the same language. `path` names the field in errors. Throws
 * InvalidRequestError for a syntax error ("line L, column C: ..."), a rule defined twice, a
 * reference to a rule never defined, and a grammar without `root`.
 */
export function gbnfToEBNF(text, path) {
  const rules = new GBNFParser(text, path).parse();
  const fail = (message) => { throw new InvalidRequestError(`${path} is not a valid GBNF grammar: ${message}`, { field: path }); };
  if (!rules.has('root')) fail('it has no rule "root" (the rule a reply starts with): add "root ::= ...".');
  const names = new Map([...rules.keys()].map((name, i) => [name, name === 'root' ? 'root' : `rule${i}`]));
  for (const { name, at } of referencesOf(rules)) {
    if (names.has(name)) continue;
    const { line, column } = lineAndColumn(text, at);
    fail(`line ${line}, column ${column}: the rule "${name}" is used but never defined.`);
  }
  return [...rules].map(([name, body]) => `${names.get(name)} ::= ${writeAlternatives(body, names)}`).join('\n');
}

function* referencesOf(rules) {
  const walk = function* (node) {
    if (node.kind === 'ref') yield node;
    for (const child of node.children ?? []) yield* walk(child);
  };
  for (const body of rules.values()) yield* walk(body);
}

// Line and column (from 1) of the offset `pos` in `text`: computed only for an error's message,
// since it reads the text up to there.
function lineAndColumn(text, pos) {
  const before = text.slice(0, pos).split('\n');
  return { line: before.length, column: before.at(-1).length + 1 };
}

// AST nodes: { kind: 'alt', children: [seq] }, { kind: 'seq', children }, { kind: 'string',
// codepoints }, { kind: 'class', negated, ranges: [[from, to]] }, { kind: 'ref', name, at (offset) },
// { kind: 'repeat', children: [node], min, max (Infinity: unbounded) }.
class GBNFParser {
  #text;
  #path;
  #pos = 0;

  constructor(text, path) {
    this.#text = text;
    this.#path = path;
  }

  parse() {
    const rules = new Map();
    this.#skip(true);
    while (this.#pos < this.#text.length) {
      const at = this.#pos;
      const name = this.#name();
      this.#skip(false);
      this.#expect('::=', 'after a rule name');
      this.#skip(true);
      if (rules.has(name)) this.#fail(`the rule "${name}" is defined twice.`, at);
      rules.set(name, this.#alternatives(false));
      if (this.#pos < this.#text.length && this.#peek() !== '\n') this.#fail(`unexpected ${JSON.stringify(this.#peek())}.`);
      this.#skip(true);
    }
    return rules;
  }

  #alternatives(nested) {
    const children = [this.#sequence(nested)];
    while (this.#peek() === '|') {
      this.#pos += 1;
      this.#skip(true);
      children.push(this.#sequence(nested));
    }
    return { kind: 'alt', children };
  }

  #sequence(nested) {
    const children = [];
    for (;;) {
      const element = this.#element(nested);
      if (!element) return { kind: 'seq', children };
      children.push(this.#postfix(element));
      this.#skip(nested);
    }
  }

  #element(nested) {
    const char = this.#peek();
    if (char === '"') return this.#string();
    if (char === '[') return this.#charClass();
    if (char === '.') {
      this.#pos += 1;
      return { kind: 'class', negated: false, ranges: [[0, 0x10ffff]] };
    }
    if (char === '(') {
      this.#pos += 1;
      this.#skip(true);
      const group = this.#alternatives(true);
      this.#expect(')', 'to close the group');
      return group;
    }
    if (char === '<') this.#fail('token references (<...>) are not supported; write the text in quotes.');
    if (char !== undefined && isNameChar(char)) {
      const start = this.#pos;
      const at = this.#pos;
      const name = this.#name();
      this.#skip(nested);
      const definesRule = this.#text.startsWith('::=', this.#pos);
      if (definesRule && nested) this.#fail(`a new rule "${name}" starts inside parentheses: close them first.`, at);
      // A name followed by ::= is the next rule's: this sequence ends before it.
      this.#pos = definesRule ? start : start + name.length;
      return definesRule ? null : { kind: 'ref', name, at };
    }
    return null;
  }

  #postfix(element) {
    let node = element;
    for (;;) {
      const char = this.#peek();
      const bounds = { '*': [0, Infinity], '+': [1, Infinity], '?': [0, 1] }[char];
      if (bounds) {
        this.#pos += 1;
        node = { kind: 'repeat', children: [node], min: bounds[0], max: bounds[1] };
      } else if (char === '{') {
        node = { kind: 'repeat', children: [node], ...this.#braces() };
      } else {
        return node;
      }
    }
  }

  // {m}, {m,}, {m,n}, {,n}
  #braces() {
    const at = this.#pos;
    const match = /^\{\s*(\d*)\s*(,?)\s*(\d*)\s*\}/.exec(this.#text.slice(this.#pos));
    if (!match || (match[1] === '' && match[3] === '')) this.#fail('a repetition must be {m}, {m,}, {m,n} or {,n}.', at);
    this.#pos += match[0].length;
    const min = match[1] === '' ? 0 : Number(match[1]);
    const max = match[2] === '' ? min : match[3] === '' ? Infinity : Number(match[3]);
    if (max < min) this.#fail(`the repetition {${match[1]},${match[3]}} has its maximum below its minimum.`, at);
    return { min, max };
  }

  #string() {
    const at = this.#pos;
    this.#pos += 1;
    const codepoints = [];
    while (this.#peek() !== '"') {
      if (this.#peek() === undefined || this.#peek() === '\n') this.#fail('the string is not closed with ".', at);
      codepoints.push(this.#char());
    }
    this.#pos += 1;
    return { kind: 'string', codepoints };
  }

  #charClass() {
    const at = this.#pos;
    this.#pos += 1;
    const negated = this.#peek() === '^';
    if (negated) this.#pos += 1;
    const ranges = [];
    while (this.#peek() !== ']') {
      if (this.#peek() === undefined || this.#peek() === '\n') this.#fail('the character class is not closed with ].', at);
      const from = this.#char();
      let to = from;
      if (this.#peek() === '-' && this.#text[this.#pos + 1] !== ']') {
        this.#pos += 1;
        to = this.#char();
        if (to < from) this.#fail('a character range ends below its start.', at);
      }
      ranges.push([from, to]);
    }
    if (!ranges.length) this.#fail(`the character class [${negated ? '^' : ''}] is empty: it ${negated ? 'is any character: write .' : 'matches nothing'}.`, at);
    this.#pos += 1;
    return { kind: 'class', negated, ranges };
  }

  // One character of a string or class, escapes decoded: its code point. A surrogate (U+D800 to
  // U+DFFF, half of a UTF-16 pair, written alone or as an escape) is no character: no UTF-8 text
  // holds it, so a grammar with one would match nothing there.
  #char() {
    const at = this.#pos;
    const codepoint = this.#escapedChar();
    if (codepoint >= 0xd800 && codepoint <= 0xdfff) {
      this.#fail(`U+${codepoint.toString(16).toUpperCase()} is a lone UTF-16 surrogate, not a character; `
                 + 'write the character itself, or \\U with its code point.', at);
    }
    return codepoint;
  }

  #escapedChar() {
    const char = String.fromCodePoint(this.#text.codePointAt(this.#pos));
    this.#pos += char.length;
    if (char !== '\\') return char.codePointAt(0);
    const at = this.#pos;
    const escape = this.#text[this.#pos];
    this.#pos += 1;
    const digits = { x: 2, u: 4, U: 8 }[escape];
    if (digits) {
      const hex = this.#text.slice(this.#pos, this.#pos + digits);
      if (!new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(hex)) this.#fail(`\\${escape} needs ${digits} hex digits.`, at);
      this.#pos += digits;
      const codepoint = parseInt(hex, 16);
      if (codepoint > 0x10ffff) this.#fail(`\\${escape}${hex} is beyond the last Unicode code point.`, at);
      return codepoint;
    }
    const simple = { t: 9, n: 10, r: 13, '\\': 92, '"': 34, '[': 91, ']': 93, '-': 45, '^': 94 }[escape];
    if (simple === undefined) this.#fail(`unknown escape \\${escape ?? ''} (use \\t, \\n, \\r, \\\\, \\", \\[, \\], \\xHH, \\uHHHH or \\UHHHHHHHH).`, at);
    return simple;
  }

  #name() {
    const start = this.#pos;
    while (this.#pos < this.#text.length && isNameChar(this.#text[this.#pos])) this.#pos += 1;
    if (this.#pos === start) this.#fail(`expected a rule name (letters, digits, dashes), got ${JSON.stringify(this.#peek() ?? 'the end')}.`);
    return this.#text.slice(start, this.#pos);
  }

  #expect(token, why) {
    if (!this.#text.startsWith(token, this.#pos)) this.#fail(`expected "${token}" ${why}, got ${JSON.stringify(this.#peek() ?? 'the end')}.`);
    this.#pos += token.length;
  }

  // Spaces, tabs and comments; line breaks too where `newlines` (a rule goes on past them).
  #skip(newlines) {
    for (;;) {
      const char = this.#peek();
      if (char === ' ' || char === '\t' || char === '\r' || (newlines && char === '\n')) {
        this.#pos += 1;
      } else if (char === '#') {
        while (this.#pos < this.#text.length && this.#text[this.#pos] !== '\n') this.#pos += 1;
      } else {
        return;
      }
    }
  }

  #peek() {
    return this.#text[this.#pos];
  }

  // `at`: the offset the error is reported at.
  #fail(message, at = this.#pos) {
    const { line, column } = lineAndColumn(this.#text, at);
    throw new InvalidRequestError(`${this.#path} is not a valid GBNF grammar: line ${line}, column ${column}: ${message}`,
                                  { field: this.#path });
  }
}

function isNameChar(char) {
  return /[a-zA-Z0-9-]/.test(char);
}

function writeAlternatives(node, names) {
  return node.children.map((seq) => (seq.children.length ? seq.children.map((child) => writeElement(child, names)).join(' ') : '""'))
    .join(' | ');
}

function writeElement(node, names) {
  switch (node.kind) {
    case 'alt': return `(${writeAlternatives(node, names)})`;
    case 'ref': return names.get(node.name);
    case 'string': return `"${node.codepoints.map((cp) => escapeCodepoint(cp, '"\\')).join('')}"`;
    case 'class': return `[${node.negated ? '^' : ''}${node.ranges.map(([from, to]) => (from === to
      ? escapeCodepoint(from, CLASS_SPECIALS) : `${escapeCodepoint(from, CLASS_SPECIALS)}-${escapeCodepoint(to, CLASS_SPECIALS)}`)).join('')}]`;
    case 'repeat': return `${writeElement(node.children[0], names)}${repetition(node)}`;
    default: throw new Error(`unknown GBNF node ${node.kind}`);
  }
}

const CLASS_SPECIALS = '\\]^-[';

function repetition({ min, max }) {
  if (min === 0 && max === Infinity) return '*';
  if (min === 1 && max === Infinity) return '+';
  if (min === 0 && max === 1) return '?';
  return max === Infinity ? `{${min},}` : `{${min},${max}}`;
}

// Printable ASCII as itself (backslash-escaped where special), everything else as \uXXXX or \UXXXXXXXX.
function escapeCodepoint(codepoint, specials) {
  const char = String.fromCodePoint(codepoint);
  if (codepoint >= 0x20 && codepoint < 0x7f) return specials.includes(char) ? `\\${char}` : char;
  return codepoint <= 0xffff ? `\\u${codepoint.toString(16).padStart(4, '0')}` : `\\U${codepoint.toString(16).padStart(8, '0')}`;
}

// ---------------------------------------------------------------------------------------------
// Checking helpers, shared with tool_calls.js (its tools carry JSON Schemas too).

/** Throws the InvalidRequestError of `${field}.<key>` for a key of `value` not in `allowed`. */
export function assertOnlyKeys(value, field, allowed) {
  const unknown = Object.keys(value).find((key) => !allowed.includes(key));
  assertAt(unknown === undefined, `${field}.${unknown}`, `Unknown field "${unknown}" in ${field}; it takes only ${allowed.join(', ')}.`);
}

/** Throws InvalidRequestError(message) naming `field` unless `ok`. */
export function assertAt(ok, field, message) {
  if (!ok) throw new InvalidRequestError(message, { field });
}

/** A short rendering (at most 60 characters) of a rejected value for error messages. */
export function describe(value) {
  let text;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = typeof value;
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

export function isPlainObject(value) {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
