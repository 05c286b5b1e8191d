// Validates AsyncAPI documents with the official parser (@asyncapi/parser). Usage:
//   ASYNCAPI_NODE_MODULES=path/to/node_modules node .ci/validate-asyncapi.cjs FILE...
// Prints every diagnostic; fails on any of severity error (0) or warning (1).
const { createRequire } = require("node:module");
const { readFileSync } = require("node:fs");
const path = require("node:path");

const modules = process.env.ASYNCAPI_NODE_MODULES || "node_modules";
const { Parser } = createRequire(path.resolve(modules) + "/")("@asyncapi/parser");

(async () => {
  const parser = new Parser();
  let failed = false;
  for (const file of process.argv.slice(2)) {
    const { document, diagnostics } = await parser.parse(readFileSync(file, "utf8"));
    const errors = diagnostics.filter((d) => d.severity === 0);
    const warnings = diagnostics.filter((d) => d.severity === 1);
    console.log(`${file}: ${errors.length} errors, ${warnings.length} warnings, ${diagnostics.length} diagnostics`);
    for (const d of diagnostics) {
      console.log(`  [severity ${d.severity}] ${d.code}: ${d.message} at ${d.path.join(".")}`);
    }
    if (!document || errors.length > 0 || warnings.length > 0) failed = true;
  }
  process.exit(failed ? 1 : 0);
})();
