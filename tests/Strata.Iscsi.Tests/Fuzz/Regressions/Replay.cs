using Xunit;

namespace Strata.Iscsi.Tests.Fuzz.Regressions;

/// <summary>
/// Replays exact bytes (hex, as the fuzzer printed them) at a fresh target and collects what comes back, so each
/// bug the fuzzer found stays found.
/// </summary>
internal static class Replay
{
    /// <summary>A Login Request, CSG=1 NSG=3 T=1 in one PDU, ISID 0x800000000001, ITT 1, CmdSN 0, with
    /// InitiatorName=iqn.2026-11.io.strata.test:replay, TargetName=iqn.2026-11.io.strata:fuzzed,
    /// SessionType=Normal, MaxRecvDataSegmentLength=8192, and the RFC defaults of InitialR2T, ImmediateData,
    /// MaxBurstLength and FirstBurstLength said out loud, so the target has nothing to offer back and the login
    /// completes in this one exchange.</summary>
    public const string Login8192 =
        "43870000000000D780000000000100000000000100000000000000000000000000000000000000000000000000000000" +
        "496E69746961746F724E616D653D69716E2E323032362D31312E696F2E7374726174612E746573743A7265706C617900" +
        "5461726765744E616D653D69716E2E323032362D31312E696F2E7374726174613A66757A7A65640053657373696F6E54" +
        "7970653D4E6F726D616C004D617852656376446174615365676D656E744C656E6774683D3831393200496E697469616C" +
        "5232543D59657300496D6D656469617465446174613D596573004D617842757273744C656E6774683D32363231343400" +
        "466972737442757273744C656E6774683D36353533360000";

    /// <summary>SCSI Command, I=1 F=1, ITT 0x7777, EDTL 0, CmdSN 0, ExpStatSN 1, TEST UNIT READY: takes the new
    /// nexus' POWER ON unit attention (SAM-5 5.14), which would otherwise answer the replayed command. Immediate,
    /// so the replayed CmdSNs still line up.</summary>
    public const string TestUnitReady = "418000000000000000000000000000000000777700000000000000000000000100000000000000000000000000000000";

    /// <summary>The ITT of <see cref="TestUnitReady"/>.</summary>
    public const uint TestUnitReadyItt = 0x7777;

    /// <summary>Sends <paramref name="hex"/> (each string one or more PDUs, sent in one write each) and reads until
    /// <paramref name="done"/> says so, the target closes, or the deadline passes. Fails on target errors in the log.</summary>
    public static async Task<Outcome> RunAsync(FuzzTarget target, IEnumerable<string> hex, Func<TargetPdu, bool> done, TimeSpan deadline, int ownMaxRecv = 262144)
    {
        using var cts = new CancellationTokenSource(deadline);
        await using var initiator = await TestInitiator.ConnectAsync(target.EndPoint, cts.Token);
        initiator.AcceptDataSegmentsUpTo(ownMaxRecv);
        foreach (var h in hex)
        {
            await initiator.SendAsync(Convert.FromHexString(h), cts.Token);
        }

        var received = new List<TargetPdu>();
        try
        {
            while (true)
            {
                var pdu = await initiator.NextAsync(cts.Token);
                if (pdu is null)
                {
                    return new Outcome(received, Closed: true, TimedOut: false);
                }

                received.Add(pdu);
                if (done(pdu))
                {
                    return new Outcome(received, Closed: false, TimedOut: false);
                }
            }
        }
        catch (OperationCanceledException)
        {
            return new Outcome(received, Closed: false, TimedOut: true);
        }
    }

    public static void AssertNoTargetFailure(FuzzTarget target) => Assert.Empty(target.Failures());

    /// <summary>Waits until the target has finished with every connection (its receive loop ended, its tasks
    /// released), so whatever it logs about them is in the log.</summary>
    public static async Task WaitForNoConnectionsAsync(FuzzTarget target, CancellationToken ct)
    {
        while (target.Server.ConnectionCount > 0)
        {
            await Task.Delay(10, ct);
        }
    }

    internal sealed record Outcome(List<TargetPdu> Received, bool Closed, bool TimedOut);
}
