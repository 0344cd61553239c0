using System.Security.Cryptography;
using Xunit;

namespace Strata.Blocks.Contract;

/// <summary>
/// Every semantic of <see cref="IBlockDevice"/> as a test. Derive once per implementation and say how to make
/// and reopen a device; the tests run against 512- and 4096-byte blocks.
/// </summary>
public abstract class BlockDeviceContract : IAsyncLifetime
{
    private readonly List<IAsyncDisposable> _open = [];

    /// <summary>A new, empty device of <paramref name="blockCount"/> blocks.</summary>
    protected abstract ValueTask<IBlockDevice> CreateAsync(int blockSize, long blockCount);

    /// <summary>
    /// Closes <paramref name="device"/> as a crash would leave it after its last completed flush, and opens the
    /// same backing store again.
    /// </summary>
    protected abstract ValueTask<IBlockDevice> ReopenAsync(IBlockDevice device);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var d in _open)
        {
            await d.DisposeAsync();
        }
    }

    [Theory]
    [InlineData(512)]
    [InlineData(4096)]
    public async Task Reports_its_geometry(int blockSize)
    {
        var dev = await Make(blockSize, 100);
        Assert.Equal(blockSize, dev.BlockSize);
        Assert.Equal(100, dev.BlockCount);
    }

    [Theory]
    [InlineData(512)]
    [InlineData(4096)]
    public async Task Never_written_blocks_read_as_zeros(int blockSize)
    {
        var dev = await Make(blockSize, 64);
        var buf = Filled(blockSize * 64, 0xEE);
        await dev.ReadAsync(0, buf);
        Assert.True(buf.AsSpan().IndexOfAnyExcept((byte)0) < 0);
    }

    [Theory]
    [InlineData(512)]
    [InlineData(4096)]
    public async Task A_completed_write_is_seen_by_later_reads(int blockSize)
    {
        var dev = await Make(blockSize, 64);
        var data = RandomBytes(blockSize * 5);
        await dev.WriteAsync(7, data, WriteFlags.None);

        var back = new byte[data.Length];
        await dev.ReadAsync(7, back);
        Assert.Equal(data, back);

        // Neighbours are untouched, and a read spanning the edge sees both.
        var span = new byte[blockSize * 7];
        await dev.ReadAsync(6, span);
        Assert.True(span.AsSpan(0, blockSize).IndexOfAnyExcept((byte)0) < 0);
        Assert.Equal(data, span.AsSpan(blockSize, data.Length).ToArray());
        Assert.True(span.AsSpan(blockSize * 6).IndexOfAnyExcept((byte)0) < 0);
    }

    [Theory]
    [InlineData(512)]
    [InlineData(4096)]
    public async Task Overwrites_replace_data(int blockSize)
    {
        var dev = await Make(blockSize, 16);
        await dev.WriteAsync(0, Filled(blockSize * 16, 0x11), WriteFlags.None);
        await dev.WriteAsync(3, Filled(blockSize * 2, 0x22), WriteFlags.Fua);
        var back = new byte[blockSize * 16];
        await dev.ReadAsync(0, back);
        for (int b = 0; b < 16; b++)
        {
            byte want = b is 3 or 4 ? (byte)0x22 : (byte)0x11;
            Assert.True(back.AsSpan(b * blockSize, blockSize).IndexOfAnyExcept(want) < 0, $"block {b}");
        }
    }

    [Theory]
    [InlineData(512)]
    [InlineData(4096)]
    public async Task Unmapped_blocks_read_as_zeros_and_others_keep_their_data(int blockSize)
    {
        var dev = await Make(blockSize, 256);
        var data = RandomBytes(blockSize * 256);
        await dev.WriteAsync(0, data, WriteFlags.None);
        await dev.UnmapAsync(10, 100);
        await dev.UnmapAsync(255, 1);

        var back = new byte[data.Length];
        await dev.ReadAsync(0, back);
        Assert.Equal(data.AsSpan(0, 10 * blockSize).ToArray(), back.AsSpan(0, 10 * blockSize).ToArray());
        Assert.True(back.AsSpan(10 * blockSize, 100 * blockSize).IndexOfAnyExcept((byte)0) < 0);
        Assert.Equal(data.AsSpan(110 * blockSize, 145 * blockSize).ToArray(), back.AsSpan(110 * blockSize, 145 * blockSize).ToArray());
        Assert.True(back.AsSpan(255 * blockSize).IndexOfAnyExcept((byte)0) < 0);

        // Unmapped blocks can be written again.
        await dev.WriteAsync(50, Filled(blockSize, 0x77), WriteFlags.None);
        var one = new byte[blockSize];
        await dev.ReadAsync(50, one);
        Assert.True(one.AsSpan().IndexOfAnyExcept((byte)0x77) < 0);
    }

    [Theory]
    [InlineData(512)]
    [InlineData(4096)]
    public async Task Out_of_range_calls_fail_with_OutOfRange_and_change_nothing(int blockSize)
    {
        var dev = await Make(blockSize, 32);
        var data = RandomBytes(blockSize * 32);
        await dev.WriteAsync(0, data, WriteFlags.None);

        async Task Expect(Func<ValueTask> call)
        {
            var e = await Assert.ThrowsAsync<BlockDeviceException>(async () => await call());
            Assert.Equal(BlockDeviceErrorKind.OutOfRange, e.Kind);
        }

        await Expect(() => dev.ReadAsync(32, new byte[blockSize]));
        await Expect(() => dev.ReadAsync(31, new byte[blockSize * 2]));
        await Expect(() => dev.ReadAsync(-1, new byte[blockSize]));
        await Expect(() => dev.WriteAsync(31, Filled(blockSize * 2, 0x55), WriteFlags.None));
        await Expect(() => dev.WriteAsync(long.MaxValue / 2, Filled(blockSize, 0x55), WriteFlags.Fua));
        await Expect(() => dev.UnmapAsync(30, 3));
        await Expect(() => dev.UnmapAsync(-5, 1));
        await Expect(() => dev.UnmapAsync(1, long.MaxValue));

        var back = new byte[data.Length];
        await dev.ReadAsync(0, back);
        Assert.Equal(data, back);
    }

    [Theory]
    [InlineData(512)]
    [InlineData(4096)]
    public async Task Zero_length_calls_at_the_end_are_allowed(int blockSize)
    {
        var dev = await Make(blockSize, 8);
        await dev.ReadAsync(8, Memory<byte>.Empty);
        await dev.WriteAsync(8, ReadOnlyMemory<byte>.Empty, WriteFlags.None);
        await dev.UnmapAsync(8, 0);
    }

    [Theory]
    [InlineData(512)]
    [InlineData(4096)]
    public async Task Concurrent_writes_and_reads_of_distinct_blocks_all_land(int blockSize)
    {
        const int blocks = 512;
        var dev = await Make(blockSize, blocks);
        var expected = RandomBytes(blockSize * blocks);

        // 512 writes of one block each, all in flight at once, in a shuffled order.
        var order = Enumerable.Range(0, blocks).OrderBy(_ => Random.Shared.Next()).ToArray();
        await Task.WhenAll(order.Select(b => dev.WriteAsync(b, expected.AsMemory(b * blockSize, blockSize), WriteFlags.None).AsTask()));

        var back = new byte[expected.Length];
        await Task.WhenAll(Enumerable.Range(0, blocks / 8).Select(i =>
            dev.ReadAsync(i * 8, back.AsMemory(i * 8 * blockSize, 8 * blockSize)).AsTask()));
        Assert.Equal(expected, back);
    }

    [Theory]
    [InlineData(512)]
    [InlineData(4096)]
    public async Task Concurrent_overwrites_of_one_range_leave_one_whole_version_per_block(int blockSize)
    {
        var dev = await Make(blockSize, 16);
        var versions = Enumerable.Range(1, 16).Select(v => Filled(blockSize * 4, (byte)v)).ToArray();
        await Task.WhenAll(versions.Select(v => dev.WriteAsync(4, v, WriteFlags.None).AsTask()));

        var back = new byte[blockSize * 4];
        await dev.ReadAsync(4, back);
        for (int b = 0; b < 4; b++)
        {
            var block = back.AsSpan(b * blockSize, blockSize);
            Assert.InRange(block[0], 1, 16);
            Assert.True(block.IndexOfAnyExcept(block[0]) < 0, $"block {b} mixes versions within a block");
        }
    }

    [Theory]
    [InlineData(512)]
    [InlineData(4096)]
    public async Task Data_written_before_a_completed_flush_survives_reopening(int blockSize)
    {
        var dev = await Make(blockSize, 128);
        var data = RandomBytes(blockSize * 128);
        await dev.WriteAsync(0, data, WriteFlags.None);
        await dev.UnmapAsync(64, 8);
        await dev.FlushAsync();

        var again = await Reopen(dev);
        Assert.Equal(blockSize, again.BlockSize);
        Assert.Equal(128, again.BlockCount);
        var back = new byte[data.Length];
        await again.ReadAsync(0, back);
        data.AsSpan(64 * blockSize, 8 * blockSize).Clear();
        Assert.Equal(data, back);
    }

    [Theory]
    [InlineData(512)]
    [InlineData(4096)]
    public async Task A_completed_FUA_write_survives_reopening_without_a_flush(int blockSize)
    {
        var dev = await Make(blockSize, 16);
        var data = RandomBytes(blockSize * 3);
        await dev.WriteAsync(5, data, WriteFlags.Fua);

        var again = await Reopen(dev);
        var back = new byte[data.Length];
        await again.ReadAsync(5, back);
        Assert.Equal(data, back);
    }

    [Fact]
    public async Task Concurrent_flushes_and_writes_complete()
    {
        var dev = await Make(4096, 256);
        var work = new List<Task>();
        for (int i = 0; i < 256; i++)
        {
            work.Add(dev.WriteAsync(i, Filled(4096, (byte)i), i % 7 == 0 ? WriteFlags.Fua : WriteFlags.None).AsTask());
            if (i % 16 == 0)
            {
                work.Add(dev.FlushAsync().AsTask());
            }
        }

        await Task.WhenAll(work);
        await dev.FlushAsync();
        var again = await Reopen(dev);
        var one = new byte[4096];
        for (int i = 0; i < 256; i += 17)
        {
            await again.ReadAsync(i, one);
            Assert.True(one.AsSpan().IndexOfAnyExcept((byte)i) < 0, $"block {i}");
        }
    }

    protected static byte[] RandomBytes(int n) => RandomNumberGenerator.GetBytes(n);

    protected static byte[] Filled(int n, byte value)
    {
        var b = new byte[n];
        b.AsSpan().Fill(value);
        return b;
    }

    private async ValueTask<IBlockDevice> Make(int blockSize, long blockCount)
    {
        var dev = await CreateAsync(blockSize, blockCount);
        _open.Add(dev);
        return dev;
    }

    private async ValueTask<IBlockDevice> Reopen(IBlockDevice device)
    {
        _open.Remove(device);
        var dev = await ReopenAsync(device);
        _open.Add(dev);
        return dev;
    }
}
