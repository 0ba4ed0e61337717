"""Move every SceneLens module under the one installed package `scenelens` (issue 16 §3), deterministically.

    python scripts/namespace_codemod.py [--check] [-q] [ROOT]

The folders stay where the design card puts them (engine/, gui/, assets/, main.py); only the *names* change:

    folder           installed as           (pyproject [tool.setuptools] package-dir, written by this script)
    gui/scenelens/   scenelens              the Python API (`import scenelens`) and the CLI (`scenelens.cli`)
    engine/          scenelens.engine
    gui/             scenelens.gui          (gui/scenelens is *not* also installed as scenelens.gui.scenelens)
    assets/          scenelens/assets       package data, so `Path(engine_module).parents[..] / "assets"` finds
                                            it in the wheel exactly as it does in the checkout

What it does, each step idempotent (a second run changes nothing and says so):
1. main.py → gui/scenelens/cli.py (`scenelens.cli`, the `scenelens` command's module); main.py becomes a
   launcher that runs it, so `python main.py …` keeps working in a checkout.
2. Python sources (every tracked or untracked-not-ignored *.py file but docs/ and this script):
   * import statements: `from engine.x import y` → `from scenelens.engine.x import y`; `import engine.x as e` →
     `import scenelens.engine.x as e`; `import engine.x` → `import scenelens.engine.x` plus
     `from scenelens import engine` when the file uses the name `engine`; `import engine` →
     `from scenelens import engine`; `import main` → `from scenelens import cli as main`;
     `gui.scenelens` → `scenelens`. Relative imports are left alone.
   * string literals that name a module: the whole string (`"engine.io.load"` in mock.patch/monkeypatch
     targets, `importlib.import_module("gui.views")`, `"engine."` prefixes, `"engine.x:attr"` entry points,
     f-strings such as f"engine.tasks.{name}"), a quoted module name inside a string, and import lines inside
     strings (`python -c` snippets). Prose in docstrings and comments is not touched ("engine.io" there
     still names the folder).
3. A guard at the top of engine/__init__.py, gui/__init__.py and gui/scenelens/__init__.py: importing a folder
   under its old top-level name (`import engine` with the checkout on sys.path) raises ImportError, so the
   same file can never be loaded twice as two module objects (`engine.scene` and `scenelens.engine.scene`);
   tests/conftest.py stops a session whose `scenelens` is installed from another checkout.
4. engine/datasets.py: a Ray cluster gets the `scenelens` package (engine/package_layout.py) in
   `runtime_env.py_modules` instead of the bare engine folder.
5. pyproject.toml: `[project.scripts] scenelens = "scenelens.cli:main"` and the `[tool.setuptools]` tables
   (packages generated from the folders that hold an __init__.py, package-dir, package data for assets/).
6. README.md: backticked module paths and import lines in code blocks.

Anything it cannot do safely it prints as "WARNING" (exit code 1 with --check, or when a warning was raised), so
a rerun on a tree that moved on says where a person must look. Standard library only (ast, tokenize, re);
libcst would preserve formatting equally but is not installed and the edits here are span replacements.
"""
from __future__ import annotations

import argparse
import ast
import difflib
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

PKG = "scenelens"
# old top-level module → new dotted name; the longest old prefix wins ("gui.scenelens" before "gui")
RENAMES = {"gui.scenelens": PKG, "engine": f"{PKG}.engine", "gui": f"{PKG}.gui", "main": f"{PKG}.cli"}
TOPS = ("engine", "gui", "main")
LAUNCHER_MARK = "# namespace-codemod: launcher"
GUARD_BEGIN = "# namespace-codemod: guard (begin)"
GUARD_END = "# namespace-codemod: guard (end)"
# file name endings that make "engine.xyz" a file, not a module
FILE_EXTS = {"py", "pyc", "pyi", "json", "toml", "txt", "md", "cfg", "ini", "yaml", "yml", "so", "png", "npz",
             "npy", "log", "sh", "bat", "exe", "spec", "lock", "csv", "html"}

