using System.Text.Json.Serialization;

namespace Spark.Eval.Pilot;

/// <summary>The mean of one metric over the developers of one cohort in one period.</summary>
public sealed record CellMean(Cohort Cohort, Period Period, int Developers, double? Mean);

/// <summary>One metric's four cells and its difference-in-differences effect (null when a cell has under 2 developers).</summary>
public sealed record MetricEffect(
    string Metric,
    string Title,
    string Unit,
    string Definition,
    IReadOnlyList<CellMean> Cells,
    EffectEstimate? Effect,
    double? MdeAtDoubleTeam,
    string? Note);

/// <summary>One developer's figures in one period (pseudonymised); the unit every effect is computed over.</summary>
public sealed record DeveloperPeriodRow(
    string Developer,
    Cohort Cohort,
    Period Period,
    int ActiveDays,
    int Weekdays,
    long Uses,
    long Prompts,
    double WaitSeconds,
    long SuggestionsShown,
    long SuggestionsAccepted,
    long Commits,
    int TasksStarted,
    int TasksCommitted,
    double? TtfcMinutes,
    double? UsesPerDeveloperDay,
    double? PromptsPerTask,
    double? AcceptanceRate,
    double? WaitSecondsPerDeveloperDay,
    double? ActiveDayShare,
    double? CommitsPerActiveDay);

/// <summary>Time from a new developer's first activity to first commit, per cohort (a developer is new once: no DiD).</summary>
public sealed record NewDeveloperSummary(
    int GraceDays,
    int PilotDevelopers,
    double? PilotMeanHours,
    double? PilotMedianHours,
    int ControlDevelopers,
    double? ControlMeanHours,
    double? ControlMedianHours,
    EffectEstimate? Difference);

/// <summary>Interactive uses on one day by one cohort.</summary>
public sealed record DailyUse(DateOnly Day, Cohort Cohort, int ActiveDevelopers, long Uses, double UsesPerActiveDeveloper);

/// <summary>Share of a cohort's developers who had used the assistant by the end of a day.</summary>
public sealed record AdoptionPoint(DateOnly Day, Cohort Cohort, int Adopted, int Developers, double Share);

/// <summary>The pilot report: every figure the HTML, Markdown and CSV outputs show (docs/pilot.md).</summary>
public sealed record PilotReport
{
    public const int CurrentFormatVersion = 1;

    public int FormatVersion { get; init; } = CurrentFormatVersion;

    public string Kind { get; init; } = "spark-eval.pilot-report";

    public required DateOnly DataStart { get; init; }

    public required DateOnly DataEnd { get; init; }

    public required DateOnly PilotStart { get; init; }

    public required string PilotStartSource { get; init; }

    public required IReadOnlyList<PilotInputSummary> Inputs { get; init; }

    public required long Events { get; init; }

    public required int PilotDevelopers { get; init; }

    public required int ControlDevelopers { get; init; }

    public required int UnassignedDevelopers { get; init; }

    public required int Bootstrap { get; init; }

    public required int Seed { get; init; }

    public required string Pseudonymisation { get; init; }

    public required IReadOnlyList<MetricEffect> Effects { get; init; }

    public required NewDeveloperSummary NewDevelopers { get; init; }

    public required IReadOnlyList<DailyUse> Daily { get; init; }

    public required IReadOnlyList<AdoptionPoint> Adoption { get; init; }

    public required IReadOnlyList<TeamDay> TeamDays { get; init; }

    public required IReadOnlyList<DeveloperPeriodRow> Developers { get; init; }

    public required IReadOnlyList<TaskTtfc> Tasks { get; init; }
}

/// <summary>One committed task's time to first commit, for the by-cohort-and-period plot and tasks.csv.</summary>
public sealed record TaskTtfc(string Developer, Cohort Cohort, Period Period, double Minutes, int Prompts);

/// <summary>Quantile of a think-time distribution.</summary>
public sealed record ThinkTimeQuantile(double P, double Seconds);

/// <summary>Fitted log-normal parameters (natural log of seconds).</summary>
public sealed record LogNormalFit(double Mu, double Sigma);

/// <summary>Think times for one task kind.</summary>
public sealed record ThinkTimeDistribution(string Kind, int Samples, double MeanSeconds, IReadOnlyList<ThinkTimeQuantile> Quantiles, LogNormalFit? LogNormal);

/// <summary>The think-time export that session replay reads (docs/formats.md, "Think-time distributions").</summary>
public sealed record ThinkTimeExport
{
    public const int CurrentFormatVersion = 1;

    public int FormatVersion { get; init; } = CurrentFormatVersion;

    public string Kind { get; init; } = "spark-eval.think-times";

    public required string Definition { get; init; }

    public required double IdleCutoffSeconds { get; init; }

    public required IReadOnlyList<ThinkTimeDistribution> Kinds { get; init; }
}

[JsonSourceGenerationOptions(
    WriteIndented = true,
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UseStringEnumConverter = true,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(PilotReport))]
[JsonSerializable(typeof(ThinkTimeExport))]
[JsonSerializable(typeof(PlainEventRow))]
[JsonSerializable(typeof(int[]))]
public sealed partial class PilotJsonContext : JsonSerializerContext;

[JsonSourceGenerationOptions(DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(PlainEventRow))]
internal sealed partial class PilotCompactJsonContext : JsonSerializerContext;
