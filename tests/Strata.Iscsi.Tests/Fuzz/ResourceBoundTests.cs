using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Strata.Iscsi.Target;
using Xunit;
using Xunit.Abstractions;

namespace Strata.Iscsi.Tests.Fuzz;

/// <summary>
/// The obvious ways to exhaust a target without a single malformed byte: connections left in login, writes that
/// announce data and never send it, immediate commands outside the window, headers trickled byte by byte, and
/// answers never read. Each must meet a bound, and an honest session must still be served afterwards.
/// </summary>
[Collection(nameof(ProcessWideMeasurement))]
public sealed class ResourceBoundTests(ITestOutputHelper output)
{
    private static FuzzTarget Start(Func<IscsiTargetOptions, IscsiTargetOptions> tune) =>
        FuzzTarget.Start(log => tune(new IscsiTargetOptions { Portal = new IPEndPoint(IPAddress.Loopback, 0), Log = log }));

    /// <summary>Abandoned connections the login-timeout test opens when the open-file limit lets it.</summary>
    private const int AbandonedConnections = 3000;

    [Fact]
    public async Task Thousands_of_connections_abandoned_mid_login_are_dropped_by_the_login_timeout()
    {
        // Each connection takes two descriptors of this process, ours and the target's: 6000 and then some. A
        // hard limit of 1024 (many containers and CI runners) made this test die of EMFILE at socket 500 or so,
        // on its own side, before the target was tested at all. Raise the limit as far as this process may
        // (as root beyond the hard limit); where that is not enough, as many connections as fit.
        const int reserve = 256; // the test host, the honest initiator, the thread pool, files
        long room = FileDescriptors.MakeRoomFor((2L * AbandonedConnections) + reserve);
        int count = (int)Math.Clamp((room - reserve) / 2, 0, AbandonedConnections);
        output.WriteLine($"open-file limit {FileDescriptors.Limit}, {FileDescriptors.Open} open: {count} connections");
        Assert.True(count >= 250, $"the open-file limit ({FileDescriptors.Limit}, {FileDescriptors.Open} open) leaves room for only {count} connections; this test needs 2 descriptors per connection and at least 250 connections");

        await using var target = Start(o => new IscsiTargetOptions { Portal = o.Portal, Log = o.Log, LoginTimeout = TimeSpan.FromSeconds(2) });
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        var sockets = new List<Socket>();
        var login = InitiatorPdu.Login(0x800000000001, 0, 1, 0, 0, 0, 1, 3, transit: false,
            InitiatorPdu.Keys(("InitiatorName", "iqn.2026-11.io.strata.test:abandoned"), ("TargetName", FuzzTarget.FuzzedName))).Serialize(false, false);
        try
        {
            for (int i = 0; i < count; i++)
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await s.ConnectAsync(target.EndPoint, cts.Token);
                switch (i % 4)
                {
                    case 0:
                        break; // silent
                    case 1:
                        await s.SendAsync(login.AsMemory(0, 20), SocketFlags.None, cts.Token); // half a BHS
                        break;
                    case 2:
                        await s.SendAsync(login, SocketFlags.None, cts.Token); // a login that does not transit
                        break;
                    default:
                        s.LingerState = new LingerOption(true, 0); // reset at once
                        s.Close();
                        continue;
                }

                sockets.Add(s);
            }

            output.WriteLine($"{count} connections opened, {target.Server.ConnectionCount} open at the target");

            // A new initiator is served while they hang around.
            await using (var honest = await TestInitiator.ConnectAsync(target.EndPoint, cts.Token))
            {
                var answer = await honest.LoginAsync(new LoginSettings { TargetName = FuzzTarget.VerifiedName, Isid = 0x800000000002 }, cts.Token);
                Assert.True(answer is not null, $"the target closed the honest initiator's connection during login; target log: {string.Join(" | ", target.Lines.TakeLast(5))}");
                Assert.True(answer.Header[36] == 0, $"the honest initiator's login was refused: {answer}");
                Assert.True(await honest.PingAsync(cts.Token) is not null, "the target closed the honest initiator's connection instead of answering its ping");
            }

            // Every abandoned connection goes at its login timeout (2 s); the deadline is only a safety net.
            var clock = Stopwatch.StartNew();
            while (target.Server.ConnectionCount > 0 && clock.Elapsed < TimeSpan.FromSeconds(60))
            {
                await Task.Delay(100, cts.Token);
            }

            output.WriteLine($"all dropped after {clock.Elapsed.TotalSeconds:0.0} s");
            Assert.True(target.Server.ConnectionCount == 0, $"{target.Server.ConnectionCount} of {count} abandoned connections are still open at the target 60 s after a 2 s login timeout");
            Assert.Empty(target.Failures());
        }
        finally
        {
            foreach (var s in sockets)
            {
                s.Dispose();
            }
        }
    }

    [Fact]
    public async Task Disposing_the_server_does_not_wait_for_connections_stuck_in_login()
    {
        var target = Start(o => new IscsiTargetOptions { Portal = o.Portal, Log = o.Log, LoginTimeout = TimeSpan.Zero });
        using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await s.ConnectAsync(target.EndPoint);
        var accepted = Stopwatch.StartNew();
        while (target.Server.ConnectionCount == 0)
        {
            Assert.True(accepted.Elapsed < TimeSpan.FromSeconds(30), "the target did not accept the connection in 30 s");
            await Task.Delay(10);
        }

        // It closes them at once; the deadline is only a safety net.
        var dispose = target.DisposeAsync().AsTask();
        Assert.True(dispose == await Task.WhenAny(dispose, Task.Delay(TimeSpan.FromSeconds(30))), "disposing the server still waited after 30 s for a connection stuck in login");
    }

    [Fact]
    public async Task Writes_announcing_16_MiB_that_never_send_data_are_bounded_by_the_task_buffer_budget()
    {
        const long perSession = 64L << 20;
        const long total = 160L << 20;
        await using var target = Start(o => new IscsiTargetOptions
        {
            Portal = o.Portal,
            Log = o.Log,
            MaxTaskBufferBytesPerSession = perSession,
            MaxTaskBufferBytes = total,
        });
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        long before = GC.GetTotalMemory(forceFullCollection: true);

        // Eight sessions, each a full window of 128 WRITE(16)s announcing 16 MiB and sending nothing.
        var attackers = new List<TestInitiator>();
        int held = 0, refused = 0;
        for (int session = 0; session < 8; session++)
        {
            var a = await TestInitiator.ConnectAsync(target.EndPoint, cts.Token);
            attackers.Add(a);
            var login = await a.LoginAsync(new LoginSettings { TargetName = FuzzTarget.FuzzedName, Isid = 0x800000000100UL + (uint)session, InitialR2T = true, ImmediateData = false }, cts.Token);
            Assert.Equal(0, login!.Header[36]);
            for (int i = 0; i < 128; i++)
            {
                await a.SendAsync(InitiatorPdu.ScsiCommand(a.NextItt(), a.CmdSN++, a.ExpStatSN, TestInitiator.Write16(0, 32768), 16u << 20, read: false, write: true), cts.Token);
            }

            // Each command gets an R2T (its buffer is held) or TASK SET FULL / BUSY (none is).
            for (int answered = 0; answered < 128;)
            {
                var pdu = await a.NextAsync(cts.Token);
                Assert.NotNull(pdu);
                if (pdu.Opcode == 0x31)
                {
                    held++;
                    answered++;
                }
                else if (pdu.Opcode == 0x21)
                {
                    Assert.True(pdu.Header[3] is 0x28 or 0x08, $"expected TASK SET FULL or BUSY, got {pdu}");
                    refused++;
                    answered++;
                }
            }
        }

        long used = target.Server.Sessions.BufferBudget.Used;
        long grown = GC.GetTotalMemory(forceFullCollection: true) - before;
        output.WriteLine($"{held} writes hold a buffer, {refused} refused; {used >> 20} MiB charged, heap grew {grown >> 20} MiB");
        Assert.True(used <= total, $"{used} bytes of task buffers");
        Assert.Equal(total / (16 << 20), held);
        Assert.True(grown < total + (64L << 20), $"the heap grew by {grown >> 20} MiB");

        // The honest session: BUSY while the attackers hold everything, served once they are gone.
        await using var honest = await TestInitiator.ConnectAsync(target.EndPoint, cts.Token);
        Assert.Equal(0, (await honest.LoginAsync(new LoginSettings { TargetName = FuzzTarget.VerifiedName, Isid = 0x800000000200 }, cts.Token))!.Header[36]);
        var busy = await honest.CommandAsync(TestInitiator.Write16(0, 8), 0, new byte[4096], cts.Token);
        Assert.Equal(0x08, busy!.Status);
        foreach (var a in attackers)
        {
            await a.DisposeAsync();
        }

        var clock = Stopwatch.StartNew();
        while (target.Server.Sessions.BufferBudget.Used > 0 && clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(50, cts.Token);
        }

        Assert.True(target.Server.Sessions.BufferBudget.Used == 0, $"{target.Server.Sessions.BufferBudget.Used} bytes of task buffers still charged 30 s after the attackers disconnected");
        var data = new byte[1 << 20];
        Random.Shared.NextBytes(data);
        Assert.True((await honest.CommandAsync(TestInitiator.Write16(0, 2048), 0, data, cts.Token))!.Good);
        var read = await honest.CommandAsync(TestInitiator.Read16(0, 2048), data.Length, null, cts.Token);
        Assert.True(read!.Good && read.DataIn.AsSpan().SequenceEqual(data));
        Assert.Empty(target.Failures());
    }

    [Fact]
    public async Task Immediate_commands_beyond_the_cap_are_rejected_not_queued()
    {
        await using var target = FuzzTarget.Start();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var a = await TestInitiator.ConnectAsync(target.EndPoint, cts.Token);
        Assert.Equal(0, (await a.LoginAsync(new LoginSettings { TargetName = FuzzTarget.FuzzedName, InitialR2T = true, ImmediateData = false }, cts.Token))!.Header[36]);

        // Immediate writes take no CmdSN, so the window does not bound them: 1000 that never send data.
        for (int i = 0; i < 1000; i++)
        {
            await a.SendAsync(InitiatorPdu.ScsiCommand(a.NextItt(), a.CmdSN, a.ExpStatSN, TestInitiator.Write16(0, 1), 512, read: false, write: true, immediate: true), cts.Token);
        }

        Assert.NotNull(await a.PingAsync(cts.Token));
        int rejects = a.Others.Count(p => p.Opcode == 0x3F && p.Header[2] == 0x06);
        int r2ts = a.Others.Count(p => p.Opcode == 0x31);
        output.WriteLine($"{r2ts} R2Ts, {rejects} rejects");
        Assert.Equal(1000, r2ts + rejects);
        Assert.True(r2ts <= 32, $"{r2ts} immediate commands held");
    }

    [Theory]
    [InlineData("20 bytes of a header, then silence")]
    [InlineData("a header announcing a 1020-byte AHS, trickled a byte every 200 ms")]
    [InlineData("a ping whose header announces 4096 bytes of data, trickled a byte every 200 ms")]
    public async Task A_PDU_that_never_completes_is_dropped_by_the_NOP_In_ping(string how)
    {
        await using var target = Start(o => new IscsiTargetOptions
        {
            Portal = o.Portal,
            Log = o.Log,
            NopInInterval = TimeSpan.FromMilliseconds(300),
            NopInTimeout = TimeSpan.FromMilliseconds(700),
        });

        // The ping should drop the connection a second or so after the last whole PDU; the deadline is only a
        // safety net. What proves the ping did it is the target's log, not the time it took. A trickle goes on
        // for minutes (far beyond the deadline) unless the target drops the connection, so "bytes still
        // arriving" cannot have kept it alive.
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var a = await TestInitiator.ConnectAsync(target.EndPoint, cts.Token);
        Assert.Equal(0, (await a.LoginAsync(new LoginSettings { TargetName = FuzzTarget.FuzzedName }, cts.Token))!.Header[36]);
        string us = $"connection from {a.Socket.LocalEndPoint}";
        var clock = Stopwatch.StartNew();
        var closed = Task.Run(async () =>
        {
            // Read (without answering pings) until the target closes.
            while (await a.ReceiveAsync(cts.Token) is not null)
            {
            }

            return clock.Elapsed;
        });

        byte[] bytes;
        if (how.StartsWith("20 bytes", StringComparison.Ordinal))
        {
            bytes = InitiatorPdu.NopOut(a.NextItt(), 0xFFFFFFFF, a.CmdSN, a.ExpStatSN).Serialize(false, false)[..20];
        }
        else if (how.Contains("AHS", StringComparison.Ordinal))
        {
            var pdu = InitiatorPdu.NopOut(a.NextItt(), 0xFFFFFFFF, a.CmdSN, a.ExpStatSN);
            pdu.Ahs = new byte[1020];
            bytes = pdu.Seal().Serialize(false, false);
        }
        else
        {
            bytes = InitiatorPdu.NopOut(a.NextItt(), 0xFFFFFFFF, a.CmdSN, a.ExpStatSN, new byte[4096]).Serialize(false, false);
        }

        int sent = 0;
        if (how.EndsWith("silence", StringComparison.Ordinal))
        {
            await a.SendAsync(bytes, cts.Token);
            sent = bytes.Length;
        }
        else
        {
            if (how.Contains("4096 bytes of data", StringComparison.Ordinal))
            {
                // The header whole, the data a byte at a time; the AHS case trickles its header from the start.
                await a.SendAsync(bytes.AsMemory(0, 48), cts.Token);
                sent = 48;
            }

            // Never the last byte: the PDU must not complete.
            while (sent < bytes.Length - 1 && !closed.IsCompleted)
            {
                try
                {
                    await a.SendAsync(bytes.AsMemory(sent, 1), cts.Token);
                }
                catch (SocketException)
                {
                    break;
                }

                sent++;
                await Task.WhenAny(closed, Task.Delay(200, cts.Token));
            }
        }

        TimeSpan after;
        try
        {
            after = await closed;
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"{how}: the target kept the connection 60 s after {sent} of {bytes.Length} bytes; target log: {string.Join(" | ", target.Lines.TakeLast(5))}");
            throw;
        }

        output.WriteLine($"{how}: dropped after {after.TotalSeconds:0.0} s and {sent} of {bytes.Length} bytes");
        Assert.True(sent < bytes.Length || how.EndsWith("silence", StringComparison.Ordinal), $"{how}: the whole PDU was sent");
        var log = target.Lines;
        Assert.True(log.Any(l => l.StartsWith(us + ": no answer to NOP-In", StringComparison.Ordinal)), $"{how}: the connection was closed, but not by the NOP-In ping timeout; target log: {string.Join(" | ", log.Where(l => l.StartsWith(us, StringComparison.Ordinal)))}");
        Assert.Empty(target.Failures());
    }

    [Fact]
    public async Task An_initiator_that_never_reads_its_answers_meets_backpressure_and_the_ping_timeout()
    {
        await using var target = Start(o => new IscsiTargetOptions
        {
            Portal = o.Portal,
            Log = o.Log,
            NopInInterval = TimeSpan.FromSeconds(1),
            NopInTimeout = TimeSpan.FromSeconds(2),
        });
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await using var a = await TestInitiator.ConnectAsync(target.EndPoint, cts.Token);
        Assert.Equal(0, (await a.LoginAsync(new LoginSettings { TargetName = FuzzTarget.FuzzedName, MaxRecvDataSegmentLength = 262144 }, cts.Token))!.Header[36]);
        a.Socket.ReceiveBufferSize = 4096;
        long before = GC.GetTotalMemory(forceFullCollection: true);

        // Pings with 256 KiB of data each, as fast as the target takes them; their echoes are never read.
        var ping = InitiatorPdu.NopOut(a.NextItt(), 0xFFFFFFFF, a.CmdSN, a.ExpStatSN, new byte[a.TargetMaxRecvDataSegmentLength]).Serialize(a.HeaderDigest, a.DataDigest);
        long sent = 0;
        var clock = Stopwatch.StartNew();
        using var sending = new CancellationTokenSource(TimeSpan.FromSeconds(8));
        try
        {
            while (!sending.IsCancellationRequested)
            {
                await a.Socket.SendAsync(ping, SocketFlags.None, sending.Token);
                sent += ping.Length;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException)
        {
        }

        long grown = GC.GetTotalMemory(forceFullCollection: true) - before;
        output.WriteLine($"sent {sent >> 20} MiB of pings in {clock.Elapsed.TotalSeconds:0.0} s; the heap grew {grown >> 20} MiB");
        Assert.True(grown < 64L << 20, $"the target queued {grown >> 20} MiB of answers nobody reads");
        Assert.True(sent < 256L << 20, $"the target took {sent >> 20} MiB without pushing back");

        // The ping (1 s, then 2 s unanswered) drops it; the deadline is only a safety net.
        var dropped = Stopwatch.StartNew();
        while (target.Server.ConnectionCount > 0 && dropped.Elapsed < TimeSpan.FromSeconds(60))
        {
            await Task.Delay(100, cts.Token);
        }

        Assert.True(target.Server.ConnectionCount == 0, $"the connection that never reads is still open 60 s after it stopped reading; target log: {string.Join(" | ", target.Lines.TakeLast(5))}");
        Assert.Empty(target.Failures());
    }
}
