using System.Net;

namespace Strata.Iscsi.Login;

/// <summary>Login stages (RFC 7143 11.12.3, CSG and NSG fields).</summary>
public enum LoginStage : byte
{
    SecurityNegotiation = 0,
    LoginOperationalNegotiation = 1,
    FullFeaturePhase = 3,
}

public enum SessionType
{
    Normal,
    Discovery,
}

/// <summary>Login Response Status-Class and Status-Detail (RFC 7143 11.13.5), as one 16-bit value.</summary>
public enum LoginStatus : ushort
{
    Success = 0x0000,
    TargetMovedTemporarily = 0x0101,
    TargetMovedPermanently = 0x0102,
    InitiatorError = 0x0200,
    AuthenticationFailure = 0x0201,
    AuthorizationFailure = 0x0202,
    NotFound = 0x0203,
    TargetRemoved = 0x0204,
    UnsupportedVersion = 0x0205,
    TooManyConnections = 0x0206,
    MissingParameter = 0x0207,
    CantIncludeInSession = 0x0208,
    SessionTypeNotSupported = 0x0209,
    SessionDoesNotExist = 0x020A,
    InvalidDuringLogin = 0x020B,
    TargetError = 0x0300,
    ServiceUnavailable = 0x0301,
    OutOfResources = 0x0302,
}

/// <summary>The fields of one Login Request PDU that the negotiation needs (RFC 7143 11.12).</summary>
public readonly record struct LoginRequest(
    bool Transit,
    bool Continue,
    LoginStage CurrentStage,
    LoginStage NextStage,
    byte VersionMax,
    byte VersionMin,
    ulong Isid,
    ushort Tsih,
    ushort Cid,
    ReadOnlyMemory<byte> Text);

/// <summary>The fields of one Login Response PDU that the negotiation decides (RFC 7143 11.13).</summary>
public readonly record struct LoginResponse(
    bool Transit,
    bool Continue,
    LoginStage CurrentStage,
    LoginStage NextStage,
    LoginStatus Status,
    ReadOnlyMemory<byte> Text);

public sealed record ChapCredentials(string User, string Secret);

/// <summary>Who may log in to one target, and where it is served (what SendTargets reports).</summary>
public sealed class TargetLoginPolicy
{
    public required string Name { get; init; }

    public string? Alias { get; init; }

    /// <summary>When set, initiators must authenticate with CHAP as this user and secret.</summary>
    public ChapCredentials? Chap { get; init; }

    /// <summary>When set, the target authenticates itself to initiators that ask (mutual CHAP).</summary>
    public ChapCredentials? MutualChap { get; init; }

    /// <summary>Initiator names allowed in; empty allows every name.</summary>
    public IReadOnlyList<string> AllowedInitiators { get; init; } = [];

    /// <summary>Initiator address ranges allowed in; empty allows every address.</summary>
    public IReadOnlyList<IPNetwork> AllowedNetworks { get; init; } = [];

    /// <summary>Portals ("address:port") and their portal group tag, for SendTargets.</summary>
    public IReadOnlyList<(string Portal, ushort Tpgt)> Portals { get; init; } = [];
}

/// <summary>The targets one portal serves, as login and discovery see them.</summary>
public interface ITargetCatalog
{
    TargetLoginPolicy? Find(string targetName);

    IEnumerable<TargetLoginPolicy> Targets { get; }

    /// <summary>When set, discovery sessions must authenticate with CHAP.</summary>
    ChapCredentials? DiscoveryChap { get; }

    /// <summary>
    /// When set, the portal authenticates itself to discovery initiators that ask (mutual CHAP). Defaults to
    /// none, so catalogs written before this member existed keep compiling.
    /// </summary>
    ChapCredentials? DiscoveryMutualChap => null;
}
