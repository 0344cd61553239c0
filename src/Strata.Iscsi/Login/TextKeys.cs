using System.Collections.Frozen;

namespace Strata.Iscsi.Login;

/// <summary>The key names of RFC 7143 (sections 12 and 13) and RFC 7144, and their rules.</summary>
public static class TextKeys
{
    public const string AuthMethod = "AuthMethod";
    public const string ChapA = "CHAP_A";
    public const string ChapI = "CHAP_I";
    public const string ChapC = "CHAP_C";
    public const string ChapN = "CHAP_N";
    public const string ChapR = "CHAP_R";
    public const string HeaderDigest = "HeaderDigest";
    public const string DataDigest = "DataDigest";
    public const string MaxConnections = "MaxConnections";
    public const string SendTargets = "SendTargets";
    public const string TargetName = "TargetName";
    public const string InitiatorName = "InitiatorName";
    public const string TargetAlias = "TargetAlias";
    public const string InitiatorAlias = "InitiatorAlias";
    public const string TargetAddress = "TargetAddress";
    public const string TargetPortalGroupTag = "TargetPortalGroupTag";
    public const string InitialR2T = "InitialR2T";
    public const string ImmediateData = "ImmediateData";
    public const string MaxRecvDataSegmentLength = "MaxRecvDataSegmentLength";
    public const string MaxBurstLength = "MaxBurstLength";
    public const string FirstBurstLength = "FirstBurstLength";
    public const string DefaultTime2Wait = "DefaultTime2Wait";
    public const string DefaultTime2Retain = "DefaultTime2Retain";
    public const string MaxOutstandingR2T = "MaxOutstandingR2T";
    public const string DataPduInOrder = "DataPDUInOrder";
    public const string DataSequenceInOrder = "DataSequenceInOrder";
    public const string ErrorRecoveryLevel = "ErrorRecoveryLevel";
    public const string SessionType = "SessionType";
    public const string OfMarker = "OFMarker";
    public const string IfMarker = "IFMarker";
    public const string OfMarkInt = "OFMarkInt";
    public const string IfMarkInt = "IFMarkInt";
    public const string IscsiProtocolLevel = "iSCSIProtocolLevel";
    public const string TaskReporting = "TaskReporting";

    /// <summary>RFC 7143 13.12-13.14: data segment and burst lengths are 512 to 2^24-1 bytes.</summary>
    public const int MinDataLength = 512;

    public const int MaxDataLength = (1 << 24) - 1;

    /// <summary>RFC 3722 / RFC 7143 4.2.7.1: an iSCSI name is at most 223 bytes.</summary>
    public const int MaxIscsiNameLength = 223;

