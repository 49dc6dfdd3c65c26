using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.InteropServices;
using Spark.Eval.Core.Timing;

namespace Spark.Eval.Simulator.Server;

/// <summary>Settings of the <see cref="EmissionClock"/>: how long it spins before a due time and at which real-time priority it runs.</summary>
public sealed record EmissionClockOptions
{
    /// <summary>The last stretch before a due time that the timer thread spins instead of sleeping.</summary>
    public TimeSpan Spin { get; init; } = TimeSpan.FromMilliseconds(0.5);

    /// <summary>SCHED_FIFO priority of the timer threads (1–99); 0 keeps the normal scheduler.</summary>
    public int RealTimePriority { get; init; } = 30;

    /// <summary>Timer threads ("lanes"); each request's timers stay on one. Default 1.</summary>
    public int Threads { get; init; } = 1;
}

/// <summary>
/// serve-sim's emission scheduler, offered to the hosted backend as its <see cref="TimeProvider"/>: dedicated timer threads
/// ("lanes", SCHED_FIFO where the OS permits), each owning a priority queue of the pending timers of the requests assigned
/// to it (round-robin), sleep while the next due time is far, spin the last stretch, and run each due callback inline.
/// A backend that paces with <see cref="Core.Timing.PreciseDelay"/> therefore resumes at the due time on a lane, and
/// serve-sim's write and flush of the chunk follow inline, so the chunk leaves at its scheduled time rather than when a
/// thread-pool thread gets around to it. Each timer created inside a request records its due time (<see cref="Slot"/>),
/// which serve-sim logs beside the flush time.
/// </summary>
public sealed class EmissionClock : TimeProvider, IOwnDelay, IDisposable
{
    private static readonly AsyncLocal<EmissionSlot?> CurrentSlot = new();

    [ThreadStatic]
    private static bool t_onTimerThread;

    private readonly Lane[] _lanes;
    private long _nextLane = -1;
    private long _fired;
    private long _callbackTicks;
    private long _maxCallbackTicks;
    private long _callbackBytes;

    public EmissionClock(EmissionClockOptions? options = null)
    {
        options ??= new EmissionClockOptions();
        var spinTicks = (long)(options.Spin.TotalSeconds * TimestampFrequency);
        _lanes = new Lane[Math.Clamp(options.Threads, 1, 64)];
        for (var i = 0; i < _lanes.Length; i++)
        {
            _lanes[i] = new Lane(this, i, spinTicks, options.RealTimePriority);
        }

        RealTime = _lanes.All(l => l.RealTime);
        var spin = (spinTicks * 1e6 / TimestampFrequency).ToString("0", CultureInfo.InvariantCulture);
        Description = string.Create(CultureInfo.InvariantCulture,
            $"{_lanes.Length} timer thread(s), {_lanes[0].Scheduling}, spin the last {spin} µs, sleep with {_lanes[0].SleepMethod}");
    }

    /// <summary>The request slot that timers created in the current async flow report their due time to (set by serve-sim per request).</summary>
    public static EmissionSlot? Slot
    {
        get => CurrentSlot.Value;
        set => CurrentSlot.Value = value;
    }

    /// <summary>True on an emission clock's timer thread: work that is not due now should move off it.</summary>
    public static bool OnTimerThread => t_onTimerThread;

    /// <summary>True when every timer thread runs under SCHED_FIFO.</summary>
    public bool RealTime { get; }

    /// <summary>One line on how the timer threads run: how many, their scheduling policy, spin window and how they sleep.</summary>
    public string Description { get; }

    /// <summary>Timer callbacks run so far.</summary>
    public long Fired => Interlocked.Read(ref _fired);

    /// <summary>Mean time one callback (with the write and flush it runs inline) held its timer thread, µs.</summary>
    public double MeanCallbackMicroseconds => Fired == 0 ? 0 : Interlocked.Read(ref _callbackTicks) * 1e6 / TimestampFrequency / Fired;

