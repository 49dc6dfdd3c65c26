using System.CommandLine;

namespace Spark.Eval.Cli.Commands;

/// <summary><c>spark-eval serve-local</c>: serve-sim's OpenAI-compatible server hosting the local llama.cpp runtime.</summary>
public static class ServeLocalCommand
{
    private static readonly Option<string> LocalBackend = new("--backend", "-b") { Description = "Local backend spec to host; the one shown is the generated tiny random-weight model (written on first use).", DefaultValueFactory = _ => "local?name=local-tiny-random&model=models/tiny.gguf&threads=1&ctx=2048" };

    public static Command Create(TextWriter stdout, TextWriter stderr) =>
        ServeSimCommand.CreateServe("serve-local", "Serve the local llama.cpp runtime over the same OpenAI-compatible API (serve-sim with a local backend; docs/local-runtime.md).", LocalBackend, stdout, stderr);
}