    private static readonly FrozenDictionary<string, TextKey> Known = new TextKey[]
    {
        // RFC 7143 12: security keys. CHAP_C and CHAP_R are large-binary-values (12.1.3).
        new(AuthMethod, KeyKind.Security, KeyUse.InitializeOnly, KeySender.Both),
        new(ChapA, KeyKind.Security, KeyUse.InitializeOnly, KeySender.Both),
        new(ChapI, KeyKind.Security, KeyUse.InitializeOnly, KeySender.Both),
        new(ChapC, KeyKind.Security, KeyUse.InitializeOnly, KeySender.Both) { MaxValueLength = KeyValueParser.MaxValueLength },
        new(ChapN, KeyKind.Security, KeyUse.InitializeOnly, KeySender.Both) { MaxValueLength = KeyValueParser.MaxValueLength },
        new(ChapR, KeyKind.Security, KeyUse.InitializeOnly, KeySender.Both) { MaxValueLength = KeyValueParser.MaxValueLength },

        // RFC 7143 13.1
        new(HeaderDigest, KeyKind.List, KeyUse.InitializeOnly, KeySender.Both),
        new(DataDigest, KeyKind.List, KeyUse.InitializeOnly, KeySender.Both),

        // RFC 7143 13.2
        new(MaxConnections, KeyKind.Numerical, KeyUse.LeadingOnly, KeySender.Both, ResultFunction.Minimum, 1, 65535, IrrelevantInDiscovery: true),

        // RFC 7143 13.3, Appendix C
        new(SendTargets, KeyKind.SendTargets, KeyUse.FullFeatureOnly, KeySender.Initiator),

        // RFC 7143 13.4-13.9: declarations.
        new(TargetName, KeyKind.Declarative, KeyUse.InitializeOnly, KeySender.Both),
        new(InitiatorName, KeyKind.Declarative, KeyUse.InitializeOnly, KeySender.Initiator),
        new(TargetAlias, KeyKind.Declarative, KeyUse.All, KeySender.Target),
        new(InitiatorAlias, KeyKind.Declarative, KeyUse.All, KeySender.Initiator),
        new(TargetAddress, KeyKind.Declarative, KeyUse.All, KeySender.Target),
        new(TargetPortalGroupTag, KeyKind.Declarative, KeyUse.InitializeOnly, KeySender.Target),

        // RFC 7143 13.10-13.20
        new(InitialR2T, KeyKind.Boolean, KeyUse.LeadingOnly, KeySender.Both, ResultFunction.Or, IrrelevantInDiscovery: true),
        new(ImmediateData, KeyKind.Boolean, KeyUse.LeadingOnly, KeySender.Both, ResultFunction.And, IrrelevantInDiscovery: true),
        new(MaxRecvDataSegmentLength, KeyKind.Declarative, KeyUse.All, KeySender.Both, ResultFunction.None, MinDataLength, MaxDataLength),
        new(MaxBurstLength, KeyKind.Numerical, KeyUse.LeadingOnly, KeySender.Both, ResultFunction.Minimum, MinDataLength, MaxDataLength, IrrelevantInDiscovery: true),
        new(FirstBurstLength, KeyKind.Numerical, KeyUse.LeadingOnly, KeySender.Both, ResultFunction.Minimum, MinDataLength, MaxDataLength, IrrelevantInDiscovery: true),
        new(DefaultTime2Wait, KeyKind.Numerical, KeyUse.LeadingOnly, KeySender.Both, ResultFunction.Maximum, 0, 3600),
        new(DefaultTime2Retain, KeyKind.Numerical, KeyUse.LeadingOnly, KeySender.Both, ResultFunction.Minimum, 0, 3600),
        new(MaxOutstandingR2T, KeyKind.Numerical, KeyUse.LeadingOnly, KeySender.Both, ResultFunction.Minimum, 1, 65535, IrrelevantInDiscovery: true),
        new(DataPduInOrder, KeyKind.Boolean, KeyUse.LeadingOnly, KeySender.Both, ResultFunction.Or, IrrelevantInDiscovery: true),
        new(DataSequenceInOrder, KeyKind.Boolean, KeyUse.LeadingOnly, KeySender.Both, ResultFunction.Or, IrrelevantInDiscovery: true),
        new(ErrorRecoveryLevel, KeyKind.Numerical, KeyUse.LeadingOnly, KeySender.Both, ResultFunction.Minimum, 0, 2),
        new(SessionType, KeyKind.Declarative, KeyUse.LeadingOnly, KeySender.Initiator),

        // RFC 7143 13.25: obsolete marker keys still answered (never NotUnderstood).
        new(OfMarker, KeyKind.Obsolete, KeyUse.InitializeOnly, KeySender.Both),
        new(IfMarker, KeyKind.Obsolete, KeyUse.InitializeOnly, KeySender.Both),
        new(OfMarkInt, KeyKind.Obsolete, KeyUse.InitializeOnly, KeySender.Both),
        new(IfMarkInt, KeyKind.Obsolete, KeyUse.InitializeOnly, KeySender.Both),

        // RFC 7144 13.1, 13.2 (numbered 13.24 and 13.23 in RFC 7143's key list).
        new(IscsiProtocolLevel, KeyKind.Numerical, KeyUse.LeadingOnly, KeySender.Both, ResultFunction.Minimum, 0, 31),
        new(TaskReporting, KeyKind.List, KeyUse.LeadingOnly, KeySender.Both, IrrelevantInDiscovery: true),
    }.ToFrozenDictionary(k => k.Name, StringComparer.Ordinal);

    /// <summary>The rules of a key RFC 7143 or RFC 7144 defines; false for X-, X# and unknown keys.</summary>
    public static bool TryGet(string name, out TextKey key) => Known.TryGetValue(name, out key!);

    public static bool IsSecurityKey(string name) =>
        name is AuthMethod or ChapA or ChapI or ChapC or ChapN or ChapR;
}