    /// <summary>
    /// Mean bytes one callback (with the write and flush it runs inline) allocated on its timer thread: each 8 KB of it takes
    /// the runtime's allocation lock, where a timer thread can be held up behind another thread (docs/benchmarks.md).
    /// </summary>
    public double MeanCallbackBytes => Fired == 0 ? 0 : (double)Interlocked.Read(ref _callbackBytes) / Fired;

    /// <summary>Longest time one callback held its timer thread, µs.</summary>
    public double MaxCallbackMicroseconds => Interlocked.Read(ref _maxCallbackTicks) * 1e6 / TimestampFrequency;

    public override long GetTimestamp() => System.GetTimestamp();

    public override long TimestampFrequency => System.TimestampFrequency;

    public override DateTimeOffset GetUtcNow() => System.GetUtcNow();

    public override TimeZoneInfo LocalTimeZone => System.LocalTimeZone;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        ArgumentNullException.ThrowIfNull(callback);
        // All timers of one request go to one lane, so its chunks stay in order; requests are spread round-robin.
        var slot = CurrentSlot.Value;
        Lane lane;
        if (slot is null)
        {
            lane = _lanes[(int)((ulong)Interlocked.Increment(ref _nextLane) % (ulong)_lanes.Length)];
        }
        else
        {
            if (slot.Lane < 0)
            {
                slot.Lane = (int)((ulong)Interlocked.Increment(ref _nextLane) % (ulong)_lanes.Length);
            }

            lane = _lanes[slot.Lane % _lanes.Length];
        }

