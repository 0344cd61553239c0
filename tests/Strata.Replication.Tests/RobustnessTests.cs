using System.Net.Sockets;
using Strata.Replication.Protocol;

namespace Strata.Replication.Tests;

/// <summary>What raw sockets can do to a server: it refuses, closes or waits, and keeps serving everyone else.</summary>
public sealed class RobustnessTests
{
    [Fact]
    public async Task Garbage_and_half_frames_from_raw_sockets_leave_other_clients_served()
    {
        await using var host = ReplicaHost.Start();
        var file = host.AddVolume("pvc-e", 4096, 128);
        await using var good = await host.ConnectAsync("pvc-e", 1);
        var stop = new CancellationTokenSource();
        var progress = new int[1];
        var steady = KeepServingAsync(good, progress, stop.Token);

        // Garbage: refused with a ProtocolError answer, then closed.
        var random = new Random(7);
        for (int i = 0; i < 20; i++)
        {
            using var raw = await Frames.ConnectRawAsync(host.EndPoint);
            var garbage = new byte[random.Next(1, 5000)];
            random.NextBytes(garbage);
            await raw.SendAsync(garbage, SocketFlags.None);
            var answers = await Frames.ReadUntilClosedAsync(raw, TimeSpan.FromSeconds(10));
            Assert.Equal(ReplicaStatus.ProtocolError, Assert.Single(answers).Header.Status);
        }

        // Garbage shorter than a header is refused from its first bytes too.
        using (var raw = await Frames.ConnectRawAsync(host.EndPoint))
        {
            await raw.SendAsync("HELO\r\n"u8.ToArray(), SocketFlags.None);
            var answer = Assert.Single(await Frames.ReadUntilClosedAsync(raw, TimeSpan.FromSeconds(10)));
            Assert.Equal(ReplicaStatus.ProtocolError, answer.Header.Status);
            Assert.Contains("bad magic", System.Text.Encoding.UTF8.GetString(answer.Payload));
        }

        // A request before Hello, and a Hello for a volume with a bad payload length in a valid header.
        using (var raw = await Frames.ConnectRawAsync(host.EndPoint))
        {
            await raw.SendAsync(Frames.Frame(Opcode.Write, 0, 9, 0, 1, new byte[4096]), SocketFlags.None);
            var answer = Assert.Single(await Frames.ReadUntilClosedAsync(raw, TimeSpan.FromSeconds(10)));
            Assert.Equal(ReplicaStatus.ProtocolError, answer.Header.Status);
            Assert.Equal(9UL, answer.Header.RequestId);
            Assert.Contains("before Hello", System.Text.Encoding.UTF8.GetString(answer.Payload));
        }

        // A header that announces more than the limit is refused at once, without waiting for the payload.
        using (var raw = await Frames.ConnectRawAsync(host.EndPoint))
        {
            await raw.SendAsync(Frames.Hello("pvc-e", 1), SocketFlags.None);
            var oversize = Frames.Frame(Opcode.Write, 0, 3, 0, 1, new byte[4096]);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(oversize.AsSpan(28), 9u << 20);
            Protocol.FrameCodecTests.Refix(oversize);
            await raw.SendAsync(oversize.AsMemory(0, FrameHeader.Size), SocketFlags.None);
            var answers = await Frames.ReadUntilClosedAsync(raw, TimeSpan.FromSeconds(10));
            Assert.Equal(Opcode.HelloOk, answers[0].Header.Opcode);
            Assert.Equal(ReplicaStatus.ProtocolError, answers[1].Header.Status);
            Assert.Contains("exceeds", System.Text.Encoding.UTF8.GetString(answers[1].Payload));
        }

        // Half-frames left hanging: half a header, and a write whose payload never finishes. The server waits on
        // them (they cost a connection each), applies nothing, and the steady client goes on.
        var hanging = new List<Socket>();
        for (int i = 0; i < 10; i++)
        {
            var raw = await Frames.ConnectRawAsync(host.EndPoint);
            hanging.Add(raw);
            if (i % 2 == 0)
            {
                await raw.SendAsync(Frames.Hello("pvc-e", 1).AsMemory(0, 17), SocketFlags.None);
            }
            else
            {
                await raw.SendAsync(Frames.Hello("pvc-e", 1), SocketFlags.None);
                var write = Frames.Frame(Opcode.Write, 0, 1, 100, 16, Enumerable.Repeat((byte)0x5A, 16 * 4096).ToArray());
                await raw.SendAsync(write.AsMemory(0, write.Length - 1), SocketFlags.None);
            }
        }

        await Frames.WaitUntilAsync(() => host.Server.ConnectionCount == 11, "the hanging connections");
        int before = Volatile.Read(ref progress[0]);
        await Frames.WaitUntilAsync(() => Volatile.Read(ref progress[0]) > before + 10, "the steady client to go on beside them");

        // Closing them mid-frame ends their connections (and nothing of the unfinished write lands).
        foreach (var raw in hanging)
        {
            raw.Dispose();
        }

        await Frames.WaitUntilAsync(() => host.Server.ConnectionCount == 1, "the half-frame connections to close");
        var block = new byte[4096];
        await file.ReadAsync(110, block);
        Assert.True(block.AsSpan().IndexOfAnyExcept((byte)0) < 0);

        await stop.CancelAsync();
        Assert.True(await steady > 10, "the well-behaved client was held up");
        Assert.DoesNotContain(host.Log, m => m.Contains("unexpected", StringComparison.Ordinal));
    }

    /// <summary>Writes and reads back blocks 0-63 until stopped; returns the rounds done.</summary>
    private static async Task<int> KeepServingAsync(ReplicaClient client, int[] progress, CancellationToken stop)
    {
        var data = new byte[4096];
        var back = new byte[4096];
        int rounds = 0;
        while (!stop.IsCancellationRequested)
        {
            Random.Shared.NextBytes(data);
            long lba = rounds % 64;
            await client.WriteAsync(lba, data, WriteFlags.None);
            await client.ReadAsync(lba, back);
            Assert.Equal(data, back);
            rounds++;
            Volatile.Write(ref progress[0], rounds);
        }

        return rounds;
    }
}
