"""Static route scanning: FastAPI (Python ``ast``), Express and Hono (JavaScript/TypeScript patterns).

What a file contributes:

* routers: ``FastAPI()``, ``APIRouter(prefix=...)``, ``express()``, ``express.Router()``/``Router()``,
  ``new Hono()`` (with ``.basePath('/p')``);
* routes: ``@r.get("/p")``, ``@r.api_route("/p", methods=[...])``, ``r.add_api_route("/p", f, methods=...)``;
  ``r.get('/p', ...)`` (chains like ``r.route('/p').get(..).post(..)`` and ``app.get(..).post(..)``
  included), Hono ``r.on('GET', '/p', ...)``;
* mounts: ``r.include_router(x, prefix=...)``, ``r.mount('/p', x)``, ``r.use('/p', x)``, ``r.route('/p', x)``,
  where ``x`` is a router of the same file or one imported from another file of the scan
  (``from .users import router``, ``import users from './users'``, ``require('./users')``).

Paths are joined from every unmounted router down through its mounts. Only string-literal paths are
seen; a path built at run time is invisible to a static scan (use ``routes.openapi`` for those apps).
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .routes import HTTP_METHODS, Route, normalize_path

Ref = tuple[str, ...]  # ("name", x) | ("attr", module_alias, x) | ("module", spec)
_PY_HINT = re.compile(r"FastAPI|APIRouter|include_router|add_api_route|router|@\w+\.(?:get|post|put|patch|delete|api_route)\(")
_JS_HINT = re.compile(r"express|Router|Hono|\.(?:get|post|put|patch|delete|use|route|on)\s*\(")
_JS_EXTENSIONS = ("", ".ts", ".js", ".mjs", ".cjs", ".tsx", ".jsx", ".mts", ".cts")


@dataclass
class Source:
    """One scanned file: its routers (name -> own prefix), routes, mounts and what its names refer to."""

    path: Path
    routers: dict[str, str] = field(default_factory=dict)
    routes: list[tuple[str, str, str, int]] = field(default_factory=list)  # router, METHOD, path, line
    mounts: list[tuple[str, str, Ref, int]] = field(default_factory=list)  # parent, prefix, child ref, line
    imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # local -> (module, name|None)
    exports: dict[str, str] = field(default_factory=dict)  # exported name ("default") -> local name
    module: str = ""  # dotted module name (Python) or "" (JavaScript)


# -- Python ---------------------------------------------------------------------------------------------
def _call_name(node: ast.AST) -> str:
    func = node.func if isinstance(node, ast.Call) else None
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _const(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _kw(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _methods(call: ast.Call) -> list[str]:
    node = _kw(call, "methods")
    values = node.elts if isinstance(node, (ast.List, ast.Tuple, ast.Set)) else []
    return [v.upper() for v in map(_const, values) if v] or ["GET"]


def _ref(node: ast.AST) -> Ref | None:
    if isinstance(node, ast.Name):
        return ("name", node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return ("attr", node.value.id, node.attr)
    return None


def _absolute(module: str, level: int, name: str | None, is_package: bool) -> str:
    if not level:
        return name or ""
    parts = module.split(".") if module else []
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, *([name] if name else [])])


def scan_python(path: Path, text: str, module: str) -> Source:
    source = Source(path, module=module)
    try:
        tree = ast.parse(text, str(path))
    except (SyntaxError, ValueError):
        return source
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = _absolute(module, node.level, node.module, is_package)
            for alias in node.names:
                source.imports[alias.asname or alias.name] = (base, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                source.imports[alias.asname or alias.name.split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0], None)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and _call_name(node.value) in ("FastAPI", "APIRouter"):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    source.routers[target.id] = _const(_kw(node.value, "prefix")) or ""
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for deco in node.decorator_list:
                if isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute) and isinstance(
                        deco.func.value, ast.Name):
                    verb, owner = deco.func.attr, deco.func.value.id
                    route = _const(deco.args[0] if deco.args else _kw(deco, "path"))
                    if route is None:
                        continue
                    if verb in HTTP_METHODS:
                        source.routes.append((owner, verb.upper(), route, deco.lineno))
                    elif verb == "api_route":
                        source.routes += [(owner, m, route, deco.lineno) for m in _methods(deco)]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(
                node.func.value, ast.Name):
            owner, verb = node.func.value.id, node.func.attr
            if verb == "add_api_route" and node.args and _const(node.args[0]) is not None:
                source.routes += [(owner, m, _const(node.args[0]), node.lineno) for m in _methods(node)]
            elif verb == "include_router" and node.args and (ref := _ref(node.args[0])):
                source.mounts.append((owner, _const(_kw(node, "prefix")) or "", ref, node.lineno))
            elif verb == "mount" and len(node.args) >= 2 and (ref := _ref(node.args[1])):
                source.mounts.append((owner, _const(node.args[0]) or "", ref, node.lineno))
    return source


# -- JavaScript / TypeScript ------------------------------------------------------------------------------
#: A string literal (kept) or a comment (blanked): strings first, so '/api/*' and 'http://' stay intact.
_JS_STRING_OR_COMMENT = re.compile(r"""('(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"|`(?:\\.|[^`\\])*`)|/\*.*?\*/|//[^\n]*""",
                                   re.S)
