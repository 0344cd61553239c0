using Strata.Iscsi.Tests.Fuzz;
using Strata.Iscsi.Tests.Fuzz.Regressions;
using Xunit;

namespace Strata.Iscsi.Tests.Session;

/// <summary>
/// RFC 7143 3.2.2.1: every non-immediate request reaches the target in CmdSN order, control requests too (11.5
/// Task Management, 11.14 Logout, 11.18 NOP-Out). One that arrives ahead of a CmdSN gap is held like a SCSI command
/// and processed, taking its CmdSN, once the gap fills. It used to be dropped without using up its CmdSN: no
/// answer ever came, and ExpCmdSN stopped at it.
/// </summary>
public sealed class HeldControlRequestTests
{
    private const uint First = 100;

    private static async Task<TestInitiator> LoginAsync(FuzzTarget target, CancellationToken ct, bool initialR2T = false)
    {
        var a = await TestInitiator.ConnectAsync(target.EndPoint, ct);
        var settings = new LoginSettings { TargetName = FuzzTarget.FuzzedName, InitialCmdSN = First, InitialR2T = initialR2T, ImmediateData = !initialR2T };
        Assert.Equal(0, (await a.LoginAsync(settings, ct))!.Header[36]);
        Assert.Equal(First, a.CmdSN);
        return a;
    }

    /// <summary>An immediate ping (it takes no CmdSN) whose answer shows the target has read everything sent before
    /// it; returns what came before the answer.</summary>
    private static async Task<List<TargetPdu>> BarrierAsync(TestInitiator a, CancellationToken ct)
    {
        a.Others.Clear();
        var pong = await a.PingAsync(ct);
        Assert.NotNull(pong);
        Assert.Equal(First, pong.ExpCmdSN); // still waiting for the gap
        return a.Others.ToList();
    }

    private static bool EndsCommand(TargetPdu p, uint itt) =>
        p.Itt == itt && (p.Opcode == 0x21 || (p.Opcode == 0x25 && (p.Flags & 0x01) != 0));

    [Fact]
    public async Task A_non_immediate_NOP_Out_ahead_of_a_gap_is_answered_after_the_command_before_it()
    {
        await using var target = FuzzTarget.Start();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var a = await LoginAsync(target, cts.Token);

        byte[] ping = [1, 2, 3, 4, 5];
        await a.SendAsync(InitiatorPdu.NopOut(0x5000, 0xFFFFFFFF, First + 1, a.ExpStatSN, ping, immediate: false), cts.Token);
        Assert.DoesNotContain(await BarrierAsync(a, cts.Token), p => p.Itt == 0x5000);

        // CmdSN 100 fills the gap: the READ goes first, then the held NOP-Out is answered.
        await a.SendAsync(InitiatorPdu.ScsiCommand(0x5001, First, a.ExpStatSN, TestInitiator.Read16(0, 1), 512, read: true, write: false), cts.Token);
        var seen = new List<TargetPdu>();
        TargetPdu? nopIn = null;
        while (nopIn is null)
        {
            var p = await a.NextAsync(cts.Token);
            Assert.NotNull(p);
            seen.Add(p);
            if (p.Opcode == 0x20 && p.Itt == 0x5000)
            {
                nopIn = p;
            }
        }

        Assert.Contains(seen, p => EndsCommand(p, 0x5001));
        Assert.Equal(ping, nopIn.Data);
        Assert.Equal(First + 2, nopIn.ExpCmdSN);
        Assert.Single(seen, p => p.Itt == 0x5000);

        a.CmdSN = First + 2;
        var after = await a.PingAsync(cts.Token);
        Assert.NotNull(after);
        Assert.Equal(First + 2, after.ExpCmdSN);
        Replay.AssertNoTargetFailure(target);
    }

    [Fact]
    public async Task A_non_immediate_Logout_ahead_of_a_gap_logs_out_after_the_command_before_it()
    {
        await using var target = FuzzTarget.Start();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var a = await LoginAsync(target, cts.Token);

        await a.SendAsync(InitiatorPdu.Logout(0x6000, First + 1, a.ExpStatSN, immediate: false), cts.Token);
        Assert.DoesNotContain(await BarrierAsync(a, cts.Token), p => p.Itt == 0x6000);

        await a.SendAsync(InitiatorPdu.ScsiCommand(0x6001, First, a.ExpStatSN, TestInitiator.Read16(0, 1), 512, read: true, write: false), cts.Token);
        var seen = new List<TargetPdu>();
        while (await a.NextAsync(cts.Token) is { } p)
        {
            seen.Add(p);
        }

        // The command's answer, then the logout's (once), then the connection closes.
        int command = seen.FindIndex(p => EndsCommand(p, 0x6001));
        int logout = seen.FindIndex(p => p.Opcode == 0x26 && p.Itt == 0x6000);
        Assert.True(command >= 0, $"the command before the logout was not answered: {string.Join(", ", seen)}");
        Assert.True(logout > command, $"the logout was answered before the command before it: {string.Join(", ", seen)}");
        Assert.Single(seen, p => p.Opcode == 0x26);
        Assert.Equal(0, seen[logout].Header[2]);
        Assert.Equal(First + 2, seen[logout].ExpCmdSN);
        Replay.AssertNoTargetFailure(target);
    }

    [Fact]
    public async Task A_non_immediate_ABORT_TASK_ahead_of_a_gap_aborts_the_command_that_fills_it()
    {
        await using var target = FuzzTarget.Start();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        // InitialR2T=Yes and no immediate data: the WRITE waits for its data, so it is not executing when the
        // abort reaches it, and the outcome is certain.
        await using var a = await LoginAsync(target, cts.Token, initialR2T: true);

        await a.SendAsync(InitiatorPdu.TaskManagement(0x7000, First + 1, a.ExpStatSN, 1, 0x7001, First, immediate: false), cts.Token);
        Assert.DoesNotContain(await BarrierAsync(a, cts.Token), p => p.Itt == 0x7000);

        await a.SendAsync(InitiatorPdu.ScsiCommand(0x7001, First, a.ExpStatSN, TestInitiator.Write16(0, 1), 512, read: false, write: true), cts.Token);
        var seen = new List<TargetPdu>();
        TargetPdu? tmf = null;
        while (tmf is null)
        {
            var p = await a.NextAsync(cts.Token);
            Assert.NotNull(p);
            seen.Add(p);
            if (p.Opcode == 0x22 && p.Itt == 0x7000)
            {
                tmf = p;
            }
        }

        Assert.Equal(0, tmf.Header[2]); // function complete
        Assert.Equal(First + 2, tmf.ExpCmdSN);
        Assert.Contains(seen, p => p.Opcode == 0x31 && p.Itt == 0x7001); // the R2T came first: it was admitted

        // The aborted WRITE never answers, and the session goes on from CmdSN 102.
        a.CmdSN = First + 2;
        a.Others.Clear();
        var pong = await a.PingAsync(cts.Token);
        Assert.NotNull(pong);
        Assert.Equal(First + 2, pong.ExpCmdSN);
        Assert.DoesNotContain(a.Others, p => EndsCommand(p, 0x7001) || p.Itt == 0x7000);
        Assert.NotNull(await a.CommandAsync(TestInitiator.Read16(0, 1), 512, null, cts.Token));
        Replay.AssertNoTargetFailure(target);
    }
}
