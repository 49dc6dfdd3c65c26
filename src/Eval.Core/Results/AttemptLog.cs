using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Spark.Eval.Core.Results;

/// <summary>
/// The append-only attempts.jsonl of a run directory: one record per line, each written with a single append (record and
/// newline in one write on a file opened with O_APPEND), so a crash leaves at most one torn last line and two writers can never
/// interleave inside a line. The run directory's lock (<see cref="RunLock"/>) keeps it to one writer anyway.
/// </summary>
public sealed class AttemptLog : IDisposable
{
    public const string FileName = "attempts.jsonl";

    /// <summary>Records a write-behind log holds at most before <see cref="Append"/> waits for its writer (what a kill -9 may lose).</summary>
    public const int WriteBehindLimit = 256;

    private readonly AppendOnlyFile _file;
    private readonly Lock _gate = new();
    private readonly List<AttemptRecord>? _collect;
    private readonly WriteBehind? _behind;

    /// <summary>
    /// Opens the log for appending; with <paramref name="collectInto"/>, every appended record is also added to that list, in file order
    /// (a run reads its attempts once). With <paramref name="writeBehind"/> a thread of the log's own serialises and writes the records,
    /// in the order appended and each with one write as ever, so that the caller does not wait for them: for a run in virtual time, whose
    /// loop is one thread (a kill -9 then loses at most <see cref="WriteBehindLimit"/> finished records, which a resume plays again).
    /// </summary>
    public AttemptLog(string path, List<AttemptRecord>? collectInto = null, bool writeBehind = false)
    {
        _file = AppendOnlyFile.Open(path);
        _collect = collectInto;
        _behind = writeBehind ? new WriteBehind(_file) : null;
    }

    // One serialisation buffer per thread, reused: a session run appends ~40 k records of ~10 KB each.
    [ThreadStatic]
    private static LineBuffer? t_line;

    public void Append(AttemptRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (_behind is not null)
        {
            lock (_gate)
            {
                _collect?.Add(record);
            }

            _behind.Enqueue(record);
            return;
        }

        var line = t_line ??= new LineBuffer();
        var bytes = line.Write(record);
        lock (_gate)
        {
            // One write to the OS per record (no user-space buffer), so a kill -9 loses at most the line being written.
            _file.Append(bytes);
            _collect?.Add(record);
        }

        line.Release();
    }

    /// <summary>Writes what a write-behind log still holds (rethrowing its writer's error, e.g. a full disk), then closes the file.</summary>
    public void Dispose()
    {
        try
        {
            _behind?.Finish();
        }
        finally
        {
            _file.Dispose();
        }
    }

    /// <summary>The write-behind thread: takes the appended records in order, in batches, and writes each with one write call.</summary>
    private sealed class WriteBehind
    {
        private const int WakeBatch = 64;
        private readonly AppendOnlyFile _file;
        private readonly object _gate = new(); // Monitor.Wait/Pulse: the writer sleeps while nothing is queued
        private readonly Thread _thread;
        private Queue<AttemptRecord> _pending = new(WriteBehindLimit);
        private Queue<AttemptRecord> _spare = new(WriteBehindLimit);
        private bool _writerWaiting;
        private bool _appenderWaiting;
        private bool _finished;
        private Exception? _error;

        public WriteBehind(AppendOnlyFile file)
        {
            _file = file;
            _thread = new Thread(Run) { IsBackground = true, Name = "spark-eval attempts.jsonl writer" };
            _thread.Start();
        }

        public void Enqueue(AttemptRecord record)
        {
            lock (_gate)
            {
                while (_pending.Count >= WriteBehindLimit && _error is null)
                {
                    _appenderWaiting = true;
                    Monitor.Wait(_gate);
                }

                ThrowIfFailed();
                _pending.Enqueue(record);
                // Woken for a batch, not per record: a wake-up per record cost more system time than the thread saved.
                if (_writerWaiting && _pending.Count >= WakeBatch)
                {
                    Monitor.PulseAll(_gate);
                }
            }
        }

        public void Finish()
        {
            lock (_gate)
            {
                _finished = true;
                Monitor.PulseAll(_gate);
            }

            _thread.Join();
            ThrowIfFailed();
        }

        private void ThrowIfFailed()
        {
            if (_error is { } error)
            {
                throw new IOException($"writing {FileName} failed: {error.Message}", error);
            }
        }

