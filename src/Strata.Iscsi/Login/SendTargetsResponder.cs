using System.Globalization;
using System.Net;

namespace Strata.Iscsi.Login;

/// <summary>
/// Answers SendTargets (RFC 7143 13.3, Appendix C) with TargetName= lines, each followed by the
/// TargetAddress=address:port,tpgt lines of its portals. Only targets whose ACL admits the initiator
/// (by name and address) are reported.
/// </summary>
public sealed class SendTargetsResponder
{
    public const string All = "All";

    private readonly ITargetCatalog _catalog;

    public SendTargetsResponder(ITargetCatalog catalog)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        _catalog = catalog;
    }

    /// <summary>
    /// Writes the answer to SendTargets=<paramref name="value"/>:
    /// <list type="bullet">
    /// <item>discovery session, "All": every target the initiator may see;</item>
    /// <item>discovery session, a target name: that target if it may see it, else nothing;</item>
    /// <item>normal session, empty or the session's own target name: the session's target;</item>
    /// <item>normal session, "All": SendTargets=Reject (Appendix C: All is for discovery sessions only);</item>
    /// <item>otherwise nothing (an empty answer).</item>
    /// </list>
    /// </summary>
    public void Respond(string value, SessionType sessionType, TargetLoginPolicy? sessionTarget, string initiatorName, IPAddress initiatorAddress, KeyValueBuilder response)
    {
        ArgumentNullException.ThrowIfNull(value);
        ArgumentNullException.ThrowIfNull(initiatorName);
        ArgumentNullException.ThrowIfNull(initiatorAddress);
        ArgumentNullException.ThrowIfNull(response);

        if (sessionType == SessionType.Normal)
        {
            if (value == All)
            {
                response.Add(TextKeys.SendTargets, ReservedValue.Reject);
                return;
            }

            if (sessionTarget is not null && (value.Length == 0 || string.Equals(value, sessionTarget.Name, StringComparison.OrdinalIgnoreCase)))
            {
                Describe(sessionTarget, response);
            }

            return;
        }

        if (value == All)
        {
            foreach (TargetLoginPolicy target in _catalog.Targets)
            {
                if (InitiatorAcl.Allows(target, initiatorName, initiatorAddress))
                {
                    Describe(target, response);
                }
            }

            return;
        }

        if (value.Length > 0 && _catalog.Find(value) is { } named && InitiatorAcl.Allows(named, initiatorName, initiatorAddress))
        {
            Describe(named, response);
        }
    }

    private static void Describe(TargetLoginPolicy target, KeyValueBuilder response)
    {
        response.Add(TextKeys.TargetName, target.Name);
        foreach ((string portal, ushort tpgt) in target.Portals)
        {
            response.Add(TextKeys.TargetAddress, portal + "," + tpgt.ToString(CultureInfo.InvariantCulture));
        }
    }
}
