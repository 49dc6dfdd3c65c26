using System.Runtime.InteropServices;

namespace Spark.Eval.Cli;

/// <summary>
/// Ctrl+C and SIGTERM: the first cancels <see cref="Token"/> (every phase of the run stops and says interrupted, exit 130);
/// a second one ends the process at once with exit 130.
/// </summary>
public sealed class ShutdownSignals : IDisposable
{
    private readonly CancellationTokenSource _interrupt;
    private readonly PosixSignalRegistration[] _registrations;
    private readonly TextWriter _stderr;
    private int _signals;

    private ShutdownSignals(TextWriter stderr, CancellationToken outer)
    {
        _stderr = stderr;
        _interrupt = CancellationTokenSource.CreateLinkedTokenSource(outer);
        _registrations = [PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop), PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop)];
    }

    /// <summary>Cancelled by the first signal (or by the caller's token).</summary>
    public CancellationToken Token => _interrupt.Token;

    public static ShutdownSignals Register(TextWriter stderr, CancellationToken outer) => new(stderr, outer);

    private void Stop(PosixSignalContext context)
    {
        context.Cancel = true;
        if (Interlocked.Increment(ref _signals) == 1)
        {
            _stderr.WriteLine("stopping: recording in-flight attempts as cancelled… (signal again to exit at once)");
            _interrupt.Cancel();
            return;
        }

        _stderr.WriteLine("second signal: exiting now (the run directory stays resumable; its status may still read running)");
        _stderr.Flush();
        Environment.Exit(SparkEvalCli.ExitInterrupted);
    }

    public void Dispose()
    {
        foreach (var registration in _registrations)
        {
            registration.Dispose();
        }

        _interrupt.Dispose();
    }
}
