using Spark.Eval.Cli;

return await SparkEvalCli.RunAsync(args);
