// Validates OpenAPI documents (JSON or YAML files) with @apidevtools/swagger-parser, which
// checks OpenAPI 3.1 against its JSON Schema and resolves every $ref. Exits non-zero on the
// first invalid document. Usage: OPENAPI_NODE_MODULES=dir node validate-openapi.cjs FILE...
const path = require("path");
const modules = process.env.OPENAPI_NODE_MODULES || path.join(__dirname, "../target/ci-node/node_modules");
const SwaggerParser = require(path.join(modules, "@apidevtools/swagger-parser"));

(async () => {
  for (const file of process.argv.slice(2)) {
    try {
      const api = await SwaggerParser.validate(file);
      console.log(`${file}: valid OpenAPI ${api.openapi}, ${Object.keys(api.paths).length} paths`);
    } catch (err) {
      console.error(`${file}: invalid: ${err.message}`);
      process.exit(1);
    }
  }
})();
