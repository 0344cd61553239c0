using Strata.Blocks;
using Strata.Blocks.Contract;

namespace Strata.Pool.Tests;

/// <summary>A pool volume keeps every promise of <see cref="IBlockDevice"/>, on a striped and on a mirrored pool.</summary>
public abstract class PoolVolumeContractTests : BlockDeviceContract, IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly Dictionary<IBlockDevice, (StoragePool Pool, string[] Paths)> _pools = [];

    protected abstract PoolLayout Layout { get; }

    public void Dispose() => _dir.Dispose();

    protected override async ValueTask<IBlockDevice> CreateAsync(int blockSize, long blockCount)
    {
        var n = _pools.Count;
        string[] paths = Layout == PoolLayout.Mirrored ? [_dir.File($"m{n}a"), _dir.File($"m{n}b")] : [_dir.File($"s{n}a"), _dir.File($"s{n}b")];
        var pool = await StoragePool.CreateAsync(new PoolCreateOptions
        {
            Name = "contract",
            Layout = Layout,
            ChunkSize = 8192,
            MetadataBytes = 1 << 20,
            Vdevs = paths.Select(p => new VdevSpec(p, 16L << 20)).ToArray(),
        });
        await pool.CreateVolumeAsync("v", blockSize * blockCount, blockSize);
        var volume = pool.OpenVolume("v");
        _pools[volume] = (pool, paths);
        return new OwningVolume(volume, pool);
    }

    protected override async ValueTask<IBlockDevice> ReopenAsync(IBlockDevice device)
    {
        var owning = (OwningVolume)device;
        var (pool, paths) = _pools[owning.Inner];
        await pool.AbandonAsync(); // as kill -9 leaves it: nothing more written
        var reopened = await StoragePool.OpenAsync(paths);
        var volume = reopened.OpenVolume("v");
        _pools[volume] = (reopened, paths);
        return new OwningVolume(volume, reopened);
    }

    /// <summary>The volume, closing its pool with it.</summary>
    private sealed class OwningVolume(PoolVolume inner, StoragePool pool) : IBlockDevice
    {
        public PoolVolume Inner => inner;

        public int BlockSize => inner.BlockSize;

        public long BlockCount => inner.BlockCount;

        public ValueTask ReadAsync(long lba, Memory<byte> buffer, CancellationToken ct = default) => inner.ReadAsync(lba, buffer, ct);

        public ValueTask WriteAsync(long lba, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct = default) => inner.WriteAsync(lba, data, flags, ct);

        public ValueTask FlushAsync(CancellationToken ct = default) => inner.FlushAsync(ct);

        public ValueTask UnmapAsync(long lba, long blockCount, CancellationToken ct = default) => inner.UnmapAsync(lba, blockCount, ct);

        public async ValueTask DisposeAsync()
        {
            await inner.DisposeAsync();
            await pool.DisposeAsync();
        }
    }
}

public sealed class StripedPoolVolumeContractTests : PoolVolumeContractTests
{
    protected override PoolLayout Layout => PoolLayout.Striped;
}

public sealed class MirroredPoolVolumeContractTests : PoolVolumeContractTests
{
    protected override PoolLayout Layout => PoolLayout.Mirrored;
}
