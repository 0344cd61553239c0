using Strata.Blocks;
using Strata.Pool.Tests.Faults;
using Xunit;

namespace Strata.Pool.Tests;

/// <summary>A pool volume is its own <see cref="IAllocationMap"/>: mapped chunks are mapped, the rest is not.</summary>
public sealed class PoolVolumeAllocationMapTests : IDisposable
{
    private const int BlocksPerChunk = 16 * 1024 / 512; // PoolFixture's chunks, 512-byte blocks

    private readonly TempDirectory _dir = new(inMemory: true);

    public void Dispose() => _dir.Dispose();

    [Fact]
    public async Task Written_chunks_are_mapped_and_unmapped_ones_are_not()
    {
        await using var pool = await PoolFixture.CreateAsync(_dir);
        await pool.CreateVolumeAsync("v", 64 * BlocksPerChunk * 512L);
        await using var volume = pool.OpenVolume("v");
        IAllocationMap map = volume;
        Assert.Equal((false, volume.BlockCount), await map.GetExtentAsync(0, long.MaxValue));

        await volume.WriteAsync((2 * BlocksPerChunk) + 6, new byte[512], WriteFlags.None);     // maps chunk 2
        await volume.WriteAsync(10 * BlocksPerChunk, new byte[2 * BlocksPerChunk * 512], WriteFlags.None); // chunks 10-11
        await volume.UnmapAsync(11 * BlocksPerChunk, BlocksPerChunk);                         // chunk 11 again

        var runs = new List<(bool, long, long)>();
        for (long lba = 0; lba < volume.BlockCount;)
        {
            var (mapped, blocks) = await map.GetExtentAsync(lba, long.MaxValue);
            runs.Add((mapped, lba, blocks));
            lba += blocks;
        }

        Assert.Equal(
            [
                (false, 0L, 2L * BlocksPerChunk),
                (true, 2L * BlocksPerChunk, BlocksPerChunk),
                (false, 3L * BlocksPerChunk, 7L * BlocksPerChunk),
                (true, 10L * BlocksPerChunk, BlocksPerChunk),
                (false, 11L * BlocksPerChunk, volume.BlockCount - (11L * BlocksPerChunk)),
            ],
            runs);

        // From inside a chunk, and no further than asked.
        Assert.Equal((true, BlocksPerChunk - 6L), await map.GetExtentAsync((2 * BlocksPerChunk) + 6, long.MaxValue));
        Assert.Equal((true, 3L), await map.GetExtentAsync((2 * BlocksPerChunk) + 6, 3));
        Assert.Equal((false, 5L), await map.GetExtentAsync(0, 5));
    }
}
