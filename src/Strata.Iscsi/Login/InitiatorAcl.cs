using System.Net;

namespace Strata.Iscsi.Login;

/// <summary>Whether a target's access list lets an initiator in (by iSCSI name and by address).</summary>
public static class InitiatorAcl
{
    public static bool Allows(TargetLoginPolicy policy, string initiatorName, IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(address);

        // iSCSI names are case-folded by their stringprep profile (RFC 3722), so compare ignoring case.
        bool nameAllowed = policy.AllowedInitiators.Count == 0
            || policy.AllowedInitiators.Any(n => string.Equals(n, initiatorName, StringComparison.OrdinalIgnoreCase));
        if (!nameAllowed)
        {
            return false;
        }

        if (policy.AllowedNetworks.Count == 0)
        {
            return true;
        }

        // A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d; match them against IPv4 networks too.
        IPAddress? v4 = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : null;
        return policy.AllowedNetworks.Any(net => net.Contains(address) || (v4 is not null && net.Contains(v4)));
    }
}