        var entry = new Entry(lane, callback, state, slot);
        entry.Change(dueTime, period);
        return entry;
    }

    /// <summary>
    /// A precise delay (<see cref="PreciseDelay.DelayValueAsync"/> comes here): inside a request, on the request's one
    /// <see cref="ReusableDelay"/>, so that releasing a token makes no task, timer or continuation object on the timer thread
    /// (each allocation there may wait for the runtime's allocation lock; docs/benchmarks.md, "Round 6");
    /// outside a request, or while the request's delay is in use, a delay of its own.
    /// </summary>
    public ValueTask DelayAsync(TimeSpan delay, CancellationToken cancellationToken) =>
        RequestDelay() is { } reusable ? reusable.Start(delay, cancellationToken) : new ValueTask(PreciseDelay.DelayAsync(this, delay, cancellationToken));

    /// <summary>
    /// As <see cref="DelayAsync"/>, to a moment: the request's timer is set to the moment itself, so a handler thread held up
    /// between reading the clock and setting the timer (a burst of requests on 2 cores) no longer moves the token's due time.
    /// </summary>
    public ValueTask DelayUntilAsync(long dueTimestamp, CancellationToken cancellationToken) =>
        RequestDelay() is { } reusable ? reusable.StartAt(dueTimestamp, cancellationToken)
            : new ValueTask(PreciseDelay.DelayAsync(this, GetElapsedTime(GetTimestamp(), dueTimestamp), cancellationToken));

    /// <summary>
    /// A moment already past when the request's wait was asked for: the chunk goes out at once, and its due time is still the
    /// moment, so serve-sim's log counts it late against that moment instead of as unscheduled.
    /// </summary>
    public void Overdue(long dueTimestamp)
    {
        if (CurrentSlot.Value is { } slot)
        {
            slot.DueTimestamp = dueTimestamp;
        }
    }

    /// <summary>The current request's one reusable delay when inside a request and not already in use; else null (a delay of its own).</summary>
    private ReusableDelay? RequestDelay()
    {
        if (CurrentSlot.Value is not { } slot)
        {
            return null;
        }

        var reusable = slot.Delay ??= new ReusableDelay(this);
        return reusable.Busy ? null : reusable;
    }

    public void Dispose()
    {
        foreach (var lane in _lanes)
        {
            lane.Dispose();
        }
    }

    private void Count(long took, long bytes)
    {
        Interlocked.Add(ref _callbackTicks, took);
        Interlocked.Add(ref _callbackBytes, bytes);
        Interlocked.Increment(ref _fired);
        long max;
        while (took > (max = Interlocked.Read(ref _maxCallbackTicks)) && Interlocked.CompareExchange(ref _maxCallbackTicks, took, max) != max)
        {
        }
    }

    /// <summary>
    /// One timer thread with its own queue. The queue is the thread's alone: other threads hand their timers over through a
    /// lock-free queue that the thread drains. A lock shared with them was a priority inversion: a request's handler thread
    /// (normal priority) preempted while it held the lock kept the real-time thread waiting until the scheduler gave the
    /// handler its core back, behind whatever else ran there (2–3 ms stalls of every stream on the lane with one `yes`
    /// beside serve-sim; docs/benchmarks.md, "Round 7").
    /// </summary>
    private sealed class Lane : IDisposable
    {
        private readonly EmissionClock _clock;
        private readonly PriorityQueue<(Entry Entry, int Generation), long> _queue = new();
        private readonly ConcurrentQueue<(Entry Entry, int Generation, long Due)> _incoming = new();
        private readonly Thread _thread;
        private readonly long _spinTicks;
        private readonly int _priority;
        private readonly ManualResetEventSlim _started = new();
        private readonly ManualResetEventSlim _fallbackWake = new();
        private readonly int _eventFd = -1;
        private long _sleepingUntil = long.MaxValue;
        private volatile bool _stopped;

        public Lane(EmissionClock clock, int index, long spinTicks, int priority)
        {
            _clock = clock;
            _spinTicks = spinTicks;
            _priority = priority;
            if (OperatingSystem.IsLinux())
            {
                try
                {
                    _eventFd = Native.eventfd(0, Native.EfdNonBlock | Native.EfdCloexec);
                }
                catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
                {
                    _eventFd = -1;
                }
            }

            SleepMethod = _eventFd >= 0 ? "ppoll on an eventfd (ns timeout)" : "a wait handle (ms timeout)";
            _thread = new Thread(Run) { IsBackground = true, Name = "serve-sim emission clock " + index.ToString(CultureInfo.InvariantCulture), Priority = ThreadPriority.Highest };
            _thread.Start();
            _started.Wait();
        }

        public bool RealTime { get; private set; }

        public string Scheduling { get; private set; } = string.Empty;

        public string SleepMethod { get; }

        public long Now => _clock.GetTimestamp();

        public long Frequency => _clock.TimestampFrequency;

        public void Dispose()
        {
            _stopped = true;
            Wake();
            if (Environment.CurrentManagedThreadId == _thread.ManagedThreadId)
            {
                // Disposed by a callback running on this lane (code that awaited the clock continues here): the loop ends
                // when the callback returns; joining itself would never return.
                return;
            }

            _thread.Join();
            if (_eventFd >= 0)
            {
                _ = Native.close(_eventFd);
            }

            _started.Dispose();
            _fallbackWake.Dispose();
        }

        public void Schedule(Entry entry, int generation, long due)
        {
            if (Environment.CurrentManagedThreadId == _thread.ManagedThreadId)
            {
                // The lane's own thread (a callback setting its stream's next wait): its queue, no hand-over, no wake.
                _queue.Enqueue((entry, generation), due);
                return;
            }

            _incoming.Enqueue((entry, generation, due));
            // Wake the thread when it sleeps past this due time; lower the mark first so a burst of timers wakes it once. The
            // thread publishes the mark before it looks at the hand-over queue a last time, so a timer is never missed.
            long sleeping;
            while (due < (sleeping = Volatile.Read(ref _sleepingUntil)))
            {
                if (Interlocked.CompareExchange(ref _sleepingUntil, due, sleeping) == sleeping)
                {
                    Wake();
                    return;
                }
            }
        }

        /// <summary>Moves the timers other threads handed over into the lane's own queue (this thread only).</summary>
        private void TakeIncoming()
        {
            while (_incoming.TryDequeue(out var item))
            {
                _queue.Enqueue((item.Entry, item.Generation), item.Due);
            }
        }

        private void Wake()
        {
            if (_eventFd >= 0)
            {
                ulong one = 1;
                _ = Native.write(_eventFd, ref one, sizeof(ulong));
            }
            else
            {
                _fallbackWake.Set();
            }
        }

        private void Run()
        {
            SetUpThread();
            t_onTimerThread = true;
            _started.Set();
            while (!_stopped)
            {
                TakeIncoming();
                var due = PeekDue();
                Volatile.Write(ref _sleepingUntil, due);
                Interlocked.MemoryBarrier();
                // A timer handed over before the mark was published is taken here; one after it sees the mark and wakes us.
                if (!_incoming.IsEmpty)
                {
                    TakeIncoming();
                    due = PeekDue();
                    Volatile.Write(ref _sleepingUntil, due);
                }

                var now = Now;
                if (due - now > _spinTicks)
                {
                    Sleep(due == long.MaxValue ? Frequency : due - now - _spinTicks);
                    continue;
                }

                // Spin the last stretch; a timer added meanwhile with an earlier due time is picked up by re-peeking.
                while (now < due && !_stopped)
                {
                    Thread.SpinWait(20);
                    now = Now;
                    TakeIncoming();
                    due = Math.Min(due, PeekDue());
                }

                FireDue();
            }
        }

        /// <summary>Runs every callback whose due time has come, earliest first, inline on this thread.</summary>
        private void FireDue()
        {
            while (true)
            {
                TakeIncoming();
                if (PeekDue() > Now)
                {
                    return;
                }

                var (entry, generation) = _queue.Dequeue();

                var before = Now;
                var allocated = GC.GetAllocatedBytesForCurrentThread();
                entry.Fire(generation);
                _clock.Count(Now - before, GC.GetAllocatedBytesForCurrentThread() - allocated);
            }
        }

        /// <summary>Due time of the earliest live entry (stale ones are dropped); <see cref="long.MaxValue"/> when none.</summary>
        private long PeekDue()
        {
            while (_queue.TryPeek(out var head, out var due))
            {
                if (head.Entry.IsCurrent(head.Generation))
                {
                    return due;
                }

                _queue.Dequeue();
            }

            return long.MaxValue;
        }

        private void Sleep(long ticks)
        {
            var ns = (long)(ticks * (1e9 / Frequency));
            if (_eventFd >= 0)
            {
                var poll = new Native.PollFd { Fd = _eventFd, Events = Native.PollIn };
                var timeout = new Native.Timespec { Seconds = ns / 1_000_000_000, Nanoseconds = ns % 1_000_000_000 };
                if (Native.ppoll(ref poll, 1, ref timeout, IntPtr.Zero) > 0)
                {
                    ulong value = 0;
                    _ = Native.read(_eventFd, ref value, sizeof(ulong));
                }

                return;
            }

            // Portable fallback: millisecond waits, rounded down, so the spin covers the rest.
            _fallbackWake.Wait(TimeSpan.FromMilliseconds(Math.Floor(ns / 1e6)));
            _fallbackWake.Reset();
        }

#pragma warning disable CA1031 // Any failure to raise the priority is reported and the clock runs at normal priority.
        private void SetUpThread()
        {
            if (_priority <= 0 || !OperatingSystem.IsLinux())
            {
                Scheduling = "normal priority (real-time not requested or not Linux)";
                return;
            }

            try
            {
                var param = new Native.SchedParam { Priority = _priority };
                if (Native.sched_setscheduler(Native.gettid(), Native.SchedFifo, ref param) == 0)
                {
                    RealTime = true;
                    Scheduling = string.Create(CultureInfo.InvariantCulture, $"SCHED_FIFO priority {_priority}");
                    return;
                }

                var errno = Marshal.GetLastPInvokeError();
                Scheduling = string.Create(CultureInfo.InvariantCulture,
                    $"normal priority: sched_setscheduler(SCHED_FIFO, {_priority}) failed with errno {errno} (needs root or CAP_SYS_NICE)");
            }
            catch (Exception ex)
            {
                Scheduling = $"normal priority: real-time scheduling unavailable ({ex.GetType().Name})";
            }
        }
#pragma warning restore CA1031
    }

    /// <summary>One timer: lazily removed from the queue by bumping its generation. A timer made inside a request reports each due time it is set to (<see cref="EmissionSlot"/>).</summary>
    private sealed class Entry(Lane owner, TimerCallback callback, object? state, EmissionSlot? slot) : IAbsoluteTimer
    {
        private int _generation;
        private long _periodTicks = -1;

        public long Due { get; private set; }

        public bool IsCurrent(int generation) => Volatile.Read(ref _generation) == generation;

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            if (dueTime == Timeout.InfiniteTimeSpan)
            {
                lock (this)
                {
                    _generation++;
                }

                return true;
            }

            Set(owner.Now + (long)(Math.Max(0, dueTime.TotalSeconds) * owner.Frequency),
                period == Timeout.InfiniteTimeSpan || period <= TimeSpan.Zero ? -1 : (long)(period.TotalSeconds * owner.Frequency));
            return true;
        }

        public void ChangeAt(long dueTimestamp) => Set(dueTimestamp, -1);

        private void Set(long due, long periodTicks)
        {
            int generation;
            lock (this)
            {
                generation = ++_generation;
                _periodTicks = periodTicks;
                Due = due;
            }

            if (slot is not null)
            {
                slot.DueTimestamp = due;
            }

            owner.Schedule(this, generation, due);
        }

        /// <summary>Runs the callback for the setting <paramref name="queued"/> was queued under, unless the timer was changed or disposed since it was taken from the queue.</summary>
        public void Fire(int queued)
        {
            int generation;
            lock (this)
            {
                if (_generation != queued)
                {
                    return;
                }

                if (_periodTicks > 0)
                {
                    Due += _periodTicks;
                    generation = _generation;
                }
                else
                {
                    generation = -1;
                    _generation++;
                }
            }

            if (generation >= 0)
            {
                owner.Schedule(this, generation, Due);
            }

#pragma warning disable CA1031 // A callback's exception must not stop the clock for every other stream.
            try
            {
                callback(state);
            }
            catch (Exception)
            {
            }
#pragma warning restore CA1031
        }

        public void Dispose()
        {
            lock (this)
            {
                _generation++;
            }
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }

    private static class Native
    {
        public const int SchedFifo = 1;
        public const int EfdNonBlock = 0x800;
        public const int EfdCloexec = 0x80000;
        public const short PollIn = 1;

        [StructLayout(LayoutKind.Sequential)]
        public struct SchedParam
        {
            public int Priority;
        }

        [StructLayout(LayoutKind.Sequential)]
        public struct PollFd
        {
            public int Fd;
            public short Events;
            public short Revents;
        }

        [StructLayout(LayoutKind.Sequential)]
        public struct Timespec
        {
            public long Seconds;
            public long Nanoseconds;
        }

        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int gettid();

        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int sched_setscheduler(int pid, int policy, ref SchedParam param);

        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int eventfd(uint initval, int flags);

        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int ppoll(ref PollFd fds, nuint nfds, ref Timespec timeout, IntPtr sigmask);

        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern nint read(int fd, ref ulong buffer, nint count);

        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern nint write(int fd, ref ulong buffer, nint count);

        [DllImport("libc", SetLastError = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int close(int fd);
    }
}

/// <summary>Per-request slot through which the <see cref="EmissionClock"/> tells serve-sim the due time of the timer that released the next chunk.</summary>
public sealed class EmissionSlot : IDisposable
{
    private long _due = -1;

    /// <summary>Timestamp (of the clock's <see cref="TimeProvider.GetTimestamp"/>) the latest timer of this request was due at; -1 when none is pending.</summary>
    public long DueTimestamp
    {
        get => Volatile.Read(ref _due);
        set => Volatile.Write(ref _due, value);
    }

    /// <summary>The clock's timer thread this request's timers go to; -1 until its first timer.</summary>
    public int Lane { get; set; } = -1;

    /// <summary>Returns the pending due time (or -1) and clears it.</summary>
    public long Take() => Interlocked.Exchange(ref _due, -1);

    /// <summary>The request's reusable delay (<see cref="EmissionClock.DelayAsync"/>), made on its first wait.</summary>
    internal ReusableDelay? Delay { get; set; }

    /// <summary>Ends the request's timers: its reusable delay's timer is cancelled.</summary>
    public void Dispose() => Delay?.Dispose();
}
