// Validates an AsyncAPI document with the official parser (schema + semantic rules).
// Usage: node validate.mjs path/to/asyncapi.json   Exit 1 on any error-level diagnostic.
import { readFile } from "node:fs/promises";
import { Parser } from "@asyncapi/parser";

const file = process.argv[2];
if (!file) {
  console.error("usage: node validate.mjs <asyncapi.json>");
  process.exit(2);
}
const parser = new Parser();
const { document, diagnostics } = await parser.parse(await readFile(file, "utf8"), {
  source: file,
});
const errors = diagnostics.filter((d) => d.severity === 0);
for (const d of diagnostics) {
  const level = ["error", "warning", "info", "hint"][d.severity] ?? "error";
  console.log(`${level}: ${d.code} at ${d.path.join(".") || "/"}: ${d.message}`);
}
if (errors.length > 0 || document === undefined) {
  console.error(`${file}: ${errors.length} error(s): not a valid AsyncAPI document`);
  process.exit(1);
}
console.log(
  `${file}: valid AsyncAPI ${document.version()}, ${document.channels().length} channels, ` +
    `${document.messages().length} messages`,
);
