using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Strata.Replication.Protocol;
using Strata.Replication.Server;

namespace Strata.Replication;

/// <summary>
/// Serves the volume replicas of a node over the replica protocol (TCP, <see cref="DefaultPort"/>;
/// docs/replication-protocol.md). A client's Hello names a volume, which <c>resolve</c> maps to the device that
/// holds it, and an epoch: an epoch older than the newest this server stored for the volume is refused (Fenced); a
/// newer one is stored durably in the <see cref="IEpochStore"/> before it is accepted, and from then on every
/// connection of an older epoch is answered Fenced and closed at its next request. Requests on a connection run
/// concurrently and are answered as they complete. A target on this node opens its replica in process instead
/// (<see cref="OpenLocalAsync"/>), under the same epochs and fences.
/// </summary>
public sealed class ReplicaServer : IAsyncDisposable
{
    public const int DefaultPort = 6060;

    private readonly IPEndPoint _endpoint;
    private readonly Func<string, IBlockDevice?> _resolve;
    private readonly ConcurrentDictionary<string, VolumeFence> _fences = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, WriteIntentLog> _intents = new(StringComparer.Ordinal);
    private readonly Dictionary<Socket, Task> _connections = [];
    private readonly HashSet<LocalReplica> _locals = [];
    private readonly CancellationTokenSource _stopping = new();
    private Socket? _listener;
    private Task? _acceptLoop;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _disposeStarted;

    /// <param name="endpoint">Where to listen; port 0 takes a free one (<see cref="LocalEndPoint"/> tells which).</param>
    /// <param name="resolve">The device holding a volume's replica on this node, or null when it holds none. The
    /// server does not own the devices: it never disposes them.</param>
    public ReplicaServer(IPEndPoint endpoint, Func<string, IBlockDevice?> resolve, IEpochStore epochs, ReplicaServerOptions? options = null)
    {
        _endpoint = endpoint;
        _resolve = resolve;
        Epochs = epochs;
        Options = options ?? new ReplicaServerOptions();
        if (Options.IntentDirectory is { } intents)
        {
            Directory.CreateDirectory(intents);
        }
    }

    public ReplicaServerOptions Options { get; }

    public IEpochStore Epochs { get; }

    /// <summary>The address the server listens on, with the real port when 0 was asked; null before <see cref="Start"/>.</summary>
    public IPEndPoint? LocalEndPoint => (IPEndPoint?)_listener?.LocalEndPoint;

    /// <summary>Connections open now.</summary>
    public int ConnectionCount
    {
        get
        {
            lock (_connections)
            {
                return _connections.Count;
            }
        }
    }

    /// <summary>Starts listening and accepting; returns at once.</summary>
    public ReplicaServer Start()
    {
        if (_listener is not null)
        {
            throw new InvalidOperationException("the replica server is started already");
        }

        var listener = new Socket(_endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.Bind(_endpoint);
            listener.Listen(128);
        }
        catch
        {
            listener.Dispose();
            throw;
        }

        _listener = listener;
        _acceptLoop = AcceptLoopAsync(listener);
        return this;
    }

    /// <summary>
    /// Opens <paramref name="volumeId"/>'s replica on this node in process, for a target on the same node: a Hello at
    /// <paramref name="epoch"/> under the same rules as one over TCP (stored durably, older sessions fenced and
    /// drained), then device calls straight to the volume, each admitted by the volume's fence. Throws
    /// <see cref="BlockDeviceException"/>: Fenced when the replica has seen a newer epoch, Unavailable when this node
    /// holds no such volume or the server is stopped.
    /// </summary>
    public Task<LocalReplica> OpenLocalAsync(string volumeId, long epoch, CancellationToken ct = default) =>
        LocalReplica.OpenAsync(this, volumeId, epoch, ct);

