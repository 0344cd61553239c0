using System.Runtime.CompilerServices;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Strata.Iscsi.Login;
using Strata.Iscsi.Pdu;
using Strata.Iscsi.Target;

namespace Strata.Iscsi.Session;

/// <summary>
/// One TCP connection of an iSCSI session: its receive loop (login phase, then full feature phase), its sender,
/// and the tasks it carries. At ERL 0 a session has this one connection, and a connection failure ends the
/// session (RFC 7143 7.1.5), which the initiator then reinstates.
/// </summary>
internal sealed partial class IscsiConnection
{
    private const int MaxAhsLength = 1020;

    private readonly Socket _socket;
    private readonly IscsiTargetServer _server;
    private readonly PduReader _reader;
    private readonly ConnectionSender _sender;
    private readonly CancellationTokenSource _closed = new();
    private readonly byte[] _header = new byte[BasicHeaderSegment.Length];
    private readonly byte[] _ahs = new byte[MaxAhsLength];
    private readonly byte[] _digest = new byte[4];
    private byte[] _scratch = new byte[8192];
    private int _ahsLength;
    private bool _headerDigest;
    private bool _dataDigest;
    private long _lastReceiveTicks = Environment.TickCount64;
    private string? _closeReason;

    public IscsiConnection(IscsiTargetServer server, Socket socket)
    {
        _server = server;
        _socket = socket;
        _socket.NoDelay = true;
        RemoteEndPoint = (IPEndPoint)socket.RemoteEndPoint!;
        _reader = new PduReader(socket);
        _sender = new ConnectionSender(this, socket);
        Window = new CommandWindow(0, server.Options.CommandWindow);
    }

    public IPEndPoint RemoteEndPoint { get; }

    public CommandWindow Window { get; private set; }

    public NegotiatedParameters Parameters { get; private set; } = new();

    public IscsiSession? Session { get; private set; }

    public ushort Cid { get; private set; }

    public CancellationToken ClosedToken => _closed.Token;

    public bool IsClosed => _closed.IsCancellationRequested;

