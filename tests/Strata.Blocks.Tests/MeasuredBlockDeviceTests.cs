using Xunit;

namespace Strata.Blocks.Tests;

/// <summary>The counting wrapper a served volume's LUN goes through: what it counts, what it forwards, what it costs.</summary>
public sealed class MeasuredBlockDeviceTests
{
    private static bool Optimized =>
        typeof(MeasuredBlockDevice).Assembly.GetCustomAttributes(typeof(System.Diagnostics.DebuggableAttribute), false)
            is not [System.Diagnostics.DebuggableAttribute { IsJITOptimizerDisabled: true }];

    [Fact]
    public async Task Counts_each_kind_of_operation_with_its_bytes()
    {
        var measured = MeasuredBlockDevice.Over(new GatedDevice());
        await measured.WriteAsync(0, new byte[8 * 512], WriteFlags.None);
        await measured.WriteAsync(8, new byte[512], WriteFlags.Fua);
        await measured.ReadAsync(0, new byte[4 * 512]);
        await measured.FlushAsync();
        await measured.UnmapAsync(0, 16);

        var c = measured.Counters;
        Assert.Equal((2, 9 * 512), (c.Writes.Count, c.Writes.Bytes));
        Assert.Equal((1, 4 * 512), (c.Reads.Count, c.Reads.Bytes));
        Assert.Equal((1, 0), (c.Flushes.Count, c.Flushes.Bytes));
        Assert.Equal((1, 16 * 512), (c.Unmaps.Count, c.Unmaps.Bytes));
        Assert.Equal(0, c.Errors);
        Assert.True(c.Elapsed > TimeSpan.Zero);
    }

    [Fact]
    public async Task An_operation_that_pends_counts_when_it_completes_with_the_time_it_took()
    {
        var inner = new GatedDevice { Pending = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        var measured = MeasuredBlockDevice.Over(inner);
        var write = measured.WriteAsync(0, new byte[512], WriteFlags.None);
        Assert.False(write.IsCompleted);
        Assert.Equal(0, measured.Counters.Writes.Count);

        inner.Pending.SetResult();
        await write;
        var c = measured.Counters;
        Assert.Equal((1, 512), (c.Writes.Count, c.Writes.Bytes));
        Assert.True(c.Writes.Time > TimeSpan.Zero, "a pending write took some time");
    }

    [Fact]
    public async Task A_failed_operation_counts_as_an_error_only_and_its_exception_goes_on()
    {
        var inner = new GatedDevice { Pending = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously) };
        var measured = MeasuredBlockDevice.Over(inner);
        var read = measured.ReadAsync(0, new byte[512]);
        inner.Pending.SetException(new BlockDeviceException(BlockDeviceErrorKind.Medium, "bad block"));
        var e = await Assert.ThrowsAsync<BlockDeviceException>(async () => await read);
        Assert.Equal(BlockDeviceErrorKind.Medium, e.Kind);

        inner.Pending = null;
        inner.Fail = true;
        await Assert.ThrowsAsync<BlockDeviceException>(async () => await measured.FlushAsync());
        var c = measured.Counters;
        Assert.Equal(2, c.Errors);
        Assert.Equal(0, c.Reads.Count + c.Flushes.Count);
    }

    [Fact]
    public async Task Forwards_the_allocation_map_exactly_when_the_inner_device_has_one()
    {
        Assert.False(MeasuredBlockDevice.Over(new GatedDevice()) is IAllocationMap);
        var mapped = MeasuredBlockDevice.Over(new MappedDevice());
        var map = Assert.IsAssignableFrom<IAllocationMap>(mapped);
        Assert.Equal((false, 7L), await map.GetExtentAsync(3, 7));
        Assert.Equal(512, mapped.BlockSize);
        Assert.Equal(1024, mapped.BlockCount);
    }

    [Fact]
    public void Allocates_nothing_per_operation_when_the_device_completes_at_once()
    {
        var measured = MeasuredBlockDevice.Over(new GatedDevice());
        var buffer = new byte[8 * 512];
        for (int i = 0; i < 100; i++)
        {
            Round();
        }

        // The least of three rounds: another test's garbage collection can bump this thread's counter now and then.
        long least = long.MaxValue;
        for (int round = 0; round < 3; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 1000; i++)
            {
                Round();
            }

            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        // A Debug build boxes async state machines; Release allocates nothing.
        Assert.True(Optimized ? least == 0 : least <= 4000 * 256, $"{least} bytes allocated by 1000 rounds of four operations");
        Assert.Equal(100 + 3000, measured.Counters.Reads.Count);

        void Round()
        {
            var read = measured.ReadAsync(0, buffer);
            var write = measured.WriteAsync(0, buffer, WriteFlags.None);
            var flush = measured.FlushAsync();
            var unmap = measured.UnmapAsync(0, 8);
            if (!read.IsCompletedSuccessfully || !write.IsCompletedSuccessfully || !flush.IsCompletedSuccessfully || !unmap.IsCompletedSuccessfully)
            {
                throw new InvalidOperationException("an operation of a synchronous device pended");
            }
        }
    }

    /// <summary>Completes every operation at once, or with <see cref="Pending"/> when set; fails at once when told.</summary>
    private class GatedDevice : IBlockDevice
    {
        public TaskCompletionSource? Pending { get; set; }

        public bool Fail { get; set; }

        public int BlockSize => 512;

        public long BlockCount => 1024;

        public ValueTask ReadAsync(long lba, Memory<byte> buffer, CancellationToken ct = default) => Gate();

        public ValueTask WriteAsync(long lba, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct = default) => Gate();

        public ValueTask FlushAsync(CancellationToken ct = default) => Gate();

        public ValueTask UnmapAsync(long lba, long blockCount, CancellationToken ct = default) => Gate();

        public ValueTask DisposeAsync() => default;

        private ValueTask Gate() =>
            Fail ? ValueTask.FromException(new BlockDeviceException(BlockDeviceErrorKind.Unavailable, "told to fail"))
            : Pending is { } p ? new ValueTask(p.Task) : default;
    }

    private sealed class MappedDevice : GatedDevice, IAllocationMap
    {
        public ValueTask<(bool Mapped, long Blocks)> GetExtentAsync(long lba, long maxBlocks, CancellationToken ct = default) =>
            ValueTask.FromResult((false, maxBlocks));
    }
}

/// <summary>The wrapper keeps every semantic of the device it wraps: the contract suite over a counted file device.</summary>
public sealed class MeasuredBlockDeviceContractTests : FileBlockDeviceContractBase
{
    protected override bool Direct => false;

    protected override async ValueTask<IBlockDevice> CreateAsync(int blockSize, long blockCount) =>
        MeasuredBlockDevice.Over(await base.CreateAsync(blockSize, blockCount));

    protected override async ValueTask<IBlockDevice> ReopenAsync(IBlockDevice device) =>
        MeasuredBlockDevice.Over(await base.ReopenAsync(((MeasuredBlockDevice)device).Inner));
}
