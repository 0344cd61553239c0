using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Text;
using Strata.Replication.Protocol;

namespace Strata.Replication.Server;

/// <summary>
/// One client connection of a <see cref="ReplicaServer"/>. The receive loop decodes frames from a PipeReader and
/// starts each request's device call without waiting for earlier ones (so responses complete out of order, matched
/// by request id); the thread that finishes a request frames and sends its response through the connection's
/// <see cref="FrameOutbox{T}"/> (no hop to a send loop). A frame that breaks the protocol is answered
/// with <see cref="ReplicaStatus.ProtocolError"/> and ends the connection; nothing of it is applied.
/// </summary>
internal sealed class ReplicaConnection
{
    /// <summary>A flush of the response stream is forced once this much is buffered.</summary>
    private const int FlushThreshold = 1 << 20;

    /// <summary>Responses to requests of at most this much data may wait to be sent with others (<see cref="FrameOutbox{T}"/>).</summary>
    private const int BatchedBytes = 16 * 1024;

    /// <summary>An error message's UTF-8 is cut to this many bytes.</summary>
    private const int MaxMessageBytes = 4096;

    private readonly ReplicaServer _server;
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly string _peer;
    private readonly Action _abort;
    private readonly InFlightLimit _limit;
    private readonly FrameOutbox<ServerRequest> _responses;

    private readonly Stack<ServerRequest> _free = new();
    private FenceSession? _session;
    private IBlockDevice? _device;
    private WriteIntentLog? _intent;
    private int _blockSize;
    private long _blockCount;

    /// <param name="abort">Closes the transport at once (the socket), ending a pending read or flush.</param>
    public ReplicaConnection(ReplicaServer server, PipeReader input, PipeWriter output, string peer, Action abort)
    {
        _server = server;
        _abort = abort;
        _input = input;
        _output = output;
        _peer = peer;
        _limit = new InFlightLimit(server.Options.MaxInFlightPerConnection, server.Options.MaxInFlightBytesPerConnection);
        _responses = new FrameOutbox<ServerRequest>(output, SendResponse, OutputBroke, FlushThreshold);
    }

    public string? VolumeId => _session?.Fence.VolumeId;

    /// <summary>Serves the connection until the client says Goodbye, closes it, breaks the protocol or is fenced,
    /// or the server stops it. Returns once every request it started has finished.</summary>
    public async Task RunAsync()
    {
        try
        {
            await ReceiveLoopAsync().ConfigureAwait(false);
        }
        catch (ReplicaProtocolException e)
        {
            _server.Log($"{_peer}: protocol error, closing: {e.Message}");
            Answer(e.RequestId ?? 0, ReplicaStatus.ProtocolError, e.Message);
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or ObjectDisposedException or OperationCanceledException)
        {
            // The connection is gone (reset, or closed by the server stopping): nobody to answer.
        }
        catch (Exception e)
        {
            _server.Log($"{_peer}: unexpected failure, closing: {e}");
            _abort();
        }
        finally
        {
            // Every request started gets its device call finished and its response framed (or dropped, when the
            // socket is gone) before the connection closes: buffers go back, and no device call outlives it.
            await _limit.WhenIdleAsync().ConfigureAwait(false);
            await _responses.CloseAsync().ConfigureAwait(false);
            if (_session is { } session)
            {
                session.Fence.Remove(session);
            }
            await _input.CompleteAsync().ConfigureAwait(false);
            try
            {
                await _output.CompleteAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or ObjectDisposedException or OperationCanceledException)
            {
                // Completing flushes what is left; the socket is gone.
            }
        }
    }

    private async Task ReceiveLoopAsync()
    {
        while (true)
        {
            var result = await _input.ReadAsync().ConfigureAwait(false);
            var buffer = result.Buffer;
            bool more = true;
            try
            {
                while (more && FrameCodec.TryReadFrame(ref buffer, out var header, out var payload))
                {
                    more = header.Opcode switch
                    {
                        Opcode.Read or Opcode.Write or Opcode.Flush or Opcode.Unmap or Opcode.GetExtent or Opcode.GetIntent or Opcode.Settle => await DispatchAsync(header, payload).ConfigureAwait(false),
                        Opcode.Hello => await HelloAsync(header, payload).ConfigureAwait(false),
                        Opcode.Goodbye => false,
                        _ => throw new ReplicaProtocolException($"a client does not send {header.Opcode}", header.RequestId),
                    };
                }
            }
            finally
            {
                _input.AdvanceTo(buffer.Start, buffer.End);
            }

            if (!more)
            {
                return;
            }

            if (result.IsCompleted || result.IsCanceled)
            {
                if (!buffer.IsEmpty)
                {
                    throw new ReplicaProtocolException($"the connection closed {buffer.Length} bytes into a frame");
                }

                return;
            }
        }
    }

