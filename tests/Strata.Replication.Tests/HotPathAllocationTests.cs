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
    [Fact]
    public async Task Requests_in_flight_allocate_nothing_per_request()
    {
        await using var host = ReplicaHost.Start();
        host.AddVolume("pvc-alloc", 4096, 1024);
        await using var client = await host.ConnectAsync("pvc-alloc", 1);

        await RunAsync(client, 2_000); // warm up: pools fill, code is jitted
        long before = GC.GetTotalAllocatedBytes(precise: true);
        const int rounds = 20_000;
        await RunAsync(client, rounds);
        long perRequest = (GC.GetTotalAllocatedBytes(precise: true) - before) / (rounds * 2);

        // What remains is a constant of the run (pools and queues reaching their working size, about 1 MB however
        // long it runs: 200,000 rounds measure 2-3 bytes per request), not a Task or a box per request (70+ bytes).
        Assert.True(perRequest < 64, $"{perRequest} bytes allocated per request");
    }

    /// <summary>Eight workers, each a write then a read of its own block, so 8-16 requests are in flight.</summary>
    private static async Task RunAsync(ReplicaClient client, int rounds)
    {
        var workers = new Task[8];
        for (int w = 0; w < workers.Length; w++)
        {
            workers[w] = WorkAsync(client, w, rounds / workers.Length);
        }

        await Task.WhenAll(workers);
    }

    private static async Task WorkAsync(ReplicaClient client, int worker, int rounds)
    {
        var data = new byte[4096];
        var back = new byte[4096];
        for (int i = 0; i < rounds; i++)
        {
            data[0] = (byte)i;
            long lba = (worker * 128) + (i % 128);
            await client.WriteAsync(lba, data, WriteFlags.None);
            await client.ReadAsync(lba, back);
        }
    }
}
