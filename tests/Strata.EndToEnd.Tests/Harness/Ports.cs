using System.Net;
using System.Net.Sockets;

namespace Strata.EndToEnd.Tests.Harness;

public static class Ports
{
    private static readonly HashSet<int> s_handedOut = [];

    /// <summary>
    /// A TCP port nothing listens on now, chosen by the kernel from its ephemeral range, and never one this process
    /// handed out before: the kernel may well offer a port again once its probe is closed, and two nodes of one cluster
    /// given the same portal port is a confusing failure.
    /// </summary>
    public static int Free(string host = "127.0.0.1")
    {
        while (true)
        {
            using var listener = new TcpListener(IPAddress.Parse(host), 0);
            listener.Start();
            int port = ((IPEndPoint)listener.LocalEndpoint).Port;
            lock (s_handedOut)
            {
                if (s_handedOut.Add(port))
                    return port;
            }
        }
    }

    public static async Task<bool> CanConnectAsync(string host, int port)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        try
        {
            await socket.ConnectAsync(IPAddress.Parse(host), port, cts.Token);
            return true;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            return false;
        }
    }
}