    private async ValueTask<bool> HelloAsync(FrameHeader header, ReadOnlySequence<byte> payload)
    {
        if (_session is not null)
        {
            throw new ReplicaProtocolException("a second Hello on one connection", header.RequestId);
        }

        var hello = HelloPayload.Decode(payload, header.RequestId);
        if (hello.Version < FrameHeader.CurrentVersion)
        {
            Answer(header.RequestId, ReplicaStatus.ProtocolError, $"protocol version {hello.Version} is not supported (this server speaks {FrameHeader.CurrentVersion})");
            return false;
        }

        var admission = await _server.HelloAsync(hello.VolumeId, hello.Epoch).ConfigureAwait(false);
        if (admission.Session is not { } session || admission.Device is not { } device || admission.Intent is not { } intent)
        {
            Answer(header.RequestId, admission.Status, admission.Message!);
            return false;
        }

        _session = session;
        _device = device;
        _intent = intent;
        _blockSize = device.BlockSize;
        _blockCount = device.BlockCount;
        _server.Log($"{_peer}: volume {hello.VolumeId} at epoch {hello.Epoch}");
        var answer = Rent();
        answer.InitHelloOk(header.RequestId, new HelloOkPayload(FrameHeader.CurrentVersion, _blockSize, _blockCount));
        _responses.Enqueue(answer);
        return true;
    }

    /// <summary>Starts a Read, Write, Flush, Unmap, GetExtent, GetIntent or Settle; false when the connection is fenced and must close.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> DispatchAsync(FrameHeader header, ReadOnlySequence<byte> payload)
    {
        if (_session is null || _device is null || _intent is null)
        {
            throw new ReplicaProtocolException($"{header.Opcode} before Hello", header.RequestId);
        }

        long bytes = (long)header.BlockCount * _blockSize;
        int length = 0;
        long answered = 0;
        if (header.Opcode == Opcode.GetIntent)
        {
            answered = IntentPayload.Answered(header.Lba, header.BlockCount, _intent.Regions);
            length = IntentPayload.LengthFor(answered);
        }
        else if (header.Opcode == Opcode.Write)
        {
            if (header.PayloadLength != bytes)
            {
                throw new ReplicaProtocolException(
                    $"Write {header.RequestId} of {header.BlockCount} blocks carries {header.PayloadLength} bytes, not {bytes}", header.RequestId);
            }

            length = header.PayloadLength;
        }
        else if (header.Opcode == Opcode.Read)
        {
            if (bytes > FrameHeader.MaxPayload)
            {
                throw new ReplicaProtocolException(
                    $"Read {header.RequestId} of {header.BlockCount} blocks exceeds the payload limit of {FrameHeader.MaxPayload} bytes", header.RequestId);
            }

            length = (int)bytes;
        }

        await _limit.AcquireAsync(length).ConfigureAwait(false);
        if (!_session.TryBegin())
        {
            _limit.Release(length);
            Answer(header.RequestId, ReplicaStatus.Fenced, _session.FencedMessage());
            _server.Log($"{_peer}: fenced at epoch {_session.Epoch} of volume {_session.Fence.VolumeId}, closing");
            return false;
        }

        var request = Rent();
        request.InitDeviceCall(header, length);
        if (header.Opcode is Opcode.GetIntent or Opcode.Settle)
        {
            // Answered at once from the volume's write-intent log, fenced and counted as a device call.
            if (header.Opcode == Opcode.Settle)
            {
                _intent.Settle(_session.FlushedGeneration);
            }
            else if (answered == 0)
            {
                request.Fail(BlockDeviceErrorKind.OutOfRange, $"region {header.Lba} lies outside the volume's {_intent.Regions} write-intent regions");
            }
            else
            {
                request.AnswerIntent(_intent, answered);
            }

            DeviceCallCompleted(request);
            return true;
        }

        if (header.Opcode != Opcode.Flush && (header.Lba > (ulong)_blockCount || header.BlockCount > (ulong)_blockCount - header.Lba))
        {
            request.Fail(BlockDeviceErrorKind.OutOfRange,
                $"LBA range [{header.Lba}, {header.Lba + header.BlockCount}) lies outside the device's {_blockCount} blocks");
            DeviceCallCompleted(request);
            return true;
        }

        if (header.Opcode == Opcode.Write)
        {
            payload.CopyTo(request.Buffer.AsSpan());
        }

        request.Start(_device, header.Fua, _intent);
        return true;
    }

