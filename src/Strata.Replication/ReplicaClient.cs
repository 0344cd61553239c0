using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using Strata.Replication.Client;
using Strata.Replication.Protocol;

namespace Strata.Replication;

/// <summary>
/// A volume replica on a <see cref="ReplicaServer"/>, as an <see cref="IBlockDevice"/>: one TCP connection that
/// says Hello with the volume id and this target's epoch, then pipelines requests (up to <see cref="MaxInFlight"/>
/// at a time, answered in any order and matched by request id). A server error comes back as a
/// <see cref="BlockDeviceException"/> of the server's kind and message; losing the connection fails every request
/// in flight and every later one with <see cref="BlockDeviceErrorKind.Unavailable"/> (a client does not
/// reconnect: make a new one), and so does a server that answers nothing for <see cref="ReplicaClientOptions.ReplyTimeout"/>
/// while a request waits (a peer cut off answers nothing: TCP alone would wait for many minutes); once fenced by a newer epoch, every call fails with
/// <see cref="BlockDeviceErrorKind.Fenced"/>. As an <see cref="IAllocationMap"/> it asks the replica which blocks
/// are mapped (GetExtent), so a rebuild can skip what is deallocated; as an <see cref="IWriteIntent"/> it reads and
/// settles the replica's write-intent bitmap (GetIntent, Settle).
/// </summary>
/// <remarks>
/// Requests larger than <see cref="FrameHeader.MaxPayload"/> are split. A cancellation token is observed until the
/// request is sent; a request on the wire runs to its end. Every returned ValueTask must be awaited (that hands its
/// slot back).
/// </remarks>
public sealed class ReplicaClient : IBlockDevice, IAllocationMap, IWriteIntent
{
    public const int SlotBits = 16;

    /// <summary>Requests in flight at most; more wait for a slot.</summary>
    public const int MaxInFlight = 256;

    private const int FlushThreshold = 1 << 20;

    /// <summary>Requests with at most this much data may wait to be sent with others (<see cref="FrameOutbox{T}"/>).</summary>
    private const int BatchedBytes = 16 * 1024;
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan GoodbyeTimeout = TimeSpan.FromSeconds(10);

    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly PendingRequest[] _slots = new PendingRequest[MaxInFlight];
    private readonly Stack<PendingRequest> _free = new(MaxInFlight);
    private readonly SemaphoreSlim _room = new(MaxInFlight, MaxInFlight);
    private readonly Lock _gate = new();
    private readonly FrameOutbox<Outbound> _outbox;

    private Task _receiving = Task.CompletedTask;

    /// <summary>Set once: why no request can be sent any more (connection lost, fenced, closed). Under <see cref="_gate"/>.</summary>
    private volatile BlockDeviceException? _failure;
    private volatile string? _fencedMessage;
    private string? _serverError;
    private volatile bool _closing;
    private readonly long _replyTimeoutMs;
    private long _lastReceived = Environment.TickCount64;
    private readonly Timer _watchdog;
    private int _overdueChecks;

    private ReplicaClient(Socket socket, IPEndPoint endpoint, string volumeId, long epoch, ReplicaClientOptions options)
    {
        _socket = socket;
        _replyTimeoutMs = (long)options.ReplyTimeout.TotalMilliseconds;
        var period = TimeSpan.FromMilliseconds(Math.Max(50, _replyTimeoutMs / 4));
        _watchdog = new Timer(static state => ((ReplicaClient)state!).CheckReplies(), this, period, period);
        RemoteEndPoint = endpoint;
        VolumeId = volumeId;
        Epoch = epoch;
        _stream = new NetworkStream(socket, ownsSocket: false);
        _input = PipeReader.Create(_stream, new StreamPipeReaderOptions(bufferSize: 64 * 1024, minimumReadSize: 16 * 1024, leaveOpen: true));
        _output = PipeWriter.Create(_stream, new StreamPipeWriterOptions(minimumBufferSize: 64 * 1024, leaveOpen: true));
        _outbox = new FrameOutbox<Outbound>(_output, WriteFrame, e => Fail(new BlockDeviceException(BlockDeviceErrorKind.Unavailable,
            $"sending to the replica server at {RemoteEndPoint} failed: {e.Message}", e)), FlushThreshold);
        for (int i = MaxInFlight - 1; i >= 0; i--)
        {
            _slots[i] = new PendingRequest(this, i);
            _free.Push(_slots[i]);
        }
    }

