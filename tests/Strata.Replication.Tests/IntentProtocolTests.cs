using System.Buffers;
using System.Net.Sockets;
using System.Text;
using Strata.Replication.Protocol;

namespace Strata.Replication.Tests;

/// <summary>GetIntent and Settle over the wire (protocol 2), and in process, against one server's write-intent log.</summary>
public sealed class IntentProtocolTests
{
    private const int Block = 4096;
    private const int BlocksPerRegion = (1 << 20) / Block;

    [Fact]
    public async Task Changes_set_their_regions_and_a_settle_after_a_completed_flush_clears_them()
    {
        await using var host = ReplicaHost.Start();
        host.AddVolume("pvc-i", Block, 8 * BlocksPerRegion);
        await using var client = await host.ConnectAsync("pvc-i", 1);

        await client.WriteAsync(0, new byte[Block], WriteFlags.None);
        await client.UnmapAsync((3 * BlocksPerRegion) + 7, 2);
        var intent = await client.GetIntentAsync();
        Assert.Equal(1 << 20, intent.RegionBytes);
        Assert.Equal(8, intent.Regions);
        Assert.False(intent.Recovered);
        Assert.Equal(new long[] { 0, 3 }, Regions(intent));
        Assert.True(File.Exists(host.Server.IntentPathOf("pvc-i")));

        // Without a flush completed on the connection, a settle clears nothing.
        await client.SettleAsync();
        Assert.Equal(new long[] { 0, 3 }, Regions(await client.GetIntentAsync()));

        await client.FlushAsync();
        await client.SettleAsync();
        Assert.Empty(Regions(await client.GetIntentAsync()));
    }

    [Fact]
    public async Task The_local_session_shares_the_volumes_log_and_a_restarted_server_keeps_it()
    {
        await using var host = ReplicaHost.Start();
        host.AddVolume("pvc-l", Block, 8 * BlocksPerRegion);
        await using (var local = await host.OpenLocalAsync("pvc-l", 1))
        {
            await local.WriteAsync(5 * BlocksPerRegion, new byte[2 * Block], WriteFlags.Fua);
            await using var client = await host.ConnectAsync("pvc-l", 1);
            Assert.Equal(new long[] { 5 }, Regions(await client.GetIntentAsync()));
            Assert.Equal(new long[] { 5 }, Regions(await local.GetIntentAsync()));
        }

        await host.RestartAsync();
        await using var again = await host.ConnectAsync("pvc-l", 2);
        var intent = await again.GetIntentAsync();
        Assert.True(intent.Recovered);
        Assert.Equal(new long[] { 5 }, Regions(intent));
    }

    [Fact]
    public async Task A_raw_GetIntent_answers_its_regions_and_one_past_the_end_is_out_of_range()
    {
        await using var host = ReplicaHost.Start();
        host.AddVolume("pvc-r", Block, 8 * BlocksPerRegion);
        await using (var client = await host.ConnectAsync("pvc-r", 1))
        {
            await client.WriteAsync(3 * BlocksPerRegion, new byte[Block], WriteFlags.None);
        }

        using var raw = await Frames.ConnectRawAsync(host.EndPoint);
        await raw.SendAsync(Frames.Hello("pvc-r", 1), SocketFlags.None);
        await raw.SendAsync(Frames.Frame(Opcode.GetIntent, 0, 5, 2, 100, default), SocketFlags.None); // regions 2-7
        await raw.SendAsync(Frames.Frame(Opcode.GetIntent, 0, 6, 8, 1, default), SocketFlags.None);   // past the end
        await raw.SendAsync(Frames.Frame(Opcode.Goodbye, 0, 0, 0, 0, default), SocketFlags.None);
        var answers = await Frames.ReadUntilClosedAsync(raw, TimeSpan.FromSeconds(10));

        var ok = answers.Single(a => a.Header.RequestId == 5);
        Assert.Equal(ReplicaStatus.Ok, ok.Header.Status);
        var payload = IntentPayload.Decode(new ReadOnlySequence<byte>(ok.Payload), 2, 100, 5);
        Assert.Equal(8, payload.Regions);
        Assert.Equal(IntentPayload.PrefixLength + 1, ok.Payload.Length); // 6 regions: one byte
        Assert.Equal(0b10, ok.Payload[IntentPayload.PrefixLength]);     // region 3, the second answered

        var past = answers.Single(a => a.Header.RequestId == 6);
        Assert.Equal(ReplicaStatus.OutOfRange, past.Header.Status);
    }

