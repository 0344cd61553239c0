using Xunit;

namespace Strata.Iscsi.Tests.Fuzz.Regressions;

/// <summary>
/// Found by the fuzzer (mutated logins): the provisional negotiator accepts MaxRecvDataSegmentLength=0 from the
/// initiator (RFC 7143 13.12 allows 512 to 2^24-1). A read after such a login made the sender frame Data-In
/// PDUs of 0 bytes at offset 0 forever: a flood, the read never completing. (Negative values threw inside the
/// sender instead.) The transport now checks the negotiated values against RFC 7143 section 13 and refuses
/// the login when one is out of range; the negotiator itself should answer Reject for the key (see report).
/// </summary>
public sealed class NegotiatedBoundsTests
{
    /// <summary>Like <see cref="Replay.Login8192"/>, but MaxRecvDataSegmentLength=0.</summary>
    private const string LoginMaxRecvZero =
        "438700000000008680000000000100000000000100000000000000000000000000000000000000000000000000000000" +
        "496E69746961746F724E616D653D69716E2E323032362D31312E696F2E7374726174612E746573743A7265706C617900" +
        "5461726765744E616D653D69716E2E323032362D31312E696F2E7374726174613A66757A7A65640053657373696F6E54" +
        "7970653D4E6F726D616C004D617852656376446174615365676D656E744C656E6774683D30000000";

    // SCSI Command, F=1 R=1, ITT 2, EDTL 4096, CmdSN 0, ExpStatSN 1, READ(16) LBA 0, 8 blocks.
    private const string Read4096 = "01C100000000000000000000000000000000000200001000000000000000000188000000000000000000000008000000";

    [Fact]
    public async Task A_login_declaring_MaxRecvDataSegmentLength_0_is_refused_not_flooded()
    {
        await using var target = FuzzTarget.Start();
        int dataIn = 0;
        var outcome = await Replay.RunAsync(target, [LoginMaxRecvZero, Read4096], pdu =>
        {
            dataIn += pdu.Opcode == 0x25 ? 1 : 0;
            return dataIn > 1000 || pdu.Opcode == 0x21;
        }, TimeSpan.FromSeconds(10), ownMaxRecv: int.MaxValue);

        Assert.True(dataIn <= 1, $"{dataIn} Data-In PDUs for a 4 KiB read");
        var login = Assert.Single(outcome.Received);
        Assert.Equal(0x23, login.Opcode);
        Assert.Equal(0x02, login.Header[36]); // Status-Class: initiator error
        Assert.True(outcome.Closed);
        Replay.AssertNoTargetFailure(target);
    }
}
