using System.Buffers.Binary;
using Xunit;

namespace Strata.Iscsi.Tests.Fuzz.Regressions;

/// <summary>
/// Found reading the receive path while building the fuzzer, confirmed by replay: commands with the same CmdSN
/// ahead of a gap each replaced the previous one in the CmdSN-ordered queue, but the replaced command stayed in
/// the task table with its buffer until the connection ended. 200 such 1 MiB writes held 200 MiB from one
/// connection, bounded by nothing. RFC 7143 3.2.2.1 says a duplicate non-immediate command is silently ignored;
/// it now is.
/// </summary>
public sealed class DuplicateCmdSNTests
{
    // SCSI Command, F=1 W=1, ITT 2 (bytes 16-19, counted up for each copy), EDTL 1 MiB, CmdSN 5 (ahead of 0),
    // ExpStatSN 1, WRITE(16) LBA 0, 2048 blocks; no data (InitialR2T=Yes is the default).
    private const string WriteAhead = "01A10000000000000000000000000000000000020010000000000005000000018A000000000000000000000008000000";

    [Fact]
    public async Task Commands_repeating_a_CmdSN_held_for_a_gap_are_ignored_and_hold_nothing()
    {
        await using var target = FuzzTarget.Start();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await using var initiator = await TestInitiator.ConnectAsync(target.EndPoint, cts.Token);
        initiator.AcceptDataSegmentsUpTo(8192);
        await initiator.SendAsync(Convert.FromHexString(Replay.Login8192), cts.Token);
        Assert.Equal(0, (await initiator.ReceiveAsync(cts.Token))!.Header[36]);
        for (uint itt = 2; itt < 202; itt++)
        {
            var bytes = Convert.FromHexString(WriteAhead);
            BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(16), itt);
            await initiator.SendAsync(bytes, cts.Token);
        }

        Assert.NotNull(await initiator.PingAsync(cts.Token));
        Assert.Equal(1L << 20, target.Server.Sessions.BufferBudget.Used);
        Replay.AssertNoTargetFailure(target);
    }
}
