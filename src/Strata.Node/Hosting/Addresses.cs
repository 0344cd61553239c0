using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace Strata.Node.Hosting;

internal static class Addresses
{
    /// <summary>A listener bound to every address is reached at one of them: this host's first non-loopback IPv4 address.</summary>
    public static IPAddress Reachable(IPAddress bound)
    {
        if (!bound.Equals(IPAddress.Any) && !bound.Equals(IPAddress.IPv6Any))
        {
            return bound;
        }

        return NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a))
            ?? IPAddress.Loopback;
    }
}
