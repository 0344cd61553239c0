using System.Net;
using System.Net.Sockets;
using System.Reflection;
using Strata.Iscsi.Target;
using Xunit;

namespace Strata.Iscsi.Tests.Fuzz.Regressions;

/// <summary>
/// Found by the fuzz run's heap check (seed 20261126: the managed heap grew by 617 MiB beside the buffer pool, and
/// by 722 MiB in a run of 30,000 PDUs): a connection that ended without being closed first (end of stream, a
/// socket error) left its NOP-In ping loop running. The loop's token source was disposed, which neither cancels
/// it nor keeps it linked to the connection's close, so the loop ticked on, pinged a dead socket and timed out
/// only after NopInInterval + NopInTimeout, and held the connection (its 320 KiB of buffers, its task pool) all
/// that time: 130 connections a second kept 700 MiB. Now the loop stops with the connection.
/// </summary>
[Collection(nameof(ProcessWideMeasurement))]
public sealed class ConnectionRetentionTests
{
    [Theory]
    [InlineData("end of stream")]
    [InlineData("reset")]
    [InlineData("logout")]
    public async Task A_connection_that_ended_is_garbage_at_once_not_after_its_ping_timeout(string how)
    {
        // Pings far beyond this test's deadline: a ping loop that outlives its connection keeps it for 20 minutes.
        await using var target = FuzzTarget.Start(log => new IscsiTargetOptions
        {
            Portal = new IPEndPoint(IPAddress.Loopback, 0),
            Log = log,
            NopInInterval = TimeSpan.FromMinutes(10),
            NopInTimeout = TimeSpan.FromMinutes(10),
        });
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var connections = new List<WeakReference>();
        for (int i = 0; i < 8; i++)
        {
            var a = await TestInitiator.ConnectAsync(target.EndPoint, cts.Token);
            Assert.Equal(0, (await a.LoginAsync(new LoginSettings { TargetName = FuzzTarget.FuzzedName, Isid = 0x800000000500UL + (uint)i }, cts.Token))!.Header[36]);
            Assert.NotNull(await a.PingAsync(cts.Token));
            connections.AddRange(LiveConnections(target.Server).Where(c => !connections.Any(w => w.Target == c)).Select(c => new WeakReference(c)));
            switch (how)
            {
                case "end of stream":
                    a.Socket.Shutdown(SocketShutdown.Send);
                    Assert.Null(await a.NextAsync(cts.Token));
                    break;
                case "reset":
                    a.Socket.LingerState = new LingerOption(true, 0);
                    break;
                default:
                    await a.SendAsync(InitiatorPdu.Logout(a.NextItt(), a.CmdSN, a.ExpStatSN).Serialize(false, false), cts.Token);
                    Assert.Equal(0x26, (await a.NextAsync(cts.Token))!.Opcode);
                    break;
            }

            await a.DisposeAsync();
        }

        Assert.Equal(8, connections.Count);
        await Replay.WaitForNoConnectionsAsync(target, cts.Token);

        // The target is done with them; nothing may hold them now. (A continuation that is still queued may, for
        // a moment: collect until they are gone, or until the deadline says something holds them.)
        while (connections.Any(w => w.IsAlive))
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            if (cts.IsCancellationRequested)
            {
                Assert.Fail($"{connections.Count(w => w.IsAlive)} of 8 connections ended by {how} are still reachable 60 s later");
            }

            await Task.Delay(50, CancellationToken.None);
        }
    }

    /// <summary>The server's connections now (IscsiTargetServer keeps them in a private table).</summary>
    private static object[] LiveConnections(IscsiTargetServer server)
    {
        var table = (System.Collections.IDictionary)typeof(IscsiTargetServer).GetField("_connections", BindingFlags.NonPublic | BindingFlags.Instance)!.GetValue(server)!;
        lock (table)
        {
            return [.. table.Keys.Cast<object>()];
        }
    }
}
