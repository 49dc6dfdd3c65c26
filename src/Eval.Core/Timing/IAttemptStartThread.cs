using System.Runtime.CompilerServices;

namespace Spark.Eval.Core.Timing;

/// <summary>
/// A thread a backend wants its attempts begun on (the openai backend's send thread, docs/remote.md "Send path"): the timing
/// layer (<see cref="TimingChatClient"/>) switches to it before the attempt's start stamp, so the stamp and the backend's
/// send (up to its first wait) run back to back there. An attempt waiting for the thread has not started yet.
/// </summary>
public interface IAttemptStartThread
{
    /// <summary>True where an attempt may begin right here: on the thread itself (or, as the implementation decides, on a thread as good).</summary>
    bool IsCurrent { get; }

    /// <summary>Runs <paramref name="continuation"/> on the thread (in the order posted).</summary>
    void Post(Action continuation);
}

/// <summary><c>await new AttemptStartSwitch(thread)</c>: the rest of the method runs on <paramref name="thread"/> (at once when already on it).</summary>
public readonly struct AttemptStartSwitch(IAttemptStartThread thread) : ICriticalNotifyCompletion
{
    public AttemptStartSwitch GetAwaiter() => this;

    public bool IsCompleted => thread.IsCurrent;

    public void GetResult()
    {
    }

    public void OnCompleted(Action continuation)
    {
        var context = ExecutionContext.Capture();
        thread.Post(context is null ? continuation : () => ExecutionContext.Run(context, static c => ((Action)c!)(), continuation));
    }

    // The async method builders flow the execution context themselves.
    public void UnsafeOnCompleted(Action continuation) => thread.Post(continuation);
}
