"""Spec drift detection over a generated 5,000-file target (seed task 3: "runs in seconds").

One command: ``.venv/bin/python benchmarks/drift.py`` (options: --help). It writes a synthetic target
into a temporary folder — FastAPI routers, Express and Hono route files, model and utility modules,
JSON Schema files, CSS, SQL for 200 tables and a spec-kit spec declaring all of it (with 1% drift) — and
times, in the same run and on the same files:

* ``run_check``: the whole drift check (spec reading, SQLite schema build and reflection, static route
  scan of every source file, JSON Schema normal forms, CSS tokens, allowlist);
* peer "read": reading every file once in Python (the I/O floor of any scan);
* peer "grep": ``grep -rEn`` for route registrations over the tree (a C tool doing the least a route
  scan must do: find the candidate lines, no joining, no comparing).

It prints the best of ``--repeat`` runs of each and the ratios to ours.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cloudmake_pipelines.drift import run_check  # noqa: E402


def generate(root: Path, files: int) -> dict[str, int]:
    """Write the target; returns how many files of each kind (their sum is ``files``)."""
    kinds = {"fastapi": files * 15 // 100, "express": files * 15 // 100, "hono": files * 10 // 100,
             "jsonschema": files * 4 // 100, "css": files * 2 // 100}
    kinds["other"] = files - sum(kinds.values()) - 2  # drift.yaml and schema.sql
    spec_paths: dict[str, dict] = {}
    tables = []

    def write(rel: str, text: str) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    for i in range(kinds["fastapi"]):
        write(f"app/routers/r{i}.py", f'from fastapi import APIRouter\n\nrouter = APIRouter(prefix="/py{i}")\n\n\n'
              f'@router.get("/")\ndef list_{i}():\n    return []\n\n\n@router.get("/{{item_id}}")\n'
              f'def show_{i}(item_id: int):\n    return {{"id": item_id}}\n')
        spec_paths[f"/api/py{i}"] = {"get": {}}
        spec_paths[f"/api/py{i}/{{item_id}}" if i % 100 else f"/api/py{i}/{{id}}"] = {"get": {}}
    write("app/main.py", "from fastapi import FastAPI\n" + "".join(
        f"from .routers import r{i}\n" for i in range(kinds["fastapi"])) + "\napp = FastAPI()\n" + "".join(
        f'app.include_router(r{i}.router, prefix="/api")\n' for i in range(kinds["fastapi"])))
    for i in range(kinds["express"]):
        write(f"src/express/e{i}.js", "const router = require('express').Router();\n\n"
              "router.get('/', (req, res) => res.json([]));\nrouter.route('/:orderId')\n"
              "  .get((req, res) => res.json({ id: req.params.orderId }))\n  .delete((req, res) => res.end());\n\n"
              "module.exports = router;\n")
        spec_paths[f"/js{i}"] = {"get": {}}
        spec_paths[f"/js{i}/{{orderId}}"] = {"get": {}, "delete": {}}
    write("src/server.js", "const express = require('express');\nconst app = express();\n" + "".join(
        f"app.use('/js{i}', require('./express/e{i}'));\n" for i in range(kinds["express"])))
    for i in range(kinds["hono"]):
        write(f"src/hono/h{i}.ts", "import { Hono } from 'hono'\n\nconst h = new Hono()\n"
              "  .get('/', (c) => c.json([]))\n  .post('/', (c) => c.json({}, 201))\nexport default h\n")
        spec_paths[f"/edge/h{i}"] = {"get": {}, "post": {}}
    write("src/edge.ts", "import { Hono } from 'hono'\n" + "".join(
        f"import h{i} from './hono/h{i}'\n" for i in range(kinds["hono"])) + "const app = new Hono().basePath('/edge')\n"
        + "".join(f"app.route('/h{i}', h{i})\n" for i in range(kinds["hono"])) + "export default app\n")
    components = {}
    for i in range(kinds["jsonschema"]):
        schema = {"title": f"Model{i}", "type": "object", "required": ["id", "name"],
                  "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                                 "note": {"type": ["string", "null"]}, "tags": {"type": "array", "items": {"type": "string"}}}}
        write(f"schemas/model{i}.json", json.dumps(schema))
        spec = {**schema, "properties": {**schema["properties"], "note": {"type": "string", "nullable": True}}}
        components[f"Model{i}"] = spec if i % 100 else {**spec, "required": ["id"]}
    tokens, css_per_file = {}, 10
    for i in range(kinds["css"]):
        lines = [f"  --color-c{i}-t{j}: #{(i * 31 + j) % 0xFFFFFF:06x};" for j in range(css_per_file)]
        write(f"web/styles/s{i}.css", ":root {\n" + "\n".join(lines) + "\n}\n.btn { color: var(--color-c0-t0); }\n")
        tokens[f"c{i}"] = {f"t{j}": {"$value": f"#{(i * 31 + j) % 0xFFFFFF:06x}"} for j in range(css_per_file)}
    for i in range(kinds["other"]):
        ext = "py" if i % 2 else "ts"
        body = (f"def helper_{i}(values):\n    return sorted(v for v in values if v)\n" if ext == "py" else
                f"export function helper{i}(values: number[]): number[] {{\n  return values.filter(Boolean).sort()\n}}\n")
        write(f"lib/m{i // 100}/util{i}.{ext}", body * 20)
    for t in range(200):
        tables.append(f"CREATE TABLE t{t} (id BIGINT PRIMARY KEY, name VARCHAR(100) NOT NULL, "
                      f"created_at TIMESTAMP NOT NULL, payload TEXT{' NOT NULL' if t % 50 else ''});")
    write("schema.sql", "\n".join(tables) + "\n")
    write("drift.yaml", "database: {sql: [schema.sql]}\nroutes: {scan: ['app/**/*.py', 'src/**/*.js', 'src/**/*.ts', "
          "'lib/**/*.py', 'lib/**/*.ts']}\nschemas: {jsonschema: ['schemas/*.json']}\ntokens: {css: ['web/**/*.css']}\n")
    feature = root / "specs" / "001-bench"
    (feature / "contracts").mkdir(parents=True)
    (feature / "contracts" / "api.json").write_text(json.dumps(
        {"openapi": "3.1.0", "info": {"title": "bench", "version": "1"}, "paths": spec_paths,
         "components": {"schemas": components}}))
    (feature / "design.tokens.json").write_text(json.dumps({"color": {"$type": "color", **tokens}}))
    (feature / "data-model.md").write_text("# Data model\n\n" + "\n".join(
        f"## t{t}\n\n```yaml\nentity: t{t}\nfields:\n  id: bigint pk\n  name: string(100)\n  created_at: datetime\n"
        f"  payload: text\n```\n" for t in range(200)))
    return kinds


def best(repeat: int, fn) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=5000, help="source files in the target (default 5000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, best kept (default 3)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="drift-bench-"))
    try:
        kinds = generate(root, args.files)
        total = sum(1 for p in root.rglob("*") if p.is_file() and "specs" not in p.parts)
        size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
        print(f"target: {total} code files ({', '.join(f'{v} {k}' for k, v in kinds.items())}), "
              f"{size / 1e6:.1f} MB in total")
        ours, report = best(args.repeat, lambda: run_check(root))
        read, _ = best(args.repeat, lambda: [p.read_bytes() for p in root.rglob("*") if p.is_file()])
        pattern = r"\.(get|post|put|patch|delete|route|use|include_router)\(|APIRouter|Hono|Router\("
        grep, _ = best(args.repeat, lambda: subprocess.run(
            ["grep", "-rEn", pattern, str(root)], capture_output=True, check=False))
        counts = report.counts
        print(f"drift found: {counts['total']} items ({counts['entities']} entities, {counts['routes']} routes, "
              f"{counts['schemas']} schemas, {counts['tokens']} tokens); checked: {report.checked['routes']}")
        print(f"drift check (ours):  {ours:7.3f} s  ({total / ours:,.0f} files/s)")
        print(f"peer read all files: {read:7.3f} s  -> ours / read = {ours / read:.1f}x")
        print(f"peer grep -rEn:      {grep:7.3f} s  -> ours / grep = {ours / grep:.1f}x")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
