namespace Spark.Eval.Backends.Local.Gguf;

/// <summary>The generated models and run lengths of <c>spark-eval calibrate</c> and <c>simulate validate-local</c> (moved from the CLI unchanged).</summary>
public static class CalibrationModels
{
    /// <summary>The third validation size (besides tiny and small): f16, 512 wide, 6 layers, vocabulary 16,000 (≈35.7M parameters); generated as models/mid.gguf.</summary>
    public static readonly TestModelShape MidShape = new(16000, 512, 6, 8, 8, 1408, 4096);

    /// <summary>
    /// Calibration models for <c>spark-eval calibrate</c>: shapes that differ in layers (1 vs 4 at one width), width
    /// (256 vs 1024; the wide one, 77M parameters, is larger than the last-level cache so decode streams from DRAM) and
    /// head dimension (64, except cal-w384-h8-l2's 48, which no SIMD block of llama.cpp's F16 kernels divides, so its
    /// attention shows the scalar remainder cost), each in f16 and q8_0, vocabulary 4,096; none of them is a validation model.
    /// </summary>
    public static readonly IReadOnlyList<(string Name, TestModelShape Shape)> CalibrationShapes =
    [
        ("cal-w256-l1", new TestModelShape(4096, 256, 1, 4, 4, 704, 4096)),
        ("cal-w256-l4", new TestModelShape(4096, 256, 4, 4, 4, 704, 4096)),
        ("cal-w1024-l6", new TestModelShape(4096, 1024, 6, 16, 16, 2816, 4096)),
        ("cal-w384-h8-l2", new TestModelShape(4096, 384, 2, 8, 8, 1024, 4096)),
    ];

    /// <summary>
    /// Prompt lengths of the calibration runs (not the validation lengths 64 and 256); at 320 the padded KV cache
    /// reaches llama.cpp's 512-cell split-KV threshold, as the validation's 256-token prompt does.
    /// </summary>
    public static readonly IReadOnlyList<int> CalibrationPromptTokens = [40, 192, 320];

    /// <summary>Tokens generated per calibration run.</summary>
    public const int CalibrationDecodeTokens = 24;
}
