using System.Buffers.Binary;
using System.Text;

namespace Spark.Eval.Backends.Local.Gguf;

/// <summary>The ggml tensor element types the test-model generator writes.</summary>
public enum GgmlType : uint
{
    /// <summary>32-bit float.</summary>
    F32 = 0,
    /// <summary>IEEE half precision.</summary>
    F16 = 1,
    /// <summary>Blocks of 32 signed bytes with one F16 scale (34 bytes per block).</summary>
#pragma warning disable CA1707 // ggml's own name for the type.
    Q8_0 = 8,
#pragma warning restore CA1707
}

/// <summary>
/// Writes a GGUF version 3 file: header, key/value metadata, tensor infos, then the tensor data, each
/// tensor aligned to <see cref="Alignment"/> bytes. Format: https://github.com/ggml-org/ggml/blob/master/docs/gguf.md.
/// </summary>
public sealed class GgufWriter
{
    /// <summary>The data alignment llama.cpp assumes when general.alignment is absent.</summary>
    public const int Alignment = 32;

    private const uint Magic = 0x46554747; // "GGUF" little-endian
    private const uint Version = 3;

    private readonly List<(string Key, GgufValueType Type, Action<BinaryWriter> Write)> _metadata = [];
    private readonly List<TensorEntry> _tensors = [];

    private enum GgufValueType : uint
    {
        UInt32 = 4,
        Int32 = 5,
        Float32 = 6,
        Bool = 7,
        String = 8,
        Array = 9,
    }

    private sealed record TensorEntry(string Name, long[] Dimensions, GgmlType Type, long ByteSize, Action<Stream> WriteData);

    public void AddUInt32(string key, uint value) => _metadata.Add((key, GgufValueType.UInt32, w => w.Write(value)));

    public void AddFloat32(string key, float value) => _metadata.Add((key, GgufValueType.Float32, w => w.Write(value)));

    public void AddBool(string key, bool value) => _metadata.Add((key, GgufValueType.Bool, w => w.Write((byte)(value ? 1 : 0))));

    public void AddString(string key, string value) => _metadata.Add((key, GgufValueType.String, w => WriteString(w, value)));

    public void AddStringArray(string key, IReadOnlyList<string> values) => _metadata.Add((key, GgufValueType.Array, w =>
    {
        w.Write((uint)GgufValueType.String);
        w.Write((ulong)values.Count);
        foreach (var value in values)
        {
            WriteString(w, value);
        }
    }));

    public void AddFloat32Array(string key, IReadOnlyList<float> values) => _metadata.Add((key, GgufValueType.Array, w =>
    {
        w.Write((uint)GgufValueType.Float32);
        w.Write((ulong)values.Count);
        foreach (var value in values)
        {
            w.Write(value);
        }
    }));

    public void AddInt32Array(string key, IReadOnlyList<int> values) => _metadata.Add((key, GgufValueType.Array, w =>
    {
        w.Write((uint)GgufValueType.Int32);
        w.Write((ulong)values.Count);
        foreach (var value in values)
        {
            w.Write(value);
        }
    }));

    /// <summary>
    /// Adds a tensor. <paramref name="dimensions"/> are in ggml order (the contiguous row length first);
    /// <paramref name="writeData"/> must write exactly <see cref="ByteSize"/> bytes, rows one after another.
    /// </summary>
    public void AddTensor(string name, long[] dimensions, GgmlType type, Action<Stream> writeData)
    {
        ArgumentNullException.ThrowIfNull(dimensions);
        _tensors.Add(new TensorEntry(name, dimensions, type, ByteSize(dimensions, type), writeData));
    }

    /// <summary>The bytes a tensor of this shape and type occupies.</summary>
    public static long ByteSize(long[] dimensions, GgmlType type)
    {
        ArgumentNullException.ThrowIfNull(dimensions);
        var count = dimensions.Aggregate(1L, (a, b) => a * b);
        return type switch
        {
            GgmlType.F32 => count * 4,
            GgmlType.F16 => count * 2,
            GgmlType.Q8_0 when dimensions[0] % 32 == 0 => count / 32 * 34,
            GgmlType.Q8_0 => throw new ArgumentException($"Q8_0 needs a row length divisible by 32, got {dimensions[0]}", nameof(dimensions)),
            _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unsupported tensor type"),
        };
    }

    /// <summary>Writes the whole file to <paramref name="output"/>.</summary>
    public void WriteTo(Stream output)
    {
        ArgumentNullException.ThrowIfNull(output);
        using (var w = new BinaryWriter(output, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Magic);
            w.Write(Version);
            w.Write((ulong)_tensors.Count);
            w.Write((ulong)_metadata.Count);
            foreach (var (key, type, write) in _metadata)
            {
                WriteString(w, key);
                w.Write((uint)type);
                write(w);
            }

            long offset = 0;
            foreach (var tensor in _tensors)
            {
                WriteString(w, tensor.Name);
                w.Write((uint)tensor.Dimensions.Length);
                foreach (var dim in tensor.Dimensions)
                {
                    w.Write((ulong)dim);
                }

                w.Write((uint)tensor.Type);
                w.Write((ulong)offset);
                offset = Align(offset + tensor.ByteSize);
            }

            w.Flush();
        }

        Pad(output, output.Position);
        foreach (var tensor in _tensors)
        {
            var start = output.Position;
            tensor.WriteData(output);
            var written = output.Position - start;
            if (written != tensor.ByteSize)
            {
                throw new InvalidOperationException($"tensor {tensor.Name}: wrote {written} bytes, expected {tensor.ByteSize}");
            }

            Pad(output, written);
        }
    }

    private static long Align(long value) => (value + Alignment - 1) / Alignment * Alignment;

    private static void Pad(Stream output, long length)
    {
        Span<byte> zeros = stackalloc byte[Alignment];
        zeros.Clear();
        var pad = (int)(Align(length) - length);
        output.Write(zeros[..pad]);
    }

    private static void WriteString(BinaryWriter w, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    /// <summary>Encodes one row of floats in the given type into <paramref name="destination"/>.</summary>
    public static int EncodeRow(ReadOnlySpan<float> row, GgmlType type, Span<byte> destination)
    {
        switch (type)
        {
            case GgmlType.F32:
                for (var i = 0; i < row.Length; i++)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(destination[(i * 4)..], row[i]);
                }

                return row.Length * 4;
            case GgmlType.F16:
                for (var i = 0; i < row.Length; i++)
                {
                    BinaryPrimitives.WriteHalfLittleEndian(destination[(i * 2)..], (Half)row[i]);
                }

                return row.Length * 2;
            case GgmlType.Q8_0:
                var at = 0;
                for (var block = 0; block < row.Length; block += 32)
                {
                    var values = row.Slice(block, 32);
                    var max = 0f;
                    foreach (var v in values)
                    {
                        max = Math.Max(max, Math.Abs(v));
                    }

                    var scale = max / 127f;
                    var inverse = scale == 0 ? 0 : 1f / scale;
                    BinaryPrimitives.WriteHalfLittleEndian(destination[at..], (Half)scale);
                    at += 2;
                    foreach (var v in values)
                    {
                        destination[at++] = (byte)(sbyte)Math.Clamp(MathF.Round(v * inverse), -127, 127);
                    }
                }

                return at;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "unsupported tensor type");
        }
    }
}
