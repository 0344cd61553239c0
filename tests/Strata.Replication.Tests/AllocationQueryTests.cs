using System.Net.Sockets;
using Strata.Replication.Protocol;

namespace Strata.Replication.Tests;

/// <summary>GetExtent: a client asks the replica which blocks are mapped, so a full rebuild can skip the rest.</summary>
public sealed class AllocationQueryTests : IAsyncLifetime
{
    private const int Block = 512;
    private const long Blocks = 1000;
    private readonly ReplicaHost _host = ReplicaHost.Start();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task Walking_the_extents_reproduces_the_mapped_and_unmapped_runs()
    {
        var device = new MemoryDevice(Block, Blocks);
        _host.Serve("pvc-m", device);
        await using var client = await _host.ConnectAsync("pvc-m", 1);

        // Nothing written: one unmapped extent, however much is asked.
        Assert.Equal((false, Blocks), await client.GetExtentAsync(0, long.MaxValue));
        Assert.Equal((false, 10L), await client.GetExtentAsync(0, 10));

        var model = new bool[Blocks];
        foreach (var (lba, count) in new (long, int)[] { (0, 3), (10, 20), (100, 250), (600, 1), (990, 10) })
        {
            await client.WriteAsync(lba, new byte[count * Block], WriteFlags.None);
            model.AsSpan((int)lba, count).Fill(true);
        }

        foreach (var (lba, count) in new (long, int)[] { (1, 1), (150, 50), (349, 1), (999, 1), (400, 100) })
        {
            await client.UnmapAsync(lba, count);
            model.AsSpan((int)lba, count).Clear();
        }

        // Each answer is a whole run: as many requests as runs.
        var expected = Runs(model);
        var (runs, requests) = await WalkAsync(client, long.MaxValue);
        Assert.Equal(expected, runs);
        Assert.Equal(expected.Count, requests);

        // Asking at most 7 blocks at a time: no answer exceeds it, and the runs come out the same once joined.
        Assert.Equal(expected, (await WalkAsync(client, 7)).Runs);
    }

    [Fact]
    public async Task A_device_without_an_allocation_map_is_one_mapped_extent()
    {
        _host.AddVolume("pvc-f", Block, Blocks);
        await using var client = await _host.ConnectAsync("pvc-f", 1);
        Assert.Equal((true, Blocks), await client.GetExtentAsync(0, long.MaxValue));
        Assert.Equal((true, Blocks - 5), await client.GetExtentAsync(5, Blocks));
        Assert.Equal((true, 16L), await client.GetExtentAsync(5, 16));
        Assert.Equal((true, 1L), await client.GetExtentAsync(Blocks - 1, long.MaxValue));
    }

    [Fact]
    public async Task An_extent_past_the_end_is_OutOfRange_and_the_connection_goes_on()
    {
        _host.Serve("pvc-o", new MemoryDevice(Block, Blocks));
        await using (var client = await _host.ConnectAsync("pvc-o", 1))
        {
            foreach (long lba in new[] { Blocks, Blocks + 1, -1 })
            {
                var e = Assert.Throws<BlockDeviceException>(() => client.GetExtentAsync(lba, 1));
                Assert.Equal(BlockDeviceErrorKind.OutOfRange, e.Kind);
            }

            Assert.Throws<ArgumentOutOfRangeException>(() => client.GetExtentAsync(0, 0));
        }

        // The server's own check, for a client that asks past the end anyway.
        using var raw = await Frames.ConnectRawAsync(_host.EndPoint);
        await raw.SendAsync(Frames.Hello("pvc-o", 1), SocketFlags.None);
        await raw.SendAsync(Frames.Frame(Opcode.GetExtent, 0, 5, (ulong)Blocks - 1, 2, []), SocketFlags.None);
        await raw.SendAsync(Frames.Frame(Opcode.GetExtent, 0, 6, ulong.MaxValue, 1, []), SocketFlags.None);
        await raw.SendAsync(Frames.Frame(Opcode.GetExtent, 0, 7, (ulong)Blocks - 3, 3, []), SocketFlags.None);
        await raw.SendAsync(Frames.Frame(Opcode.Goodbye, 0, 0, 0, 0, []), SocketFlags.None);
        var answers = await Frames.ReadUntilClosedAsync(raw, TimeSpan.FromSeconds(10));
        Assert.Equal(Opcode.HelloOk, answers[0].Header.Opcode);
        var byId = answers.Skip(1).ToDictionary(a => a.Header.RequestId);
        Assert.Equal(ReplicaStatus.OutOfRange, byId[5].Header.Status);
        Assert.Equal(ReplicaStatus.OutOfRange, byId[6].Header.Status);
        var ok = byId[7];
        Assert.Equal(ReplicaStatus.Ok, ok.Header.Status);
        Assert.Equal((ulong)Blocks - 3, ok.Header.Lba);
        Assert.Equal(3u, ok.Header.BlockCount);
        Assert.Equal(new ExtentPayload(false, 3), ExtentPayload.Decode(new(ok.Payload), 3, 7));
    }

