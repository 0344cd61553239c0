using System.Net.Sockets;
using Strata.Replication.Protocol;

namespace Strata.Replication.Tests;

/// <summary>
/// A write the client gave up on (its reply timeout, or a Goodbye unanswered) never reaches the replica once the link
/// heals: the volume has counted it as missed there and may copy newer data over it, which the stale write would then
/// overwrite. The client resets the connection (SO_LINGER 0), so its kernel drops what it still held to send; a
/// graceful close would send it, then FIN (both tests fail so).
/// </summary>
public sealed class ReplyTimeoutResetTests
{
    private const long BlockA = 5;

    [Fact]
    public async Task A_write_given_up_on_never_lands_when_the_link_heals()
    {
        await using var host = ReplicaHost.Start();
        var file = host.AddVolume("pvc-cut", TestBlocks.Block, 64);
        await using var link = new CutLinkProxy(host.EndPoint);
        // Long enough that a loaded machine's scheduling never looks like silence (the first write must be answered).
        var options = new ReplicaClientOptions { ReplyTimeout = TimeSpan.FromSeconds(2) };
        await using var client = await ReplicaClient.ConnectAsync(link.EndPoint, "pvc-cut", 1, options);
        await client.WriteAsync(BlockA, TestBlocks.Filled(1), WriteFlags.None);

        // The link is cut: the write's first bytes fill the proxy's small window, the rest wait in the client's
        // send queue; nothing comes back, and the client gives up on it.
        link.Cut();
        var stale = client.WriteAsync(BlockA, TestBlocks.Filled(2), WriteFlags.None).AsTask();
        var e = await Assert.ThrowsAsync<BlockDeviceException>(() => stale.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(BlockDeviceErrorKind.Unavailable, e.Kind);
        Assert.Contains("answered nothing", e.Message, StringComparison.Ordinal);

        // The link heals: the proxy delivers all the client's kernel lets go of, then ends the connection to the
        // server, which answers and closes (every device call of the connection finished before it closes).
        link.Heal();
        var (delivered, end) = await link.ClientEnded.WaitAsync(TimeSpan.FromSeconds(30));
        var answers = Frames.Parse(await link.ServerAfterCut.WaitAsync(TimeSpan.FromSeconds(30)));

        Assert.Equal(TestBlocks.Filled(1), await TestBlocks.ReadAsync(file, BlockA));
        await using (var reader = await host.ConnectAsync("pvc-cut", 1))
        {
            Assert.Equal(TestBlocks.Filled(1), await TestBlocks.ReadAsync(reader, BlockA));
        }

        Assert.DoesNotContain(answers, a => a.Header.Status == ReplicaStatus.Ok);

        // How: the client reset the connection (a FIN would have come after the rest of the frame), and the part of
        // the frame still in its send queue was dropped. Were the whole frame past the window before the timeout,
        // this test would prove nothing.
        int frame = Frames.Frame(Opcode.Write, 0, 1, BlockA, 1, TestBlocks.Filled(2)).Length;
        Assert.Equal(SocketError.ConnectionReset, end);
        Assert.True(delivered < frame, $"{delivered} bytes crossed after the cut: the whole {frame}-byte frame had left the client before it gave up");
    }

    /// <summary>
    /// The same when the client is closed with the write in flight and the link cut (a replica dropped from the
    /// volume): the Goodbye goes unanswered, and after its 10 s the client gives up on the write as on a timeout.
    /// </summary>
    [Fact]
    public async Task A_write_in_flight_when_a_client_is_closed_on_a_cut_link_never_lands()
    {
        await using var host = ReplicaHost.Start();
        var file = host.AddVolume("pvc-cut-close", TestBlocks.Block, 64);
        await using var link = new CutLinkProxy(host.EndPoint);
        // The reply timeout out of the way: the Goodbye's own wait is what ends this one.
        var options = new ReplicaClientOptions { ReplyTimeout = TimeSpan.FromMinutes(5) };
        var client = await ReplicaClient.ConnectAsync(link.EndPoint, "pvc-cut-close", 1, options);
        await client.WriteAsync(BlockA, TestBlocks.Filled(1), WriteFlags.None);

        link.Cut();
        var stale = client.WriteAsync(BlockA, TestBlocks.Filled(2), WriteFlags.None).AsTask();
        await client.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(60));
        var e = await Assert.ThrowsAsync<BlockDeviceException>(() => stale.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(BlockDeviceErrorKind.Unavailable, e.Kind);
        Assert.Contains("after Goodbye", e.Message, StringComparison.Ordinal);

        link.Heal();
        var (delivered, end) = await link.ClientEnded.WaitAsync(TimeSpan.FromSeconds(30));
        var answers = Frames.Parse(await link.ServerAfterCut.WaitAsync(TimeSpan.FromSeconds(30)));

        Assert.Equal(TestBlocks.Filled(1), await TestBlocks.ReadAsync(file, BlockA));
        Assert.DoesNotContain(answers, a => a.Header.Status == ReplicaStatus.Ok);
        int frame = Frames.Frame(Opcode.Write, 0, 1, BlockA, 1, TestBlocks.Filled(2)).Length;
        Assert.Equal(SocketError.ConnectionReset, end);
        Assert.True(delivered < frame, $"{delivered} bytes crossed after the cut: the whole {frame}-byte frame had left the client before it gave up");
    }
}
