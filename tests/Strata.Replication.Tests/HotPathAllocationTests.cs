using Strata.Replication.Server;

namespace Strata.Replication.Tests;

[CollectionDefinition(nameof(ProcessWideMeasurement), DisableParallelization = true)]
public sealed class ProcessWideMeasurement;

/// <summary>
/// The data path allocates nothing per request, client and server together: pooled request slots and completion
/// sources, pooled server requests and buffers, Pipelines on the sockets. Measured for the whole process, so the
/// class runs alone.
/// </summary>
[Collection(nameof(ProcessWideMeasurement))]
public sealed class HotPathAllocationTests
{
    /// <param name="local">Through the in-process <see cref="LocalReplica"/> instead of a client over TCP: only
    /// what the file device itself allocates (nothing, for aligned buffers) may remain.</param>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Requests_in_flight_allocate_nothing_per_request(bool local)
    {
        await using var host = ReplicaHost.Start();
        host.AddVolume("pvc-alloc", 4096, 1024);
        IBlockDevice device = local ? await host.OpenLocalAsync("pvc-alloc", 1) : await host.ConnectAsync("pvc-alloc", 1);
        await using var _ = device;

        long perRequest = await BytesPerRequestAsync(device, WriteAndReadAsync, requestsPerRound: 2);

        // Every write went through the volume's write-intent bitmap (kept in a file, as a node keeps it): once a
        // region's bit is on disk, a write to it costs no allocation.
        Assert.True(File.Exists(host.Server.IntentPathOf("pvc-alloc")));
        // 4 MiB written: 4 regions, and those set ahead of the workers' sequential runs.
        Assert.InRange((await ((IWriteIntent)device).GetIntentAsync()).Set.Count(), 4, 4 + WriteIntentLog.DefaultSetAhead);

        // What remains is a constant of the run (pools and queues reaching their working size, about 1 MB however
        // long it runs: 200,000 rounds measure 2-3 bytes per request), not a Task or a box per request (70+ bytes).
        Assert.True(perRequest < 64, $"{perRequest} bytes allocated per request");
    }

    [Fact]
    public async Task Allocation_queries_allocate_nothing_per_request()
    {
        await using var host = ReplicaHost.Start();
        host.Serve("pvc-extents", new MemoryDevice(4096, 1024));
        await using var client = await host.ConnectAsync("pvc-extents", 1);
        await client.WriteAsync(200, new byte[100 * 4096], WriteFlags.None);

        long perRequest = await BytesPerRequestAsync(client, QueryAsync, requestsPerRound: 1);
        Assert.True(perRequest < 64, $"{perRequest} bytes allocated per request");
    }

    /// <summary>Bytes the process allocates per request over 20,000 rounds of eight workers, after 2,000 to warm up
    /// (pools fill, code is jitted).</summary>
    private static async Task<long> BytesPerRequestAsync(IBlockDevice client, Func<IBlockDevice, int, int, Task> work, int requestsPerRound)
    {
        await RunAsync(client, 2_000, work);
        long before = GC.GetTotalAllocatedBytes(precise: true);
        const int rounds = 20_000;
        await RunAsync(client, rounds, work);
        return (GC.GetTotalAllocatedBytes(precise: true) - before) / (rounds * requestsPerRound);
    }

    /// <summary>Eight workers, each doing its rounds on its own blocks, so 8-16 requests are in flight.</summary>
    private static async Task RunAsync(IBlockDevice client, int rounds, Func<IBlockDevice, int, int, Task> work)
    {
        var workers = new Task[8];
        for (int w = 0; w < workers.Length; w++)
        {
            workers[w] = work(client, w, rounds / workers.Length);
        }

        await Task.WhenAll(workers);
    }

    /// <summary>GetExtent from each of the worker's blocks: mapped runs, unmapped ones, and their edges.</summary>
    private static async Task QueryAsync(IBlockDevice client, int worker, int rounds)
    {
        for (int i = 0; i < rounds; i++)
        {
            var (_, blocks) = await ((IAllocationMap)client).GetExtentAsync((worker * 128) + (i % 128), long.MaxValue);
            if (blocks < 1)
            {
                Assert.Fail($"an extent of {blocks} blocks");
            }
        }
    }

    /// <summary>A write then a read of the worker's block, from aligned buffers (a file device copies others).</summary>
    private static async Task WriteAndReadAsync(IBlockDevice client, int worker, int rounds)
    {
        using var data = new AlignedBuffer(4096);
        using var back = new AlignedBuffer(4096);
        for (int i = 0; i < rounds; i++)
        {
            data.Memory.Span[0] = (byte)i;
            long lba = (worker * 128) + (i % 128);
            await client.WriteAsync(lba, data.Memory, WriteFlags.None);
            await client.ReadAsync(lba, back.Memory);
        }
    }
}
