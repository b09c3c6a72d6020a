"""Ground truth for the differential test of the Python import reader (python-differential.test.ts).

Reads a JSON list of programs on stdin and prints, for each, whether Python compiles it
(as a file's bytes, so coding cookies count) and the top-level modules it imports per
`ast`: Import / ImportFrom (absolute) and calls of __import__ / import_module (or a name
bound to either) whose module name is a constant string, or a concatenation of them.
"""

import ast
import json
import sys
import warnings

LOADERS = {"__import__", "import_module"}


def constant(node):
    """The value of a constant string expression, or None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = constant(node.left), constant(node.right)
        return None if left is None or right is None else left + right
    if isinstance(node, ast.JoinedStr):
        parts = [constant(v) for v in node.values]
        return None if None in parts else "".join(parts)
    if isinstance(node, ast.FormattedValue) and node.conversion == -1 and node.format_spec is None:
        return constant(node.value)  # f"{'os'}" is 'os'
    return None


def callee_name(func):
    if isinstance(func, ast.NamedExpr):
        return callee_name(func.value)
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def loader_names(tree):
    """__import__, import_module and the names bound to them, scope ignored."""
    names = set(LOADERS)
    while True:
        before = len(names)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if alias.name in names:
                        names.add(alias.asname or alias.name)
            elif isinstance(node, (ast.Assign, ast.NamedExpr)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if callee_name(node.value) in names:
                    names.update(t.id for t in targets if isinstance(t, ast.Name))
        if len(names) == before:
            return names


def argument(call, position, keyword):
    if len(call.args) > position and not any(isinstance(a, ast.Starred) for a in call.args[: position + 1]):
        return call.args[position]
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    return None


def imports(tree):
    found = set()
    loaders = loader_names(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and callee_name(node.func) in loaders:
            name = argument(node, 0, "name")
            value = None if name is None else constant(name)
            if value is None or value == "":
                continue
            if value.startswith("."):
                package = argument(node, 1, "package")
                value = None if package is None else constant(package)
                if not value:
                    continue
            found.add(value.split(".")[0])
    return sorted(found)


def main():
    warnings.simplefilter("ignore")
    results = []
    for program in json.load(sys.stdin):
        source = program.encode("utf-8", "surrogatepass")
        try:
            compile(source, "<program>", "exec", dont_inherit=True)
            tree = ast.parse(source)
        except (SyntaxError, ValueError, UnicodeError, MemoryError, RecursionError):
            results.append(None)
            continue
        results.append(imports(tree))
    json.dump(results, sys.stdout)


main()
