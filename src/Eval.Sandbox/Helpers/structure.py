"""Reads Python source on stdin and prints structural facts as JSON (parsed with ast, never executed)."""
import ast
import json
import sys


def main() -> None:
    source = sys.stdin.read()
    facts = {"syntaxError": None, "loops": 0, "comprehensions": 0, "calls": [], "ifs": 0, "lambdas": 0}
    try:
        tree = ast.parse(source)
    except SyntaxError as error:
        facts["syntaxError"] = f"{error.msg} (line {error.lineno})"
        print(json.dumps(facts))
        return
    for node in ast.walk(tree):
        if isinstance(node, (ast.For, ast.AsyncFor, ast.While)):
            facts["loops"] += 1
        elif isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            facts["comprehensions"] += 1
        elif isinstance(node, ast.If):
            facts["ifs"] += 1
        elif isinstance(node, ast.Lambda):
            facts["lambdas"] += 1
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                facts["calls"].append(func.id)
            elif isinstance(func, ast.Attribute):
                facts["calls"].append(func.attr)
    print(json.dumps(facts))


main()
