using Xunit;

namespace Strata.Iscsi.Tests.Fuzz;

/// <summary>The fuzzer's own initiator against the target, well-behaved: if this fails, fuzz results mean nothing.</summary>
public sealed class TestInitiatorTests
{
    [Theory]
    [InlineData(true, false, 262144)]
    [InlineData(false, true, 8192)]
    [InlineData(false, false, 512)]
    public async Task Logs_in_pings_writes_and_reads_back(bool immediateData, bool initialR2T, int maxRecv)
    {
        await using var target = FuzzTarget.Start();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var initiator = await TestInitiator.ConnectAsync(target.EndPoint, cts.Token);
        var login = await initiator.LoginAsync(new LoginSettings
        {
            TargetName = FuzzTarget.VerifiedName,
            ImmediateData = immediateData,
            InitialR2T = initialR2T,
            MaxRecvDataSegmentLength = maxRecv,
            HeaderDigest = "CRC32C,None",
            DataDigest = "CRC32C,None",
            InitialCmdSN = 0xFFFFFFF0, // the window wraps during the test
        }, cts.Token);
        Assert.NotNull(login);
        Assert.Equal(0, login.Header[36]);
        Assert.NotNull(await initiator.PingAsync(cts.Token, [1, 2, 3, 4, 5]));

        var data = new byte[1 << 20];
        new Random(7).NextBytes(data);
        for (int i = 0; i < 20; i++)
        {
            var w = await initiator.CommandAsync(TestInitiator.Write16(i * 2048, data.Length / 512), 0, data, cts.Token);
            Assert.True(w is { Good: true }, $"write: {w}");
            var r = await initiator.CommandAsync(TestInitiator.Read16(i * 2048, data.Length / 512), data.Length, null, cts.Token);
            Assert.True(r is { Good: true }, $"read: {r}");
            Assert.True(r.DataIn.AsSpan().SequenceEqual(data));
        }

        Assert.Empty(initiator.Others);
        Assert.Empty(target.Failures());
    }
}
