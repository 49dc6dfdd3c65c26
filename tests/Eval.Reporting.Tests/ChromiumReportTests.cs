using System.Diagnostics;
using System.Text.Json;

namespace Spark.Eval.Reporting.Tests;

/// <summary>
/// Opens report.html (written from the committed real run) in headless Chromium: no console or load errors, every chart
/// (inline SVG or img) rendered at a visible size, the verdict at the top; saves a screenshot beside the test binaries
/// (chromium/report.png). Skipped with a message when Debian's <c>chromium</c> is not installed (.ci/apt-packages.txt).
/// </summary>
public sealed class ChromiumReportTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(90);
    private readonly string _dir = Directory.CreateTempSubdirectory("spark-chromium-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string? FindChromium() =>
        new[] { "chromium", "chromium-browser", "google-chrome" }
            .SelectMany(name => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(dir => Path.Combine(dir, name)))
            .FirstOrDefault(File.Exists);

    // Recorded into the DOM on load: resource errors (capture phase), uncaught errors, console.error calls, each image's and
    // each inline SVG's rendered state, and where the verdict sits.
    private const string Probe = """
        <script>
        window.__errors = [];
        window.addEventListener('error', e => window.__errors.push(e.message || ('failed to load ' + (e.target && (e.target.src || e.target.href)))), true);
        window.addEventListener('unhandledrejection', e => window.__errors.push('unhandled rejection: ' + e.reason));
        const __consoleError = console.error.bind(console);
        console.error = (...args) => { window.__errors.push('console.error: ' + args.join(' ')); __consoleError(...args); };
        window.addEventListener('load', () => {
          const images = [...document.images].map(i => ({ what: 'img ' + i.src.slice(-60), ok: i.complete && i.naturalWidth > 0 }));
          const svgs = [...document.querySelectorAll('figure svg')].map((s, n) => {
            const r = s.getBoundingClientRect();
            return { what: 'svg #' + n, ok: r.width > 100 && r.height > 100 && s.querySelectorAll('*').length > 10 };
          });
          const verdict = document.getElementById('verdict');
          const out = document.createElement('pre');
          out.id = 'spark-probe';
          out.textContent = JSON.stringify({ errors: window.__errors, images: images.concat(svgs),
            verdictTop: verdict ? verdict.getBoundingClientRect().top : -1, title: document.title });
          document.body.appendChild(out);
        });
        </script>
        """;

    [Fact]
    public async Task Report_InHeadlessChromium_NoErrorsEveryImageLoadedVerdictOnTop()
    {
        var chromium = RequireChromium();

        var run = Path.Combine(_dir, "run");
        var directory = ExampleRun.CopyTo(run);
        directory.WriteSummaries(directory.ReadManifest());
        var report = Path.Combine(run, HtmlReport.FileName);
        var html = await File.ReadAllTextAsync(report, TestContext.Current.CancellationToken);
        var (root, log) = await ProbeAsync(chromium, run, html);
        Assert.Empty(root.GetProperty("errors").EnumerateArray().Select(e => e.GetString()));
        var images = root.GetProperty("images").EnumerateArray().ToList();
        Assert.Equal(4, images.Count);
        Assert.All(images, i => Assert.True(i.GetProperty("ok").GetBoolean(), $"{i.GetProperty("what").GetString()} did not render"));
        // The verdict is the first section: within the first screen.
        var top = root.GetProperty("verdictTop").GetDouble();
        Assert.InRange(top, 0, 200);
        Assert.DoesNotContain(log.Split('\n'), l => l.Contains(":ERROR:CONSOLE", StringComparison.Ordinal) || l.Contains("Uncaught", StringComparison.Ordinal));

        var shots = Path.Combine(AppContext.BaseDirectory, "chromium");
        Directory.CreateDirectory(shots);
        var screenshot = Path.Combine(shots, "report.png");
        File.Delete(screenshot);
        await RunChromiumAsync(chromium, ["--screenshot=" + screenshot, "--window-size=1200,1800", "--hide-scrollbars", new Uri(report).AbsoluteUri]);
        Assert.True(File.Exists(screenshot), "no screenshot written");
        var png = await File.ReadAllBytesAsync(screenshot, TestContext.Current.CancellationToken);
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
        Assert.True(png.Length > 20_000, $"screenshot of {png.Length} bytes: a blank page?");
        // The charts beside the screenshot, for a person (or CI artifact) to look at.
        foreach (var plot in Directory.GetFiles(Path.Combine(run, "plots"), "*.png"))
        {
            File.Copy(plot, Path.Combine(shots, Path.GetFileName(plot)), overwrite: true);
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"screenshot: {screenshot}");
    }

    [Fact]
    public async Task SessionReport_InHeadlessChromium_EverySessionPlotRendered()
    {
        var chromium = RequireChromium();

        // The seeded fast/deep/policy trade-off (SessionTradeOffTests) as a run directory with its report.
        var run = Path.Combine(_dir, "sessions");
        Directory.CreateDirectory(run);
        var directory = new Core.Results.RunDirectory(run);
        var records = SessionTradeOffTests.TradeOffRecords();
        directory.WriteSummaries(SimulatedSessions.Manifest("trade-off", [SimulatedSessions.Hwsim("wse-fast", "wse-3", "llama-3.1-8b"), SimulatedSessions.Hwsim("h100-deep", "h100-sxm", "qwen2.5-coder-32b")], SessionTradeOffTests.Seed), records);
        var report = Path.Combine(run, HtmlReport.FileName);
        var html = await File.ReadAllTextAsync(report, TestContext.Current.CancellationToken);
        var (root, _) = await ProbeAsync(chromium, run, html);
        Assert.Empty(root.GetProperty("errors").EnumerateArray().Select(e => e.GetString()));
        var images = root.GetProperty("images").EnumerateArray().ToList();
        // ttft_cdf, e2e_cdf, flow_bands, pass_rate, three timelines, time_to_green_cdf, pass_at_turn, session_flow_bands.
        Assert.Equal(10, images.Count);
        Assert.All(images, i => Assert.True(i.GetProperty("ok").GetBoolean(), $"{i.GetProperty("what").GetString()} did not render"));

        var shots = Path.Combine(AppContext.BaseDirectory, "chromium", "sessions");
        Directory.CreateDirectory(shots);
        var screenshot = Path.Combine(shots, "report.png");
        File.Delete(screenshot);
        await RunChromiumAsync(chromium, ["--screenshot=" + screenshot, "--window-size=1200,7000", "--hide-scrollbars", new Uri(report).AbsoluteUri]);
        Assert.True(File.Exists(screenshot), "no screenshot written");
        foreach (var plot in Directory.GetFiles(Path.Combine(run, "plots"), "*.png"))
        {
            File.Copy(plot, Path.Combine(shots, Path.GetFileName(plot)), overwrite: true);
        }

        // The routing table alone, at reading size, for a person to check that it fits the page.
        var section = html[html.IndexOf("<h2 id=\"sessions\">", StringComparison.Ordinal)..html.IndexOf("</ul>", html.IndexOf("<h2 id=\"sessions\">", StringComparison.Ordinal), StringComparison.Ordinal)];
        var tablePage = Path.Combine(run, "table.html");
        await File.WriteAllTextAsync(tablePage, html[..html.IndexOf("<body>", StringComparison.Ordinal)] + "<body>" + section + "</ul></body></html>", TestContext.Current.CancellationToken);
        await RunChromiumAsync(chromium, ["--screenshot=" + Path.Combine(shots, "routing-table.png"), "--window-size=1200,1100", "--hide-scrollbars", new Uri(tablePage).AbsoluteUri]);
        Assert.True(File.Exists(Path.Combine(shots, "routing-table.png")), "no screenshot of the routing table");
        TestContext.Current.TestOutputHelper?.WriteLine($"screenshot: {screenshot}");
    }

    private static string RequireChromium()
    {
        var chromium = FindChromium();
        Assert.SkipWhen(chromium is null, "chromium is not installed: apt-get install chromium (listed in .ci/apt-packages.txt) to open report.html in a browser");
        return chromium!;
    }

    /// <summary>Opens the report with the probe script in headless Chromium; returns what the probe found (errors, images, verdict position) and Chromium's log.</summary>
    private static async Task<(JsonElement Root, string Log)> ProbeAsync(string chromium, string run, string html)
    {
        var probePage = Path.Combine(run, "probe.html");
        await File.WriteAllTextAsync(probePage, html.Replace("</title>", "</title>" + Probe, StringComparison.Ordinal), TestContext.Current.CancellationToken);
        var (dom, log) = await RunChromiumAsync(chromium, ["--dump-dom", "--virtual-time-budget=5000", new Uri(probePage).AbsoluteUri]);
        var start = dom.IndexOf("<pre id=\"spark-probe\">", StringComparison.Ordinal);
        Assert.True(start >= 0, $"the probe did not run; chromium said:\n{log}");
        var json = System.Net.WebUtility.HtmlDecode(dom[(start + "<pre id=\"spark-probe\">".Length)..dom.IndexOf("</pre>", start, StringComparison.Ordinal)]);
        using var probe = JsonDocument.Parse(json);
        return (probe.RootElement.Clone(), log);
    }

    private static async Task<(string Stdout, string Stderr)> RunChromiumAsync(string chromium, IEnumerable<string> extra)
    {
        var profile = Directory.CreateTempSubdirectory("spark-chromium-profile-").FullName;
        try
        {
            var info = new ProcessStartInfo(chromium) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var arg in new[]
            {
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--no-default-browser-check", "--disable-dev-shm-usage", "--enable-logging=stderr", "--v=0",
                "--user-data-dir=" + profile,
            }.Concat(extra))
            {
                info.ArgumentList.Add(arg);
            }

            using var process = Process.Start(info)!;
            var stdout = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
            var stderr = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
            timeout.CancelAfter(Limit);
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"chromium did not finish within {Limit.TotalSeconds} s");
            }

            return (await stdout, await stderr);
        }
        finally
        {
            Directory.Delete(profile, recursive: true);
        }
    }
}