LAUNCHER = f'''"""`python main.py …` in a source checkout: the `scenelens` command (its code is gui/scenelens/cli.py, installed
as `scenelens.cli`). The checkout must be installed first (`pip install -e .`; scripts/setup.sh does it), which
maps engine/, gui/ and gui/scenelens/ onto the one package `scenelens`."""
{LAUNCHER_MARK}
import sys

try:
    from scenelens.cli import main
except ModuleNotFoundError as e:
    if e.name not in ("scenelens", "scenelens.cli"):
        raise
    sys.exit(f"SceneLens is not installed for {{sys.executable}}: run `pip install -e .` in this folder "
             "(bash scripts/setup.sh does it)")

if __name__ == "__main__":
    sys.exit(main())
'''

GUARDS = {
    "engine/__init__.py": ("scenelens.engine", "engine"),
    "gui/__init__.py": ("scenelens.gui", "gui"),
    "gui/scenelens/__init__.py": ("scenelens", "gui.scenelens"),
}


def guard_text(name: str, folder: str) -> str:
    return (f"{GUARD_BEGIN}\n"
            f"if __name__ != {name!r}:  # one name per file: never a second copy of every module under another name\n"
            f"    raise ImportError(f\"cannot import {{__name__}}: the folder {folder.replace('.', '/')}/ is the package "
            f"{name} \"\n"
            f"                      \"(import {name} instead; a checkout is installed with `pip install -e .`)\")\n"
            f"{GUARD_END}\n")


CHECKOUT_BEGIN = "# namespace-codemod: checkout check (begin)"
CHECKOUT_CHECK = f'''

{CHECKOUT_BEGIN}
def _scenelens_is_this_checkout() -> None:
    """The tests import `scenelens` from the venv's install: if that is another checkout (or a wheel), every test
    here would silently run that code. One line instead."""
    import importlib.util
    import sys
    from pathlib import Path

    import pytest

    here = Path(__file__).resolve().parents[1]
    spec = importlib.util.find_spec("scenelens.engine")
    where = Path(spec.origin).resolve().parent if spec is not None and spec.origin else None
    if where != here / "engine":
        raise pytest.UsageError(f"scenelens.engine imports from {{where}}, not from this checkout ({{here}}): "
                                f"run `{{sys.executable}} -m pip install -e {{here}}`")


_scenelens_is_this_checkout()
# namespace-codemod: checkout check (end)
'''


