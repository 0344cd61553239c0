using Xunit;

namespace Strata.Iscsi.Tests.Fuzz.Regressions;

/// <summary>
/// Found checking the target's CmdSN accounting while deciding the fuzzer's "answered an ignored PDU" report: a
/// rejected non-immediate command used up its CmdSN only when it was its turn. One rejected while ahead of a gap
/// was forgotten, so once the gap filled ExpCmdSN stopped at it, and every later command waited for a CmdSN that
/// had already come: the session stalled on one bad PDU. Now its CmdSN is used up when its turn comes.
/// </summary>
public sealed class RejectedAheadOfAGapTests
{
    [Fact]
    public async Task A_command_rejected_ahead_of_a_gap_uses_up_its_CmdSN_when_the_gap_fills()
    {
        await using var target = FuzzTarget.Start();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var a = await TestInitiator.ConnectAsync(target.EndPoint, cts.Token);
        Assert.Equal(0, (await a.LoginAsync(new LoginSettings { TargetName = FuzzTarget.FuzzedName, InitialCmdSN = 100 }, cts.Token))!.Header[36]);

        // CmdSN 101: the reserved ITT, rejected (RFC 7143 11.2.1.8). CmdSN 102: a READ, held for the gap at 100.
        await a.SendAsync(InitiatorPdu.ScsiCommand(0xFFFFFFFF, 101, a.ExpStatSN, TestInitiator.Read16(0, 1), 512, read: true, write: false).Serialize(false, false), cts.Token);
        await a.SendAsync(InitiatorPdu.ScsiCommand(0x7000, 102, a.ExpStatSN, TestInitiator.Read16(0, 1), 512, read: true, write: false).Serialize(false, false), cts.Token);

        // CmdSN 100 fills the gap: 101 is used up, the READ goes.
        await a.SendAsync(InitiatorPdu.NopOut(0x6000, 0xFFFFFFFF, 100, a.ExpStatSN, immediate: false).Serialize(false, false), cts.Token);
        var pong = await a.PingAsync(cts.Token);
        Assert.NotNull(pong);
        Assert.True(pong.ExpCmdSN == 103, $"ExpCmdSN {pong.ExpCmdSN} after CmdSN 100, 101 (rejected) and 102: the session waits for a CmdSN that already came");
        Assert.Contains(a.Others, p => p.Opcode == 0x3F && p.Header[2] == 0x09); // the Reject, Invalid PDU field
        var answers = a.Others.ToList();
        while (!answers.Any(p => p.Itt == 0x7000 && (p.Opcode == 0x21 || (p.Flags & 0x01) != 0)))
        {
            answers.Add((await a.NextAsync(cts.Token))!);
        }

        Replay.AssertNoTargetFailure(target);
    }
}
