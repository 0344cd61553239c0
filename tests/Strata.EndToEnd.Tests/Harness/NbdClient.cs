using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;

namespace Strata.EndToEnd.Tests.Harness;

/// <summary>The NBD server answered a request with an error (an errno, e.g. EIO when the LUN behind it failed).</summary>
public sealed class NbdException(string request, uint errno) : IOException($"NBD {request}: error {errno} ({ErrnoName(errno)})")
{
    public uint Errno { get; } = errno;

    private static string ErrnoName(uint e) => e switch
    {
        1 => "EPERM", 5 => "EIO", 12 => "ENOMEM", 22 => "EINVAL", 28 => "ENOSPC", 75 => "EOVERFLOW", 95 => "ENOTSUP", 108 => "ESHUTDOWN",
        _ => "?",
    };
}

/// <summary>
/// A minimal NBD client over a Unix socket (the protocol of NetworkBlockDevice/nbd doc/proto.md): fixed newstyle
/// handshake, NBD_OPT_GO, then READ, WRITE and FLUSH with simple replies. Requests are pipelined: any number may
/// be in flight, and replies, which the server may send in any order, are matched to them by cookie (handle).
/// Thread-safe. When the connection breaks, every request in flight and every later one fails with an IOException.
/// </summary>
public sealed class NbdClient : IAsyncDisposable
{
    private const ulong InitMagic = 0x4e42444d41474943;      // "NBDMAGIC"
    private const ulong OptionMagic = 0x49484156454f5054;    // "IHAVEOPT"
    private const ulong OptionReplyMagic = 0x3e889045565a9;
    private const uint RequestMagic = 0x25609513;
    private const uint SimpleReplyMagic = 0x67446698;
    private const ushort FlagFixedNewstyle = 1, FlagNoZeroes = 2;  // handshake flags; the client's are the same bits
    private const uint OptGo = 7;
    private const uint RepAck = 1, RepInfo = 3, RepErrorBit = 1u << 31;
    private const ushort InfoExport = 0;
    private const ushort CmdRead = 0, CmdWrite = 1, CmdDisconnect = 2, CmdFlush = 3;
    private const ushort TransmitHasFlags = 1, TransmitReadOnly = 2, TransmitSendFlush = 4;

    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly ConcurrentDictionary<ulong, Pending> _pending = new();
    private long _nextCookie;
    private Task _receiveLoop = Task.CompletedTask;
    private volatile Exception? _broken;
    private bool _transmitting; // past the handshake: NBD_CMD_DISC is the way to leave

    /// <summary>A request waiting for its reply; ReadLength is how many bytes of data follow a successful reply.</summary>
    private sealed class Pending(string request, int readLength)
    {
        public string Request { get; } = request;
        public int ReadLength { get; } = readLength;
        public TaskCompletionSource<byte[]?> Reply { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private NbdClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: false);
    }

    /// <summary>The export's size in bytes.</summary>
    public long Size { get; private set; }
    public bool ReadOnly => (TransmissionFlags & TransmitReadOnly) != 0;
    public ushort TransmissionFlags { get; private set; }
    public int InFlight => _pending.Count;

