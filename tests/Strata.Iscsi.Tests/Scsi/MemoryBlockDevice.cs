using Strata.Blocks;
using Strata.Iscsi.Scsi;

namespace Strata.Iscsi.Tests.Scsi;

/// <summary>An in-memory <see cref="IBlockDevice"/> that knows which blocks are mapped; completes synchronously
/// unless <see cref="Yield"/> is set, and can be told to fail.</summary>
internal sealed class MemoryBlockDevice : IBlockDevice, IAllocationMap
{
    private readonly byte[] _data;
    private readonly bool[] _mapped;
    private readonly Lock _gate = new();

    public MemoryBlockDevice(long blockCount, int blockSize = 512)
    {
        BlockSize = blockSize;
        BlockCount = blockCount;
        _data = new byte[blockCount * blockSize];
        _mapped = new bool[blockCount];
    }

    public int BlockSize { get; }

    public long BlockCount { get; }

    public int Flushes { get; private set; }

    public int FuaWrites { get; private set; }

    public bool Yield { get; set; }

    public BlockDeviceErrorKind? FailWith { get; set; }

    public Span<byte> Raw(long lba, int blocks) => _data.AsSpan((int)(lba * BlockSize), blocks * BlockSize);

    public bool IsMapped(long lba) => _mapped[lba];

    public async ValueTask ReadAsync(long lba, Memory<byte> buffer, CancellationToken ct = default)
    {
        await Pause(ct);
        Check(lba, buffer.Length / BlockSize);
        lock (_gate)
        {
            _data.AsSpan((int)(lba * BlockSize), buffer.Length).CopyTo(buffer.Span);
        }
    }

    public async ValueTask WriteAsync(long lba, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct = default)
    {
        await Pause(ct);
        Check(lba, data.Length / BlockSize);
        int half = data.Length / 2 / BlockSize * BlockSize;
        // Two steps, so a racing reader could see a torn write if the target did not serialise.
        lock (_gate)
        {
            data.Span[..half].CopyTo(_data.AsSpan((int)(lba * BlockSize)));
        }

        if (Yield)
        {
            await Task.Yield();
        }

        lock (_gate)
        {
            data.Span[half..].CopyTo(_data.AsSpan((int)(lba * BlockSize) + half));
            _mapped.AsSpan((int)lba, data.Length / BlockSize).Fill(true);
            if ((flags & WriteFlags.Fua) != 0)
            {
                FuaWrites++;
            }
        }
    }

    public async ValueTask FlushAsync(CancellationToken ct = default)
    {
        await Pause(ct);
        lock (_gate)
        {
            Flushes++;
        }
    }

    public async ValueTask UnmapAsync(long lba, long blockCount, CancellationToken ct = default)
    {
        await Pause(ct);
        Check(lba, blockCount);
        lock (_gate)
        {
            _data.AsSpan((int)(lba * BlockSize), (int)(blockCount * BlockSize)).Clear();
            _mapped.AsSpan((int)lba, (int)blockCount).Clear();
        }
    }

    public ValueTask<(bool Mapped, long Blocks)> GetExtentAsync(long lba, long maxBlocks, CancellationToken ct = default)
    {
        bool state = _mapped[lba];
        long n = 1;
        while (n < maxBlocks && lba + n < BlockCount && _mapped[lba + n] == state)
        {
            n++;
        }

        return new((state, n));
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private async ValueTask Pause(CancellationToken ct)
    {
        if (FailWith is { } kind)
        {
            throw new BlockDeviceException(kind, "injected failure");
        }

        if (Yield)
        {
            await Task.Yield();
        }

        ct.ThrowIfCancellationRequested();
    }

    private void Check(long lba, long blocks)
    {
        if (lba < 0 || blocks < 0 || lba + blocks > BlockCount)
        {
            throw BlockDeviceException.OutOfRange(lba, blocks, BlockCount);
        }
    }
}
