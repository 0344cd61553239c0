namespace Strata.Iscsi.Scsi;

/// <summary>
/// One I_T nexus: an initiator port (iSCSI name + ISID) talking to a target port (target name + TPGT).
/// Persistent reservations, RESERVE/RELEASE and unit attentions are kept per nexus (SAM-5 4.6, SPC-4 5.7).
/// </summary>
/// <param name="InitiatorName">The initiator's iSCSI name, e.g. iqn.1994-05.com.redhat:abc.</param>
/// <param name="Isid">The 6-byte initiator session id, as the low 48 bits.</param>
/// <param name="TargetName">The target's iSCSI name.</param>
/// <param name="TargetPortalGroupTag">The TPGT of the portal group the session is on.</param>
public sealed record ItNexus(string InitiatorName, ulong Isid, string TargetName, ushort TargetPortalGroupTag)
{
    /// <summary>The initiator port name as SPC-4 7.6.4.6 spells it: "name,i,0x" + 12 hex digits of ISID.</summary>
    public string InitiatorPortName => $"{InitiatorName},i,0x{Isid:x12}";

    /// <summary>The target port name: "name,t,0x" + 4 hex digits of TPGT.</summary>
    public string TargetPortName => $"{TargetName},t,0x{TargetPortalGroupTag:x4}";
}
