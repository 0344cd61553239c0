using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Strata.Replication.Protocol;

namespace Strata.Replication.Tests;

/// <summary>A directory for one test's files, removed afterwards.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = Directory.CreateTempSubdirectory("strata-repl-").FullName;
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>
/// A replica server on a loopback port the kernel picks, serving sparse-file volumes from a temp directory, with its
/// epochs in a <see cref="FileEpochStore"/> there; <see cref="RestartAsync"/> starts a new server over the same files.
/// </summary>
public sealed class ReplicaHost : IAsyncDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly ConcurrentDictionary<string, IBlockDevice> _devices = new();

    private ReplicaHost()
    {
        Server = NewServer();
    }

    public ReplicaServer Server { get; private set; }

    public IPEndPoint EndPoint => Server.LocalEndPoint!;

    public string EpochDirectory => _dir.File("epochs");

    public string IntentDirectory => _dir.File("intent");

    public List<string> Log { get; } = [];

    public static ReplicaHost Start() => new();

    /// <summary>A new sparse-file volume; the server serves it (the device given, when one is).</summary>
    public FileBlockDevice AddVolume(string volumeId, int blockSize = 4096, long blockCount = 256)
    {
        var file = FileBlockDevice.Open(_dir.File(volumeId + ".img"), blockSize * blockCount, blockSize);
        _devices[volumeId] = file;
        return file;
    }

    /// <summary>Serves <paramref name="device"/> as <paramref name="volumeId"/> (a wrapper that fails or holds calls).</summary>
    public void Serve(string volumeId, IBlockDevice device) => _devices[volumeId] = device;

    public Task<ReplicaClient> ConnectAsync(string volumeId, long epoch) => ReplicaClient.ConnectAsync(EndPoint, volumeId, epoch);

    /// <summary>The replica in process, as a target on the server's node opens it.</summary>
    public Task<LocalReplica> OpenLocalAsync(string volumeId, long epoch) => Server.OpenLocalAsync(volumeId, epoch);

    /// <summary>A target's session: in process (<paramref name="local"/>) or a client over TCP.</summary>
    public async Task<IBlockDevice> OpenAsync(string volumeId, long epoch, bool local) =>
        local ? await OpenLocalAsync(volumeId, epoch) : await ConnectAsync(volumeId, epoch);

    /// <summary>Stops the server (every connection dropped) and starts a new one, on a new port, over the same files and epochs.</summary>
    public async Task RestartAsync()
    {
        await Server.DisposeAsync();
        Server = NewServer();
    }

    private ReplicaServer NewServer() =>
        new ReplicaServer(new IPEndPoint(IPAddress.Loopback, 0), id => _devices.GetValueOrDefault(id), new FileEpochStore(EpochDirectory),
            new ReplicaServerOptions
            {
                IntentDirectory = IntentDirectory,
                Log = m =>
                {
                    lock (Log)
                    {
                        Log.Add(m);
                    }
                },
            }).Start();

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        foreach (var device in _devices.Values)
        {
            await device.DisposeAsync();
        }

        _dir.Dispose();
    }
}

/// <summary>An in-memory device that counts the calls that change it, and knows which blocks are mapped (written
/// and not unmapped since).</summary>
public sealed class MemoryDevice(int blockSize, long blockCount) : IBlockDevice, IAllocationMap
{
    private readonly byte[] _data = new byte[blockSize * blockCount];
    private readonly bool[] _mapped = new bool[blockCount];
    private int _changes;

    public int BlockSize => blockSize;

    public long BlockCount => blockCount;

    /// <summary>Writes and unmaps applied.</summary>
    public int Changes => Volatile.Read(ref _changes);