    public IPEndPoint RemoteEndPoint { get; }

    public string VolumeId { get; }

    public long Epoch { get; }

    public int BlockSize { get; private set; }

    public long BlockCount { get; private set; }

    /// <summary>False once the connection is lost, fenced or closed: every call fails from then on.</summary>
    public bool IsConnected => _failure is null;

    /// <summary>
    /// Connects to the replica server at <paramref name="endpoint"/> and says Hello for <paramref name="volumeId"/>
    /// at <paramref name="epoch"/>. Throws <see cref="BlockDeviceException"/>: Fenced when the replica has seen a
    /// newer epoch, Unavailable when the server cannot be reached or holds no such volume.
    /// </summary>
    public static Task<ReplicaClient> ConnectAsync(IPEndPoint endpoint, string volumeId, long epoch, CancellationToken ct = default) =>
        ConnectAsync(endpoint, volumeId, epoch, ReplicaClientOptions.Default, ct);

    /// <inheritdoc cref="ConnectAsync(IPEndPoint, string, long, CancellationToken)"/>
    public static async Task<ReplicaClient> ConnectAsync(IPEndPoint endpoint, string volumeId, long epoch, ReplicaClientOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.ReplyTimeout, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        byte[] hello = new HelloPayload(FrameHeader.CurrentVersion, epoch, volumeId).Encode();

        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(HandshakeTimeout);
        try
        {
            await socket.ConnectAsync(endpoint, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            socket.Dispose();
            throw new BlockDeviceException(BlockDeviceErrorKind.Unavailable, $"cannot connect to the replica server at {endpoint}: {e.Message}", e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var client = new ReplicaClient(socket, endpoint, volumeId, epoch, options);
        try
        {
            await client.HandshakeAsync(hello, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            await client.CloseTransportAsync().ConfigureAwait(false);
            if (e is BlockDeviceException || (e is OperationCanceledException && ct.IsCancellationRequested))
            {
                throw;
            }

            throw new BlockDeviceException(BlockDeviceErrorKind.Unavailable,
                $"the replica server at {endpoint} did not complete the handshake for volume {volumeId}: {e.Message}", e);
        }

        client._receiving = client.ReceiveLoopAsync();
        return client;
    }

    private async Task HandshakeAsync(byte[] hello, CancellationToken ct)
    {
        FrameCodec.WriteFrame(_output, Opcode.Hello, 0, 0, 0, 0, hello);
        await _output.FlushAsync(ct).ConfigureAwait(false);
        while (true)
        {
            var result = await _input.ReadAsync(ct).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (FrameCodec.TryReadFrame(ref buffer, out var header, out var payload))
            {
                try
                {
                    if (header.Opcode == Opcode.HelloOk && header.RequestId == 0)
                    {
                        var ok = HelloOkPayload.Decode(payload);
                        if (ok.Version != FrameHeader.CurrentVersion)
                        {
                            throw new ReplicaProtocolException($"the server answered in protocol version {ok.Version}, not {FrameHeader.CurrentVersion}");
                        }

                        BlockSize = ok.BlockSize;
                        BlockCount = ok.BlockCount;
                        return;
                    }

                    if (header.Opcode == Opcode.Response && header.RequestId == 0 && header.Status != ReplicaStatus.Ok)
                    {
                        throw new BlockDeviceException(header.Status.ToErrorKind(),
                            $"replica server {RemoteEndPoint} refused volume {VolumeId} at epoch {Epoch}: {Message(payload)}");
                    }

                    throw new ReplicaProtocolException($"expected HelloOk, got {header}");
                }
                finally
                {
                    _input.AdvanceTo(buffer.Start);
                }
            }

            _input.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                throw new EndOfStreamException("the server closed the connection");
            }
        }
    }

    public ValueTask ReadAsync(long lba, Memory<byte> buffer, CancellationToken ct = default)
    {
        uint count = CheckRange(lba, buffer.Length, out bool split);
        if (split)
        {
            return ReadSplitAsync(lba, buffer, ct);
        }

        return count == 0 ? Nothing(ct) : Submit(Opcode.Read, FrameFlags.None, lba, count, buffer, default, 0, ct);
    }

    public ValueTask WriteAsync(long lba, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct = default)
    {
        uint count = CheckRange(lba, data.Length, out bool split);
        if (split)
        {
            return WriteSplitAsync(lba, data, flags, ct);
        }

        bool fua = (flags & WriteFlags.Fua) != 0;
        if (count == 0)
        {
            return fua ? FlushAsync(ct) : Nothing(ct);
        }

        if (Unusable(ct) is { } failed)
        {
            return failed;
        }

        // The checksum is the caller's work, before the request is queued: whichever thread frames it only copies.
        return Submit(Opcode.Write, fua ? FrameFlags.Fua : FrameFlags.None, lba, count, default, data, Crc32C.Compute(data.Span), ct);
    }

    public ValueTask FlushAsync(CancellationToken ct = default) =>
        Submit(Opcode.Flush, FrameFlags.None, 0, 0, default, default, 0, ct);

    public ValueTask UnmapAsync(long lba, long blockCount, CancellationToken ct = default)
    {
        if (lba < 0 || blockCount < 0 || lba > BlockCount || blockCount > BlockCount - lba)
        {
            throw BlockDeviceException.OutOfRange(lba, blockCount, BlockCount);
        }

        if (blockCount > uint.MaxValue)
        {
            return UnmapSplitAsync(lba, blockCount, ct);
        }

        return blockCount == 0 ? Nothing(ct) : Submit(Opcode.Unmap, FrameFlags.None, lba, (uint)blockCount, default, default, 0, ct);
    }

    /// <summary>
    /// Asks the replica whether <paramref name="lba"/> is mapped and how many blocks from it (at least 1, at most
    /// <paramref name="maxBlocks"/>, the end of the device and 2^32 - 1, what one request can ask about) share that
    /// state. A replica whose device keeps no allocation map answers mapped, all of them. Errors as for a Read.
    /// </summary>
    public ValueTask<(bool Mapped, long Blocks)> GetExtentAsync(long lba, long maxBlocks, CancellationToken ct = default)
    {
        if (lba < 0 || lba >= BlockCount)
        {
            throw BlockDeviceException.OutOfRange(lba, 1, BlockCount);
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(maxBlocks, 1);
        uint count = (uint)Math.Min(Math.Min(maxBlocks, BlockCount - lba), uint.MaxValue);
        return Unusable(ct) is null && _room.Wait(0) ? SubmitGetExtentWithRoom(lba, count) : GetExtentWhenRoomAsync(lba, count, ct);
    }

    /// <summary>
    /// Reads the replica's write-intent bitmap: region 0 alone first (which tells the region size and count), then
    /// the rest in pages of up to <see cref="IntentPayload.MaxRegionsPerAnswer"/> regions. Errors as for a Read.
    /// </summary>
    public async Task<WriteIntent> GetIntentAsync(CancellationToken ct = default)
    {
        var head = new byte[IntentPayload.LengthFor(1)];
        await Submit(Opcode.GetIntent, FrameFlags.None, 0, 1, head, default, 0, ct).ConfigureAwait(false);
        var prefix = IntentPayload.Parse(head);
        var set = new Volume.SparseBitmap(prefix.Regions);
        MarkRegions(set, 0, head.AsSpan(IntentPayload.PrefixLength), 1);
        for (long first = 1; first < prefix.Regions;)
        {
            uint asked = (uint)Math.Min(prefix.Regions - first, Math.Min(IntentPayload.MaxRegionsPerAnswer, uint.MaxValue));
            var page = new byte[IntentPayload.LengthFor(asked)];
            await Submit(Opcode.GetIntent, FrameFlags.None, first, asked, page, default, 0, ct).ConfigureAwait(false);
            MarkRegions(set, first, page.AsSpan(IntentPayload.PrefixLength), asked);
            first += asked;
        }

        return new WriteIntent(prefix.RegionBytes, prefix.Regions, prefix.Recovered, set);
    }

    private static void MarkRegions(Volume.SparseBitmap set, long first, ReadOnlySpan<byte> bitmap, long count)
    {
        for (int i = 0; i < bitmap.Length; i++)
        {
            for (int bits = bitmap[i]; bits != 0; bits &= bits - 1)
            {
                long n = (i * 8L) + System.Numerics.BitOperations.TrailingZeroCount(bits);
                if (n < count)
                {
                    set.Set(first + n, 1);
                }
            }
        }
    }

    /// <summary>Settle: the last flush this connection saw complete had completed on every replica.</summary>
    public ValueTask SettleAsync(CancellationToken ct = default) =>
        Submit(Opcode.Settle, FrameFlags.None, 0, 0, default, default, 0, ct);

    /// <summary>
    /// Says Goodbye: the requests in flight are answered (for up to 10 s), then the connection closes. Calls made
    /// after this fail with <see cref="ObjectDisposedException"/>.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            if (_closing)
            {
                return;
            }

            _closing = true;
            _outbox.Add(Outbound.Goodbye);
        }

        _outbox.Send();

        try
        {
            await _receiving.WaitAsync(GoodbyeTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // A peer that answers nothing is taken as gone, as by the reply timeout, and reset for the same reason:
            // a shutdown would send FIN behind the requests still in the kernel's send queue, which would reach the
            // replica once the link heals, though they fail here as Unavailable.
            Fail(new BlockDeviceException(BlockDeviceErrorKind.Unavailable,
                $"the replica server at {RemoteEndPoint} (volume {VolumeId}) answered nothing for {GoodbyeTimeout.TotalSeconds:0} s after Goodbye"),
                reset: true);
        }

        await _receiving.ConfigureAwait(false);
        await _outbox.CloseAsync().ConfigureAwait(false);
        await CloseTransportAsync().ConfigureAwait(false);
        _room.Dispose();
    }

    private ValueTask Submit(Opcode opcode, FrameFlags flags, long lba, uint count, Memory<byte> read, ReadOnlyMemory<byte> write, uint crc, CancellationToken ct)
    {
        if (Unusable(ct) is { } failed)
        {
            return failed;
        }

        if (!_room.Wait(0))
        {
            return SubmitWhenRoomAsync(opcode, flags, lba, count, read, write, crc, ct);
        }

        return SubmitWithRoom(opcode, flags, lba, count, read, write, crc);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask SubmitWhenRoomAsync(Opcode opcode, FrameFlags flags, long lba, uint count, Memory<byte> read, ReadOnlyMemory<byte> write, uint crc, CancellationToken ct)
    {
        await _room.WaitAsync(ct).ConfigureAwait(false);
        await SubmitWithRoom(opcode, flags, lba, count, read, write, crc).ConfigureAwait(false);
    }

    private ValueTask SubmitWithRoom(Opcode opcode, FrameFlags flags, long lba, uint count, Memory<byte> read, ReadOnlyMemory<byte> write, uint crc)
    {
        if (Enqueue(opcode, flags, lba, count, read, write, crc, out short version) is not { } request)
        {
            return ValueTask.FromException(StateError());
        }

        // A small request while others are in flight goes out with theirs; one alone, or a large Write, at once.
        _outbox.Send(batch: write.Length <= BatchedBytes && MaxInFlight - _room.CurrentCount > 1);
        return new ValueTask(request, version);
    }

    /// <summary>A GetExtent: its slot is the source of the answer.</summary>
    private ValueTask<(bool Mapped, long Blocks)> SubmitGetExtentWithRoom(long lba, uint count)
    {
        if (Enqueue(Opcode.GetExtent, FrameFlags.None, lba, count, default, default, 0, out short version) is not { } request)
        {
            return ValueTask.FromException<(bool Mapped, long Blocks)>(StateError());
        }

        _outbox.Send();
        return new ValueTask<(bool Mapped, long Blocks)>(request, version);
    }

    /// <summary>A GetExtent that waits for a slot, or fails because no request can be sent.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<(bool Mapped, long Blocks)> GetExtentWhenRoomAsync(long lba, uint count, CancellationToken ct)
    {
        if (Unusable(ct) is { } failed)
        {
            await failed.ConfigureAwait(false);
        }

        await _room.WaitAsync(ct).ConfigureAwait(false);
        return await SubmitGetExtentWithRoom(lba, count).ConfigureAwait(false);
    }

    /// <summary>Takes a slot (a place of <see cref="_room"/> is held) and adds the request to the outbox (the caller
    /// sends it, out of the lock); null, the place given back, when nothing can be sent any more.</summary>
    private PendingRequest? Enqueue(Opcode opcode, FrameFlags flags, long lba, uint count, Memory<byte> read, ReadOnlyMemory<byte> write, uint crc, out short version)
    {
        lock (_gate)
        {
            if (_failure is not null || _closing)
            {
                _room.Release();
                version = 0;
                return null;
            }

            var request = _free.Pop();
            request.Prepare(opcode, flags, lba, count, read, write, crc);
            version = request.Version;

            // Added under the lock: nothing gets added behind the Goodbye of DisposeAsync.
            _outbox.Add(new Outbound(request, request.RequestId));
            return request;
        }
    }

    /// <summary>A slot comes back when its caller took the result.</summary>
    internal void Release(PendingRequest request)
    {
        lock (_gate)
        {
            _free.Push(request);
        }

        try
        {
            _room.Release();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>Frames one request (or the Goodbye) into the output; called by whichever thread holds the outbox's writer.</summary>
    private void WriteFrame(Outbound item, bool send)
    {
        if (!send)
        {
            return;
        }

        if (item.Request is not { } r)
        {
            FrameCodec.WriteFrame(_output, Opcode.Goodbye, 0, 0, 0, 0, default, 0);
            return;
        }

        // A request failed with the connection before it went out is not sent (its slot may be reused).
        if (r.RequestId == item.RequestId && r.IsPending)
        {
            FrameCodec.WriteFrame(_output, r.Opcode, (byte)r.Flags, r.RequestId, (ulong)r.Lba, r.BlockCount, r.WriteData.Span, r.WriteCrc);
        }
    }

    private async Task ReceiveLoopAsync()
    {
        string cause = "the server closed the connection";
        Exception? inner = null;
        try
        {
            while (true)
            {
                var result = await _input.ReadAsync().ConfigureAwait(false);
                Volatile.Write(ref _lastReceived, Environment.TickCount64);
                var buffer = result.Buffer;
                bool more = true;
                try
                {
                    while (more && FrameCodec.TryReadFrame(ref buffer, out var header, out var payload))
                    {
                        more = Dispatch(header, payload);
                    }
                }
                finally
                {
                    _input.AdvanceTo(buffer.Start, buffer.End);
                }

                if (!more)
                {
                    break;
                }

                if (result.IsCompleted || result.IsCanceled)
                {
                    if (!buffer.IsEmpty)
                    {
                        cause = $"the server closed the connection {buffer.Length} bytes into a frame";
                    }

                    break;
                }
            }
        }
        catch (Exception e)
        {
            cause = e is ReplicaProtocolException ? $"the server broke the protocol: {e.Message}" : e.Message;
            inner = e;
        }

        Fail(new BlockDeviceException(BlockDeviceErrorKind.Unavailable,
            $"the connection to the replica server at {RemoteEndPoint} (volume {VolumeId}) was lost: {_serverError ?? cause}", inner));
    }

    /// <summary>Handles one frame from the server; false when the server said Goodbye.</summary>
    private bool Dispatch(in FrameHeader header, in ReadOnlySequence<byte> payload)
    {
        if (header.Opcode == Opcode.Goodbye)
        {
            _serverError ??= "the server said Goodbye";
            return false;
        }

        if (header.Opcode != Opcode.Response)
        {
            throw new ReplicaProtocolException($"a server does not send {header.Opcode} after the handshake");
        }

        ulong slot = header.RequestId & ((1UL << SlotBits) - 1);
        var request = slot < MaxInFlight ? _slots[slot] : null;
        if (request is null || request.RequestId != header.RequestId || !request.IsPending)
        {
            if (header.Status == ReplicaStatus.ProtocolError)
            {
                // Not about a request of ours (the server could not tell which): it is closing the connection.
                _serverError = $"the server refused the stream: {Message(payload)}";
                return true;
            }

            throw new ReplicaProtocolException($"a response to request {header.RequestId}, which is not in flight");
        }

        if (header.Status == ReplicaStatus.Ok && request.Opcode == Opcode.GetIntent)
        {
            IntentPayload.Decode(payload, (ulong)request.Lba, request.BlockCount, header.RequestId);
            if (payload.Length > request.ReadBuffer.Length)
            {
                throw new ReplicaProtocolException($"the response to GetIntent {header.RequestId} carries {payload.Length} bytes, more than the {request.ReadBuffer.Length} asked for");
            }

            payload.CopyTo(request.ReadBuffer.Span);
            request.TryComplete(null);
            return true;
        }

        if (header.Status == ReplicaStatus.Ok)
        {
            int expected = request.Opcode switch
            {
                Opcode.Read => request.ReadBuffer.Length,
                Opcode.GetExtent => ExtentPayload.Length,
                _ => 0,
            };
            if (header.PayloadLength != expected)
            {
                throw new ReplicaProtocolException($"the response to {request.Opcode} {header.RequestId} carries {header.PayloadLength} bytes, not {expected}");
            }

            if (request.Opcode == Opcode.GetExtent)
            {
                request.Extent = ExtentPayload.Decode(payload, request.BlockCount, header.RequestId);
            }
            else if (expected > 0)
            {
                payload.CopyTo(request.ReadBuffer.Span);
            }

            request.TryComplete(null);
            return true;
        }

        string message = Message(payload);
        if (header.Status == ReplicaStatus.Fenced)
        {
            // Sticky: this target is superseded; nothing it sends from now on may reach the replica.
            lock (_gate)
            {
                _fencedMessage ??= message;
            }
        }
        else if (header.Status == ReplicaStatus.ProtocolError)
        {
            _serverError = $"the server refused {request.Opcode} {header.RequestId}: {message}";
            message = _serverError;
        }

        request.TryComplete(new BlockDeviceException(header.Status.ToErrorKind(), message));
        return true;
    }

    /// <summary>
    /// The watchdog: a request has waited longer than the reply timeout and nothing at all came from the server in
    /// that time (a busy server still answers something). The peer is taken as gone.
    /// </summary>
    private void CheckReplies()
    {
        long now = Environment.TickCount64;
        if (_failure is not null || now - Volatile.Read(ref _lastReceived) < _replyTimeoutMs)
        {
            _overdueChecks = 0;
            return;
        }

        foreach (var request in _slots)
        {
            // Two checks in a row: after this process itself stalled (paused, swapped, starved), the receive loop
            // gets its turn to read what arrived meanwhile before the server is blamed.
            if (request.IsPending && now - request.QueuedAt >= _replyTimeoutMs && ++_overdueChecks >= 2)
            {
                Fail(new BlockDeviceException(BlockDeviceErrorKind.Unavailable,
                    $"the replica server at {RemoteEndPoint} (volume {VolumeId}) answered nothing for {_replyTimeoutMs / 1000.0:0.#} s with {request.Opcode} {request.RequestId} waiting"),
                    reset: true);
                return;
            }
        }
    }

    /// <summary>
    /// Nothing more can be sent: closes the socket and fails every request in flight. <paramref name="reset"/> drops
    /// the connection with a RST and discards what the kernel still holds to send: a peer that was cut off must
    /// never receive, once the link heals, a write this client has already given up on (the volume has counted it
    /// as missed there and may copy newer data over it before the stale one would arrive).
    /// </summary>
    private void Fail(BlockDeviceException cause, bool reset = false)
    {
        lock (_gate)
        {
            _failure ??= cause;
        }

        _watchdog.Dispose();
        if (reset)
        {
            Reset();
        }

        Abort();
        foreach (var request in _slots)
        {
            if (request.IsPending)
            {
                request.TryComplete(StateError());
            }
        }
    }

    /// <summary>The error every call gets once the client cannot serve any more (a new one each time: each is thrown).</summary>
    private Exception StateError()
    {
        if (_fencedMessage is { } fenced)
        {
            return new BlockDeviceException(BlockDeviceErrorKind.Fenced, fenced);
        }

        if (_failure is { } failure)
        {
            return new BlockDeviceException(failure.Kind, failure.Message, failure.InnerException);
        }

        return new ObjectDisposedException(nameof(ReplicaClient), $"the replica client of volume {VolumeId} is closed");
    }

    private ValueTask? Unusable(CancellationToken ct)
    {
        if (_fencedMessage is not null || _failure is not null || _closing)
        {
            return ValueTask.FromException(StateError());
        }

        return ct.IsCancellationRequested ? ValueTask.FromCanceled(ct) : null;
    }

    private ValueTask Nothing(CancellationToken ct) => Unusable(ct) ?? ValueTask.CompletedTask;

    private uint CheckRange(long lba, int bytes, out bool split)
    {
        if (bytes % BlockSize != 0)
        {
            throw new ArgumentException($"buffer of {bytes} bytes is not a whole number of {BlockSize}-byte blocks");
        }

        long count = bytes / BlockSize;
        if (lba < 0 || lba > BlockCount || count > BlockCount - lba)
        {
            throw BlockDeviceException.OutOfRange(lba, count, BlockCount);
        }

        split = bytes > FrameHeader.MaxPayload;
        return (uint)count;
    }

    private int BlocksPerRequest => FrameHeader.MaxPayload / BlockSize;

    private async ValueTask ReadSplitAsync(long lba, Memory<byte> buffer, CancellationToken ct)
    {
        int step = BlocksPerRequest * BlockSize;
        var parts = new List<Task>();
        for (int offset = 0; offset < buffer.Length; offset += step)
        {
            var part = buffer.Slice(offset, Math.Min(step, buffer.Length - offset));
            parts.Add(Submit(Opcode.Read, FrameFlags.None, lba + (offset / BlockSize), (uint)(part.Length / BlockSize), part, default, 0, ct).AsTask());
        }

        await Task.WhenAll(parts).ConfigureAwait(false);
    }

    private async ValueTask WriteSplitAsync(long lba, ReadOnlyMemory<byte> data, WriteFlags flags, CancellationToken ct)
    {
        int step = BlocksPerRequest * BlockSize;
        var parts = new List<Task>();
        for (int offset = 0; offset < data.Length; offset += step)
        {
            var part = data.Slice(offset, Math.Min(step, data.Length - offset));
            parts.Add(WriteAsync(lba + (offset / BlockSize), part, flags, ct).AsTask());
        }

        await Task.WhenAll(parts).ConfigureAwait(false);
    }

    private async ValueTask UnmapSplitAsync(long lba, long blockCount, CancellationToken ct)
    {
        var parts = new List<Task>();
        for (long done = 0; done < blockCount; done += uint.MaxValue)
        {
            parts.Add(UnmapAsync(lba + done, Math.Min(uint.MaxValue, blockCount - done), ct).AsTask());
        }

        await Task.WhenAll(parts).ConfigureAwait(false);
    }

    /// <summary>SO_LINGER 0 then close: the kernel sends RST and forgets the unsent and unacknowledged bytes.</summary>
    private void Reset()
    {
        try
        {
            _socket.LingerState = new LingerOption(true, 0);
            _socket.Close();
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }

    private void Abort()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }

    private async ValueTask CloseTransportAsync()
    {
        await _watchdog.DisposeAsync().ConfigureAwait(false);
        Abort();
        await _input.CompleteAsync().ConfigureAwait(false);
        try
        {
            await _output.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
        }

        await _stream.DisposeAsync().ConfigureAwait(false);
        _socket.Dispose();
    }

    private static string Message(in ReadOnlySequence<byte> payload) =>
        payload.IsEmpty ? "(no message)" : Encoding.UTF8.GetString(payload);

    /// <summary>What the outbox sends: a request (skipped when it is no longer the one the slot holds) or Goodbye.</summary>
    private readonly record struct Outbound(PendingRequest? Request, ulong RequestId)
    {
        public static Outbound Goodbye => new(null, 0);
    }
}