    [Theory]
    [InlineData("getintent-zero", "at least 1 region")]
    [InlineData("getintent-payload", "carries no payload")]
    [InlineData("getintent-flags", "takes no flags")]
    [InlineData("settle-address", "must carry LBA 0")]
    [InlineData("settle-payload", "carries no payload")]
    public async Task Malformed_intent_requests_are_refused_and_the_connection_closed(string kind, string message)
    {
        await using var host = ReplicaHost.Start();
        var device = new MemoryDevice(Block, 4 * BlocksPerRegion);
        host.Serve("pvc-m", device);
        using var raw = await Frames.ConnectRawAsync(host.EndPoint);
        await raw.SendAsync(Frames.Hello("pvc-m", 1), SocketFlags.None);
        byte[] frame = kind switch
        {
            "getintent-zero" => Frames.Frame(Opcode.GetIntent, 0, 4, 0, 0, default),
            "getintent-payload" => Frames.Frame(Opcode.GetIntent, 0, 4, 0, 1, new byte[8]),
            "getintent-flags" => Frames.Frame(Opcode.GetIntent, 1, 4, 0, 1, default),
            "settle-address" => Frames.Frame(Opcode.Settle, 0, 4, 3, 0, default),
            _ => Frames.Frame(Opcode.Settle, 0, 4, 0, 0, new byte[1]),
        };
        await raw.SendAsync(frame, SocketFlags.None);
        var answers = await Frames.ReadUntilClosedAsync(raw, TimeSpan.FromSeconds(10));
        Assert.Equal(Opcode.HelloOk, answers[0].Header.Opcode);
        var refusal = answers[1];
        Assert.Equal(ReplicaStatus.ProtocolError, refusal.Header.Status);
        Assert.Equal(4UL, refusal.Header.RequestId);
        Assert.Contains(message, Encoding.UTF8.GetString(refusal.Payload));
        Assert.Equal(0, device.Changes);
    }

    [Fact]
    public void A_malformed_GetIntent_answer_is_a_protocol_error()
    {
        var good = new byte[IntentPayload.LengthFor(6)];
        new IntentPayload(1 << 20, 8, false).Write(good);
        IntentPayload.Decode(new ReadOnlySequence<byte>(good), 2, 100, 1);

        Assert.Contains("at least 13", Refused(good[..5], 2, 100));
        Assert.Contains("carries 15 bytes, not 14", Refused([.. good, 0], 2, 100));
        Assert.Contains("cannot answer for region 8", Refused(good, 8, 1));
        var badFlags = (byte[])good.Clone();
        badFlags[12] = 2;
        Assert.Contains("flags 2", Refused(badFlags, 2, 100));
        var noRegions = new byte[IntentPayload.LengthFor(1)];
        new IntentPayload(0, 8, false).Write(noRegions);
        Assert.Contains("of 0 bytes", Refused(noRegions, 0, 1));

        static string Refused(byte[] payload, ulong first, uint asked) =>
            Assert.Throws<ReplicaProtocolException>(() => IntentPayload.Decode(new ReadOnlySequence<byte>(payload), first, asked, 1)).Message;
    }

    private static long[] Regions(WriteIntent intent)
    {
        var regions = new List<long>();
        for (long r = intent.Set.NextSet(0); r >= 0; r = intent.Set.NextSet(r + 1))
        {
            regions.Add(r);
        }

        return [.. regions];
    }
}