_JS_DECL = re.compile(r"(?:const|let|var)\s+(\w+)\s*(?::\s*[\w<>\[\], .]+)?=\s*(?:"
                      r"new\s+(?:\w+\.)?\w*Hono\b(?:<[^>]*>)?\s*\([^)]*\)(?:\s*\.\s*basePath\(\s*(['\"`])([^'\"`]*)\2\s*\))?"
                      r"|(?:(?:express|require\(\s*['\"]express['\"]\s*\))\s*\.\s*)?Router\s*\(|express\s*\(\s*\))")
_JS_CALL = re.compile(r"(\w+)?\s*\.\s*(get|post|put|patch|delete|options|head|use|route|on)\s*\(\s*")
_JS_IMPORT_DEFAULT = re.compile(r"import\s+(\w+)\s*(?:,\s*\{[^}]*\})?\s*from\s*['\"]([^'\"]+)['\"]")
_JS_IMPORT_NAMED = re.compile(r"import\s*(?:\w+\s*,\s*)?\{([^}]*)\}\s*from\s*['\"]([^'\"]+)['\"]")
_JS_REQUIRE = re.compile(r"(?:const|let|var)\s+(\w+)\s*=\s*require\(\s*['\"]([^'\"]+)['\"]\s*\)")
_JS_REQUIRE_NAMED = re.compile(r"(?:const|let|var)\s*\{([^}]*)\}\s*=\s*require\(\s*['\"]([^'\"]+)['\"]\s*\)")
_JS_EXPORT_DEFAULT = re.compile(r"(?:export\s+default|module\.exports\s*=)\s*(\w+)\s*;?\s*(?:$|\n)")
_JS_EXPORT_NAMED = re.compile(r"export\s*\{([^}]*)\}")
_JS_EXPORT_ASSIGN = re.compile(r"(?:module\.)?exports\.(\w+)\s*=\s*(\w+)")
_CHAINED = re.compile(r"\s*\.\s*(\w+)\s*\(")
_STRING_ARG = re.compile(r"(['\"`])([^'\"`]*)\1\s*")


def _call_args(text: str, start: int) -> tuple[list[str], int]:
    """The top-level arguments of the call whose ``(`` ends just before ``start``, and the index just
    past its closing ``)``. Strings (with escapes) and nested brackets are skipped as wholes."""
    args, depth, i, quote, begin = [], 1, start, "", start
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"`":
            quote = c
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                break
        elif c == "," and depth == 1:
            args.append(text[begin:i].strip())
            begin = i + 1
        i += 1
    args.append(text[begin:i].strip())
    return [a for a in args if a], i + 1


