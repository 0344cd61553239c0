using System.Diagnostics;

namespace Strata.Replication.Tests;

/// <summary>A replica server that goes away: every request in flight fails Unavailable, promptly.</summary>
public sealed class ServerLossTests
{
    [Fact]
    public async Task Killing_the_server_fails_pending_requests_with_Unavailable_promptly()
    {
        await using var host = ReplicaHost.Start();
        var gated = new GatedDevice(host.AddVolume("pvc-k", 4096, 256));
        host.Serve("pvc-k", gated);
        await using var client = await host.ConnectAsync("pvc-k", 1);
        await client.WriteAsync(0, new byte[4096], WriteFlags.None);

        // 32 writes stuck at the disk, and a stream of reads flowing beside them.
        gated.Close();
        var stuck = Enumerable.Range(0, 32).Select(i => client.WriteAsync(i, new byte[4096], WriteFlags.None).AsTask()).ToArray();
        await Frames.WaitUntilAsync(() => gated.Waiting == 32, "the writes to reach the disk");
        var readers = Enumerable.Range(0, 8).Select(i => ReadForeverAsync(client, i)).ToArray();
        await Task.Delay(100);

        var clock = Stopwatch.StartNew();
        var stopping = host.Server.DisposeAsync().AsTask(); // waits for the stuck writes at the disk; the client must not
        var outcomes = await Task.WhenAll(stuck.Concat(readers).Select(Outcome)).WaitAsync(TimeSpan.FromSeconds(10));
        var elapsed = clock.Elapsed;

        Assert.All(outcomes, e =>
        {
            var b = Assert.IsType<BlockDeviceException>(e);
            Assert.Equal(BlockDeviceErrorKind.Unavailable, b.Kind);
        });
        Assert.True(elapsed < TimeSpan.FromSeconds(2), $"pending requests failed after {elapsed}");
        Assert.False(client.IsConnected);

        // Later calls fail at once, the same way.
        var later = await Assert.ThrowsAsync<BlockDeviceException>(async () => await client.FlushAsync());
        Assert.Equal(BlockDeviceErrorKind.Unavailable, later.Kind);

        gated.Open();
        await stopping.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Fact]
    public async Task A_server_that_is_gone_is_Unavailable_at_connect()
    {
        var host = ReplicaHost.Start();
        host.AddVolume("pvc-gone");
        var endpoint = host.EndPoint;
        await host.DisposeAsync();
        var e = await Assert.ThrowsAsync<BlockDeviceException>(() => ReplicaClient.ConnectAsync(endpoint, "pvc-gone", 1));
        Assert.Equal(BlockDeviceErrorKind.Unavailable, e.Kind);
    }

    private static async Task ReadForeverAsync(ReplicaClient client, int lba)
    {
        var buffer = new byte[4096];
        while (true)
        {
            await client.ReadAsync(lba, buffer);
        }
    }

    private static async Task<Exception?> Outcome(Task task)
    {
        try
        {
            await task;
            return null;
        }
        catch (Exception e)
        {
            return e;
        }
    }
}
