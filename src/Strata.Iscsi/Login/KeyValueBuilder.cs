using System.Globalization;
using System.Text;

namespace Strata.Iscsi.Login;

/// <summary>
/// Writes key=value pairs, each followed by its null delimiter (RFC 7143 6.1), into a buffer that is
/// reused across responses: <see cref="Clear"/> keeps the capacity.
/// </summary>
public sealed class KeyValueBuilder
{
    private byte[] _buffer;
    private int _length;

    public KeyValueBuilder(int initialCapacity = 1024)
    {
        _buffer = new byte[Math.Max(initialCapacity, 16)];
    }

    public int Length => _length;

    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _length);

    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _length);

    public void Clear() => _length = 0;

    /// <summary>A copy of the written bytes, for a response that must outlive the next <see cref="Clear"/>.</summary>
    public byte[] ToArray() => WrittenSpan.ToArray();

    public void Add(string key, string value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        int needed = Encoding.UTF8.GetByteCount(key) + 1 + Encoding.UTF8.GetByteCount(value) + 1;
        EnsureCapacity(needed);
        _length += Encoding.UTF8.GetBytes(key, _buffer.AsSpan(_length));
        _buffer[_length++] = (byte)'=';
        _length += Encoding.UTF8.GetBytes(value, _buffer.AsSpan(_length));
        _buffer[_length++] = 0;
    }

    public void Add(in TextKeyValue pair) => Add(pair.Key, pair.Value);

    public void Add(string key, long value) => Add(key, value.ToString(CultureInfo.InvariantCulture));

    public void Add(string key, bool value) => Add(key, BooleanValue.Format(value));

    /// <summary>A binary value as a hex-constant, "0x" and lowercase digits (RFC 7143 6.1).</summary>
    public void AddHex(string key, ReadOnlySpan<byte> value) => Add(key, BinaryValue.FormatHex(value));

    /// <summary>Appends pairs that are already encoded (each ending with its null).</summary>
    public void AddEncoded(ReadOnlySpan<byte> pairs)
    {
        EnsureCapacity(pairs.Length);
        pairs.CopyTo(_buffer.AsSpan(_length));
        _length += pairs.Length;
    }

    private void EnsureCapacity(int more)
    {
        if (_length + more > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + more));
        }
    }
}
