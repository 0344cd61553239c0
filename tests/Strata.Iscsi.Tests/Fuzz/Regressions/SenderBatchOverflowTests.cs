using Xunit;

namespace Strata.Iscsi.Tests.Fuzz.Regressions;

/// <summary>
/// Found by the fuzzer's own smoke test: a read of more than the sender's 256 KiB batch, to an initiator whose
/// MaxRecvDataSegmentLength is 8192 (the RFC 7143 13.12 default, which every Data-In then respects), made the
/// sender copy each 8 KiB Data-In into the batch without ever flushing: ArgumentException "Destination is too
/// short", the sender task died, the read never completed and the connection hung. Fixed by framing only what
/// fits and resuming a long read after each send.
/// </summary>
public sealed class SenderBatchOverflowTests
{
    // SCSI Command (RFC 7143 11.3): I=0, F=1 R=1 ATTR=simple, ITT 2, EDTL 1 MiB, CmdSN 0, ExpStatSN 1,
    // CDB READ(16) LBA 0, 2048 blocks.
    private const string Read1MiB =
        "01C1000000000000000000000000000000000002001000000000000000000001" +
        "88000000000000000000000008000000";

    [Fact]
    public async Task A_1_MiB_read_at_MaxRecvDataSegmentLength_8192_arrives_whole()
    {
        await using var target = FuzzTarget.Start();
        int dataIn = 0;
        var outcome = await Replay.RunAsync(target, [Replay.Login8192, Replay.TestUnitReady, Read1MiB], pdu =>
        {
            if (pdu.Itt == Replay.TestUnitReadyItt)
            {
                return false;
            }

            if (pdu.Opcode == 0x25)
            {
                dataIn += pdu.Data.Length;
            }

            return pdu.Opcode == 0x21 || (pdu.Opcode == 0x25 && (pdu.Flags & 0x01) != 0);
        }, TimeSpan.FromSeconds(20), ownMaxRecv: 8192);

        Assert.False(outcome.TimedOut, "the read never completed: " + string.Join("\n", outcome.Received.Take(5)));
        Assert.True(dataIn == 1 << 20, string.Join("\n", outcome.Received.Take(5)));
        Assert.False(outcome.Closed);
        Assert.Equal(1 << 20, dataIn);
        Replay.AssertNoTargetFailure(target);
    }
}