        private void Run()
        {
            using var line = new LineBuffer();
            while (true)
            {
                Queue<AttemptRecord> batch;
                lock (_gate)
                {
                    while (_pending.Count == 0 && !_finished)
                    {
                        _writerWaiting = true;
                        Monitor.Wait(_gate);
                        _writerWaiting = false;
                    }

                    if (_pending.Count == 0)
                    {
                        return; // finished, and everything written
                    }

                    (batch, _pending, _spare) = (_pending, _spare, _pending);
                    if (_appenderWaiting)
                    {
                        _appenderWaiting = false;
                        Monitor.PulseAll(_gate);
                    }
                }

                try
                {
                    while (batch.TryDequeue(out var record))
                    {
                        _file.Append(line.Write(record));
                        line.Release();
                    }
                }
#pragma warning disable CA1031 // the error is the appender's, rethrown by its next Append or by Dispose
                catch (Exception ex)
#pragma warning restore CA1031
                {
                    lock (_gate)
                    {
                        _error = ex;
                        Monitor.PulseAll(_gate);
                    }

                    return;
                }
            }
        }
    }

    /// <summary>The record as one line: its JSON and the newline, in one buffer.</summary>
    public static byte[] Line(AttemptRecord record)
    {
        using var line = new LineBuffer();
        return line.Write(record).ToArray();
    }

    /// <summary>A reusable buffer and JSON writer for <see cref="Line"/>'s bytes (the same bytes, without a new buffer per record).</summary>
    private sealed class LineBuffer : IDisposable
    {
        // A buffer grown past this by one huge record is not kept for the next.
        private const int KeepBytes = 1024 * 1024;
        private ArrayBufferWriter<byte> _buffer = new(16 * 1024);
        private readonly Utf8JsonWriter _json;

        public LineBuffer() => _json = new Utf8JsonWriter(_buffer);

        public ReadOnlySpan<byte> Write(AttemptRecord record)
        {
            _buffer.ResetWrittenCount();
            _json.Reset(_buffer);
            JsonSerializer.Serialize(_json, record, CoreJsonContext.Default.AttemptRecord);
            _json.Flush();
            _buffer.Write("\n"u8);
            return _buffer.WrittenSpan;
        }

        public void Release()
        {
            if (_buffer.Capacity > KeepBytes)
            {
                _buffer = new ArrayBufferWriter<byte>(16 * 1024);
            }
        }

        public void Dispose() => _json.Dispose();
    }

    /// <summary>Reads every complete record; a torn last line (crash mid-write) is reported, not fatal.</summary>
    public static (List<AttemptRecord> Records, bool TornTail) Read(string path)
    {
        var records = new List<AttemptRecord>();
        if (!File.Exists(path))
        {
            return (records, false);
        }

        var lines = File.ReadAllText(path, Encoding.UTF8).Split('\n');
        var torn = false;
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            AttemptRecord record;
            try
            {
                record = JsonSerializer.Deserialize(line, CoreJsonContext.Default.AttemptRecord)
                    ?? throw new JsonException("null record");
            }
            catch (JsonException ex)
            {
                // Only the final line may be torn by a crash; anything earlier is corruption.
                if (i == lines.Length - 1)
                {
                    torn = true;
                    continue;
                }

                throw InputException.At(path, i + 1, ex.Path, $"unreadable attempt record ({ex.Message})",
                    "restore the file from a backup or delete the damaged line");
            }

            ResultsFormat.CheckReadable(record.FormatVersion, path, i + 1);
            CheckEventTimes(record, path, i + 1);
            records.Add(record);
        }

        return (records, torn);
    }

    /// <summary>Event times are microseconds since the request started: never negative, never going back (a forged or corrupt record).</summary>
    private static void CheckEventTimes(AttemptRecord record, string path, int line)
    {
        var previous = 0L;
        for (var e = 0; e < record.Events.Count; e++)
        {
            var t = record.Events[e].OffsetMicroseconds;
            if (t < 0 || t < previous)
            {
                throw InputException.At(path, line, $"events[{e}].t_us",
                    t < 0 ? $"negative event time {t} µs" : $"event time {t} µs goes back from {previous} µs (times must not decrease)",
                    "these attempts were not written by spark-eval run: restore the file or delete the damaged line");
            }

            previous = t;
        }
    }

    /// <summary>True when the file is empty or ends with a newline (a record written whole); false when its last line lacks one.</summary>
    public static bool EndsWithNewline(string path)
    {
        if (!File.Exists(path))
        {
            return true;
        }

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        if (stream.Length == 0)
        {
            return true;
        }

        stream.Seek(-1, SeekOrigin.End);
        return stream.ReadByte() == '\n';
    }

    /// <summary>Rewrites the file atomically with only <paramref name="keep"/> (temp file, then rename).</summary>
    public static void Rewrite(string path, IEnumerable<AttemptRecord> keep)
    {
        ArgumentNullException.ThrowIfNull(keep);
        var temp = path + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write))
        {
            foreach (var record in keep)
            {
                stream.Write(Line(record));
            }

            stream.Flush(true);
        }

        File.Move(temp, path, overwrite: true);
    }
}
