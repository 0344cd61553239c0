using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Strata.Replication.Protocol;

namespace Strata.Replication.Tests;

/// <summary>
/// A TCP proxy on loopback between a client and a replica server that follows the client's frames and, when told,
/// flips one byte in the payload of the next Write on its way (a bit error the network's own checksums missed).
/// </summary>
public sealed class CorruptingProxy : IAsyncDisposable
{
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Socket> _sockets = [];
    private readonly Task _accepting;
    private int _corruptNextWrite;
    private int _corrupted;

    public CorruptingProxy(IPEndPoint target)
    {
        _target = target;
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(16);
        _accepting = AcceptAsync();
    }

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndPoint!;

    /// <summary>Writes corrupted so far.</summary>
    public int Corrupted => Volatile.Read(ref _corrupted);

    public void CorruptNextWrite() => Volatile.Write(ref _corruptNextWrite, 1);

    private async Task AcceptAsync()
    {
        var pumps = new List<Task>();
        try
        {
            while (true)
            {
                var client = await _listener.AcceptAsync(_stop.Token);
                var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await server.ConnectAsync(_target, _stop.Token);
                lock (_sockets)
                {
                    _sockets.Add(client);
                    _sockets.Add(server);
                }

                pumps.Add(ClientToServerAsync(client, server));
                pumps.Add(CopyAsync(server, client));
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        await Task.WhenAll(pumps);
    }

    /// <summary>Frame by frame (header, then payload), so the byte flipped is a Write's payload byte.</summary>
    private async Task ClientToServerAsync(Socket from, Socket to)
    {
        var header = new byte[FrameHeader.Size];
        try
        {
            while (await ReceiveExactlyAsync(from, header))
            {
                int length = (int)BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(28));
                var payload = new byte[length];
                if (!await ReceiveExactlyAsync(from, payload))
                {
                    break;
                }

                if (header[6] == (byte)Opcode.Write && length > 0 && Interlocked.Exchange(ref _corruptNextWrite, 0) == 1)
                {
                    payload[length / 2] ^= 0x10;
                    Interlocked.Increment(ref _corrupted);
                }

                await to.SendAsync(header, SocketFlags.None);
                await to.SendAsync(payload, SocketFlags.None);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
        }

        Close(to);
    }

    private static async Task CopyAsync(Socket from, Socket to)
    {
        var buffer = new byte[65536];
        try
        {
            int n;
            while ((n = await from.ReceiveAsync(buffer, SocketFlags.None)) > 0)
            {
                await to.SendAsync(buffer.AsMemory(0, n), SocketFlags.None);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }

        Close(to);
    }

    private static async Task<bool> ReceiveExactlyAsync(Socket socket, byte[] buffer)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(done), SocketFlags.None);
            if (n == 0)
            {
                return false;
            }

            done += n;
        }

        return true;
    }

    private static void Close(Socket socket)
    {
        try
        {
            socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        lock (_sockets)
        {
            foreach (var s in _sockets)
            {
                s.Dispose();
            }
        }

        await _accepting;
        _stop.Dispose();
    }
}
