using System.Buffers.Binary;
using System.Text;

namespace Strata.Pool.OnDisk;

/// <summary>Little-endian fields appended to a growable buffer: labels, superblocks, log records, checkpoints.</summary>
internal sealed class MetadataWriter
{
    private byte[] _buffer;

    public MetadataWriter(int capacity = 4096) => _buffer = new byte[capacity];

    public int Length { get; private set; }

    public ReadOnlySpan<byte> Written => _buffer.AsSpan(0, Length);

    public byte[] Buffer => _buffer;

    public void Reset() => Length = 0;

    public Span<byte> Take(int count)
    {
        Ensure(count);
        var span = _buffer.AsSpan(Length, count);
        Length += count;
        return span;
    }

    public void U8(byte v) => Take(1)[0] = v;

    public void U16(ushort v) => BinaryPrimitives.WriteUInt16LittleEndian(Take(2), v);

    public void U32(uint v) => BinaryPrimitives.WriteUInt32LittleEndian(Take(4), v);

    public void U64(ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(Take(8), v);

    public void I64(long v) => BinaryPrimitives.WriteInt64LittleEndian(Take(8), v);

    public void Bytes(ReadOnlySpan<byte> v) => v.CopyTo(Take(v.Length));

    public void String(string v)
    {
        int n = Encoding.UTF8.GetByteCount(v);
        U16((ushort)n);
        Encoding.UTF8.GetBytes(v, Take(n));
    }

    /// <summary>Pads with zeros to a multiple of <paramref name="alignment"/>.</summary>
    public void PadTo(int alignment)
    {
        int pad = (int)(DiskLayout.AlignUp(Length, alignment) - Length);
        Take(pad).Clear();
    }

    private void Ensure(int count)
    {
        if (Length + count <= _buffer.Length)
        {
            return;
        }

        long size = Math.Max((long)_buffer.Length * 2, (long)Length + count);
        Array.Resize(ref _buffer, (int)Math.Min(size, Array.MaxLength));
    }
}

/// <summary>Reads what <see cref="MetadataWriter"/> wrote; running past the end is a <see cref="FormatException"/>.</summary>
internal ref struct MetadataReader
{
    private readonly ReadOnlySpan<byte> _data;

    public MetadataReader(ReadOnlySpan<byte> data)
    {
        _data = data;
        Position = 0;
    }

    public int Position { get; private set; }

    public readonly int Remaining => _data.Length - Position;

    public ReadOnlySpan<byte> Take(int count)
    {
        if (count < 0 || count > Remaining)
        {
            throw new FormatException($"metadata record ends early (wanted {count} bytes at {Position}, {Remaining} left)");
        }

        var span = _data.Slice(Position, count);
        Position += count;
        return span;
    }

    public byte U8() => Take(1)[0];

    public ushort U16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2));

    public uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));

    public ulong U64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

    public long I64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));

    public string String() => Encoding.UTF8.GetString(Take(U16()));
}
