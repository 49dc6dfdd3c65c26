using Spark.Eval.Sandbox.Grading;

namespace Spark.Eval.Sandbox.Tests;

/// <summary>The structure-rule vocabulary of docs/grading.md, each rule held and broken on a syntax tree (never text).</summary>
public class StructureRuleTests
{
    [Theory]
    // no-nested-if: else-if / elif chains continue, an if inside an if nests; a comment saying "if" is no if.
    [InlineData("no-nested-if", "csharp", "int F(int x) { if (x < 0) return -1; else if (x == 0) return 0; else if (x < 9) return 1; return 2; } // if (if)", true)]
    [InlineData("no-nested-if", "csharp", "int F(int x) { if (x > 0) { if (x > 9) return 2; } return 0; }", false)]
    [InlineData("no-nested-if", "csharp", "int F(int x) { if (x > 0) return 1; else { if (x < -9) return 2; } return 0; }", false)]
    [InlineData("no-nested-if", "python", "def f(x):\n    if x < 0:\n        return -1\n    elif x == 0:\n        return 0\n    return 1\n", true)]
    [InlineData("no-nested-if", "python", "def f(x):\n    if x > 0:\n        if x > 9:\n            return 2\n    return 0\n", false)]
    [InlineData("no-nested-if", "python", "def f(x):\n    if x > 0:\n        return 1\n    else:\n        y = 2\n        if x < -9:\n            return y\n    return 0\n", false)]
    [InlineData("no-nested-if", "typescript", "export function f(x: number) { if (x < 0) return -1; else if (x === 0) return 0; return 1; }\n", true)]
    [InlineData("no-nested-if", "typescript", "export function f(x: number) { if (x > 0) { if (x > 9) return 2; } return 0; }\n", false)]
    // uses-switch-expression (C#); a switch statement is not one.
    [InlineData("uses-switch-expression", "csharp", "string F(int x) => x switch { 0 => \"zero\", _ => \"many\" };", true)]
    [InlineData("uses-switch-expression", "csharp", "string F(int x) { switch (x) { case 0: return \"zero\"; default: return \"many\"; } } // x switch { }", false)]
    // uses-fstring / no-string-format (Python).
    [InlineData("uses-fstring;no-string-format", "python", "def f(n):\n    return f'{n} items'  # '%s' % n\n", true)]
    [InlineData("uses-fstring", "python", "def f(n):\n    return '{} items'.format(n)  # f'{n}'\n", false)]
    [InlineData("no-string-format", "python", "def f(n):\n    return f'{n}' + '%d items' % n\n", false)]
    [InlineData("no-string-format", "python", "def f(n):\n    return '{} items'.format(n)\n", false)]
    [InlineData("no-string-format", "python", "def f(a, b):\n    return a % b\n", true)]
    // uses-dataclass / no-dunder-methods (Python).
    [InlineData("uses-dataclass;no-dunder-methods", "python", "from dataclasses import dataclass\n@dataclass(frozen=True)\nclass P:\n    x: int\n", true)]
    [InlineData("uses-dataclass", "python", "import dataclasses\n@dataclasses.dataclass\nclass P:\n    x: int\n", true)]
    [InlineData("uses-dataclass", "python", "# @dataclass\nclass P:\n    x: int\n", false)]
    [InlineData("no-dunder-methods", "python", "class P:\n    def __init__(self, x):\n        self.x = x\n", false)]
    // uses-async-await: both an async function and an await.
    [InlineData("uses-async-await", "typescript", "export const f = async (g: () => Promise<number>) => (await g()) + 1;\n", true)]
    [InlineData("uses-async-await", "typescript", "export class C { async m(g: () => Promise<number>) { return await g(); } }\n", true)]
    [InlineData("uses-async-await", "typescript", "export async function f(g: () => Promise<number>) { return g(); } // await\n", false)]
    [InlineData("uses-async-await", "typescript", "export function f(g: () => Promise<number>) { return g().then(x => x + 1); }\n", false)]
    [InlineData("uses-async-await", "csharp", "static async Task<int> F(Func<Task<int>> g) => await g() + 1;", true)]
    [InlineData("uses-async-await", "python", "async def f(g):\n    return await g()\n", true)]
    // uses-optional-chaining / uses-nullish-coalescing (TypeScript).
    [InlineData("uses-optional-chaining;uses-nullish-coalescing", "typescript", "export const f = (u?: { a?: { b?: string } }) => u?.a?.b ?? 'none';\n", true)]
    [InlineData("uses-optional-chaining", "typescript", "export const f = (xs?: number[]) => xs?.[0];\n", true)]
    [InlineData("uses-optional-chaining", "typescript", "export const f = (u: { a: string } | undefined) => (u && u.a) || 'none'; // u?.a\n", false)]
    [InlineData("uses-nullish-coalescing", "typescript", "export const f = (u?: { a?: string }) => u?.a || 'none'; // ??\n", false)]
    public async Task Structure_Rule_HoldsOnlyWhenTheSyntaxTreeHasIt(string rule, string language, string code, bool holds)
    {
        if (language == "typescript")
        {
            await SandboxFixture.RequireNodeToolsAsync();
        }

        var broken = await StructureChecker.CheckAsync(rule, language, code, TestContext.Current.CancellationToken);
        if (holds)
        {
            Assert.Null(broken);
        }
        else
        {
            Assert.NotNull(broken);
            Assert.StartsWith("structure rule ", broken, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("uses-fstring", "csharp")]
    [InlineData("uses-switch-expression", "python")]
    [InlineData("uses-optional-chaining", "python")]
    public async Task Structure_RuleOfAnotherLanguage_IsBrokenAndSaysWhichLanguages(string rule, string language)
    {
        var broken = await StructureChecker.CheckAsync(rule, language, language == "csharp" ? "int F() => 1;" : "def f():\n    return 1\n", TestContext.Current.CancellationToken);
        Assert.Contains("applies to", broken, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Structure_UnknownRule_IsBrokenAndListsTheVocabulary()
    {
        var broken = await StructureChecker.CheckAsync("uses-magic", "csharp", "int F() => 1;", TestContext.Current.CancellationToken);
        Assert.Contains("unknown rule 'uses-magic'", broken, StringComparison.Ordinal);
        Assert.Contains("no-nested-if", broken, StringComparison.Ordinal);
    }
}
