// The JSONata reference (jsonata-js, npm) as a batch evaluator: one process for a whole corpus.
// stdin: JSON lines {id, expr, input, bindings?, now?}; stdout: one JSON line per case, in order,
// {id, value} (no "value" key when the result is undefined) or {id, error: {code, message, position}}.
// `now` (epoch millis) fixes $now()/$millis() so clock-dependent cases compare equal on both sides.
import { createRequire } from "node:module";
import { createInterface } from "node:readline";

const require = createRequire(import.meta.url);
const jsonataPath = process.env.JSONATA_REF_PATH;
if (!jsonataPath) {
  process.stderr.write("JSONATA_REF_PATH must point at the installed jsonata package\n");
  process.exit(2);
}
const jsonata = require(jsonataPath);

function errorOf(err) {
  return {
    code: typeof err?.code === "string" ? err.code : null,
    message: String(err?.message ?? err),
    position: typeof err?.position === "number" ? err.position : null,
  };
}

// Functions and non-finite numbers are not JSON: say so instead of letting stringify drop them.
function jsonSafe(value) {
  return JSON.stringify(value, (_key, v) => {
    if (typeof v === "function") return { "$function": true };
    if (typeof v === "number" && !Number.isFinite(v)) return { "$nonfinite": String(v) };
    return v;
  });
}

async function run(line) {
  const item = JSON.parse(line);
  const out = { id: item.id };
  try {
    const expression = jsonata(item.expr);
    const bindings = { ...(item.bindings ?? {}) };
    if (typeof item.now === "number") {
      bindings.millis = () => item.now;
      // The contract's own extension, defined as it is there: ISO-8601 UTC with milliseconds.
      bindings.nowIso = () => new Date(item.now).toISOString();
      expression.registerFunction(
        "now",
        (picture, timezone) => jsonata("$fromMillis($n, $p, $tz)").evaluate({}, { n: item.now, p: picture, tz: timezone }),
        "<s?s?:s>",
      );
    }
    const value = await expression.evaluate(item.input, bindings);
    if (value !== undefined) out.value = JSON.parse(jsonSafe(value));
  } catch (err) {
    out.error = errorOf(err);
  }
  return JSON.stringify(out);
}

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (line.trim() === "") continue;
  process.stdout.write((await run(line)) + "\n");
}
