using System.Diagnostics;
using System.Runtime.CompilerServices;

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
        // "Promptly" is: on the closed connection, never by the reply timeout's watchdog, made far longer than the wait.
        var options = new ReplicaClientOptions { ReplyTimeout = TimeSpan.FromMinutes(5) };
        await using var client = await ReplicaClient.ConnectAsync(host.EndPoint, "pvc-k", 1, options);
        await client.WriteAsync(0, new byte[4096], WriteFlags.None);

        // 32 writes stuck at the disk, and a stream of reads flowing beside them.
        gated.Close();
        var stuck = Enumerable.Range(0, 32).Select(i => client.WriteAsync(i, new byte[4096], WriteFlags.None).AsTask()).ToArray();
        await Frames.WaitUntilAsync(() => gated.Waiting == 32, "the writes to reach the disk");
        var reads = new StrongBox<long>();
        var readers = Enumerable.Range(0, 8).Select(i => ReadForeverAsync(client, i, reads)).ToArray();
        await Frames.WaitUntilAsync(() => Interlocked.Read(ref reads.Value) >= 64, "reads to flow beside the stuck writes");

        var stopping = host.Server.DisposeAsync().AsTask(); // waits for the stuck writes at the disk; the client must not
        var outcomes = await Task.WhenAll(stuck.Concat(readers).Select(Outcome)).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.All(outcomes, e =>
        {
            var b = Assert.IsType<BlockDeviceException>(e);
            Assert.Equal(BlockDeviceErrorKind.Unavailable, b.Kind);
            Assert.DoesNotContain("answered nothing", b.Message, StringComparison.Ordinal);
        });
        Assert.False(stopping.IsCompleted, "the server finished stopping: the client may have waited for it");
        Assert.False(client.IsConnected);

        // Later calls fail at once, the same way.
        var later = await Assert.ThrowsAsync<BlockDeviceException>(async () => await client.FlushAsync());
        Assert.Equal(BlockDeviceErrorKind.Unavailable, later.Kind);

        gated.Open();
        await stopping.WaitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>A server cut off (or frozen) answers nothing and closes nothing: the reply timeout ends the wait.</summary>
    [Fact]
    public async Task A_server_that_answers_nothing_fails_the_requests_after_the_reply_timeout()
    {
        await using var host = ReplicaHost.Start();
        var gated = new GatedDevice(host.AddVolume("pvc-silent", 4096, 256));
        host.Serve("pvc-silent", gated);
        // Long enough that a loaded machine's scheduling never looks like silence (the first write must be answered).
        var options = new ReplicaClientOptions { ReplyTimeout = TimeSpan.FromSeconds(2) };
        await using var client = await ReplicaClient.ConnectAsync(host.EndPoint, "pvc-silent", 1, options);
        await client.WriteAsync(0, new byte[4096], WriteFlags.None);

        gated.Close();
        try
        {
            var clock = Stopwatch.StartNew();
            var stuck = Enumerable.Range(0, 4).Select(i => client.WriteAsync(i, new byte[4096], WriteFlags.None).AsTask()).ToArray();
            var outcomes = await Task.WhenAll(stuck.Select(Outcome)).WaitAsync(TimeSpan.FromSeconds(10));
            var elapsed = clock.Elapsed;

            Assert.All(outcomes, e => Assert.Equal(BlockDeviceErrorKind.Unavailable, Assert.IsType<BlockDeviceException>(e).Kind));
            Assert.Contains("answered nothing", outcomes[0]!.Message, StringComparison.Ordinal);
            Assert.True(elapsed >= options.ReplyTimeout - TimeSpan.FromMilliseconds(50), $"failed after {elapsed}, before the reply timeout");
            Assert.False(client.IsConnected);
        }
        finally
        {
            gated.Open();
        }
    }

    /// <summary>A write held at a slow disk for longer than the reply timeout is no fault while the server answers other requests.</summary>
    [Fact]
    public async Task A_slow_request_is_not_a_lost_server_while_other_answers_come()
    {
        await using var host = ReplicaHost.Start();
        var gated = new GatedDevice(host.AddVolume("pvc-slow", 4096, 256));
        host.Serve("pvc-slow", gated);
        var options = new ReplicaClientOptions { ReplyTimeout = TimeSpan.FromSeconds(2) };
        await using var client = await ReplicaClient.ConnectAsync(host.EndPoint, "pvc-slow", 1, options);

        // Answers flow before the write is held and all the while after: the server is plainly alive.
        using var stop = new CancellationTokenSource();
        var reads = ReadUntilAsync(client, stop.Token);
        await client.ReadAsync(7, new byte[4096]);
        gated.Close();
        try
        {
            var held = client.WriteAsync(1, new byte[4096], WriteFlags.None).AsTask();
            await Frames.WaitUntilAsync(() => gated.Waiting == 1, "the write to reach the disk");
            var clock = Stopwatch.StartNew();
            await Frames.WaitUntilAsync(() => clock.Elapsed > 2.5 * options.ReplyTimeout || !client.IsConnected, "two and a half reply timeouts to pass");

            Assert.True(client.IsConnected, "the client gave up on a server that was answering");
            Assert.False(held.IsCompleted);
            gated.Open();
            await held.WaitAsync(TimeSpan.FromSeconds(10));
        }
        finally
        {
            gated.Open();
            await stop.CancelAsync();
            await reads;
        }
    }

    private static async Task ReadUntilAsync(ReplicaClient client, CancellationToken ct)
    {
        var buffer = new byte[4096];
        while (!ct.IsCancellationRequested)
        {
            await client.ReadAsync(7, buffer);
        }
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

    private static async Task ReadForeverAsync(ReplicaClient client, int lba, StrongBox<long> reads)
    {
        var buffer = new byte[4096];
        while (true)
        {
            await client.ReadAsync(lba, buffer);
            Interlocked.Increment(ref reads.Value);
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
