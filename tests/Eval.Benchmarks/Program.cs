using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Spark.Eval.Benchmarks.TimingMiddlewareBenchmarks).Assembly).Run(args);
