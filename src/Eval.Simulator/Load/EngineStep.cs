using Spark.Eval.Simulator.Latency;

namespace Spark.Eval.Simulator.Load;

/// <summary>
/// How one step of an iteration-level (continuous) batching engine is formed and how long it lasts: which running sequences
/// get (chunks of) prefill and whether the decoding ones advance. Shared by the load simulator (<see cref="LoadSimulator"/>) and
/// the live engine behind the <c>hwsim</c> backend, so that a sweep against <c>serve-sim</c> meets the model that predicts it.
/// </summary>
internal static class EngineStep
{
    /// <summary>
    /// Fills <paramref name="chunk"/>[k] with the prompt tokens the k-th running sequence prefills in the step (0: none) and
    /// returns the step's seconds. <paramref name="running"/> holds sequence ids that index <paramref name="prefillLeft"/> and
    /// <paramref name="input"/>; <paramref name="decodeContext"/> is the sum of the decoding sequences' contexts.
    /// With chunked prefill a step mixes every decoding sequence's token with prompt chunks up to the device's step-token
    /// budget; without it a step that has whole prompts to prefill (up to the budget, at least one) prefills only, and
    /// decoding waits (<paramref name="decodeThisStep"/> false).
    /// </summary>
    public static double Form(LatencyModel model, List<int> running, int[] prefillLeft, int[] input, int[] chunk, bool chunkedPrefill, bool asyncScheduling,
        double decodeContext, out bool decodeThisStep)
    {
        double prefillTokens = 0, pairs = 0;
        var decodeBatch = 0;
        var prefillSequences = 0;
        var anyPrefill = false;
        foreach (var r in running)
        {
            if (prefillLeft[r] > 0)
            {
                anyPrefill = true;
            }
            else
            {
                decodeBatch++;
            }
        }

        var stepBudget = model.Hardware.MaxStepTokens;
        decodeThisStep = chunkedPrefill || !anyPrefill;
        var budget = chunkedPrefill ? Math.Max(0, stepBudget - decodeBatch) : int.MaxValue;
        for (var k = 0; k < running.Count; k++)
        {
            var r = running[k];
            chunk[k] = 0;
            if (prefillLeft[r] <= 0 || decodeThisStep && !chunkedPrefill)
            {
                continue;
            }

            // Without chunking, whole prompts up to the step budget (at least one) go in one prefill step.
            var take = chunkedPrefill ? Math.Min(prefillLeft[r], budget) : prefillLeft[r];
            if (!chunkedPrefill && prefillTokens > 0 && prefillTokens + take > stepBudget)
            {
                continue;
            }

            if (take <= 0)
            {
                continue;
            }

            double done0 = input[r] - prefillLeft[r];
            chunk[k] = take;
            prefillSequences++;
            prefillTokens += take;
            pairs += (take * done0) + (take * (double)take / 2.0);
            budget -= take;
        }

        var stepBatch = decodeThisStep ? decodeBatch : 0;
        var dt = model.StepSeconds(prefillTokens, pairs, stepBatch, decodeThisStep ? decodeContext : 0, prefillSequences);
        return asyncScheduling ? model.AsyncStepSeconds(dt, stepBatch + prefillSequences) : dt;
    }
}
