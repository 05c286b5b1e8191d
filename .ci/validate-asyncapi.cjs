// Validates AsyncAPI documents with the official parser (@asyncapi/parser). Usage:
//   ASYNCAPI_NODE_MODULES=path/to/node_modules node .ci/validate-asyncapi.cjs FILE...
// Prints every diagnostic; fails on any of severity error (0) or warning (1). A YAML document
// beside a JSON one of the same name must also read, with js-yaml (a YAML parser independent of
// the one that wrote it), as exactly that JSON, and quote no key.
const { createRequire } = require("node:module");
const { readFileSync } = require("node:fs");
const path = require("node:path");

const modules = process.env.ASYNCAPI_NODE_MODULES || "node_modules";
const load = createRequire(path.resolve(modules) + "/");
const { Parser } = load("@asyncapi/parser");
const yaml = load("js-yaml");
const { isDeepStrictEqual } = require("node:util");
const { existsSync } = require("node:fs");

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
    const twin = file.replace(/\.yaml$/, ".json");
    if (file.endsWith(".yaml") && existsSync(twin)) {
      const text = readFileSync(file, "utf8");
      const same = isDeepStrictEqual(yaml.load(text), JSON.parse(readFileSync(twin, "utf8")));
      const quoted = text.split("\n").filter((line) => /^\s*(- )?["'][^"']*["']:/.test(line));
      console.log(`  YAML = ${path.basename(twin)}: ${same}; quoted keys: ${quoted.length}`);
      if (!same || quoted.length > 0) failed = true;
    }
  }
  process.exit(failed ? 1 : 0);
})();