class Codemod:
    def __init__(self, root: Path, check: bool = False, verbose: bool = True):
        self.root = root
        self.check = check
        self.verbose = verbose
        self.changes: list[str] = []
        self.warnings: list[str] = []

    # ---------------------------------------------------------------- reporting / writing
    def changed(self, rel: str, what: str) -> None:
        self.changes.append(f"{rel}: {what}")

    def warn(self, rel: str, what: str) -> None:
        self.warnings.append(f"WARNING {rel}: {what}")

    def write(self, path: Path, text: str) -> None:
        if not self.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")

    # ---------------------------------------------------------------- names
    @staticmethod
    def rename(dotted: str) -> str | None:
        """New name for an old dotted module path, or None when it is not one of ours."""
        for old in sorted(RENAMES, key=len, reverse=True):
            if dotted == old or dotted.startswith(old + "."):
                return RENAMES[old] + dotted[len(old):]
        return None

    # ---------------------------------------------------------------- step 1: main.py → scenelens.cli
    def move_main(self) -> None:
        main, cli = self.root / "main.py", self.root / "gui" / "scenelens" / "cli.py"
        text = main.read_text(encoding="utf-8") if main.exists() else ""
        if LAUNCHER_MARK in text:
            if not cli.exists():
                self.warn("main.py", "is the launcher but gui/scenelens/cli.py is missing")
            return
        if not text:
            self.warn("main.py", "missing")
            return
        if cli.exists():
            self.warn("gui/scenelens/cli.py", "exists and main.py is not the launcher: merge main.py into it by hand")
            return
        self.write(cli, text)
        self.write(main, LAUNCHER)
        self.changed("main.py", "moved to gui/scenelens/cli.py (scenelens.cli); main.py is now the launcher")

    # ---------------------------------------------------------------- step 2: Python sources
    def py_files(self) -> list[Path]:
        try:
            out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "--", "*.py"], cwd=self.root,
                                 capture_output=True, text=True, check=True).stdout.split("\n")
            files = [self.root / f for f in out if f]
        except (OSError, subprocess.CalledProcessError):
            files = [p for p in self.root.rglob("*.py") if ".venv" not in p.parts]
        skip = {Path(__file__).resolve()}
        return sorted({f for f in files if f.exists() and f.resolve() not in skip
                       and f.relative_to(self.root).parts[0] not in ("docs", ".venv")})

    def rewrite_imports(self, src: str, rel: str) -> str:
        try:
            tree = ast.parse(src)
        except SyntaxError as e:
            self.warn(rel, f"not parsed ({e.msg}, line {e.lineno}): left alone")
            return src
        uses = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        self.bound: set[tuple[int, str]] = set()
        block_of: dict[int, int] = {}  # id(statement) → id(the statement list holding it)
        for node in ast.walk(tree):
            for field in ("body", "orelse", "finalbody", "handlers"):
                stmts = getattr(node, field, None)
                if isinstance(stmts, list):
                    for st in stmts:
                        block_of[id(st)] = id(stmts)
        lines = src.splitlines(keepends=True)
        offsets = [0]
        for ln in lines:
            offsets.append(offsets[-1] + len(ln))

        def pos(lineno: int, col: int) -> int:  # ast columns are UTF-8 byte offsets
            line = lines[lineno - 1]
            return offsets[lineno - 1] + len(line.encode("utf-8")[:col].decode("utf-8", "replace"))

        edits: list[tuple[int, int, str]] = []
        for node in sorted((n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))),
                           key=lambda n: (n.lineno, n.col_offset)):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                new = self.rename(node.module)
                if new is None:
                    continue
                a, b = pos(node.lineno, node.col_offset), pos(node.end_lineno, node.end_col_offset)
                stmt = src[a:b]
                m = re.match(r"from\s+" + re.escape(node.module).replace(r"\.", r"\s*\.\s*") + r"(?=[\s(])", stmt)
                if not m:
                    self.warn(rel, f"line {node.lineno}: cannot locate the module in {stmt!r}")
                    continue
                edits.append((a, b, f"from {new}" + stmt[m.end():]))
            elif isinstance(node, ast.Import) and any(self.rename(al.name) for al in node.names):
                a, b = pos(node.lineno, node.col_offset), pos(node.end_lineno, node.end_col_offset)
                inline = lines[node.lineno - 1][:node.col_offset].strip() != ""
                indent = re.match(r"\s*", lines[node.lineno - 1]).group(0)
                stmts = self.import_statements([(al.name, al.asname) for al in node.names], uses,
                                               block_of.get(id(node), 0))
                joiner = "; " if inline else "\n" + indent
                edits.append((a, b, joiner.join(stmts)))
        for a, b, new in sorted(edits, reverse=True):
            src = src[:a] + new + src[b:]
        return src

    def import_statements(self, aliases: list[tuple[str, str | None]], uses: set[str], block: int = 0) -> list[str]:
        """`import a, engine.x as e, main` → equivalent statements binding the same names. `block` names the
        statement list the import sits in: a later import there needs no second `from scenelens import engine`."""
        kept: list[str] = []
        out: list[str] = []
        for name, asname in aliases:
            new = self.rename(name)
            if new is None:
                kept.append(name + (f" as {asname}" if asname else ""))
                continue
            parent, _, leaf = new.rpartition(".")
            if asname:
                out.append(f"import {new} as {asname}")
            elif "." not in name:  # import engine / import main: bind the old name to the new module
                out.append(f"from {parent} import {leaf}" + (f" as {name}" if leaf != name else "") if parent
                           else f"import {new}")
            else:  # import engine.x loads engine.x and binds `engine`: bind it first (a trailing comment such
                top = name.split(".")[0]  # as a lint suppression stays on the import it was written for), once per block
                bind = self.rename(top)
                if top in uses and (block, top) not in self.bound:
                    self.bound.add((block, top))
                    p, _, lf = bind.rpartition(".")
                    out.append(f"from {p} import {lf}" + (f" as {top}" if lf != top else ""))
                out.append(f"import {new}")
        return ([f"import {', '.join(kept)}"] if kept else []) + out

    # strings ------------------------------------------------------------
    MOD_RE = re.compile(r"^(?:engine|gui|main)(?:\.(?:[A-Za-z_{][\w{}]*))*\.?(?::[\w.{}]+)?$")
    INNER_RE = re.compile(r"(?<![\w.])(['\"])((?:engine|gui)(?:\.[A-Za-z_]\w*)*\.?(?::[\w.]+)?)\1")
    FROM_RE = re.compile(r"((?:^|\\n|\n|;)[ \t]*from[ \t]+)((?:engine|gui|main)(?:\.\w+)*)(?=[ \t]+import\b)")
    IMPORT_RE = re.compile(r"((?:^|\\n|\n|;)[ \t]*)import[ \t]+([A-Za-z_][\w., \t]*?)(?=$|\\n|\n|;|[ \t]*#)")

    def module_string(self, body: str) -> str | None:
        if not self.MOD_RE.match(body) or body in TOPS:
            return None
        name = body.split(":")[0].rstrip(".")
        last = name.rsplit(".", 1)[-1]
        if "." in name and last.lower() in FILE_EXTS:
            return None
        if body.startswith("main") and "." not in name:  # "main:…" only; "main." alone is prose
            return None
        new = self.rename(name.split("{")[0].rstrip(".") or name)
        if new is None:
            return None
        old_prefix = name.split("{")[0].rstrip(".")
        return new + body[len(old_prefix):]

    def rewrite_string_body(self, body: str) -> str:
        whole = self.module_string(body)
        if whole is not None:
            return whole
        body = self.INNER_RE.sub(lambda m: m.group(1) + (self.module_string(m.group(2)) or m.group(2)) + m.group(1),
                                 body)
        body = self.FROM_RE.sub(lambda m: m.group(1) + (self.rename(m.group(2)) or m.group(2)), body)

        def imp(m: re.Match) -> str:
            items = [s.strip() for s in m.group(2).split(",")]
            parsed = []
            for it in items:
                mm = re.fullmatch(r"([A-Za-z_][\w.]*)(?:\s+as\s+([A-Za-z_]\w*))?", it)
                if not mm:
                    return m.group(0)
                parsed.append((mm.group(1), mm.group(2)))
            if not any(self.rename(n) for n, _ in parsed):
                return m.group(0)
            tops = {n.split(".")[0] for n, a in parsed if "." in n and not a}  # bind `engine` for engine.x
            self.bound = set()
            return m.group(1) + "; ".join(self.import_statements(parsed, tops))

        return self.IMPORT_RE.sub(imp, body)

    def rewrite_strings(self, src: str, rel: str) -> str:
        try:
            toks = list(tokenize.generate_tokens(io.StringIO(src).readline))
        except (tokenize.TokenError, SyntaxError) as e:
            self.warn(rel, f"not tokenized ({e}): strings left alone")
            return src
        lines = src.splitlines(keepends=True)
        offsets = [0]
        for ln in lines:
            offsets.append(offsets[-1] + len(ln))
        edits = []
        for t in toks:
            if t.type != tokenize.STRING:
                continue
            m = re.match(r"([A-Za-z]*)('''|\"\"\"|'|\")", t.string)
            prefix, q = m.group(1), m.group(2)
            body = t.string[len(prefix) + len(q):len(t.string) - len(q)]
            if "b" in prefix.lower():
                continue
            new = self.rewrite_string_body(body)
            if new != body:
                a = offsets[t.start[0] - 1] + t.start[1]
                b = offsets[t.end[0] - 1] + t.end[1]
                edits.append((a, b, prefix + q + new + q))
        for a, b, new in sorted(edits, reverse=True):
            src = src[:a] + new + src[b:]
        return src

    def rewrite_python(self) -> None:
        for f in self.py_files():
            rel = f.relative_to(self.root).as_posix()
            old = f.read_text(encoding="utf-8")
            new = self.rewrite_strings(self.rewrite_imports(old, rel), rel)
            if new != old:
                try:
                    ast.parse(new)
                except SyntaxError as e:
                    self.warn(rel, f"the rewrite does not parse ({e.msg}, line {e.lineno}): not written")
                    continue
                diff = [f"    {d[0]} {d[1:].strip()}" for d in difflib.unified_diff(old.splitlines(), new.splitlines(),
                                                                               lineterm="", n=0)
                        if d[:1] in "+-" and not d.startswith(("---", "+++"))]
                n = sum(d.startswith("    -") for d in diff)
                self.changed(rel, f"{n} line(s) rewritten" + ("\n" + "\n".join(diff) if self.verbose else ""))
                self.write(f, new)
            self.lint_leftovers(rel, new)

    def lint_leftovers(self, rel: str, src: str) -> None:
        """Old names the rules above cannot rewrite safely (a bare "engine" may be a folder or a module): named for
        a person to look at when they are used as module names."""
        try:
            tree = ast.parse(src)
        except SyntaxError:
            return

        def old(node) -> bool:
            if isinstance(node, ast.Tuple):
                return any(old(e) for e in node.elts)
            return (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and node.value.split(".")[0] in TOPS and self.module_string(node.value + ".") is not None)

        for node in ast.walk(tree):
            hit = None
            if isinstance(node, ast.Call):
                fn = getattr(node.func, "attr", getattr(node.func, "id", ""))
                if fn in ("__import__", "import_module", "find_spec", "startswith", "walk_packages") and any(
                        old(a) for a in node.args):
                    hit = node
            elif isinstance(node, ast.Compare) and any(old(c) for c in [node.left, *node.comparators]):
                hit = node
            elif (isinstance(node, ast.Subscript) and "modules" in ast.unparse(node.value) and old(node.slice)):
                hit = node
            if hit is not None:
                self.warn(rel, f"line {hit.lineno}: {ast.unparse(hit)[:120]} uses an old top-level name: check by hand")

    # ---------------------------------------------------------------- step 3: guards
    def add_guards(self) -> None:
        for rel, (name, folder) in GUARDS.items():
            f = self.root / rel
            if not f.exists():
                self.warn(rel, "missing: no guard added")
                continue
            text = f.read_text(encoding="utf-8")
            if GUARD_BEGIN in text:
                continue
            tree = ast.parse(text)
            # after the module docstring and `from __future__` imports, before anything else runs
            after = 0
            for node in tree.body:
                if (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
                        and isinstance(node.value.value, str) and node is tree.body[0]) or (
                        isinstance(node, ast.ImportFrom) and node.module == "__future__"):
                    after = node.end_lineno
                else:
                    break
            lines = text.splitlines(keepends=True)
            new = "".join(lines[:after]) + guard_text(name, folder) + "".join(lines[after:])
            self.write(f, new)
            self.changed(rel, f"guard: importable only as {name}")

    def add_checkout_check(self) -> None:
        f = self.root / "tests" / "conftest.py"
        text = f.read_text(encoding="utf-8") if f.exists() else ""
        if CHECKOUT_BEGIN in text:
            return
        if not text:
            self.warn("tests/conftest.py", "missing: no checkout check added")
            return
        block = CHECKOUT_CHECK
        self.write(f, text.rstrip("\n") + "\n" + block)
        self.changed("tests/conftest.py", "a session that imports scenelens from another checkout stops with one line")

    # ---------------------------------------------------------------- step 4: anchored edits
    # (file, the line's text as it is today, the lines that replace it, a text present once it is done)
    ANCHORED = [
        ("engine/datasets.py",
         'env["py_modules"] = [str(_engine_root() / "engine")]  # ship the engine code to the cluster\'s workers',
         ["from scenelens.engine.package_layout import package_dir",
          'env["py_modules"] = [str(package_dir())]  # the scenelens package, as installed, to the cluster\'s workers'],
         "package_layout import package_dir"),
    ]

    def anchored(self) -> None:
        for rel, old, new, done in self.ANCHORED:
            f = self.root / rel
            text = f.read_text(encoding="utf-8") if f.exists() else ""
            if done in text:
                continue
            lines = text.splitlines(keepends=True)
            hits = [i for i, ln in enumerate(lines) if ln.strip() == old]
            if len(hits) != 1:
                self.warn(rel, f"anchor found {len(hits)} times (want 1), edit it by hand: {old!r}")
                continue
            i = hits[0]
            indent = re.match(r"[ \t]*", lines[i]).group(0)
            lines[i:i + 1] = [indent + n + "\n" for n in new]
            self.write(f, "".join(lines))
            self.changed(rel, f"{old!r} → {new!r}")

    # ---------------------------------------------------------------- step 5: pyproject.toml
    def packages(self) -> tuple[list[str], dict[str, str]]:
        def pkgs(folder: str, name: str, skip: tuple[str, ...] = ()) -> list[str]:
            base = self.root / folder
            out = []
            for init in sorted(base.rglob("__init__.py")):
                rel = init.parent.relative_to(base)
                if "__pycache__" in rel.parts or any(rel.parts[:1] == (s,) for s in skip):
                    continue
                out.append(".".join((name, *rel.parts)))
            return out

        packages = (pkgs("gui/scenelens", PKG) + pkgs("engine", f"{PKG}.engine")
                    + pkgs("gui", f"{PKG}.gui", skip=("scenelens",)) + [f"{PKG}.assets"])
        package_dir = {PKG: "gui/scenelens", f"{PKG}.engine": "engine", f"{PKG}.gui": "gui",
                       f"{PKG}.assets": "assets"}
        return sorted(packages), package_dir

    def pyproject_block(self) -> str:
        packages, package_dir = self.packages()
        lines = ["[tool.setuptools]",
                 "# Written by scripts/namespace_codemod.py (rerun it after adding a package folder; tests/engine/",
                 "# test_packaging.py checks). Everything installs under the one package `scenelens`: no generic",
                 "# top-level names (engine, gui, main) in site-packages. assets/ is package data of",
                 "# scenelens.assets, so a wheel holds scenelens/assets/ where the code's asset paths look.",
                 "include-package-data = false",
                 "packages = ["]
        row = "  "
        for p in packages:
            item = f'"{p}", '
            if len(row) + len(item) > 118:
                lines.append(row.rstrip())
                row = "  "
            row += item
        lines.append(row.rstrip().rstrip(","))
        lines.append("]")
        lines.append("")
        lines.append("[tool.setuptools.package-dir]")
        lines += [f'"{k}" = "{v}"' for k, v in package_dir.items()]
        lines.append("")
        lines.append("[tool.setuptools.package-data]")
        lines.append(f'"{PKG}.assets" = ["**/*"]')
        lines.append("")
        lines.append("[tool.setuptools.exclude-package-data]")
        lines.append('# the scripts that rebuilt the assets (they need the source data) and caches stay in the checkout')
        lines.append(f'"{PKG}.assets" = ["*.py", "**/*.py", "**/__pycache__/*", "**/*.pyc"]')
        return "\n".join(lines) + "\n"

    def rewrite_pyproject(self) -> None:
        f = self.root / "pyproject.toml"
        text = f.read_text(encoding="utf-8")
        new = re.sub(r'(?m)^(scenelens\s*=\s*)"main:main"', r'\1"scenelens.cli:main"', text)
        # drop every [tool.setuptools] / [tool.setuptools.*] table and put the generated one where the first was
        parts = re.split(r"(?m)^(?=\[)", new)
        out, placed = [], False
        for part in parts:
            header = part.split("\n", 1)[0].strip()
            if re.fullmatch(r"\[tool\.setuptools(\.[\w\-\".]+)?\]", header):
                if not placed:
                    out.append(self.pyproject_block() + "\n")
                    placed = True
                continue
            # comments just above a dropped table belong to it
            out.append(part)
        if not placed:
            out.append("\n" + self.pyproject_block())
        new = "".join(out)
        # comments that described the old list sit at the end of the part before it
        new = re.sub(r"(?m)^# `scenelens` \(the Python API\) is gui/scenelens installed under its own name.*\n(#.*\n)*",
                     "", new)
        new = re.sub(r"\n{3,}", "\n\n", new)
        try:
            import tomllib

            tomllib.loads(new)
        except Exception as e:  # noqa: BLE001
            self.warn("pyproject.toml", f"rewrite is not valid TOML ({e}): not written")
            return
        if new != text:
            self.write(f, new)
            self.changed("pyproject.toml", "[project.scripts] and [tool.setuptools] tables regenerated")

    # ---------------------------------------------------------------- step 6: README
    def rewrite_readme(self) -> None:
        f = self.root / "README.md"
        if not f.exists():
            return
        text = f.read_text(encoding="utf-8")
        new = re.sub(r"`((?:engine|gui)(?:\.[A-Za-z_]\w*)+)([^`]*)`",
                     lambda m: f"`{self.rename(m.group(1))}{m.group(2)}`", text)
        new = re.sub(r"(?m)^(\s*from\s+)((?:engine|gui)(?:\.\w+)*)(\s+import\b)",
                     lambda m: m.group(1) + self.rename(m.group(2)) + m.group(3), new)
        new = re.sub(r"(?m)^(\s*import\s+)((?:engine|gui)\.[\w.]+)(\s+as\s+\w+)",
                     lambda m: m.group(1) + self.rename(m.group(2)) + m.group(3), new)
        if new != text:
            n = sum(a != b for a, b in zip(text.splitlines(), new.splitlines()))
            self.write(f, new)
            self.changed("README.md", f"{n} line(s): module paths")

    def run(self) -> int:
        self.move_main()
        self.rewrite_python()
        self.add_guards()
        self.add_checkout_check()
        self.anchored()
        self.rewrite_pyproject()
        self.rewrite_readme()
        for c in self.changes:
            print(c)
        for w in self.warnings:
            print(w)
        verb = "would change" if self.check else "changed"
        print(f"namespace codemod: {verb} {len(self.changes)} file(s), {len(self.warnings)} warning(s)"
              + ("" if self.changes else " (nothing to do: already applied)"))
        if self.check:
            return 1 if (self.changes or self.warnings) else 0
        return 1 if self.warnings else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("root", nargs="?", default=str(Path(__file__).resolve().parents[1]))
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if anything would change")
    p.add_argument("-q", "--quiet", action="store_true", help="one line per file, without the changed lines")
    args = p.parse_args(argv)
    return Codemod(Path(args.root).resolve(), check=args.check, verbose=not args.quiet).run()


if __name__ == "__main__":
    sys.exit(main())