    /// <summary>Called once per device call, from whatever thread finished it.</summary>
    internal void DeviceCallCompleted(ServerRequest request)
    {
        if (request.Opcode == Opcode.Flush && request.Status == ReplicaStatus.Ok)
        {
            _session!.Flushed(request.FlushGeneration);
        }

        _session!.End();

        // The response to a small request while others are in flight goes out with theirs. The last one, and those to
        // large requests (few, and each worth its own send), go at once.
        _responses.Enqueue(request, batch: _limit.CountHint > 1 && request.Length <= BatchedBytes);
    }

    /// <summary>Queues an answer of the connection itself (not a device call's).</summary>
    private void Answer(ulong requestId, ReplicaStatus status, string message)
    {
        var answer = Rent();
        answer.InitAnswer(requestId, status, message);
        _responses.Enqueue(answer);
    }

    /// <summary>Frames a response (when the output still works) and hands its request back; by whichever thread holds the outbox's writer.</summary>
    private void SendResponse(ServerRequest response, bool send)
    {
        try
        {
            if (send)
            {
                WriteResponse(response);
            }
        }
        finally
        {
            Return(response);
        }
    }

    /// <summary>
    /// The socket is gone: responses from now on are dropped (their requests still finish), and the receive loop ends
    /// on the closed socket.
    /// </summary>
    private void OutputBroke(Exception e)
    {
        if (e is not (IOException or System.Net.Sockets.SocketException or ObjectDisposedException or InvalidOperationException or OperationCanceledException))
        {
            _server.Log($"{_peer}: unexpected failure sending a response, closing: {e}");
        }

        _abort();
    }

    private void WriteResponse(ServerRequest r)
    {
        if (r.ResponseOpcode == Opcode.HelloOk)
        {
            Span<byte> payload = stackalloc byte[HelloOkPayload.Length];
            r.HelloOk.Write(payload);
            FrameCodec.WriteFrame(_output, Opcode.HelloOk, 0, r.RequestId, 0, 0, payload);
            return;
        }

        if (r.Status == ReplicaStatus.Ok && r.Opcode == Opcode.GetExtent)
        {
            Span<byte> extent = stackalloc byte[ExtentPayload.Length];
            r.Extent.Write(extent);
            FrameCodec.WriteFrame(_output, Opcode.Response, 0, r.RequestId, r.Lba, r.BlockCount, extent);
            return;
        }

        if (r.Status == ReplicaStatus.Ok && r.Opcode == Opcode.GetIntent)
        {
            FrameCodec.WriteFrame(_output, Opcode.Response, 0, r.RequestId, r.Lba, r.BlockCount, r.Buffer.AsSpan(0, r.Length));
            return;
        }

        if (r.Status == ReplicaStatus.Ok)
        {
            var data = r.Opcode == Opcode.Read && r.Length > 0 ? r.Buffer.AsSpan(0, r.Length) : default;
            FrameCodec.WriteFrame(_output, Opcode.Response, 0, r.RequestId, r.Lba, r.BlockCount, data, r.DataCrc);
            return;
        }

        string message = r.Message ?? r.Status.ToString();
        var span = _output.GetSpan(FrameHeader.Size + MaxMessageBytes);
        var text = span.Slice(FrameHeader.Size, MaxMessageBytes);
        int n = Encoding.UTF8.GetByteCount(message) <= MaxMessageBytes
            ? Encoding.UTF8.GetBytes(message, text)
            : Encoding.UTF8.GetBytes(message.AsSpan(0, Math.Min(message.Length, MaxMessageBytes / 3)), text);
        new FrameHeader(Opcode.Response, (byte)r.Status, r.RequestId, r.Lba, r.BlockCount, n, Crc32C.Compute(text[..n])).Write(span);
        _output.Advance(FrameHeader.Size + n);
    }

    private ServerRequest Rent()
    {
        lock (_free)
        {
            if (_free.TryPop(out var request))
            {
                return request;
            }
        }

        return new ServerRequest(this);
    }

    private void Return(ServerRequest request)
    {
        bool limited = request.Limited;
        int length = request.Length;
        request.Clear();
        lock (_free)
        {
            if (_free.Count < _server.Options.MaxInFlightPerConnection)
            {
                _free.Push(request);
            }
        }

        if (limited)
        {
            _limit.Release(length);
        }
    }
}
