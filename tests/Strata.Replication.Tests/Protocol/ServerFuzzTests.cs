using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using Strata.Replication.Protocol;

namespace Strata.Replication.Tests.Protocol;

/// <summary>The server's decode path (frame codec and connection) against malformed input, over in-memory pipes.</summary>
public sealed class ServerFuzzTests
{
    /// <summary>
    /// 20,000 malformed frames, each on its own connection after a valid Hello (or without one): the connection
    /// answers ProtocolError (OutOfRange for a well-formed write or GetExtent past the end) and closes, never fails in any other
    /// way, and no write or unmap reaches the device. The seed is fixed, so a failure repeats.
    /// </summary>
    [Fact]
    public async Task Twenty_thousand_malformed_frames_are_refused_and_none_is_applied()
    {
        var device = new MemoryDevice(FuzzFrames.BlockSize, FuzzFrames.Blocks);
        var control = new MemoryDevice(FuzzFrames.BlockSize, FuzzFrames.Blocks);
        var log = new ConcurrentQueue<string>();
        await using var server = new ReplicaServer(new IPEndPoint(IPAddress.Loopback, 0),
            id => id switch { "v" => device, "control" => control, _ => null }, new MemoryEpochStore(), new ReplicaServerOptions { Log = log.Enqueue });

        // The path applies what is valid: one well-formed write lands on the control volume.
        var random = new Random(20261126);
        var good = await ServeOneAsync(server, Frames.Hello("control", 1), FuzzFrames.ValidWrite(random));
        Assert.Equal([Opcode.HelloOk, Opcode.Response], good.Select(f => f.Header.Opcode));
        Assert.Equal(ReplicaStatus.Ok, good[1].Header.Status);
        Assert.Equal(1, control.Changes);

        var counts = new Dictionary<FuzzFrames.Kind, int>();
        for (int i = 0; i < 20_000; i++)
        {
            var episode = FuzzFrames.Next(random, out var kind);
            counts[kind] = counts.GetValueOrDefault(kind) + 1;
            var responses = await ServeOneAsync(server, episode.SayHelloFirst ? Frames.Hello("v", 1) : [], episode.Bytes);

            var context = $"episode {i} ({kind}): {Convert.ToHexString(episode.Bytes.AsSpan(0, Math.Min(64, episode.Bytes.Length)))}";
            int first = 0;
            if (episode.SayHelloFirst)
            {
                Assert.True(responses.Count > 0 && responses[0].Header.Opcode == Opcode.HelloOk, context);
                first = 1;
            }

            Assert.True(responses.Count == first + 1, $"{context}: {responses.Count - first} answers");
            var answer = responses[first].Header;
            Assert.Equal(Opcode.Response, answer.Opcode);
            Assert.True(
                kind == FuzzFrames.Kind.OutOfRange ? answer.Status == ReplicaStatus.OutOfRange : answer.Status == ReplicaStatus.ProtocolError,
                $"{context}: answered {answer.Status}");
            Assert.Equal(0, device.Changes);
        }

        Assert.All(Enum.GetValues<FuzzFrames.Kind>(), k => Assert.True(counts.GetValueOrDefault(k) > 1000, $"{k}: {counts.GetValueOrDefault(k)}"));
        Assert.DoesNotContain(log, m => m.Contains("unexpected", StringComparison.Ordinal));
    }

    /// <summary>One connection over in-memory pipes: sends the bytes, closes, returns every frame the server sent.</summary>
    private static async Task<List<(FrameHeader Header, byte[] Payload)>> ServeOneAsync(ReplicaServer server, byte[] hello, byte[] bytes)
    {
        var input = new Pipe();
        var output = new Pipe(new PipeOptions(pauseWriterThreshold: 0, resumeWriterThreshold: 0));
        var serving = server.ServeAsync(input.Reader, output.Writer, "fuzz", () => input.Reader.CancelPendingRead());
        if (hello.Length > 0)
        {
            await input.Writer.WriteAsync(hello);
        }

        await input.Writer.WriteAsync(bytes);
        await input.Writer.CompleteAsync();
        await serving.WaitAsync(TimeSpan.FromSeconds(30));

        var result = await output.Reader.ReadAsync();
        Assert.True(result.IsCompleted);
        var frames = Frames.Parse(result.Buffer.ToArray());
        output.Reader.AdvanceTo(result.Buffer.End);
        await output.Reader.CompleteAsync();
        return frames;
    }
}
