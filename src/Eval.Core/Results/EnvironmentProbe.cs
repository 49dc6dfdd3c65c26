using System.Reflection;
using System.Runtime.InteropServices;

namespace Spark.Eval.Core.Results;

/// <summary>Describes the machine and build that produce a run, for the manifest.</summary>
public static class EnvironmentProbe
{
    public static string HarnessVersion =>
        typeof(EnvironmentProbe).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";

    public static EnvironmentInfo Describe()
    {
        var version = HarnessVersion;
        var plus = version.IndexOf('+', StringComparison.Ordinal);
        return new EnvironmentInfo(
            RuntimeInformation.OSDescription,
            CpuModel(),
            Environment.ProcessorCount,
            RuntimeInformation.FrameworkDescription,
            plus >= 0 ? version[(plus + 1)..] : null,
            Environment.MachineName);
    }

    public static string CpuModel()
    {
        try
        {
            if (File.Exists("/proc/cpuinfo"))
            {
                var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
                if (line is not null)
                {
                    return line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
                }
            }
        }
        catch (IOException)
        {
        }

        return RuntimeInformation.ProcessArchitecture.ToString();
    }
}
