using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Running;

// A busy shared machine can take minutes to build BenchmarkDotNet's generated project; its default 2-minute limit then
// reports NA instead of a figure.
var config = ManualConfig.Create(DefaultConfig.Instance).WithBuildTimeout(TimeSpan.FromMinutes(10));
BenchmarkSwitcher.FromAssembly(typeof(Spark.Eval.Benchmarks.TimingMiddlewareBenchmarks).Assembly).Run(args, config);