    /// <summary>
    /// Hello for <paramref name="volumeId"/> at <paramref name="epoch"/>: an epoch older than the volume's newest is
    /// refused; a newer one is stored durably before it is accepted, and the answer waits for the device calls that
    /// sessions of older epochs have in flight.
    /// </summary>
    internal async Task<HelloAdmission> HelloAsync(string volumeId, long epoch)
    {
        IBlockDevice? device;
        try
        {
            device = _resolve(volumeId);
        }
        catch (Exception e)
        {
            return HelloAdmission.Refused(ReplicaStatus.Unavailable, $"volume {volumeId} cannot be served here: {e.Message}");
        }

        if (device is null)
        {
            return HelloAdmission.Refused(ReplicaStatus.Unavailable, $"this node holds no replica of volume {volumeId}");
        }

        var fence = _fences.GetOrAdd(volumeId, id => new VolumeFence(id));
        await fence.HelloGate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (fence.Epoch < 0)
            {
                fence.Load(await Epochs.GetAsync(volumeId).ConfigureAwait(false));
            }

            long stored = fence.Epoch;
            if (epoch < stored)
            {
                return HelloAdmission.Refused(ReplicaStatus.Fenced, $"epoch {epoch} is older than {stored}: a newer target owns volume {volumeId}");
            }

            if (epoch > stored)
            {
                // Durable before it is acted on: after a restart the replica still refuses every older epoch.
                await Epochs.SetAsync(volumeId, epoch).ConfigureAwait(false);
            }

            // Opened once per volume, under the gate: every session of the volume, TCP or local, shares it. A volume
            // made again with another size under the same id gets it opened again (all set: it says nothing of it).
            if (!_intents.TryGetValue(volumeId, out var intent) || !intent.Fits(device.BlockSize, device.BlockCount))
            {
                if (intent is not null)
                {
                    await intent.DisposeAsync().ConfigureAwait(false);
                }

                intent = _intents[volumeId] = WriteIntentLog.Open(IntentPathOf(volumeId), device.BlockSize, device.BlockCount, Options.IntentRegionBytes);
            }

            var session = new FenceSession(fence, epoch);
            await fence.Accept(session).ConfigureAwait(false);
            return new HelloAdmission(session, device, intent, ReplicaStatus.Ok, null);
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            return HelloAdmission.Refused(ReplicaStatus.Medium, $"the epoch or write-intent bitmap of volume {volumeId} cannot be kept: {e.Message}");
        }
        finally
        {
            fence.HelloGate.Release();
        }
    }

    /// <summary>The file of <paramref name="volumeId"/>'s write-intent bitmap, or null when they are kept in memory.</summary>
    public string? IntentPathOf(string volumeId) =>
        Options.IntentDirectory is { } directory ? Path.Combine(directory, VolumeFiles.NameOf(volumeId) + ".intent") : null;

    /// <summary>Counts an in-process session among those <see cref="DisposeAsync"/> ends; false once the server stops.</summary>
    internal bool TryTrack(LocalReplica local)
    {
        lock (_connections)
        {
            return !_stopping.IsCancellationRequested && _locals.Add(local);
        }
    }

    internal void Untrack(LocalReplica local)
    {
        lock (_connections)
        {
            _locals.Remove(local);
        }
    }

    internal void Log(string message) => Options.Log(message);

    /// <summary>Serves one connection over any pipe pair (tests drive the decode path through it without sockets).</summary>
    internal Task ServeAsync(PipeReader input, PipeWriter output, string peer, Action abort) =>
        new ReplicaConnection(this, input, output, peer, abort).RunAsync();

    private async Task AcceptLoopAsync(Socket listener)
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (SocketException e) when (!_stopping.IsCancellationRequested && e.SocketErrorCode is SocketError.TooManyOpenSockets or SocketError.NoBufferSpaceAvailable)
            {
                // Out of descriptors or socket memory: accept fails at once while the connection waits in the backlog.
                Log($"accept failed: {e.Message}; retrying in 100 ms");
                try
                {
                    await Task.Delay(100, _stopping.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                continue;
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (_stopping.IsCancellationRequested)
                {
                    return;
                }

                continue;
            }

            lock (_connections)
            {
                if (_stopping.IsCancellationRequested)
                {
                    socket.Dispose();
                    return;
                }

                _connections[socket] = Task.Run(() => RunConnectionAsync(socket));
            }
        }
    }

    private async Task RunConnectionAsync(Socket socket)
    {
        string peer = "?";
        try
        {
            peer = socket.RemoteEndPoint?.ToString() ?? "?";
            socket.NoDelay = true;
            Log($"connection from {peer}");
            using var stream = new NetworkStream(socket, ownsSocket: false);
            var input = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, minimumReadSize: 16 * 1024, leaveOpen: true));
            var output = PipeWriter.Create(stream, new StreamPipeWriterOptions(minimumBufferSize: 64 * 1024, leaveOpen: true));
            await new ReplicaConnection(this, input, output, peer, () => Abort(socket)).RunAsync().ConfigureAwait(false);
            await LingerAsync(socket).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException)
        {
            // Reset before or while we set it up: one connection lost.
        }
        finally
        {
            socket.Dispose();
            lock (_connections)
            {
                _connections.Remove(socket);
            }

            Log($"connection from {peer} closed");
        }
    }

    /// <summary>
    /// A close of our own (protocol error, fenced, Goodbye) sends FIN after the last response, then reads and drops
    /// what the client still sends for a moment: closing with unread data would send a reset, which can destroy
    /// that last response in the client's receive queue before it reads it.
    /// </summary>
    private async Task LingerAsync(Socket socket)
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        try
        {
            socket.Shutdown(SocketShutdown.Send);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            timeout.CancelAfter(Options.LingerOnClose);
            var sink = new byte[4096];
            while (await socket.ReceiveAsync(sink, SocketFlags.None, timeout.Token).ConfigureAwait(false) > 0)
            {
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
    }

    private static void Abort(Socket socket)
    {
        try
        {
            // Shutdown wakes a pending receive or send on every platform; Dispose alone may not.
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }

        socket.Dispose();
    }

    /// <summary>
    /// Stops at once: no more connections, and every open one is closed now (clients see the connection drop and
    /// fail their requests in flight). Returns when the device calls already started have finished, so the devices
    /// can be closed after.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposeStarted, 1) == 1)
        {
            await _stopped.Task.ConfigureAwait(false);
            return;
        }

        try
        {
            await StopAsync().ConfigureAwait(false);
        }
        finally
        {
            _stopped.TrySetResult();
        }
    }

    private async Task StopAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        if (_acceptLoop is not null)
        {
            await _acceptLoop.ConfigureAwait(false);
        }

        Task[] running;
        lock (_connections)
        {
            foreach (var socket in _connections.Keys)
            {
                Abort(socket);
            }

            // In-process sessions end as connections do: their next calls fail, and those in flight finish first.
            running = [.. _connections.Values, .. _locals.Select(l => l.StopAsync("the replica server stopped"))];
        }

        await Task.WhenAll(running).ConfigureAwait(false);
        foreach (var intent in _intents.Values)
        {
            await intent.DisposeAsync().ConfigureAwait(false);
        }

        _stopping.Dispose();
    }
}