    public ValueTask ReadAsync(long lba, Memory<byte> buffer, CancellationToken ct = default)
    {
        Check(lba, buffer.Length / blockSize);
        lock (_data)
        {
            _data.AsSpan((int)(lba * blockSize), buffer.Length).CopyTo(buffer.Span);
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask WriteAsync(long lba, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct = default)
    {
        Check(lba, data.Length / blockSize);
        lock (_data)
        {
            data.Span.CopyTo(_data.AsSpan((int)(lba * blockSize)));
            _mapped.AsSpan((int)lba, data.Length / blockSize).Fill(true);
        }

        Interlocked.Increment(ref _changes);
        return ValueTask.CompletedTask;
    }

    public ValueTask FlushAsync(CancellationToken ct = default) => ValueTask.CompletedTask;

    public ValueTask UnmapAsync(long lba, long blocks, CancellationToken ct = default)
    {
        Check(lba, blocks);
        lock (_data)
        {
            _data.AsSpan((int)(lba * blockSize), (int)(blocks * blockSize)).Clear();
            _mapped.AsSpan((int)lba, (int)blocks).Clear();
        }

        Interlocked.Increment(ref _changes);
        return ValueTask.CompletedTask;
    }

    public ValueTask<(bool Mapped, long Blocks)> GetExtentAsync(long lba, long maxBlocks, CancellationToken ct = default)
    {
        Check(lba, 1);
        long end = Math.Min(blockCount, lba + maxBlocks);
        lock (_data)
        {
            bool mapped = _mapped[lba];
            long next = lba + 1;
            while (next < end && _mapped[next] == mapped)
            {
                next++;
            }

            return ValueTask.FromResult((mapped, next - lba));
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private void Check(long lba, long blocks)
    {
        if (lba < 0 || blocks < 0 || lba > blockCount || blocks > blockCount - lba)
        {
            throw BlockDeviceException.OutOfRange(lba, blocks, blockCount);
        }
    }
}

/// <summary>A device whose writes wait at a gate, open at first, while the test holds it closed (a slow or stuck disk).</summary>
public sealed class GatedDevice(IBlockDevice inner) : IBlockDevice
{
    private TaskCompletionSource _gate = Opened();
    private int _waiting;

    public int BlockSize => inner.BlockSize;

    public long BlockCount => inner.BlockCount;

    /// <summary>Writes waiting at the gate now.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    public void Close() => _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Open() => _gate.TrySetResult();

    private static TaskCompletionSource Opened()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        gate.SetResult();
        return gate;
    }

    public ValueTask ReadAsync(long lba, Memory<byte> buffer, CancellationToken ct = default) => inner.ReadAsync(lba, buffer, ct);

    public async ValueTask WriteAsync(long lba, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct = default)
    {
        Interlocked.Increment(ref _waiting);
        try
        {
            await _gate.Task;
        }
        finally
        {
            Interlocked.Decrement(ref _waiting);
        }

        await inner.WriteAsync(lba, data, flags, ct);
    }

    public ValueTask FlushAsync(CancellationToken ct = default) => inner.FlushAsync(ct);

    public ValueTask UnmapAsync(long lba, long blockCount, CancellationToken ct = default) => inner.UnmapAsync(lba, blockCount, ct);

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}

/// <summary>An epoch store in memory (the fuzz test's: no file system work per connection).</summary>
public sealed class MemoryEpochStore : IEpochStore
{
    private readonly ConcurrentDictionary<string, long> _epochs = new();

    public ValueTask<long> GetAsync(string volumeId, CancellationToken ct = default) => ValueTask.FromResult(_epochs.GetValueOrDefault(volumeId));

    public ValueTask SetAsync(string volumeId, long epoch, CancellationToken ct = default)
    {
        _epochs[volumeId] = epoch;
        return ValueTask.CompletedTask;
    }
}

/// <summary>Frames and raw sockets for the tests that speak the protocol by hand.</summary>
public static class Frames
{
    public static byte[] Frame(Opcode opcode, byte flags, ulong requestId, ulong lba, uint blockCount, ReadOnlySpan<byte> payload)
    {
        var writer = new System.Buffers.ArrayBufferWriter<byte>();
        FrameCodec.WriteFrame(writer, opcode, flags, requestId, lba, blockCount, payload);
        return writer.WrittenSpan.ToArray();
    }

    public static byte[] Hello(string volumeId, long epoch, ulong requestId = 0) =>
        Frame(Opcode.Hello, 0, requestId, 0, 0, new HelloPayload(FrameHeader.CurrentVersion, epoch, volumeId).Encode());

    public static async Task<Socket> ConnectRawAsync(IPEndPoint endpoint)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endpoint);
        return socket;
    }

    /// <summary>Reads frames from a raw socket until the server closes it (or <paramref name="timeout"/> passes: then fails).</summary>
    public static async Task<List<(FrameHeader Header, byte[] Payload)>> ReadUntilClosedAsync(Socket socket, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var received = new List<byte>();
        var chunk = new byte[65536];
        while (true)
        {
            int n;
            try
            {
                n = await socket.ReceiveAsync(chunk, SocketFlags.None, cts.Token);
            }
            catch (SocketException)
            {
                break; // reset: closed too
            }

            if (n == 0)
            {
                break;
            }

            received.AddRange(chunk.AsSpan(0, n));
        }

        return Parse(received.ToArray());
    }

    public static List<(FrameHeader Header, byte[] Payload)> Parse(byte[] bytes)
    {
        var frames = new List<(FrameHeader, byte[])>();
        var buffer = new System.Buffers.ReadOnlySequence<byte>(bytes);
        while (FrameCodec.TryReadFrame(ref buffer, out var header, out var payload))
        {
            frames.Add((header, payload.ToArray()));
        }

        Assert.True(buffer.IsEmpty, $"{buffer.Length} bytes after the last whole frame");
        return frames;
    }

    /// <summary>Waits for a condition (a safety-net deadline, not a measurement).</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what, int seconds = 10)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"timed out waiting for {what}");
            }

            await Task.Delay(10);
        }
    }
}

/// <summary>4 KiB blocks for the tests that write and read single blocks.</summary>
public static class TestBlocks
{
    public const int Block = 4096;

    public static byte[] Filled(byte value)
    {
        var b = new byte[Block];
        b.AsSpan().Fill(value);
        return b;
    }

    public static async Task<byte[]> ReadAsync(IBlockDevice device, long lba)
    {
        var buffer = new byte[Block];
        await device.ReadAsync(lba, buffer);
        return buffer;
    }
}