    [Fact]
    public async Task A_fenced_target_gets_Fenced()
    {
        _host.Serve("pvc-x", new MemoryDevice(Block, Blocks));
        await using var old = await _host.ConnectAsync("pvc-x", 1);
        Assert.Equal((false, Blocks), await old.GetExtentAsync(0, long.MaxValue));
        await using var newer = await _host.ConnectAsync("pvc-x", 2);

        // Answered Fenced by the server, then refused by the client without asking again.
        for (int i = 0; i < 2; i++)
        {
            var e = await Assert.ThrowsAsync<BlockDeviceException>(async () => await old.GetExtentAsync(0, 10));
            Assert.Equal(BlockDeviceErrorKind.Fenced, e.Kind);
            Assert.Contains("epoch 1 is older than 2", e.Message);
        }

        Assert.Equal((false, 10L), await newer.GetExtentAsync(0, 10));
    }

    [Fact]
    public async Task A_failing_or_impossible_allocation_map_is_an_error_of_the_request_only()
    {
        _host.Serve("pvc-b", new AnsweringMap(new MemoryDevice(Block, Blocks), lba => lba switch
        {
            0 => throw new BlockDeviceException(BlockDeviceErrorKind.Unavailable, "map offline"),
            1 => (true, 0),
            2 => (true, long.MaxValue),
            _ => (true, 1),
        }));
        await using var client = await _host.ConnectAsync("pvc-b", 1);

        var offline = await Assert.ThrowsAsync<BlockDeviceException>(async () => await client.GetExtentAsync(0, 10));
        Assert.Equal(BlockDeviceErrorKind.Unavailable, offline.Kind);
        Assert.Contains("map offline", offline.Message);
        foreach (long lba in new long[] { 1, 2 })
        {
            var e = await Assert.ThrowsAsync<BlockDeviceException>(async () => await client.GetExtentAsync(lba, 10));
            Assert.Equal(BlockDeviceErrorKind.Medium, e.Kind);
        }

        Assert.True(client.IsConnected);
        Assert.Equal((true, 1L), await client.GetExtentAsync(3, 10));
    }

    /// <summary>Asks GetExtent from 0 to the end, at most <paramref name="maxBlocks"/> at a time: the runs, joined,
    /// and the requests it took.</summary>
    private static async Task<(List<(bool Mapped, long Lba, long Blocks)> Runs, int Requests)> WalkAsync(ReplicaClient client, long maxBlocks)
    {
        var runs = new List<(bool Mapped, long Lba, long Blocks)>();
        int requests = 0;
        for (long lba = 0; lba < client.BlockCount; requests++)
        {
            var (mapped, blocks) = await client.GetExtentAsync(lba, maxBlocks);
            Assert.InRange(blocks, 1, Math.Min(maxBlocks, client.BlockCount - lba));
            if (runs.Count > 0 && runs[^1].Mapped == mapped)
            {
                runs[^1] = (mapped, runs[^1].Lba, runs[^1].Blocks + blocks);
            }
            else
            {
                runs.Add((mapped, lba, blocks));
            }

            lba += blocks;
        }

        return (runs, requests);
    }

    private static List<(bool Mapped, long Lba, long Blocks)> Runs(bool[] model)
    {
        var runs = new List<(bool Mapped, long Lba, long Blocks)>();
        for (int lba = 0; lba < model.Length;)
        {
            int end = lba + 1;
            while (end < model.Length && model[end] == model[lba])
            {
                end++;
            }

            runs.Add((model[lba], lba, end - lba));
            lba = end;
        }

        return runs;
    }

    /// <summary>A device whose allocation map gives the answers a test wants (or throws).</summary>
    private sealed class AnsweringMap(IBlockDevice inner, Func<long, (bool, long)> answer) : IBlockDevice, IAllocationMap
    {
        public int BlockSize => inner.BlockSize;

        public long BlockCount => inner.BlockCount;

        public ValueTask<(bool Mapped, long Blocks)> GetExtentAsync(long lba, long maxBlocks, CancellationToken ct = default) =>
            ValueTask.FromResult(answer(lba));

        public ValueTask ReadAsync(long lba, Memory<byte> buffer, CancellationToken ct = default) => inner.ReadAsync(lba, buffer, ct);

        public ValueTask WriteAsync(long lba, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct = default) => inner.WriteAsync(lba, data, flags, ct);

        public ValueTask FlushAsync(CancellationToken ct = default) => inner.FlushAsync(ct);

        public ValueTask UnmapAsync(long lba, long blockCount, CancellationToken ct = default) => inner.UnmapAsync(lba, blockCount, ct);

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