def _names(block: str, separator: str) -> Iterator[tuple[str, str]]:
    """``a as b`` (imports/exports) or ``a: b`` (destructuring) -> (original, local)."""
    for part in block.split(","):
        bits = [b.strip() for b in part.split(separator)]
        if bits[0] and re.fullmatch(r"\w+", bits[0]):
            yield bits[0], bits[-1] if len(bits) > 1 and bits[-1] else bits[0]


def _line(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def scan_javascript(path: Path, text: str) -> Source:
    source = Source(path)
    text = _JS_STRING_OR_COMMENT.sub(lambda m: m.group(1) or "\n" * m.group(0).count("\n"), text)
    for match in _JS_IMPORT_DEFAULT.finditer(text):
        source.imports[match.group(1)] = (match.group(2), "default")
    for regex, separator in ((_JS_IMPORT_NAMED, " as "), (_JS_REQUIRE_NAMED, ":")):
        for match in regex.finditer(text):
            for original, local in _names(match.group(1), separator):
                source.imports[local] = (match.group(2), original)
    for match in _JS_REQUIRE.finditer(text):
        source.imports[match.group(1)] = (match.group(2), "default")
    for match in _JS_EXPORT_DEFAULT.finditer(text):
        source.exports["default"] = match.group(1)
    for match in _JS_EXPORT_NAMED.finditer(text):
        for original, exported in _names(match.group(1), " as "):
            source.exports[exported] = original
    for match in _JS_EXPORT_ASSIGN.finditer(text):
        source.exports[match.group(1)] = match.group(2)
    for match in _JS_DECL.finditer(text):
        source.routers[match.group(1)] = match.group(3) or ""
        index = _call_args(text, match.end())[1] if match.group(0).endswith("(") else match.end()
        _chain(source, text, match.group(1), index)
    for match in _JS_CALL.finditer(text):
        if match.group(1):  # an owner name; calls on non-routers are dropped when names are resolved
            _call(source, text, match.group(1), match.group(2), match.end())
    return source


def _call(source: Source, text: str, owner: str, verb: str, args_start: int) -> int:
    """Record one ``owner.verb(args)`` call (and calls chained on it); returns the index after them."""
    args, end = _call_args(text, args_start)
    line = _line(text, args_start)
    first = _STRING_ARG.fullmatch(args[0]) if args else None
    if verb in HTTP_METHODS and first:
        source.routes.append((owner, verb.upper(), first.group(2), line))
        return _chain(source, text, owner, end)
    if verb == "on" and len(args) >= 2 and (path := _STRING_ARG.fullmatch(args[1])):
        for method in re.findall(r"['\"](\w+)['\"]", args[0]):
            source.routes.append((owner, method.upper(), path.group(2), line))
    elif verb == "route" and first and len(args) == 1:  # Express: r.route('/p').get(...).post(...)
        while chained := _CHAINED.match(text, end):
            if chained.group(1) not in HTTP_METHODS:
                break
            source.routes.append((owner, chained.group(1).upper(), first.group(2), _line(text, chained.start(1))))
            end = _call_args(text, chained.end())[1]
    elif verb in ("use", "route") and args:
        prefix = first.group(2) if first else ""
        child = args[-1] if first or verb == "use" else ""
        required = re.fullmatch(r"require\(\s*['\"]([^'\"]+)['\"]\s*\)", child)
        if required:
            source.mounts.append((owner, prefix, ("module", required.group(1)), line))
        elif re.fullmatch(r"\w+", child):
            source.mounts.append((owner, prefix, ("name", child), line))
    return end


def _chain(source: Source, text: str, owner: str, index: int) -> int:
    """Routes chained on a router or on a previous route: ``new Hono().get('/a', h).post('/b', h)``."""
    chained = _CHAINED.match(text, index)
    if chained and chained.group(1) in HTTP_METHODS:
        return _call(source, text, owner, chained.group(1), chained.end())
    return index


# -- joining files: names to routers, routers to full paths -------------------------------------------------
Node = tuple[Path, str]


class _Project:
    def __init__(self, root: Path, sources: list[Source]):
        self.root = root
        self.by_path = {s.path: s for s in sources}
        self.by_name = {str(s.path): s for s in sources}
        self.by_module: dict[str, Source] = {}
        for source in sorted((s for s in sources if s.module), key=lambda s: s.module.count(".")):
            parts = source.module.split(".")
            for k in range(len(parts)):
                self.by_module.setdefault(".".join(parts[k:]), source)

    def _js_file(self, origin: Path, spec: str) -> Source | None:
        if not spec.startswith("."):
            return None
        base = os.path.normpath(os.path.join(origin.parent, spec))
        for candidate in [base + ext for ext in _JS_EXTENSIONS] + [f"{base}/index{e}" for e in _JS_EXTENSIONS[1:]]:
            if candidate in self.by_name:
                return self.by_name[candidate]
        return None

    def _lookup(self, source: Source | None, name: str, depth: int = 0) -> Node | None:
        """The router ``name`` exported by ``source`` (following re-exports and imports)."""
        if source is None or depth > 8:
            return None
        local = source.exports.get(name, name) if not source.module else name
        if local in source.routers:
            return (source.path, local)
        if local in source.imports:
            return self._imported(source, local, depth + 1)
        return None

    def _imported(self, source: Source, local: str, depth: int) -> Node | None:
        module, name = source.imports[local]
        if source.module:  # Python: a module attribute (name is None for `import x`)
            return self._lookup(self.by_module.get(module), name, depth) if name else None
        return self._lookup(self._js_file(source.path, module), name or "default", depth)

    def resolve(self, source: Source, ref: Ref) -> Node | None:
        if ref[0] == "name":
            if ref[1] in source.routers:
                return (source.path, ref[1])
            return self._imported(source, ref[1], 0) if ref[1] in source.imports else None
        if ref[0] == "module":
            return self._lookup(self._js_file(source.path, ref[1]), "default")
        module, name = source.imports.get(ref[1], ("", None))
        target = self.by_module.get(f"{module}.{name}" if name else module)
        return self._lookup(target, ref[2]) if target else None

    def routes(self) -> list[Route]:
        prefixes: dict[Node, str] = {}
        own: dict[Node, list[tuple[str, str, str]]] = {}
        children: dict[Node, list[tuple[str, Node]]] = {}
        mounted: set[Node] = set()
        for source in self.by_path.values():
            for name, prefix in source.routers.items():
                prefixes[(source.path, name)] = prefix
            rel = source.path.relative_to(self.root)
            for owner, method, path, line in source.routes:
                node = self.resolve(source, ("name", owner))
                if node:
                    own.setdefault(node, []).append((method, path, f"{rel}:{line}"))
            for owner, prefix, ref, _line in source.mounts:
                parent, child = self.resolve(source, ("name", owner)), self.resolve(source, ref)
                if parent and child and parent != child:
                    children.setdefault(parent, []).append((prefix, child))
                    mounted.add(child)
        found: list[Route] = []

        def walk(node: Node, prefix: str, trail: frozenset[Node]) -> None:
            base = normalize_path(prefixes.get(node, ""), prefix)
            for method, path, location in own.get(node, []):
                found.append(Route(method, normalize_path(path, base), location))
            for mount_prefix, child in children.get(node, []):
                if child not in trail:
                    walk(child, normalize_path(mount_prefix, base), trail | {child})

        for node in sorted(set(own) | set(children), key=lambda n: (str(n[0]), n[1])):
            if node not in mounted:
                walk(node, "", frozenset({node}))
        return found


def scan(root: Path, files: list[Path]) -> list[Route]:
    """Every route the files register, with mount prefixes joined."""
    sources = []
    for path in files:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if path.suffix == ".py":
            if _PY_HINT.search(text):
                rel = path.relative_to(root).with_suffix("")
                parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
                sources.append(scan_python(path.resolve(), text, ".".join(parts)))
        elif _JS_HINT.search(text):
            sources.append(scan_javascript(path.resolve(), text))
    return _Project(root.resolve(), sources).routes()
