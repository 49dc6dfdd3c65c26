"""Reads Python source on stdin and prints structural facts as JSON (parsed with ast, never executed)."""
import ast
import json
import sys

DUNDERS = ("__init__", "__eq__", "__repr__", "__lt__")


def is_dataclass_decorator(d: ast.expr) -> bool:
    if isinstance(d, ast.Call):
        d = d.func
    return (isinstance(d, ast.Name) and d.id == "dataclass") or (isinstance(d, ast.Attribute) and d.attr == "dataclass")


def main() -> None:
    source = sys.stdin.read()
    facts = {"syntaxError": None, "loops": 0, "comprehensions": 0, "calls": [], "ifs": 0, "lambdas": 0, "nestedIfs": 0,
             "switchExpressions": 0, "fstrings": 0, "stringFormats": 0, "dataclasses": 0, "dunderMethods": 0,
             "asyncFunctions": 0, "awaits": 0, "optionalChains": 0, "nullishCoalescing": 0}
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        facts["syntaxError"] = f"{error.msg} (line {error.lineno})"
        print(json.dumps(facts))
        return
    parents = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node

    def chain_head(n: ast.AST) -> ast.AST:
        # An `elif` is an If that is the only statement of its parent If's else branch: it continues the chain.
        while isinstance(parents.get(n), ast.If) and parents[n].orelse == [n]:
            n = parents[n]
        return n

    def has_if_ancestor(n: ast.AST) -> bool:
        p = parents.get(n)
        while p is not None:
            if isinstance(p, ast.If):
                return True
            p = parents.get(p)
        return False

    for node in ast.walk(tree):
        if isinstance(node, (ast.For, ast.AsyncFor, ast.While)):
            facts["loops"] += 1
        elif isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            facts["comprehensions"] += 1
        elif isinstance(node, ast.If):
            facts["ifs"] += 1
            if has_if_ancestor(chain_head(node)):
                facts["nestedIfs"] += 1
        elif isinstance(node, ast.Lambda):
            facts["lambdas"] += 1
        elif isinstance(node, ast.JoinedStr):
            facts["fstrings"] += 1
        elif isinstance(node, ast.BinOp):
            if isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant) and isinstance(node.left.value, str):
                facts["stringFormats"] += 1
        elif isinstance(node, ast.ClassDef):
            if any(is_dataclass_decorator(d) for d in node.decorator_list):
                facts["dataclasses"] += 1
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.name in DUNDERS:
                facts["dunderMethods"] += 1
            if isinstance(node, ast.AsyncFunctionDef):
                facts["asyncFunctions"] += 1
        elif isinstance(node, ast.Await):
            facts["awaits"] += 1
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                facts["calls"].append(func.id)
            elif isinstance(func, ast.Attribute):
                facts["calls"].append(func.attr)
                if func.attr == "format":
                    facts["stringFormats"] += 1
    print(json.dumps(facts))


main()
