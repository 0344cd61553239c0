using System.Buffers;
using System.Runtime.InteropServices;

namespace Strata.Blocks;

/// <summary>
/// Native memory aligned to 4096 bytes, as O_DIRECT needs; also pinned, so sockets and files can use it
/// without the GC moving it.
/// </summary>
public sealed unsafe class AlignedBuffer : MemoryManager<byte>
{
    public const int Alignment = 4096;

    private void* _pointer;
    private readonly int _length;

    public AlignedBuffer(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        _length = length;
        _pointer = NativeMemory.AlignedAlloc((nuint)Math.Max(length, 1), Alignment);
    }

    public override Span<byte> GetSpan()
    {
        ObjectDisposedException.ThrowIf(_pointer == null, this);
        return new Span<byte>(_pointer, _length);
    }

    public override MemoryHandle Pin(int elementIndex = 0) => new((byte*)_pointer + elementIndex);

    public override void Unpin()
    {
    }

    protected override void Dispose(bool disposing)
    {
        if (_pointer != null)
        {
            NativeMemory.AlignedFree(_pointer);
            _pointer = null;
        }
    }
}