    public static async Task<NbdClient> ConnectAsync(string unixSocket, string exportName = "", CancellationToken cancellationToken = default)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(unixSocket), cancellationToken);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        var client = new NbdClient(socket);
        try
        {
            await client.HandshakeAsync(exportName, cancellationToken);
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
        client._transmitting = true;
        client._receiveLoop = Task.Run(client.ReceiveLoopAsync, CancellationToken.None);
        return client;
    }

    private async Task HandshakeAsync(string exportName, CancellationToken ct)
    {
        var hello = new byte[18];
        await _stream.ReadExactlyAsync(hello, ct);
        if (BinaryPrimitives.ReadUInt64BigEndian(hello) != InitMagic || BinaryPrimitives.ReadUInt64BigEndian(hello.AsSpan(8)) != OptionMagic)
            throw new InvalidDataException($"not an NBD newstyle server: {Convert.ToHexString(hello)}");
        ushort serverFlags = BinaryPrimitives.ReadUInt16BigEndian(hello.AsSpan(16));
        if ((serverFlags & FlagFixedNewstyle) == 0) throw new InvalidDataException("the NBD server does not speak fixed newstyle");
        // NO_ZEROES only matters to NBD_OPT_EXPORT_NAME's reply; echoing what the server offers is harmless.
        var clientFlags = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(clientFlags, (uint)(FlagFixedNewstyle | (serverFlags & FlagNoZeroes)));
        await _stream.WriteAsync(clientFlags, ct);

        // NBD_OPT_GO: export name, then zero information requests (the server always sends NBD_INFO_EXPORT).
        byte[] name = Encoding.UTF8.GetBytes(exportName);
        var option = new byte[16 + 4 + name.Length + 2];
        BinaryPrimitives.WriteUInt64BigEndian(option, OptionMagic);
        BinaryPrimitives.WriteUInt32BigEndian(option.AsSpan(8), OptGo);
        BinaryPrimitives.WriteUInt32BigEndian(option.AsSpan(12), (uint)(4 + name.Length + 2));
        BinaryPrimitives.WriteUInt32BigEndian(option.AsSpan(16), (uint)name.Length);
        name.CopyTo(option, 20);
        await _stream.WriteAsync(option, ct);

        var header = new byte[20];
        while (true)
        {
            await _stream.ReadExactlyAsync(header, ct);
            uint type = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(12));
            uint length = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(16));
            if (BinaryPrimitives.ReadUInt64BigEndian(header) != OptionReplyMagic || length > 64 << 10)
                throw new InvalidDataException($"bad NBD option reply: {Convert.ToHexString(header)}");
            var data = new byte[length];
            await _stream.ReadExactlyAsync(data, ct);
            if ((type & RepErrorBit) != 0)
                throw new InvalidDataException($"NBD_OPT_GO for export '{exportName}' refused: reply type 0x{type:x8} {Encoding.UTF8.GetString(data)}");
            if (type == RepInfo && length >= 12 && BinaryPrimitives.ReadUInt16BigEndian(data) == InfoExport)
            {
                Size = (long)BinaryPrimitives.ReadUInt64BigEndian(data.AsSpan(2));
                TransmissionFlags = BinaryPrimitives.ReadUInt16BigEndian(data.AsSpan(10));
            }
            else if (type == RepAck)
            {
                if ((TransmissionFlags & TransmitHasFlags) == 0) throw new InvalidDataException("NBD_OPT_GO acknowledged without NBD_INFO_EXPORT");
                return;
            }
        }
    }

    public async Task<byte[]> ReadAsync(long offset, int length, CancellationToken cancellationToken = default) =>
        (await SendAsync(CmdRead, offset, length, default, cancellationToken))!;

    /// <summary>Completes when the server acknowledged the write (qemu-nbd: when the LUN did).</summary>
    public Task WriteAsync(long offset, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default) =>
        SendAsync(CmdWrite, offset, data.Length, data, cancellationToken);

    public Task FlushAsync(CancellationToken cancellationToken = default)
    {
        if ((TransmissionFlags & TransmitSendFlush) == 0) throw new NotSupportedException("the NBD export does not accept flushes");
        return SendAsync(CmdFlush, 0, 0, default, cancellationToken);
    }

    /// <summary>Cancelling stops the wait only: a request already sent stays in flight at the server, its outcome unknown.</summary>
    private async Task<byte[]?> SendAsync(ushort command, long offset, int length, ReadOnlyMemory<byte> payload, CancellationToken ct)
    {
        ulong cookie = (ulong)Interlocked.Increment(ref _nextCookie);
        string request = command switch
        {
            CmdRead => $"read of {length} bytes at {offset}",
            CmdWrite => $"write of {length} bytes at {offset}",
            _ => "flush",
        };
        if (_broken is { } early) throw new IOException($"NBD {request}: the connection is broken", early);
        var pending = new Pending(request, command == CmdRead ? length : 0);
        var message = new byte[28 + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(message, RequestMagic);
        // bytes 4-5, the command flags: none (no FUA; durability is asked for with flushes)
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(6), command);
        BinaryPrimitives.WriteUInt64BigEndian(message.AsSpan(8), cookie);
        BinaryPrimitives.WriteUInt64BigEndian(message.AsSpan(16), (ulong)offset);
        BinaryPrimitives.WriteUInt32BigEndian(message.AsSpan(24), (uint)length);
        payload.Span.CopyTo(message.AsSpan(28));

        await _sendLock.WaitAsync(ct);
        try
        {
            // Registered before _broken is checked: a receive loop that breaks meanwhile either fails this entry
            // or is seen here.
            _pending[cookie] = pending;
            if (_broken is { } broken) throw new IOException($"NBD {request}: the connection is broken", broken);
            // Not cancellable: half a request on the wire would desynchronise the stream.
            await _stream.WriteAsync(message, CancellationToken.None);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _pending.TryRemove(cookie, out _);
            var failure = e as IOException ?? new IOException($"NBD {request}: send failed", e);
            Break(failure);
            throw failure;
        }
        finally
        {
            _sendLock.Release();
        }
        return await pending.Reply.Task.WaitAsync(ct);
    }

    private async Task ReceiveLoopAsync()
    {
        var header = new byte[16];
        try
        {
            while (true)
            {
                await _stream.ReadExactlyAsync(header);
                uint magic = BinaryPrimitives.ReadUInt32BigEndian(header);
                uint error = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4));
                ulong cookie = BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(8));
                if (magic != SimpleReplyMagic) throw new InvalidDataException($"bad NBD reply magic: {Convert.ToHexString(header)}");
                if (!_pending.TryRemove(cookie, out var pending)) throw new InvalidDataException($"NBD reply for unknown cookie {cookie}");
                if (error != 0)
                {
                    // qemu-nbd sends no data after a failed read's simple reply (the spec allows that or a disconnect).
                    pending.Reply.TrySetException(new NbdException(pending.Request, error));
                    continue;
                }
                byte[]? data = null;
                if (pending.ReadLength > 0)
                {
                    data = new byte[pending.ReadLength];
                    await _stream.ReadExactlyAsync(data);
                }
                pending.Reply.TrySetResult(data);
            }
        }
        catch (Exception e)
        {
            Break(e is EndOfStreamException ? new IOException("the NBD server closed the connection", e) : e);
        }
    }

    /// <summary>The stream is unusable from here on: fail every request in flight.</summary>
    private void Break(Exception cause)
    {
        _broken ??= cause;
        foreach (ulong cookie in _pending.Keys)
            if (_pending.TryRemove(cookie, out var p))
                p.Reply.TrySetException(new IOException($"NBD {p.Request}: connection lost ({cause.Message}); outcome unknown", cause));
    }

    public async ValueTask DisposeAsync()
    {
        if (_broken is null && _transmitting)
        {
            // A soft disconnect (NBD_CMD_DISC), so the server logs no error; it has no reply.
            var disc = new byte[28];
            BinaryPrimitives.WriteUInt32BigEndian(disc, RequestMagic);
            BinaryPrimitives.WriteUInt16BigEndian(disc.AsSpan(6), CmdDisconnect);
            // Not when a writer is stuck on a server that stopped reading (a frozen target behind qemu-nbd): then
            // the socket is closed under it below.
            if (await _sendLock.WaitAsync(TimeSpan.FromSeconds(1)))
            {
                try
                {
                    using var quick = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                    await _stream.WriteAsync(disc, quick.Token);
                }
                catch (Exception e) when (e is IOException or OperationCanceledException) { }
                finally { _sendLock.Release(); }
            }
        }
        Break(new IOException("the NbdClient was disposed"));
        _socket.Dispose();
        await _receiveLoop; // it ends on the closed socket; it never throws
        await _stream.DisposeAsync();
        // _sendLock is not disposed: a writer racing with this must get an IOException, not ObjectDisposedException.
    }
}
