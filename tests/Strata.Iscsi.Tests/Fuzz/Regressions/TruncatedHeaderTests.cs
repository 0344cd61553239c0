using System.Net.Sockets;
using Xunit;

namespace Strata.Iscsi.Tests.Fuzz.Regressions;

/// <summary>
/// Found by the fuzzer (truncated PDUs): a BHS announcing an AHS (TotalAHSLength 1) and then end of stream.
/// The receive loop ignored PduReader.FillAsync's "closed" answer, consumed 4 bytes that were never there, and
/// the next read of the PDU threw ArgumentOutOfRangeException: "internal error" instead of a plain close.
/// The same held for the header digest and a data segment's padding and digest.
/// </summary>
public sealed class TruncatedHeaderTests
{
    // NOP-Out, I=1, F=1, TotalAHSLength=1 (4 bytes that never come), ITT 2, TTT reserved.
    private const string NopOutAnnouncingAnAhs = "4080000001000000000000000000000000000002FFFFFFFF000000000000000000000000000000000000000000000000";

    [Fact]
    public async Task End_of_stream_inside_an_announced_AHS_closes_the_connection_quietly()
    {
        await using var target = FuzzTarget.Start();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await using var initiator = await TestInitiator.ConnectAsync(target.EndPoint, cts.Token);
        initiator.AcceptDataSegmentsUpTo(8192);
        await initiator.SendAsync(Convert.FromHexString(Replay.Login8192), cts.Token);
        Assert.Equal(0x23, (await initiator.ReceiveAsync(cts.Token))!.Opcode);
        await initiator.SendAsync(Convert.FromHexString(NopOutAnnouncingAnAhs), cts.Token);
        initiator.Socket.Shutdown(SocketShutdown.Send);
        Assert.Null(await initiator.NextAsync(cts.Token));

        // The target logs an internal error before its connection ends: wait for the end, not for a while.
        await Replay.WaitForNoConnectionsAsync(target, cts.Token);
        Replay.AssertNoTargetFailure(target);
    }
}
