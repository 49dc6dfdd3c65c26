using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using Spark.Eval.Cli.Commands;
using Spark.Eval.Core;

namespace Spark.Eval.Cli;

/// <summary>The spark-eval command tree and its exit-code contract: 0 ok, 1 threshold failed, 2 bad input, 130 interrupted.</summary>
public static class SparkEvalCli
{
    public const int ExitOk = 0;
    public const int ExitThresholdFailed = 1;
    public const int ExitBadInput = 2;
    public const int ExitInterrupted = 130;

    private static IEnumerable<Command> AreaCommands(TextWriter stdout, TextWriter stderr)
    {
        return [
            SimulateCommand.Create(stdout, stderr),
            CalibrateCommand.Create(stdout, stderr),
            ModelsCommand.Create(stdout, stderr),
            BenchLocalCommand.Create(stdout, stderr),
            ServeSimCommand.Create(stdout, stderr),
            ServeLocalCommand.Create(stdout, stderr),
            Diagnostics.SelfTestCommand.Create(stdout, stderr, typeof(SparkEvalCli).Assembly.Location),
            Diagnostics.SseBenchCommand.Create(stdout),
            SandboxCommand.Create(stdout, stderr),
            DatasetsCommand.Create(stdout, stderr),
            Commands.ImportCommand.Create(stdout, stderr),
            Commands.PilotCommand.Create(stdout, stderr),
            Commands.ProcureCommand.Create(stdout, stderr),
            Commands.MergeCommand.Create(stdout, stderr),
        ];
    }

    public static async Task<int> RunAsync(string[] args, TextWriter? stdout = null, TextWriter? stderr = null, CancellationToken cancellationToken = default)
    {
        stdout ??= Console.Out;
        stderr ??= Console.Error;
        var root = new RootCommand("spark-eval: replay bounded coding tasks against backends and measure latency, throughput and pass rates.")
        {
            RunCommand.Create(stdout, stderr),
            SummarizeCommand.Create(stdout, stderr),
            GradeCommand.Create(stdout, stderr),
            CompareCommand.Create(stdout, stderr),
            HistoryCommand.Create(stdout, stderr),
        };

        // Each area adds its commands here, one line each (simulate, serve-sim, models, sandbox, datasets, …).
        foreach (var command in AreaCommands(stdout, stderr))
        {
            root.Subcommands.Add(command);
        }

        // Every command's --help ends with the exit-code contract (the help option is recursive, so this covers the tree).
        foreach (var option in root.Options)
        {
            if (option is HelpOption { Action: HelpAction help } helpOption)
            {
                helpOption.Action = new HelpWithExitCodes(help);
            }
        }

        var parse = root.Parse(args);
        // --help wins over a missing argument ('summarize --help' shows help, not "required argument missing").
        if (parse.Errors.Count > 0 && parse.Action is not HelpWithExitCodes)
        {
            foreach (var error in parse.Errors)
            {
                await stderr.WriteLineAsync($"error: {error.Message}");
            }

            foreach (var hint in DidYouMean.Hints(parse))
            {
                await stderr.WriteLineAsync(hint);
            }

            await stderr.WriteLineAsync("Fix: see 'spark-eval --help' or 'spark-eval <command> --help'.");
            return ExitBadInput;
        }

        try
        {
            return await parse.InvokeAsync(new InvocationConfiguration
            {
                Output = stdout,
                Error = stderr,
                // We handle SIGINT/SIGTERM ourselves so that in-flight attempts are recorded as cancelled.
                ProcessTerminationTimeout = null,
                EnableDefaultExceptionHandler = false,
            }, cancellationToken);
        }
        catch (InputException ex)
        {
            await stderr.WriteLineAsync($"error: {ex.Message}");
            return ExitBadInput;
        }
        catch (Exception ex) when (EnvironmentErrors.IsEnvironmentError(ex))
        {
            // One policy for environment errors (disk full, read-only or invalid paths, symlink loops, corrupt SQLite):
            // a one-line message with the fix and exit 2, never a stack trace.
            await stderr.WriteLineAsync(EnvironmentErrors.Describe(ex));
            return ExitBadInput;
        }
    }

    /// <summary>The exit-code line printed at the end of every command's --help.</summary>
    public const string ExitCodesHelp = "Exit codes: 0 ok · 1 a --fail-if threshold breached, a gate regressed, or every attempt failed · 2 bad input or an environment error such as a full disk or read-only --out (the message names the fix) · 130 interrupted.";

    private sealed class HelpWithExitCodes(HelpAction inner) : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            var exit = inner.Invoke(parseResult);
            parseResult.InvocationConfiguration.Output.WriteLine(ExitCodesHelp);
            return exit;
        }
    }
}
