using Strata.Blocks;

namespace Strata.Pool.Tests.Faults;

/// <summary>
/// A vdev that loses its controller: once the <see cref="Outage"/> has begun, every I/O waits for it to strike
/// and then fails, all of them at the same moment on thread-pool threads, as when one cable serves both halves
/// of a mirror.
/// </summary>
internal sealed class OutageDevice(IBlockDevice inner, Outage outage) : IBlockDevice
{
    public int BlockSize => inner.BlockSize;

    public long BlockCount => inner.BlockCount;

    public async ValueTask ReadAsync(long lba, Memory<byte> buffer, CancellationToken ct = default)
    {
        await outage.PassAsync();
        await inner.ReadAsync(lba, buffer, ct);
    }

    public async ValueTask WriteAsync(long lba, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct = default)
    {
        await outage.PassAsync();
        await inner.WriteAsync(lba, data, flags, ct);
    }

    public async ValueTask UnmapAsync(long lba, long blockCount, CancellationToken ct = default)
    {
        await outage.PassAsync();
        await inner.UnmapAsync(lba, blockCount, ct);
    }

    public async ValueTask FlushAsync(CancellationToken ct = default)
    {
        await outage.PassAsync();
        await inner.FlushAsync(ct);
    }

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}

/// <summary>The controller of <see cref="OutageDevice"/>s: once begun, it holds their I/O, and fails all of it at the strike.</summary>
internal sealed class Outage
{
    private readonly TaskCompletionSource _strike = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _begun;
    private int _waiting;

    /// <summary>I/Os held until the strike.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    public void Begin() => _begun = true;

    public void Strike() => _strike.TrySetResult();

    public async ValueTask PassAsync()
    {
        if (!_begun)
        {
            return;
        }

        Interlocked.Increment(ref _waiting);
        await _strike.Task;
        throw new BlockDeviceException(BlockDeviceErrorKind.Unavailable, "the controller is gone");
    }
}
