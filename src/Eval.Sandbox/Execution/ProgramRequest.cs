namespace Spark.Eval.Sandbox.Execution;

/// <summary>How a program's success is decided.</summary>
public enum ProgramMode
{
    /// <summary>A whole program: exit 0 passes (C#: Main returns without a failed Debug.Assert).</summary>
    Program,
    /// <summary>A test file run against an implementation: Jest (TypeScript), unittest/asserts (Python), a Tests class (C#).</summary>
    Tests,
}

/// <summary>One program to execute: its language, its files and whether its text is trusted (a suite reference or mutant).</summary>
public sealed record ProgramRequest
{
    /// <summary>csharp, python, typescript or javascript.</summary>
    public required string Language { get; init; }
    /// <summary>The program (Program mode) or the tests (Tests mode).</summary>
    public required string Source { get; init; }
    public ProgramMode Mode { get; init; } = ProgramMode.Program;
    /// <summary>Tests mode: the implementation under test.</summary>
    public string? Implementation { get; init; }
    /// <summary>Tests mode, TypeScript: the file the tests import the implementation from (for example discount.ts).</summary>
    public string? ImplementationPath { get; init; }
    /// <summary>True only when the text hashes to a reference or mutant of the suite; trusted programs may run without namespaces.</summary>
    public bool Trusted { get; init; }
    public SandboxLimits Limits { get; init; } = SandboxLimits.Default;
}
