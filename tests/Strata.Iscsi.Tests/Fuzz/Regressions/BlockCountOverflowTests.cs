using Xunit;

namespace Strata.Iscsi.Tests.Fuzz.Regressions;

/// <summary>
/// Found by the fuzzer (CDBs with absurd transfer lengths), in the provisional executor: READ(16) of 0x80000000
/// blocks computed blocks * 512 in an int, which overflowed (here to 0, elsewhere to negative numbers that
/// threw ArgumentOutOfRangeException from Slice: "task failed" and HARDWARE ERROR sense). It must be INVALID
/// FIELD IN CDB (the transfer is beyond the expected length) or LBA OUT OF RANGE (it is beyond the LU).
/// </summary>
public sealed class BlockCountOverflowTests
{
    // SCSI Command, F=1 R=1, ITT 2, EDTL 4096, CmdSN 0, ExpStatSN 1, READ(16) LBA 0, 0x80000000 blocks.
    private const string ReadTwoGigablocks = "01C100000000000000000000000000000000000200001000000000000000000188000000000000000000800000000000";

    [Fact]
    public async Task A_read_of_2_to_the_31_blocks_is_refused_not_overflowed()
    {
        await using var target = FuzzTarget.Start();
        var outcome = await Replay.RunAsync(target, [Replay.Login8192, Replay.TestUnitReady, ReadTwoGigablocks], pdu => pdu.Opcode == 0x21 && pdu.Itt == 2, TimeSpan.FromSeconds(20), ownMaxRecv: 8192);
        var response = Assert.Single(outcome.Received, p => p.Opcode == 0x21 && p.Itt == 2);
        Assert.Equal(0x02, response.Header[3]); // CHECK CONDITION
        Assert.Equal(0x05, response.Data[2 + 2] & 0x0F); // ILLEGAL REQUEST
        // LBA OUT OF RANGE (the range check comes first) or INVALID FIELD IN CDB (beyond the expected length):
        // either, as long as the count is not cut to 32 bits.
        Assert.Contains(response.Data[2 + 12], new byte[] { 0x21, 0x24 });
        Replay.AssertNoTargetFailure(target);
    }
}
