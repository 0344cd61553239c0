using System.Net;
using System.Net.Sockets;

namespace Strata.Replication.Tests;

/// <summary>
/// A TCP proxy on loopback for one connection between a client and a replica server, whose link can be cut and
/// healed. The cut is made in the kernel, not in the proxy: from <see cref="Cut"/> on the proxy stops reading the
/// client's socket (it only waits for bytes there without taking them) and sends the client nothing. Its client-side
/// socket has the smallest receive buffer the kernel allows (2304 bytes on Linux, a window of a few hundred bytes),
/// so what the client sends while the link is cut fills that window and the rest stays in the client's own send
/// queue, as behind a link that drops every packet. <see cref="Heal"/> makes it read again and forward all it gets
/// to the server on the original upstream connection, then end that connection cleanly (a FIN, whatever way the
/// client's side ended): the most lenient network, which delivers every byte the client's kernel ever let go of.
/// </summary>
public sealed class CutLinkProxy : IAsyncDisposable
{
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly IPEndPoint _target;
    private readonly TaskCompletionSource _healed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<(long Bytes, SocketError End)> _clientEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<byte[]> _serverEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<Socket> _sockets = [];
    private readonly Task _running;
    private volatile bool _cut;

    public CutLinkProxy(IPEndPoint target)
    {
        _target = target;
        // Set before listening: the accepted socket inherits it, and its window is sized from it at the handshake.
        _listener.ReceiveBufferSize = 1;
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(1);
        _running = RunAsync();
    }

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndPoint!;

    /// <summary>
    /// The client's side ended (after <see cref="Heal"/>): how many bytes of it the proxy read after the cut (all
    /// forwarded to the server), and how it ended: <see cref="SocketError.Success"/> for a FIN, ConnectionReset for a RST.
    /// </summary>
    public Task<(long Bytes, SocketError End)> ClientEnded => _clientEnded.Task;

    /// <summary>What the server sent after the cut, until it closed the connection (never forwarded: the link was cut).</summary>
    public Task<byte[]> ServerAfterCut => _serverEnded.Task;

    public void Cut() => _cut = true;

    public void Heal() => _healed.TrySetResult();

    private async Task RunAsync()
    {
        Socket client, server;
        try
        {
            client = await _listener.AcceptAsync();
            client.NoDelay = true;
            server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            lock (_sockets)
            {
                _sockets.Add(client);
                _sockets.Add(server);
            }

            await server.ConnectAsync(_target);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            _clientEnded.TrySetException(e);
            _serverEnded.TrySetException(e);
            return;
        }

        await Task.WhenAll(ClientToServerAsync(client, server), ServerToClientAsync(server, client));
    }

    /// <summary>Client to server: every byte forwarded, also those read after the cut once it healed (counted).</summary>
    private async Task ClientToServerAsync(Socket from, Socket to)
    {
        long afterCut = 0;
        var end = await PumpAsync(from, (bytes, cut) =>
        {
            if (cut)
            {
                afterCut += bytes.Length;
            }

            return to.SendAsync(bytes, SocketFlags.None).AsTask();
        });

        try
        {
            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }

        _clientEnded.TrySetResult((afterCut, end));
    }

    /// <summary>Server to client: forwarded until the cut; what comes after is kept, never forwarded.</summary>
    private async Task ServerToClientAsync(Socket from, Socket to)
    {
        var afterCut = new MemoryStream();
        await PumpAsync(from, (bytes, cut) =>
        {
            if (!cut)
            {
                return to.SendAsync(bytes, SocketFlags.None).AsTask();
            }

            afterCut.Write(bytes.Span);
            return Task.CompletedTask;
        });

        _serverEnded.TrySetResult(afterCut.ToArray());
    }

    /// <summary>
    /// Reads <paramref name="from"/> until it ends and hands each read to <paramref name="deliver"/> with whether the
    /// link was cut when the bytes came; how the stream ended (Success for a FIN).
    /// </summary>
    private async Task<SocketError> PumpAsync(Socket from, Func<ReadOnlyMemory<byte>, bool, Task> deliver)
    {
        var buffer = new byte[65536];
        try
        {
            while (true)
            {
                // Wait for bytes without taking them: once the link is cut they stay in the kernel until it heals.
                await from.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None);
                bool cut = _cut;
                if (cut)
                {
                    await _healed.Task;
                }

                int n = await from.ReceiveAsync(buffer, SocketFlags.None);
                if (n == 0)
                {
                    return SocketError.Success;
                }

                await deliver(buffer.AsMemory(0, n), cut);
            }
        }
        catch (SocketException e)
        {
            return e.SocketErrorCode;
        }
        catch (ObjectDisposedException)
        {
            return SocketError.OperationAborted;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _healed.TrySetResult();
        _listener.Dispose();
        lock (_sockets)
        {
            foreach (var s in _sockets)
            {
                s.Dispose();
            }
        }

        await _running;
    }
}