    public async Task RunAsync()
    {
        var sending = _sender.RunAsync();
        try
        {
            if (await LoginAsync().ConfigureAwait(false))
            {
                var pinger = StartPinger();
                try
                {
                    await FullFeaturePhaseAsync().ConfigureAwait(false);
                }
                finally
                {
                    // Stop the ping loop with the connection. Disposing its token source alone (as this did) does
                    // not cancel it, and unhooks it from _closed: a connection that ended without Close (end of
                    // stream, a socket error) kept pinging a dead socket until its ping timed out, and kept
                    // itself, its 320 KiB of buffers and its tasks' pool reachable for NopInInterval +
                    // NopInTimeout (20 s by default). The fuzzer's 130 connections a second held 700 MiB so.
                    pinger.Cancel();
                    pinger.Dispose();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException or ProtocolViolationException)
        {
            Close(e.Message);
        }
        catch (Exception e)
        {
            _server.Log($"connection from {RemoteEndPoint}: internal error: {e}");
            Close("internal error");
        }
        finally
        {
            _sender.Complete();

            // The last responses (a logout's, a reject before closing) go out if the initiator reads them; one
            // that does not must not keep the connection, and its session, forever.
            var drain = _server.Options.NopInTimeout > TimeSpan.Zero ? _server.Options.NopInTimeout : TimeSpan.FromSeconds(15);
            if (await Task.WhenAny(sending, Task.Delay(drain)).ConfigureAwait(false) != sending)
            {
                Close("the initiator did not read the last responses");
            }

            await sending.ConfigureAwait(false);
            _sender.Abandon();
            Close(_closeReason ?? "connection closed");
            await AbortAllTasksAsync().ConfigureAwait(false);
            Session?.ConnectionClosed(this);
            _socket.Dispose();
        }
    }

    /// <summary>The sender failed with an exception nobody expected: log it as the bug it is, end the connection.</summary>
    internal void SenderFailed(Exception e)
    {
        _server.Log($"connection from {RemoteEndPoint}: internal error in the sender: {e}");
        Close("internal error");
    }

    /// <summary>Closes the connection; the receive loop and sender end, outstanding tasks are aborted.</summary>
    public void Close(string reason)
    {
        if (_closed.IsCancellationRequested)
        {
            return;
        }

        _closeReason ??= reason;
        _closed.Cancel();
        _sender.Complete();
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Reads the next PDU's header (BHS, AHS, header digest) into <see cref="_header"/>. False at a clean
    /// end of stream.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> ReadHeaderAsync()
    {
        var ct = _closed.Token;
        if (!await _reader.FillAsync(BasicHeaderSegment.Length, ct).ConfigureAwait(false))
        {
            return false;
        }

        _reader.Peek(BasicHeaderSegment.Length).CopyTo(_header);
        _reader.Consume(BasicHeaderSegment.Length);
        _lastReceiveTicks = Environment.TickCount64;
        _ahsLength = _header[4] * 4;
        if (_ahsLength > 0)
        {
            await _reader.FillWithinPduAsync(_ahsLength, ct).ConfigureAwait(false);
            _reader.Peek(_ahsLength).CopyTo(_ahs);
            _reader.Consume(_ahsLength);
        }

        if (_headerDigest)
        {
            await _reader.FillWithinPduAsync(4, ct).ConfigureAwait(false);
            uint received = BinaryPrimitives.ReadUInt32LittleEndian(_reader.Peek(4));
            _reader.Consume(4);
            uint computed = Crc32C.Append(Crc32C.Compute(_header), _ahs.AsSpan(0, _ahsLength));
            if (received != computed)
            {
                // RFC 7143 7.8: a header digest error leaves the PDU's length unknown; at ERL 0 the connection ends.
                throw new ProtocolViolationException("header digest error");
            }
        }

        return true;
    }

    private int DataSegmentLength => (_header[5] << 16) | (_header[6] << 8) | _header[7];

    /// <summary>Receives the current PDU's data segment into <paramref name="destination"/> (its exact length),
    /// then its padding and data digest.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ReceiveDataAsync(Memory<byte> destination)
    {
        var ct = _closed.Token;
        await _reader.ReadExactlyAsync(destination, ct).ConfigureAwait(false);
        int pad = BasicHeaderSegment.Padded(destination.Length) - destination.Length;
        int trailer = pad + (_dataDigest && destination.Length > 0 ? 4 : 0);
        if (trailer == 0)
        {
            return;
        }

        await _reader.FillWithinPduAsync(trailer, ct).ConfigureAwait(false);
        var bytes = _reader.Peek(trailer);
        if (_dataDigest && destination.Length > 0)
        {
            uint computed = Crc32C.Append(Crc32C.Compute(destination.Span), bytes[..pad]);
            uint received = BinaryPrimitives.ReadUInt32LittleEndian(bytes[pad..]);
            if (computed != received)
            {
                _reader.Consume(trailer);
                throw new ProtocolViolationException("data digest error");
            }
        }

        _reader.Consume(trailer);
    }

    /// <summary>Receives the current PDU's data segment into the connection's scratch buffer.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ReadOnlyMemory<byte>> ReceiveDataToScratchAsync()
    {
        int length = DataSegmentLength;
        if (_scratch.Length < length)
        {
            _scratch = new byte[Math.Max(length, _scratch.Length * 2)];
        }

        var destination = _scratch.AsMemory(0, length);
        await ReceiveDataAsync(destination).ConfigureAwait(false);
        return destination;
    }

    /// <summary>Drops the current PDU's data segment (padding and digest too).</summary>
    private ValueTask SkipDataAsync()
    {
        int length = DataSegmentLength;
        if (length == 0)
        {
            return ValueTask.CompletedTask;
        }

        int total = BasicHeaderSegment.Padded(length) + (_dataDigest ? 4 : 0);
        return _reader.SkipAsync(total, _closed.Token);
    }

    private void Enqueue(in Outbound item)
    {
        if (!_sender.TryEnqueue(item) && item.Task is { } task)
        {
            Sent(task);
        }
    }

    private CancellationTokenSource StartPinger()
    {
        var interval = _server.Options.NopInInterval;
        var timeout = _server.Options.NopInTimeout;
        if (interval <= TimeSpan.Zero)
        {
            return new CancellationTokenSource();
        }

        var stop = CancellationTokenSource.CreateLinkedTokenSource(_closed.Token);
        _ = PingLoopAsync(interval, timeout, stop.Token);
        return stop;
    }

    /// <summary>
    /// Pings an idle initiator with NOP-In (RFC 7143 11.19) and drops the connection when no NOP-Out answers in
    /// time: a dead initiator (or a cut network) must not hold its session, and its reservations, forever.
    /// </summary>
    private async Task PingLoopAsync(TimeSpan interval, TimeSpan timeout, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(Math.Max(50, Math.Min(interval.TotalMilliseconds, timeout.TotalMilliseconds) / 4)));
        long pingSentAt = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
            {
                long now = Environment.TickCount64;
                long lastReceive = Volatile.Read(ref _lastReceiveTicks);
                if (pingSentAt != 0)
                {
                    if (lastReceive >= pingSentAt)
                    {
                        pingSentAt = 0;
                    }
                    else if (now - pingSentAt > timeout.TotalMilliseconds)
                    {
                        _server.Log($"connection from {RemoteEndPoint}: no answer to NOP-In in {timeout.TotalSeconds:0.#} s, dropping it");
                        Close("NOP-In ping timed out");
                        return;
                    }
                }
                else if (now - lastReceive > interval.TotalMilliseconds)
                {
                    pingSentAt = now;
                    SendPing();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
