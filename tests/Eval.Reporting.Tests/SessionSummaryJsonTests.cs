using System.Text.Json;
using Spark.Eval.Core.Metrics;
using Spark.Eval.Core.Results;
using Spark.Eval.Core.Running;
using Spark.Eval.Core.Sessions;

namespace Spark.Eval.Reporting.Tests;

/// <summary>summary.json's <c>sessions</c> section (docs/formats.md): written from hand-built session records, read back through the generated JSON.</summary>
public sealed class SessionSummaryJsonTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("spark-sessions-json-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private RunDirectory Write(IReadOnlyList<AttemptRecord> records, SessionPlanSpec? sessions, BackendPrice? price)
    {
        using (var log = new AttemptLog(Path.Combine(_dir, AttemptLog.FileName)))
        {
            foreach (var r in records)
            {
                log.Append(r);
            }
        }

        var directory = new RunDirectory(_dir);
        var manifest = new RunManifest
        {
            RunId = "run-s",
            HarnessVersion = "test",
            Plan = new RunPlanSpec { SuitePath = "suite", BackendSpecs = ["hwsim?name=fast&hw=h&model=m"], Sessions = sessions },
            Suite = new SuiteInfo("mini", "embedded", "abcdef0123456789", 1),
            Backends = [new BackendInfo("fast", "hwsim?name=fast&hw=h&model=m", "hwsim", "d", Simulated: true, Price: price)],
            Environment = new EnvironmentInfo("linux", "cpu", 2, "10.0", null, "host"),
            StartedUtc = DateTimeOffset.UnixEpoch,
        };
        directory.WriteManifest(manifest);
        directory.WriteSummaries(manifest);
        return directory;
    }

    [Fact]
    public void WriteSummaries_SessionRun_SessionsSectionWithFlowPassAtTurnTimeToGreenLagAndCost()
    {
        // Two turns of one task: a wrong answer at 0–0.4 s, then a pass at 21.4–21.8 s; each left 0.25 ms after its think time.
        var records = SessionFlowMetricsFixtures.TwoTurns().Select((r, i) => r with { StartUs = i * 21_400_000L, ScheduledUs = (i * 21_400_000L) - 250 }).ToList();

        var directory = Write(records, new SessionPlanSpec { Count = 1, RepairTurns = 2, Clock = SessionClock.Real }, new BackendPrice { UsdPerDeviceHour = 9, Devices = 2, Source = "test" });

        var bytes = File.ReadAllBytes(Path.Combine(directory.Path, RunDirectory.SummaryJsonFileName));
        var summary = JsonSerializer.Deserialize(bytes, CoreJsonContext.Default.RunSummary)!;
        var arm = Assert.Single(summary.Sessions!.Arms);
        Assert.Equal(2, summary.Sessions.RepairTurns);
        Assert.Equal("fast", arm.Arm);
        Assert.Equal(2, arm.Interactions);
        Assert.Equal([0.0, 1.0, 1.0], arm.PassAtTurn.Select(p => p.Value));
        // Time-to-green: (0.4 s model + 1 s grading) × 2 turns; think time apart.
        Assert.Equal(2.8, arm.TimeToGreenSeconds!.P50, 9);
        Assert.Equal(0.25, arm.ScheduleLagMs!.P99, 9);
        Assert.Equal(2, arm.ScheduleLagMs.Count);
        Assert.Equal(0, arm.DroppedInteractions);
        // 0.8 s busy × 2 devices × $9 per device-hour = $0.004, for one green task.
        Assert.Equal(0.004, arm.Cost!.Usd!.Value, 12);
        Assert.Equal(0.004, arm.Cost.UsdPerGreenTask!.Value, 12);

        using var json = JsonDocument.Parse(bytes);
        var written = json.RootElement.GetProperty("sessions").GetProperty("arms")[0];
        Assert.Equal("busy device-hours", written.GetProperty("cost").GetProperty("basis").GetString());
        Assert.False(written.TryGetProperty("timeToGreenSamples", out _));
        Assert.Equal(3, written.GetProperty("passAtTurn").GetArrayLength());
        Assert.Equal(0.25, written.GetProperty("scheduleLagMs").GetProperty("p50").GetDouble(), 9);
    }

    [Fact]
    public void WriteSummaries_PlainRun_NoSessionsSection()
    {
        var records = SessionFlowMetricsFixtures.TwoTurns().Select(r => r with { Session = null, Slot = r.Slot with { Repeat = (int)r.Sequence } }).ToList();

        var directory = Write(records, sessions: null, price: null);

        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(directory.Path, RunDirectory.SummaryJsonFileName)));
        Assert.False(json.RootElement.TryGetProperty("sessions", out _));
    }
}
