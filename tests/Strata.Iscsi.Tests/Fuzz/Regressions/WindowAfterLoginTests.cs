using Xunit;

namespace Strata.Iscsi.Tests.Fuzz.Regressions;

/// <summary>
/// The fuzzer reported "the target answered a PDU it must silently ignore" (seed 446725827 episode 82, seed 12345
/// episode 7698): a Data-In for ITT 0x50000000, a READ(16) the fuzzer had sent as "behind ExpCmdSN" right after
/// logging in with an initial CmdSN near 2^32. The fuzzer was wrong, not the target: its initiator ignored the
/// window in Login Responses, so ExpCmdSN was still 0 and "ExpCmdSN - 1 - n" (0xFFFFFFD1 after a login at
/// 0xFFFFFFCD) lay inside the real window [0xFFFFFFCD, 0x4C]. RFC 7143 3.2.2.1: such a command is held until the
/// CmdSNs before it arrive, then executed, as the target did. These replay both sides.
/// </summary>
public sealed class WindowAfterLoginTests
{
    private const uint InitialCmdSN = 0xFFFFFFCD;

    [Fact]
    public async Task The_test_initiator_knows_the_window_from_the_login_response()
    {
        await using var target = FuzzTarget.Start();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var initiator = await TestInitiator.ConnectAsync(target.EndPoint, cts.Token);
        Assert.Equal(0, (await initiator.LoginAsync(new LoginSettings { TargetName = FuzzTarget.FuzzedName, InitialCmdSN = InitialCmdSN }, cts.Token))!.Header[36]);
        Assert.Equal(InitialCmdSN, initiator.ExpCmdSN);
        Assert.Equal(unchecked(InitialCmdSN + 127), initiator.MaxCmdSN);
    }

    [Fact]
    public async Task A_command_ahead_in_the_window_across_2_pow_32_waits_for_the_gap_and_one_behind_is_ignored()
    {
        await using var target = FuzzTarget.Start();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var initiator = await TestInitiator.ConnectAsync(target.EndPoint, cts.Token);
        Assert.Equal(0, (await initiator.LoginAsync(new LoginSettings { TargetName = FuzzTarget.FuzzedName, InitialCmdSN = InitialCmdSN }, cts.Token))!.Header[36]);
        // The episode's first PDU: READ(16) of one block, CmdSN 0xFFFFFFD1, 4 ahead of ExpCmdSN. Then one behind.
        await initiator.SendAsync(InitiatorPdu.ScsiCommand(0x50000000, 0xFFFFFFD1, initiator.ExpStatSN, TestInitiator.Read16(0, 1), 512, read: true, write: false).Serialize(false, false), cts.Token);
        await initiator.SendAsync(InitiatorPdu.ScsiCommand(0x50000001, InitialCmdSN - 1, initiator.ExpStatSN, TestInitiator.Read16(0, 1), 512, read: true, write: false).Serialize(false, false), cts.Token);
        initiator.Others.Clear();
        Assert.NotNull(await initiator.PingAsync(cts.Token));
        Assert.True(initiator.Others.Count == 0, $"answered before its turn: {string.Join("; ", initiator.Others)}");

        // CmdSN 0xFFFFFFCD to 0xFFFFFFD0 fill the gap: the held READ goes, 0xFFFFFFCC never does.
        for (uint cmdSN = InitialCmdSN; cmdSN != 0xFFFFFFD1; cmdSN++)
        {
            await initiator.SendAsync(InitiatorPdu.NopOut(initiator.NextItt(), 0xFFFFFFFF, cmdSN, initiator.ExpStatSN, immediate: false).Serialize(false, false), cts.Token);
        }

        var answers = new List<TargetPdu>();
        // Its status: in the last Data-In, or a SCSI Response (the new nexus' POWER ON unit attention).
        while (!answers.Any(p => p.Itt == 0x50000000 && (p.Opcode == 0x21 || (p.Flags & 0x01) != 0)))
        {
            answers.Add((await initiator.NextAsync(cts.Token))!);
        }

        Assert.NotNull(await initiator.PingAsync(cts.Token));
        Assert.DoesNotContain(answers.Concat(initiator.Others), p => p.Itt == 0x50000001);
        Assert.Equal(0xFFFFFFD2u, initiator.ExpCmdSN);
        Replay.AssertNoTargetFailure(target);
    }
}
