using Xunit;

namespace Strata.Iscsi.Tests.Fuzz.Regressions;

/// <summary>
/// Found by the fuzzer (broken text keys): a Text Request with a 9000-byte key got one Text Response echoing
/// "key=NotUnderstood" in a 9017-byte data segment, above the initiator's MaxRecvDataSegmentLength of 8192
/// (RFC 7143 13.12 forbids it; a strict initiator drops the connection). Such a key is now refused (key names
/// are at most 63 bytes, RFC 7143 6.1); the long answer is made of 600 unknown keys instead, and goes out in
/// pieces with C=1 and a TTT, each piece fetched with an empty Text Request (RFC 7143 11.11.2).
/// </summary>
public sealed class LongTextResponseTests
{
    [Fact]
    public async Task A_text_answer_longer_than_MaxRecvDataSegmentLength_comes_in_pieces()
    {
        await using var target = FuzzTarget.Start();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await using var initiator = await TestInitiator.ConnectAsync(target.EndPoint, cts.Token);
        initiator.AcceptDataSegmentsUpTo(8192);
        await initiator.SendAsync(Convert.FromHexString(Replay.Login8192), cts.Token);
        Assert.Equal(0x23, (await initiator.ReceiveAsync(cts.Token))!.Opcode);

        // 600 keys nobody understands: the answer, "Xk0000=NotUnderstood" and so on, is about 12 KB.
        var keys = Enumerable.Range(0, 600).Select(i => $"Xk{i:D4}").ToArray();
        byte[] text = System.Text.Encoding.ASCII.GetBytes(string.Concat(keys.Select(k => k + "=1\0")));
        var request = InitiatorPdu.TextRequest(2, 0, initiator.ExpStatSN, text, immediate: true);
        await initiator.SendAsync(request, cts.Token);

        var answer = new List<byte>();
        while (true)
        {
            // ReceiveAsync fails the test on a data segment above 8192 bytes.
            var pdu = await initiator.NextAsync(cts.Token);
            Assert.NotNull(pdu);
            Assert.Equal(0x24, pdu.Opcode);
            answer.AddRange(pdu.Data);
            if ((pdu.Flags & 0x80) != 0)
            {
                break;
            }

            Assert.Equal(0x40, pdu.Flags & 0x40); // C: more follows
            var next = InitiatorPdu.TextRequest(2, 0, initiator.ExpStatSN, [], immediate: true);
            next[20] = pdu.Word(20); // the TTT the target gave
            await initiator.SendAsync(next, cts.Token);
        }

        Assert.True(answer.Count > 8192);
        Assert.Equal(string.Concat(keys.Select(k => k + "=NotUnderstood\0")), System.Text.Encoding.ASCII.GetString([.. answer]));
        Replay.AssertNoTargetFailure(target);
    }
}
